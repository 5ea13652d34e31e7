"""Web fuzzing with Hypothesis: hostile uploads, forms and API calls against the real app.

Each test states how many examples a full run draws. ``make test`` (profile ``deterministic``)
draws half of them, the same ones on every run, so a failure there is a regression of the code;
``HYPOTHESIS_PROFILE=explore`` draws twenty times as many, new ones on every run, to look for
new faults (docs/development.md).
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "deterministic")
SCALE = {"deterministic": 0.5, "explore": 20.0}.get(PROFILE, 1.0)
SLOW_IS_FINE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                HealthCheck.large_base_example]


def fuzz_settings(examples: int, **extra: object) -> settings:
    """``examples`` scaled by the profile; no deadline (each example replays web requests)."""
    return settings(max_examples=max(10, round(examples * SCALE)), deadline=None,
                    derandomize=PROFILE != "explore", suppress_health_check=SLOW_IS_FINE, **extra)
