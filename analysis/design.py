"""Survey designs and Taylor-linearised estimates (R ``svydesign``/``svymean``/``svytotal``/``svyratio``).

A design is a sample with weights and, optionally, strata, clusters (primary
sampling units, nested in strata) and a finite population correction.  An
estimate's variance is that of its linearised variable: with ``u_i = w_i z_i``
summed to PSU totals ``u_hc``,

    V = sum_h (1 - f_h) * n_h / (n_h - 1) * sum_c (u_hc - mean_h u)^2,

``n_h`` the number of PSUs in stratum ``h`` and ``f_h`` its sampling fraction.
Calibrated designs first pass ``u`` through their calibration steps (see
:mod:`analysis.calibration`).
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np

from analysis import calibration
from analysis.ci import check_level, korn_graubard_ci, normal_ci, share_n_eff, wilson_ci
from analysis.segments import Segments, factorize, safe_divide


def stratified_variance(
    u: np.ndarray,
    strata: Segments,
    psu: Segments | None = None,
    fraction: np.ndarray | None = None,
) -> np.ndarray:
    """Each stratum's contribution ``(1 - f_h) n_h/(n_h - 1) sum_c (u_hc - mean)^2`` to the variance.

    ``u`` is ``(n,)`` or variables × records ``(k, n)``; the result is
    ``(n_strata,)`` or ``(k, n_strata)``.  ``psu`` groups records into PSUs and
    ``strata`` then groups PSUs into strata; without ``psu`` every record is
    its own PSU and ``strata`` groups records.  A stratum with one PSU
    contributes 0 if it was sampled completely (``f_h = 1``, a certainty PSU)
    and NaN otherwise (its variance cannot be estimated); an empty stratum
    contributes 0.
    """
    totals = u if psu is None else psu.sum(u)
    deviation = totals - strata.expand(strata.mean(totals))
    squares = strata.sum(deviation * deviation)
    n_h = strata.counts.astype(np.float64)
    f = np.zeros(strata.n_segments) if fraction is None else fraction
    factor = (1.0 - f) * safe_divide(n_h, n_h - 1.0, np.nan)
    factor = np.where(n_h == 0, 0.0, np.where((n_h == 1) & (f >= 1.0), 0.0, factor))
    return squares * factor


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its linearised standard error."""

    estimate: float
    se: float

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Normal confidence interval ``estimate ± z * se``."""
        low, high = normal_ci(np.float64(self.estimate), np.float64(self.se), level)
        return float(low), float(high)


@dataclass(frozen=True)
class ShareEstimate:
    """A share (mean of a 0/1 variable) with SE, effective sample size and confidence interval."""

    estimate: float
    se: float
    n_eff: float
    ci_low: float
    ci_high: float


class CalibrationError(ValueError):
    """Raking did not converge; ``report`` says how far it got."""

    def __init__(self, message: str, report: calibration.RakeReport) -> None:
        super().__init__(message)
        self.report = report


class Design:
    """A sample as R's ``svydesign(ids = ~clusters, strata = ~strata, weights = ~weights, fpc = ~fpc)``.

    ``fpc`` is given per record and must be constant within a stratum: either
    the population size ``N_h`` (number of PSUs in the stratum's population,
    so ``f_h = n_h / N_h``) or, when every value is at most 1, the sampling
    fraction ``f_h`` itself, as in R.  Cluster labels are taken as nested in
    strata.  A stratum with a single PSU that is not a certainty PSU is an
    error (R's default ``survey.lonely.psu = "fail"``).

    Calibration methods return a new design; the original is unchanged.  A
    design made by :meth:`rake` carries its convergence report in
    ``rake_report``, one made by :meth:`trim` the number of trimmed weights in
    ``trimmed``.

    Who uses it: only the tests. The product's estimates (:func:`analysis.compute_indices`)
    use :func:`stratified_variance` from this module, not this class. ``Design`` is the
    general design API (R's ``svydesign`` and friends), kept to check the shared
    variance and calibration code against R's own ``api`` examples
    (``tests/analysis/test_golden.py``, data in ``tests/analysis/reference/``) and by hand
    (``test_analysis_design.py``, ``test_analysis_properties.py``).
    """

    def __init__(
        self,
        weights: np.ndarray,
        strata: np.ndarray | None = None,
        clusters: np.ndarray | None = None,
        fpc: np.ndarray | None = None,
    ) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError("weights must be a non-empty 1-D array")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("weights must be finite and positive")
        n = w.size
        if strata is None:
            self._strata_labels, stratum = np.array([0]), np.zeros(n, dtype=np.intp)
        else:
            self._strata_labels, stratum = factorize(_check_length(strata, n, "strata"))
        n_strata = self._strata_labels.size
        self._records_in_strata = Segments(stratum, n_strata)
        if clusters is None:
            self._psu: Segments | None = None
            self._strata = self._records_in_strata
        else:
            cluster_codes = factorize(_check_length(clusters, n, "clusters"))[1]
            pairs, psu = factorize(stratum.astype(np.int64) * (cluster_codes.max() + 1) + cluster_codes)
            self._psu = Segments(psu, pairs.size)
            psu_stratum = np.zeros(pairs.size, dtype=np.intp)
            psu_stratum[psu] = stratum
            self._strata = Segments(psu_stratum, n_strata)
        self._fraction = None if fpc is None else self._sampling_fraction(_check_length(fpc, n, "fpc"))
        f = np.zeros(n_strata) if self._fraction is None else self._fraction
        lonely = (self._strata.counts == 1) & (f < 1.0)
        if lonely.any():
            raise ValueError(f"stratum {self._strata_labels[np.argmax(lonely)]!r} has only one PSU")
        self._weights = w
        self._steps: tuple[calibration.CalibrationStep, ...] = ()
        self.rake_report: calibration.RakeReport | None = None
        self.trimmed = 0

    def _sampling_fraction(self, fpc: np.ndarray) -> np.ndarray:
        fpc = fpc.astype(np.float64)
        if not np.all(np.isfinite(fpc)) or np.any(fpc <= 0):
            raise ValueError("fpc must be finite and positive")
        per_stratum = np.empty(self._strata.n_segments)
        per_stratum[self._records_in_strata.codes] = fpc
        if np.any(fpc != self._records_in_strata.expand(per_stratum)):
            raise ValueError("fpc is not constant within strata")
        if np.all(fpc <= 1.0):
            return per_stratum
        if np.any(per_stratum < self._strata.counts):
            raise ValueError("fpc: population size smaller than the number of sampled PSUs in a stratum")
        return self._strata.counts / per_stratum

    def _calibrated(self, weights: np.ndarray, step: calibration.CalibrationStep | None) -> Design:
        new = copy.copy(self)
        new._weights = weights
        new.rake_report, new.trimmed = None, 0
        if step is not None:
            new._steps = self._steps + (step,)
        return new

    # ---- descriptive -------------------------------------------------------------------------

    @property
    def n(self) -> int:
        """Number of records."""
        return int(self._weights.size)

    @property
    def weights(self) -> np.ndarray:
        """The current (possibly calibrated) weights, as a read-only view."""
        view = self._weights.view()
        view.flags.writeable = False
        return view

    @property
    def degf(self) -> int:
        """Design degrees of freedom: number of PSUs minus number of strata (R ``degf``)."""
        return int(self._strata.counts.sum() - self._strata.n_segments)

    @property
    def n_eff(self) -> float:
        """Kish effective sample size ``(sum w)^2 / sum w^2``."""
        return float(self._weights.sum() ** 2 / np.sum(self._weights**2))

    @property
    def deff_kish(self) -> float:
        """Kish design effect due to unequal weighting, ``n / n_eff``."""
        return self.n / self.n_eff

    # ---- estimation --------------------------------------------------------------------------

    def variance(self, u: np.ndarray) -> np.ndarray:
        """Variance of an estimate whose weighted linearised variable is ``u`` (``(n,)`` or ``(k, n)``)."""
        u = np.asarray(u, dtype=np.float64)
        e = calibration.residualise(u, self._steps)
        parts = stratified_variance(e, self._strata, self._psu, self._fraction)
        return parts.sum(axis=-1)

    def _estimate(self, value: float, u: np.ndarray) -> Estimate:
        return Estimate(float(value), float(np.sqrt(self.variance(u))))

    def total(self, y: np.ndarray) -> Estimate:
        """Weighted total ``sum w y`` (R ``svytotal``)."""
        y = self._variable(y, "y")
        return self._estimate(np.sum(self._weights * y), self._weights * y)

    def mean(self, y: np.ndarray) -> Estimate:
        """Weighted mean ``sum w y / sum w`` (R ``svymean``); linearised ``z = (y - mean) / sum w``."""
        y = self._variable(y, "y")
        total_w = self._weights.sum()
        m = np.sum(self._weights * y) / total_w
        return self._estimate(m, self._weights * (y - m) / total_w)

    def ratio(self, y: np.ndarray, x: np.ndarray) -> Estimate:
        """Ratio of totals ``sum w y / sum w x`` (R ``svyratio``); linearised ``z = (y - R x) / sum w x``."""
        y, x = self._variable(y, "y"), self._variable(x, "x")
        denominator = np.sum(self._weights * x)
        if denominator == 0:
            raise ValueError("ratio: the denominator total is 0")
        r = np.sum(self._weights * y) / denominator
        return self._estimate(r, self._weights * (y - r * x) / denominator)

    def share(self, y: np.ndarray, level: float = 0.95, method: str = "korn-graubard") -> ShareEstimate:
        """Share of a 0/1 variable with a Korn–Graubard or Wilson interval (R ``svyciprop``).

        The effective sample size is ``p (1 - p) / Var(p)``, times
        ``(t_{n-1} / t_{degf})^2`` at the ``alpha/2`` quantiles as R does.
        """
        y = self._variable(y, "y")
        if np.any((y != 0) & (y != 1)):
            raise ValueError("share: y must be 0/1")
        est = self.mean(y)
        n_eff = float(share_n_eff(np.float64(est.estimate), np.float64(est.se**2), np.float64(self.n)))
        n_eff *= _df_ratio(self.n - 1, self.degf, check_level(level))
        interval = {"korn-graubard": korn_graubard_ci, "wilson": wilson_ci}.get(method)
        if interval is None:
            raise ValueError(f"unknown share interval method {method!r} (korn-graubard or wilson)")
        low, high = interval(np.float64(est.estimate), np.float64(n_eff), level)
        return ShareEstimate(est.estimate, est.se, n_eff, float(low), float(high))

    def _variable(self, y: np.ndarray, name: str) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if y.shape != self._weights.shape:
            raise ValueError(f"{name} must have one value per record ({self.n})")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{name} has missing or infinite values")
        return y

    # ---- calibration -------------------------------------------------------------------------

    def poststratify(self, by: np.ndarray, population: Mapping[Hashable, float]) -> Design:
        """Post-stratify to population counts (R ``postStratify``): ``w_i = w_i N_g / sum_{j in g} w_j``.

        Every level of ``by`` in the sample needs a population count, and every
        level with a positive count must occur in the sample.
        """
        codes, totals = _margin(by, population, self.n, "by")
        w, step = calibration.poststratify(self._weights, Segments(codes, totals.size), totals)
        return self._calibrated(w, step)

    def rake(
        self,
        margins: Mapping[str, tuple[np.ndarray, Mapping[Hashable, float]]],
        tol: float = 1e-10,
        max_iter: int = 1000,
    ) -> Design:
        """Rake to population counts of several margins (R ``calibrate(..., calfun = "raking")``).

        ``margins`` maps a name to ``(values per record, {level: population count})``;
        all margins must have the same population total.  The variance uses
        GREG residuals on all margins.  Raises :class:`CalibrationError` if the
        largest share error is above ``tol`` after ``max_iter`` cycles.
        """
        if not margins:
            raise ValueError("rake: no margins")
        coded = [_margin(values, population, self.n, name) for name, (values, population) in margins.items()]
        grand = [float(totals.sum()) for _, totals in coded]
        if max(grand) - min(grand) > 1e-9 * max(grand):
            raise ValueError(f"rake: margins have different population totals {grand}")
        whole = Segments(np.zeros(self.n, dtype=np.intp), 1)
        w, report, step = calibration.rake(
            self._weights, whole, [c for c, _ in coded], [t[None, :] for _, t in coded], tol, max_iter
        )
        if not report.converged[0]:
            raise CalibrationError(
                f"raking did not converge: share error {report.max_error[0]:.3g} "
                f"after {report.iterations[0]} iterations",
                report,
            )
        new = self._calibrated(w, step)
        new.rake_report = report
        return new

    def trim(
        self,
        upper: float | None = None,
        lower: float | None = None,
        k: float | None = None,
        max_iter: int = 100,
    ) -> Design:
        """Trim weights to ``[lower, upper]`` (or cap at ``k`` times the median) and redistribute.

        See :func:`analysis.calibration.trim`; the number of trimmed weights is
        in ``trimmed`` of the returned design.  Calibration steps are kept for
        the variance.
        """
        whole = Segments(np.zeros(self.n, dtype=np.intp), 1)
        cap = np.inf if upper is None else upper
        if k is not None:
            cap = min(cap, k * float(np.median(self._weights)))
        floor = -np.inf if lower is None else lower
        w, trimmed, feasible = calibration.trim(self._weights, whole, np.array([cap]), np.array([floor]), max_iter)
        if not feasible[0]:
            raise ValueError("trim: the bounds cannot hold the total weight")
        new = self._calibrated(w, None)
        new.trimmed = int(trimmed[0])
        return new


def _check_length(values: np.ndarray, n: int, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.shape != (n,):
        raise ValueError(f"{name} must have one value per record ({n})")
    return values


def _margin(
    values: np.ndarray, population: Mapping[Hashable, float], n: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``values`` in the order of ``population`` and the population totals."""
    labels, codes = factorize(_check_length(values, n, name))
    keys = list(population)
    totals = np.array([float(population[k]) for k in keys])
    if not np.all(np.isfinite(totals)) or np.any(totals <= 0):
        raise ValueError(f"{name}: population counts must be positive")
    position = {k: i for i, k in enumerate(keys)}
    missing = [label for label in labels.tolist() if label not in position]
    if missing:
        raise ValueError(f"{name}: no population count for {missing}")
    mapping = np.array([position[label] for label in labels.tolist()], dtype=np.intp)
    absent = set(keys) - set(labels.tolist())
    if absent:
        raise ValueError(f"{name}: levels {sorted(map(str, absent))} have a population count but no sample")
    return mapping[codes], totals


def _df_ratio(n_minus_1: int, degf: int, level: float) -> float:
    """R's Korn–Graubard degrees-of-freedom adjustment ``(qt(alpha/2, n - 1) / qt(alpha/2, degf))^2``."""
    from scipy import special

    if n_minus_1 == degf:
        return 1.0
    alpha = 1.0 - level
    return float((special.stdtrit(n_minus_1, alpha / 2) / special.stdtrit(degf, alpha / 2)) ** 2)
