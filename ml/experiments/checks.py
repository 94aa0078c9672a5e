"""Trust checks around an experiment's results: sample-ratio mismatch and multiple testing.

* **Sample-ratio mismatch** (:func:`srm_check`): GrowthBook's chi-square goodness-of-fit test of
  the units seen per arm against the configured weights. A tiny p-value (GrowthBook warns below
  0.001) means assignment or logging is broken and the effects cannot be trusted, whatever they
  say.
* **Multiple testing** (:func:`adjust_p_values`): comparing several treatments (or several
  metrics) against the control inflates the chance of some false positive. GrowthBook offers
  two corrections of the p-values, both here: Holm–Bonferroni (controls the family-wise error
  rate) and Benjamini–Hochberg (controls the false discovery rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.stats import chi2

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "Correction",
    "SrmResult",
    "adjust_p_values",
    "benjamini_hochberg",
    "holm_bonferroni",
    "srm_check",
]

DEFAULT_SRM_THRESHOLD = 0.001  # GrowthBook's default ``srmThreshold``
Correction = Literal["holm", "bh", "none"]


@dataclass(frozen=True)
class SrmResult:
    """A sample-ratio-mismatch check: the chi-square statistic, its p-value, and the verdict."""

    chi_square: float
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        """Whether the split differs from the weights beyond chance (p below the threshold)."""
        return self.p_value < self.threshold


def srm_check(
    counts: Sequence[float],
    weights: Sequence[float] | None = None,
    *,
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SrmResult:
    """Chi-square goodness of fit of the units per arm against the expected split.

    Args:
        counts: Units observed in each arm.
        weights: Expected traffic share of each arm (normalised to sum 1); equal by default.
        threshold: p-value below which the split is a mismatch (GrowthBook: 0.001).
    """
    obs = np.asarray(counts, dtype=float)
    w = np.full(obs.size, 1.0 / obs.size) if weights is None else np.asarray(weights, float)
    if w.shape != obs.shape or obs.size < 2:
        raise ValueError("need at least two arms and one weight per arm")
    if (w < 0).any() or w.sum() <= 0 or (obs < 0).any():
        raise ValueError("weights and counts must be non-negative, weights not all zero")
    total = obs.sum()
    if total == 0:
        return SrmResult(chi_square=0.0, p_value=1.0, threshold=threshold)
    w = w / w.sum()
    live = w > 0  # GrowthBook skips arms with no traffic share
    expected = w[live] * total
    stat = float(((obs[live] - expected) ** 2 / expected).sum())
    return SrmResult(
        chi_square=stat, p_value=float(chi2.sf(stat, live.sum() - 1)), threshold=threshold
    )


def holm_bonferroni(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down; family-wise error rate).

    The ``i``-th smallest p-value (1-based) is multiplied by ``m - i + 1``; the adjusted values
    are then made non-decreasing in that order and capped at 1. Reject where adjusted < alpha.
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (step-up; false discovery rate).

    The ``i``-th smallest p-value (1-based) is multiplied by ``m / i``; the adjusted values are
    then made non-decreasing by taking the running minimum from the largest down, capped at 1.
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out.tolist()


def adjust_p_values(p_values: Sequence[float], method: Correction = "holm") -> list[float]:
    """Adjust p-values for multiple comparisons: ``"holm"``, ``"bh"`` or ``"none"``."""
    if method == "holm":
        return holm_bonferroni(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "none":
        return [float(x) for x in p_values]
    raise ValueError(f"unknown correction {method!r}: use 'holm', 'bh' or 'none'")
