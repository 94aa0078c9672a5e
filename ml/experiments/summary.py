"""Per-arm sufficient statistics (n, mean, variance) for one metric.

Every test in this package needs only these three numbers per arm, so an arm can be summarised
from raw per-unit values, from the sums a warehouse query returns (``SUM(x)``, ``SUM(x*x)``,
``COUNT(*)``), or from conversions out of units. The definitions are GrowthBook's:

* mean metric: ``mean = sum / n``, ``variance = (sum_squares - sum**2 / n) / (n - 1)`` (0 if
  ``n <= 1``);
* proportion metric: ``mean = conversions / n``, ``variance = p (1 - p)``.

The fields may be floats or numpy arrays of equal shape: every test then works element-wise,
which is how ``benchmarks/ab_simulation.py`` analyses 10,000 simulated experiments at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ArmStats", "Number"]

Number = float | npt.NDArray[np.float64]
"""A float, or an array of floats when many experiments are analysed at once."""


def _scalar_or_array(x: npt.ArrayLike) -> Number:
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


@dataclass(frozen=True)
class ArmStats:
    """Sufficient statistics of one arm for one metric: units, mean and per-unit variance."""

    n: Number
    mean: Number
    variance: Number

    @classmethod
    def from_values(cls, values: Iterable[float] | npt.ArrayLike) -> ArmStats:
        """Summarise raw per-unit values (sample variance with ``n - 1``)."""
        if not isinstance(values, np.ndarray | list | tuple):
            values = list(values)  # a generator or other one-pass iterable
        arr = np.asarray(values, dtype=float).ravel()
        n = arr.size
        if n == 0:
            return cls(n=0.0, mean=0.0, variance=0.0)
        return cls(
            n=float(n),
            mean=float(arr.mean()),
            variance=float(arr.var(ddof=1)) if n > 1 else 0.0,
        )

    @classmethod
    def from_sums(
        cls, total: npt.ArrayLike, sum_squares: npt.ArrayLike, n: npt.ArrayLike
    ) -> ArmStats:
        """Summarise an arm from ``sum(x)``, ``sum(x**2)`` and the unit count (GrowthBook's
        ``SampleMeanStatistic``)."""
        s = np.asarray(total, dtype=float)
        ss = np.asarray(sum_squares, dtype=float)
        k = np.asarray(n, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(k > 0, s / k, 0.0)
            var = np.where(k > 1, (ss - s * s / k) / (k - 1), 0.0)
        return cls(
            n=_scalar_or_array(k), mean=_scalar_or_array(mean), variance=_scalar_or_array(var)
        )

    @classmethod
    def from_proportion(cls, successes: npt.ArrayLike, n: npt.ArrayLike) -> ArmStats:
        """Summarise a binary metric from conversions out of ``n`` units (GrowthBook's
        ``ProportionStatistic``: variance ``p (1 - p)``)."""
        s = np.asarray(successes, dtype=float)
        k = np.asarray(n, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(k > 0, s / k, 0.0)
        return cls(
            n=_scalar_or_array(k), mean=_scalar_or_array(p), variance=_scalar_or_array(p * (1 - p))
        )
