"""Pingyi's statistics engine: survey weighting and satisfaction indices, as R's ``survey`` package computes them.

A pure library (NumPy and SciPy only): arrays in, numbers out.  It never
imports the web app, so it can be tested against R, run from the command line
(``python -m analysis indices …``) and used from a notebook.
SciPy is imported by the functions that use it, when first called: importing it
costs about a third of a second of CPU, which every process that imports the web
app (each gunicorn worker, each test worker) would otherwise pay at start-up.

Satisfaction layer (all units at once)::

    from analysis import Answers, Params, compute_indices
    params = Params(targets={"group": (0.3, 0.4, 0.15, 0.08, 0.07)})
    results = compute_indices(Answers(respondent, unit, question, level, {"group": group}), params)
    results.index, results.index_se, results.flag_names(0), results.questions.mean, ...
    results.collapse(0)   # {"group": {4: 3}}: thin groups merged before weighting (analysis.cells)

General designs (R ``svydesign`` and friends)::

    from analysis import Design
    d = Design(weights, strata=stype, fpc=population_sizes)
    d.mean(api00).se, d.poststratify(stype, {"E": 4421, "H": 755, "M": 1018}).total(enroll)

Rankings with uncertainty: :func:`rank_intervals`, :func:`compare_estimates`,
:func:`clearly_ordered`, :func:`efficacy_scores`.
"""

from analysis.answers import Answers
from analysis.calibration import RakeReport
from analysis.cells import DEFAULT_MIN_CELL_N, CellCollapse, collapse_cells
from analysis.ci import bounded_ci, korn_graubard_ci, normal_ci, share_n_eff, wilson_ci
from analysis.design import CalibrationError, Design, Estimate, ShareEstimate
from analysis.params import DEFAULT_SCORES, Params
from analysis.ranking import (
    Difference,
    RankIntervals,
    clearly_ordered,
    compare_estimates,
    efficacy_scores,
    intervals_overlap,
    overlap_matrix,
    pairwise_probabilities,
    rank_intervals,
)
from analysis.satisfaction import (
    FLAG_MEANINGS,
    FLAGS,
    UNIT_FIELDS,
    GroupResults,
    IndexResults,
    QuestionResults,
    compute_indices,
    overall_rate,
)
from analysis.weighting import UnitWeights, compute_weights

__all__ = [
    "DEFAULT_MIN_CELL_N",
    "DEFAULT_SCORES",
    "FLAGS",
    "FLAG_MEANINGS",
    "UNIT_FIELDS",
    "Answers",
    "CalibrationError",
    "CellCollapse",
    "Design",
    "Difference",
    "Estimate",
    "GroupResults",
    "IndexResults",
    "Params",
    "QuestionResults",
    "RakeReport",
    "RankIntervals",
    "ShareEstimate",
    "UnitWeights",
    "bounded_ci",
    "clearly_ordered",
    "collapse_cells",
    "compare_estimates",
    "compute_indices",
    "compute_weights",
    "efficacy_scores",
    "intervals_overlap",
    "korn_graubard_ci",
    "normal_ci",
    "overall_rate",
    "overlap_matrix",
    "pairwise_probabilities",
    "rank_intervals",
    "share_n_eff",
    "wilson_ci",
]
