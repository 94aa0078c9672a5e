"""One-sided non-inferiority test of a candidate arm B against the current arm A.

A candidate is *non-inferior* on a metric when it is not worse than the current version by more
than a stated margin ``m > 0``. With the improvement ``d`` (``mean_b - mean_a`` for a metric
where higher is better, ``mean_a - mean_b`` where lower is better) the hypotheses are::

    H0: d <= -m   (the candidate is worse by the margin or more)
    H1: d >  -m   (the candidate is non-inferior)

rejected at level ``alpha`` when the lower one-sided ``1 - alpha`` confidence bound of ``d`` lies
above ``-m``. The same interval answers the opposite question, "is the candidate significantly
worse at all?" (``H0: d >= 0`` rejected when the upper one-sided bound is below 0).

Two interval constructions, both on the absolute difference with the variance
``var_a/n_a + var_b/n_b`` (:mod:`ml.experiments.effects`):

* ``"welch"``: Welch's t with Welch–Satterthwaite degrees of freedom; valid for one look.
* ``"sequential"``: GrowthBook's asymptotic confidence sequence (the normal mixture of
  :func:`ml.experiments.effects.sequential_ttest`), whose two-sided ``1 - alpha`` interval is used
  for each one-sided bound (conservative: each side errs with probability at most ``alpha``);
  valid however often the rollout looks at its data.

When both arms show no variation at all (every unit has the same value in its arm, e.g. every
page passed its checks), the standard error is 0 and the observed difference is taken as exact:
the p-values are then 0 or 1. With fewer than 2 units in an arm the result is ``inconclusive``.
Pure numpy/scipy, no Dagster.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy.stats import t

from ml.experiments.effects import DEFAULT_SEQUENTIAL_TUNING, sequential_rho
from ml.experiments.summary import ArmStats

__all__ = ["NonInferiorityResult", "Verdict", "noninferiority_test"]

Verdict = Literal["non_inferior", "worse", "inconclusive"]
Method = Literal["welch", "sequential"]


@dataclass(frozen=True)
class NonInferiorityResult:
    """The evidence of one metric's non-inferiority test.

    Attributes:
        method: ``"welch"`` or ``"sequential"``.
        difference: ``mean_b - mean_a`` (candidate minus current), in the metric's unit.
        improvement: The difference signed so that positive is better.
        stderr: Standard error of the difference.
        dof: Welch–Satterthwaite degrees of freedom (``inf`` when the error is 0).
        lower: Lower one-sided ``1 - alpha`` bound of the improvement.
        upper: Upper one-sided ``1 - alpha`` bound of the improvement.
        margin: The non-inferiority margin (a positive amount of the metric's unit).
        p_noninferior: p-value of ``H0: improvement <= -margin``.
        p_worse: p-value of ``H0: improvement >= 0`` (small: the candidate is worse).
        alpha: The one-sided significance level.
        verdict: ``non_inferior`` (lower bound above ``-margin``), ``worse`` (not non-inferior
            and the upper bound below 0), else ``inconclusive``.
        message: Why the result is inconclusive by construction, if it is.
    """

    method: Method
    difference: float
    improvement: float
    stderr: float
    dof: float
    lower: float
    upper: float
    margin: float
    p_noninferior: float
    p_worse: float
    alpha: float
    verdict: Verdict
    message: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in asdict(self).items()
        }


def _welch_dof(a: ArmStats, b: ArmStats) -> float:
    va, vb = float(a.variance) / float(a.n), float(b.variance) / float(b.n)
    den = 0.0
    if float(a.n) > 1:
        den += va**2 / (float(a.n) - 1)
    if float(b.n) > 1:
        den += vb**2 / (float(b.n) - 1)
    return (va + vb) ** 2 / den if den > 0 else math.inf


def noninferiority_test(
    a: ArmStats,
    b: ArmStats,
    *,
    margin: float,
    higher_is_better: bool = True,
    alpha: float = 0.05,
    method: Method = "welch",
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> NonInferiorityResult:
    """Test whether the candidate B is non-inferior to the current arm A within ``margin``.

    Args:
        a: The current version's arm.
        b: The candidate's arm.
        margin: The largest loss that still counts as "no worse" (>= 0, metric's unit).
        higher_is_better: The metric's direction (``False`` for cost, error rates).
        alpha: One-sided significance level of each bound.
        method: ``"welch"`` (one look) or ``"sequential"`` (always valid).
        tuning: The sequential interval is tightest near this many units (both arms).
    """
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if margin < 0:
        raise ValueError(f"the margin must be >= 0, got {margin}")
    if method not in ("welch", "sequential"):
        raise ValueError(f"method must be 'welch' or 'sequential', got {method!r}")
    sign = 1.0 if higher_is_better else -1.0
    diff = float(b.mean) - float(a.mean)
    imp = sign * diff
    if float(a.n) < 2 or float(b.n) < 2:
        return NonInferiorityResult(
            method, diff, imp, math.nan, math.nan, -math.inf, math.inf, margin, 1.0, 1.0,
            alpha, "inconclusive", "an arm has fewer than 2 units",
        )  # fmt: skip
    var = float(a.variance) / float(a.n) + float(b.variance) / float(b.n)
    se = math.sqrt(max(var, 0.0))
    dof = _welch_dof(a, b)
    if se == 0.0:
        # No variation in either arm: the observed difference is exact.
        p_ni = 0.0 if imp > -margin else 1.0
        p_w = 0.0 if imp < 0 else 1.0
        lower = upper = imp
    elif method == "welch":
        q = float(t.ppf(1 - alpha, dof))
        lower, upper = imp - q * se, imp + q * se
        p_ni = float(t.sf((imp + margin) / se, dof))
        p_w = float(t.cdf(imp / se, dof))
    else:
        big_n = float(a.n) + float(b.n)
        rho = sequential_rho(alpha, tuning)
        nr2 = big_n * rho**2
        s2 = var * big_n
        half = math.sqrt(s2) * math.sqrt(
            2 * (nr2 + 1) / (big_n**2 * rho**2) * math.log(math.sqrt(nr2 + 1) / alpha)
        )
        lower, upper = imp - half, imp + half

        def always_valid_p(shift: float) -> float:
            st2 = shift**2 * big_n / var
            log_e = rho**2 * st2 / (2 * (nr2 + 1)) - 0.5 * math.log(nr2 + 1)
            return math.exp(-max(log_e, 0.0))

        # one-sided: only evidence in the tested direction counts
        p_ni = always_valid_p(imp + margin) if imp + margin > 0 else 1.0
        p_w = always_valid_p(imp) if imp < 0 else 1.0
    if lower > -margin:
        verdict: Verdict = "non_inferior"
    elif upper < 0:
        verdict = "worse"
    else:
        verdict = "inconclusive"
    return NonInferiorityResult(
        method, diff, imp, se, dof, lower, upper, margin, p_ni, p_w, alpha, verdict
    )
