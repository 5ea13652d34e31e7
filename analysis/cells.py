"""Thin weighting cells: the collapse rule applied within each unit before it is weighted.

A unit is weighted to the target shares of its respondent groups (post-stratification
cells) or of several margins (raking).  A cell with very few respondents makes the
result hinge on those few people, and a cell of one respondent leaves nothing to
measure: its respondent's deviation from the cell mean is 0, so the standard error
silently omits the cell (three ratings in three groups give "SE 0.00").  Each unit's
cells are therefore collapsed before weighting, margin by margin:

1. The cells are the levels of the margin present among the unit's respondents,
   each with its renormalised target share (shares of absent levels are
   redistributed first, as before).
2. A cell is *thin* when it has fewer than ``min_cell_n`` respondents.  While a
   thin cell remains and the unit has two cells or more, the thin cell with the
   fewest respondents (ties: the lowest level code, i.e. the earlier level in
   the targets) is merged into
   a. the cell holding the level the analyst designated for one of its levels
      (``into``: level -> level; the cell's levels are tried in code order, and
      a designation is followed on through levels absent from the unit or
      already in the same cell, so ``政协委员 -> 人大代表 -> 企业`` reaches 企业
      when the unit has no 人大代表), or, without such a designation,
   b. the smallest other cell (fewest respondents, ties: lowest code).  Thin
      cells without a designation thus pool together first — the pooled "other"
      cell — and a pool still below ``min_cell_n`` joins the smallest adequate cell.
3. A merged cell's target share is the sum of its levels' shares; within a
   cell, weights stay proportional to the design weights.  Each merge removes
   one cell, so the rule ends after at most (levels - 1) merges.
4. A margin left with fewer than two cells no longer weights the unit (its one
   cell is the whole unit).  When no weighting margin keeps two cells the unit
   is estimated with its design weights alone — equal weights in a survey
   without design weights, so the index SE is that of a simple mean with
   n - 1 — and flagged ``unweighted``; any merge is flagged ``cells_collapsed``.

The result, :class:`CellCollapse`, says for every unit which level's cell each
level ended in, so the collapse can be stored and shown beside the estimates.

Why ``min_cell_n = 5`` by default (:data:`DEFAULT_MIN_CELL_N`):

* at least 2 is a necessity, not a choice: a one-respondent cell contributes no
  variance (R's ``survey`` and SAS collapse lonely strata for the same reason);
* a cell of 2–4 respondents estimates its within-cell variance on 1–3 degrees
  of freedom and gives its respondents an adjustment factor ``P_g n / n_g``
  that moves by a quarter to a half when one respondent more or less
  answers; such cells are what the collapse is for;
* guides for national surveys ask for 20–30 respondents per weighting cell
  (e.g. Kalton and Flores-Cervantes, "Weighting methods", J. Official
  Statistics 19(2), 2003), but a unit here is reliable from n = 30 (``min_n``)
  spread over about five groups — six respondents a group — so such a minimum
  would switch group weighting off for nearly every unit near the threshold.
  Five keeps the weighting of a 30-respondent unit whose groups are evenly
  spread and collapses the cells that hang on one to four people.

``min_cell_n = 1`` turns collapsing off (no cell can have fewer than one
respondent).  It exists to reproduce an uncollapsed design, such as R's
reference files made with ``postStratify`` on the raw groups; a unit that then
keeps a one-respondent cell is flagged ``singleton_cell``, as its SE leaves that
cell out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Default minimum number of respondents in a weighting cell (see the module doc for the reasons).
DEFAULT_MIN_CELL_N = 5


@dataclass(frozen=True)
class CellCollapse:
    """How one margin's cells were collapsed in every unit: arrays of shape ``(n_units, n_levels)``.

    ``n`` counts each level's respondents in the unit.  ``cell`` holds, for
    every level present, the code of the level that names its cell after the
    collapse — the level itself when it was not merged — and -1 for a level
    without respondents.  A cell is named by the level that absorbed the
    others, so ``cell[u, 4] == 3`` reads "政协委员 merged into 人大代表's cell".
    """

    margin: str
    min_cell_n: int
    n: np.ndarray
    cell: np.ndarray

    @property
    def n_cells(self) -> np.ndarray:
        """Cells left in each unit after the collapse, ``(n_units,)`` (0 for a unit without respondents)."""
        heads = (self.cell == np.arange(self.cell.shape[1])) & (self.n > 0)
        return heads.sum(axis=1)

    @property
    def collapsed(self) -> np.ndarray:
        """Which units had at least one level merged into another's cell, ``(n_units,)``."""
        return ((self.cell >= 0) & (self.cell != np.arange(self.cell.shape[1]))).any(axis=1)

    @property
    def cell_n(self) -> np.ndarray:
        """Respondents in the cell each level ended in, ``(n_units, n_levels)`` (0 for absent levels)."""
        out = np.zeros(self.n.shape, dtype=np.int64)
        rows = np.repeat(np.arange(self.n.shape[0]), self.n.shape[1]).reshape(self.n.shape)
        present = self.cell >= 0
        np.add.at(out, (rows[present], self.cell[present]), self.n[present])
        return np.where(present, out[rows, np.maximum(self.cell, 0)], 0)

    def merges(self, i: int) -> dict[int, int]:
        """The merged levels of unit ``i``: level code -> code of the level whose cell it joined."""
        return {g: int(c) for g, c in enumerate(self.cell[i]) if c >= 0 and c != g}

    def cells(self, i: int) -> list[tuple[int, ...]]:
        """The cells of unit ``i`` as tuples of level codes, each led by the level that names it."""
        out = []
        for head in np.flatnonzero((self.cell[i] == np.arange(self.cell.shape[1])) & (self.n[i] > 0)):
            others = [g for g in np.flatnonzero(self.cell[i] == head) if g != head]
            out.append((int(head), *(int(g) for g in others)))
        return out


