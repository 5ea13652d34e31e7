"""Grouped sums without Python loops over records.

Every estimator in this package is a ratio of weighted sums taken within a
segment (a unit, a stratum, a post-stratum cell).  :class:`Segments` computes
such sums for all segments at once: with ``np.add.reduceat`` when the records
are sorted by segment (the satisfaction layer sorts them so), with
``np.bincount`` otherwise.  Two-dimensional data are laid out variables ×
records (shape ``(k, n)``, each variable contiguous).
"""

from __future__ import annotations

import numpy as np


class Segments:
    """Records grouped by an integer segment code ``0 … n_segments - 1``."""

    def __init__(self, codes: np.ndarray, n_segments: int, gather: bool = False) -> None:
        """``gather``: sum unsorted records segment by segment in record order, like sorted ones.

        Then a segment's sums do not depend on the other segments (a plain
        ``np.bincount`` over unsorted codes may add in another order than
        ``np.add.reduceat`` over sorted ones, changing the last bits).
        """
        self.codes = np.asarray(codes, dtype=np.intp)
        self.n_segments = int(n_segments)
        self.counts = np.bincount(self.codes, minlength=self.n_segments).astype(np.int64)
        self._sorted = bool(np.all(self.codes[1:] >= self.codes[:-1]))
        self._order: np.ndarray | None = None
        if not self._sorted and gather:
            self._order = np.argsort(self.codes, kind="stable")
            self._sorted = True
        if self._sorted:
            self._present = np.flatnonzero(self.counts)
            self._starts = (np.cumsum(self.counts) - self.counts)[self._present]

    def sum(self, values: np.ndarray) -> np.ndarray:
        """Sum ``values`` (``(n,)`` or ``(k, n)``) within each segment: ``(n_segments,)`` or ``(k, n_segments)``.

        Empty segments sum to 0.
        """
        values = np.asarray(values, dtype=np.float64)
        if self._sorted:
            if self._order is not None:
                values = values[..., self._order]
            out = np.zeros(values.shape[:-1] + (self.n_segments,))
            if self._present.size:
                out[..., self._present] = np.add.reduceat(values, self._starts, axis=-1)
            return out
        if values.ndim == 1:
            return np.bincount(self.codes, weights=values, minlength=self.n_segments)
        out = np.empty((values.shape[0], self.n_segments))
        for k in range(values.shape[0]):
            out[k] = np.bincount(self.codes, weights=values[k], minlength=self.n_segments)
        return out

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Unweighted mean of ``values`` within each segment (0 for an empty segment)."""
        return safe_divide(self.sum(values), self.counts, 0.0)

    def expand(self, per_segment: np.ndarray) -> np.ndarray:
        """Each record's value of a per-segment array (last axis indexed by segment)."""
        return per_segment[..., self.codes]

    def median(self, values: np.ndarray) -> np.ndarray:
        """Median of ``values`` within each segment (NaN for an empty segment)."""
        order = np.lexsort((values, self.codes))
        ordered = values[order]
        starts = np.cumsum(self.counts) - self.counts
        out = np.full(self.n_segments, np.nan)
        present = self.counts > 0
        lo = starts[present] + (self.counts[present] - 1) // 2
        hi = starts[present] + self.counts[present] // 2
        out[present] = 0.5 * (ordered[lo] + ordered[hi])
        return out


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(labels, codes)``: the sorted distinct values and each value's code."""
    labels, codes = np.unique(np.asarray(values), return_inverse=True)
    return labels, codes.reshape(-1).astype(np.intp, copy=False)


def safe_divide(num: np.ndarray, den: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """``num / den`` where ``den != 0``, ``fill`` elsewhere, without floating-point warnings."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    out = np.full(num.shape, fill, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out
