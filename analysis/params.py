"""Every setting that determines a satisfaction result, storable and replayable.

The web app stores ``Params.to_dict()`` next to each published figure; passing
``Params.from_dict(stored)`` and the same answers to
:func:`analysis.compute_indices` reproduces the figure bit for bit (floats
round-trip exactly through JSON).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from analysis.cells import DEFAULT_MIN_CELL_N

METHODS = ("poststratify", "rake", "none")
SHARE_INTERVALS = ("korn-graubard", "wilson")
INDEX_INTERVALS = ("logit", "normal")
SHARE_N_AT_BOUNDS = ("respondents", "answers")

#: Level scores of the five-level scale (level 1 非常不满意 … 5 非常满意): (level - 1) / 4 * 100.
DEFAULT_SCORES = (0.0, 25.0, 50.0, 75.0, 100.0)


@dataclass(frozen=True)
class Params:
    """How to weight and estimate.

    method: ``poststratify`` (by the margin ``poststratify_by``), ``rake`` (on
        ``rake_margins``, default every margin in ``targets``) or ``none``
        (design weights only).
    scores: score of level 1, 2, …; the number of scores is the number of levels.
    satisfied_min_level: answers at this level or above count as satisfied
        (3 = 基本满意, so 满意率 counts 非常满意 + 满意 + 基本满意).
    question_weights: weight of question code 0, 1, …; ``None`` = all equal.
    targets: margin name -> target share of level code 0, 1, … (投票权); shares
        are renormalised within each unit over the levels present there.
    rake_tol, rake_max_iter: raking stops when every margin level's weighted
        share is within ``rake_tol`` of its target; a unit still off after
        ``rake_max_iter`` cycles is reported as not converged.
    trim_k, trim_lower, trim_upper, trim_max_iter: optional trimming after
        calibration.  Weights are scaled to mean 1 within a unit, so the bounds
        are multiples of the mean weight; ``trim_k`` caps at k × the unit's median.
    min_cell_n: a weighting cell (a level of a weighting margin within a unit)
        with fewer respondents is collapsed before weighting, by the rule of
        :mod:`analysis.cells`; default 5 (reasons there).  1 turns collapsing
        off (only to reproduce an uncollapsed design, e.g. R's reference files).
    collapse_into: margin name -> {level code: level code}: the cell a thin
        level joins, as the analyst designates it; levels without a
        designation pool with the smallest other cells.  Applies under
        ``poststratify`` (its margin) and ``rake`` (every raked margin).
    confidence: level of every confidence interval.
    share_ci: interval for the satisfaction rate (``korn-graubard`` or ``wilson``);
        per-question shares carry both.
    index_ci: interval of the index and the question means: ``logit`` (default:
        the logit interval of the estimate rescaled to the score range, which
        never leaves it; :func:`analysis.ci.bounded_ci`) or ``normal``
        (estimate ± z SE, as results computed before the logit interval).
    share_n_at_bounds: effective n of the 满意率 interval where p(1-p)/Var is
        undefined (a rate of 0 or 1): ``respondents`` (default; 30 respondents
        all satisfied give a Korn–Graubard lower bound of 0.884) or
        ``answers`` (as results computed before; 0.976 for 30 × 3 answers).
    min_n, min_n_eff, max_rse, max_dont_know: reliability flag thresholds
        (flag when n < min_n, n_eff < min_n_eff, index SE / index > max_rse,
        不了解 rate > max_dont_know).
    """

    method: str = "poststratify"
    scores: tuple[float, ...] = DEFAULT_SCORES
    satisfied_min_level: int = 3
    question_weights: tuple[float, ...] | None = None
    targets: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    poststratify_by: str = "group"
    rake_margins: tuple[str, ...] | None = None
    rake_tol: float = 1e-10
    rake_max_iter: int = 1000
    trim_k: float | None = None
    trim_lower: float | None = None
    trim_upper: float | None = None
    trim_max_iter: int = 100
    min_cell_n: int = DEFAULT_MIN_CELL_N
    collapse_into: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    confidence: float = 0.95
    share_ci: str = "korn-graubard"
    index_ci: str = "logit"
    share_n_at_bounds: str = "respondents"
    min_n: int = 30
    min_n_eff: float = 30.0
    max_rse: float = 0.30
    max_dont_know: float = 0.5

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "scores", _floats(self.scores, "scores"))
        if self.question_weights is not None:
            set_(self, "question_weights", _floats(self.question_weights, "question_weights"))
        set_(self, "targets", {str(k): _floats(v, f"targets[{k!r}]") for k, v in self.targets.items()})
        set_(self, "collapse_into", _collapse_into(self.collapse_into))
        if not isinstance(self.min_cell_n, bool):
            try:
                set_(self, "min_cell_n", operator.index(self.min_cell_n))
            except TypeError:
                pass
        if self.rake_margins is not None:
            set_(self, "rake_margins", tuple(str(m) for m in self.rake_margins))
        self._validate()

    def _validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if len(self.scores) < 2:
            raise ValueError("scores: need a score for each of at least two levels")
        if not 1 <= self.satisfied_min_level <= len(self.scores):
            raise ValueError(f"satisfied_min_level must be a level between 1 and {len(self.scores)}")
        if self.question_weights is not None and (
                any(a < 0 for a in self.question_weights) or not any(a > 0 for a in self.question_weights)):
            raise ValueError("question_weights must be non-negative with at least one positive")
        for name, shares in self.targets.items():
            if not shares or any(s <= 0 for s in shares):
                raise ValueError(f"targets[{name!r}]: shares must be positive")
        if self.method == "poststratify" and self.poststratify_by not in self.targets:
            raise ValueError(f"poststratify needs targets[{self.poststratify_by!r}]")
        if self.method == "rake":
            if not self.weighting_margins():
                raise ValueError("rake needs at least one margin in targets")
            unknown = [m for m in self.weighting_margins() if m not in self.targets]
            if unknown:
                raise ValueError(f"rake_margins without targets: {unknown}")
        if not (self.rake_tol > 0 and self.rake_max_iter >= 1):
            raise ValueError("rake_tol must be positive and rake_max_iter at least 1")
        if self.trim_k is not None and not self.trim_k >= 1:
            raise ValueError("trim_k must be at least 1")
        if self.trim_lower is not None and self.trim_upper is not None and not self.trim_lower < self.trim_upper:
            raise ValueError("trim_lower must be below trim_upper")
        if self.trim_max_iter < 1:
            raise ValueError("trim_max_iter must be at least 1")
        if isinstance(self.min_cell_n, bool) or not isinstance(self.min_cell_n, int) or self.min_cell_n < 1:
            raise ValueError(f"min_cell_n must be a whole number of respondents, at least 1, got {self.min_cell_n!r}")
        for name, into in self.collapse_into.items():
            size = len(self.targets.get(name, ()))
            if name not in self.targets:
                raise ValueError(f"collapse_into[{name!r}]: no targets for that margin")
            for level, cell in into.items():
                if not (0 <= level < size and 0 <= cell < size) or level == cell:
                    raise ValueError(
                        f"collapse_into[{name!r}]: {level} -> {cell} must join two different levels 0..{size - 1}"
                    )
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must lie strictly between 0 and 1")
        if self.share_ci not in SHARE_INTERVALS:
            raise ValueError(f"share_ci must be one of {SHARE_INTERVALS}")
        if self.index_ci not in INDEX_INTERVALS:
            raise ValueError(f"index_ci must be one of {INDEX_INTERVALS}")
        if self.share_n_at_bounds not in SHARE_N_AT_BOUNDS:
            raise ValueError(f"share_n_at_bounds must be one of {SHARE_N_AT_BOUNDS}")
        if min(self.min_n, self.min_n_eff, self.max_rse, self.max_dont_know) < 0:
            raise ValueError("flag thresholds must be non-negative")

    def weighting_margins(self) -> tuple[str, ...]:
        """The margins the weights are calibrated to under this method."""
        if self.method == "poststratify":
            return (self.poststratify_by,)
        if self.method == "rake":
            return self.rake_margins if self.rake_margins is not None else tuple(self.targets)
        return ()

    @property
    def trims(self) -> bool:
        """Whether trimming is requested."""
        return self.trim_k is not None or self.trim_lower is not None or self.trim_upper is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every setting (lists for tuples)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif f.name == "collapse_into":
                value = {k: {str(level): cell for level, cell in v.items()} for k, v in value.items()}
            elif isinstance(value, Mapping):
                value = {k: list(v) for k, v in value.items()}
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Params:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error, missing keys take defaults."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown parameter(s): {unknown}")
        return cls(**dict(data))


def _collapse_into(mapping: Mapping[str, Mapping[Any, Any]]) -> dict[str, dict[int, int]]:
    """Normalise a designation map to int codes; JSON keys arrive as strings ("3": 4)."""
    out: dict[str, dict[int, int]] = {}
    for name, into in mapping.items():
        try:
            if not isinstance(into, Mapping):
                raise TypeError(into)
            out[str(name)] = {_code(level): _code(cell) for level, cell in into.items()}
        except (TypeError, ValueError):
            raise ValueError(f"collapse_into[{name!r}] must map level codes to level codes") from None
    return out


def _code(value: Any) -> int:
    if isinstance(value, (bool, float)):
        raise TypeError(value)
    return int(value)


def _floats(values: Sequence[float], name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite numbers")
    return out