def collapse_cells(counts: np.ndarray, min_cell_n: int, into: Mapping[int, int] | None = None) -> np.ndarray:
    """The collapse rule of the module doc for every unit: ``counts`` is ``(n_units, n_levels)``.

    Returns ``cell``, ``(n_units, n_levels)``: for each level with respondents
    the code of the level naming the cell it ends in, -1 for absent levels.
    Only units with a thin cell enter the (short) Python loop; the others keep
    one cell per level.
    """
    counts = np.asarray(counts, dtype=np.int64)
    levels = np.arange(counts.shape[1])
    cell = np.where(counts > 0, levels, -1)
    present = counts > 0
    thin = present & (counts < min_cell_n)
    todo = np.flatnonzero(thin.any(axis=1) & (present.sum(axis=1) >= 2))
    into = dict(into or {})
    for u in todo:
        cell[u] = _collapse_unit(counts[u], min_cell_n, into)
    return cell


def _collapse_unit(counts: np.ndarray, min_cell_n: int, into: dict[int, int]) -> np.ndarray:
    head_of = {int(g): int(g) for g in np.flatnonzero(counts > 0)}
    size = {g: int(counts[g]) for g in head_of}
    members = {g: [g] for g in head_of}
    while len(size) >= 2:
        thin = [h for h in size if size[h] < min_cell_n]
        if not thin:
            break
        h = min(thin, key=lambda c: (size[c], c))
        dest = _designated(h, sorted(members[h]), head_of, into)
        if dest is None:
            dest = min((c for c in size if c != h), key=lambda c: (size[c], c))
        size[dest] += size.pop(h)
        for g in members.pop(h):
            head_of[g] = dest
            members[dest].append(g)
    out = np.full(counts.size, -1, dtype=np.int64)
    for g, head in head_of.items():
        out[g] = head
    return out


def _designated(h: int, levels: list[int], head_of: dict[int, int], into: dict[int, int]) -> int | None:
    """The cell designated for cell ``h``: follow each level's designation until it reaches another cell."""
    for g in levels:
        seen = {g}
        target = into.get(g)
        while target is not None and target not in seen:
            if target in head_of and head_of[target] != h:
                return head_of[target]
            seen.add(target)
            target = into.get(target)
    return None


def merge_targets(shares: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Target shares per cell: each level's (renormalised) share added to its cell's naming level.

    ``shares`` and ``cell`` are ``(n_units, n_levels)``; absent levels (NaN
    share, cell -1) add nothing.  Levels that name no cell get 0.
    """
    out = np.zeros(shares.shape)
    rows = np.repeat(np.arange(shares.shape[0]), shares.shape[1]).reshape(shares.shape)
    present = cell >= 0
    np.add.at(out, (rows[present], cell[present]), np.nan_to_num(shares[present]))
    return out
