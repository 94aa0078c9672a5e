"""Effect of a treatment arm B against a control arm A: frequentist, sequential and Bayesian.

The formulas are those of GrowthBook's stats engine (``gbstats``), reproduced here because
``gbstats`` does not fit this project's locked stack: its releases from 0.3 to 0.8.0 (the
latest) pin pandas < 2, and the newest one that resolves with pandas 2.3, 0.2.1 (2021), has
neither the frequentist, the sequential nor the effect-based Bayesian tests.
``tests/ml/test_experiments.py`` checks every value of GrowthBook's reference vectors
(``shared/benchmarks/abtest``) to 1e-5.

* **Effect and its variance.** Absolute: ``mean_b - mean_a`` with variance
  ``var_b/n_b + var_a/n_a``. Relative (the default, GrowthBook's): ``(mean_b - mean_a)/|mean_a|``
  with the delta-method variance ``var_b/(n_b mean_a^2) + var_a mean_b^2/(n_a mean_a^4)``.
* **Fixed horizon** (:func:`welch_ttest`): Welch's t-test with Welch–Satterthwaite degrees of
  freedom (computed from the absolute variances, as GrowthBook does); two-sided p-value and
  ``1 - alpha`` interval. Valid only when the result is read once, at the planned sample size.
* **Sequential** (:func:`sequential_ttest`): GrowthBook's asymptotic confidence sequence
  (Waudby-Smith et al. 2023, "Time-uniform central limit theory and asymptotic confidence
  sequences", eq. 161 for ``rho``; the normal-mixture e-value for the p-value). With
  ``N = n_a + n_b`` and ``s2 = se^2 N``::

      rho       = sqrt((-2 ln a + ln(-2 ln a + 1)) / tuning)
      halfwidth = sqrt(s2) sqrt(2 (N rho^2 + 1) / (N^2 rho^2) ln(sqrt(N rho^2 + 1) / a))
      e-value   = exp(rho^2 N est^2 / se^2 / (2 (N rho^2 + 1))) / sqrt(N rho^2 + 1)
      p         = min(1, 1 / e-value)

  The interval and the p-value stay valid however often they are looked at; the price is a
  wider interval, narrowest near ``N ~ tuning`` (set ``tuning`` to the planned total sample).
* **Bayesian** (:func:`bayesian_test`): GrowthBook's effect model: a Gaussian likelihood for the
  effect (the estimate and its variance above) and a Gaussian prior on it, improper flat by
  default. Chance to win ``P(effect > 0)``; credible interval from the posterior; risk =
  expected loss of each choice, ``[E[max(effect, 0)], E[max(-effect, 0)]]`` for (keeping the
  control, shipping the treatment).

Inputs the tests cannot handle (an arm with fewer than 2 units, zero variance in an arm, a zero
control mean for a relative effect) give GrowthBook's uninformative result (estimate 0, interval
[0, 0], p-value 1, chance to win 0.5) with a ``message``, never an exception; with array inputs
those elements get the same values. (GrowthBook itself only guards against empty arms; one unit
would give it NaNs.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import norm, t

from ml.experiments.summary import ArmStats, Number

__all__ = [
    "DEFAULT_SEQUENTIAL_TUNING",
    "BayesianResult",
    "Difference",
    "EffectResult",
    "GaussianPrior",
    "bayesian_test",
    "sequential_rho",
    "sequential_ttest",
    "welch_ttest",
]

Difference = Literal["relative", "absolute"]
DEFAULT_SEQUENTIAL_TUNING = 5000.0  # GrowthBook's default ``sequentialTuningParameter``


def _out(x: npt.ArrayLike) -> Number:
    arr = np.asarray(x, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


@dataclass(frozen=True)
class _Moments:
    estimate: np.ndarray
    variance: np.ndarray
    dof: np.ndarray
    valid: np.ndarray
    message: str | None


def _moments(a: ArmStats, b: ArmStats, difference: Difference) -> _Moments:
    if difference not in ("relative", "absolute"):
        raise ValueError(f"difference must be 'relative' or 'absolute', got {difference!r}")
    na, ma, va = (np.asarray(x, dtype=float) for x in (a.n, a.mean, a.variance))
    nb, mb, vb = (np.asarray(x, dtype=float) for x in (b.n, b.mean, b.variance))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if difference == "relative":
            estimate = (mb - ma) / np.abs(ma)
            variance = vb / (ma**2 * nb) + va * mb**2 / (ma**4 * na)
        else:
            estimate = mb - ma
            variance = vb / nb + va / na
        dof = (vb / nb + va / na) ** 2 / (vb**2 / (nb**2 * (nb - 1)) + va**2 / (na**2 * (na - 1)))
    empty = (na < 2) | (nb < 2)  # no variance (and no Welch dof) from fewer than 2 units
    zero_var = (va <= 0) | (vb <= 0)
    zero_base = (ma == 0) if difference == "relative" else np.zeros_like(empty)
    valid = ~empty & ~zero_var & ~zero_base & np.isfinite(variance) & (variance > 0)
    valid &= np.isfinite(estimate)
    message = None
    if np.ndim(valid) == 0 and not valid:
        if empty:
            message = "an arm has fewer than 2 units"
        elif zero_base:
            message = "the control mean is zero: no relative effect"
        else:
            message = "an arm has zero variance"
    return _Moments(estimate, variance, dof, valid, message)


@dataclass(frozen=True)
class EffectResult:
    """A frequentist effect of B against A (fixed-horizon Welch or sequential).

    Attributes:
        method: ``"welch"`` (fixed horizon) or ``"sequential"`` (always valid).
        difference: ``"relative"`` (share of the control mean) or ``"absolute"``.
        estimate: The effect's point estimate.
        stddev: Its standard error.
        ci: The ``1 - alpha`` two-sided interval (a confidence sequence when sequential).
        p_value: Two-sided p-value of "no effect" (always valid when sequential).
        dof: Welch–Satterthwaite degrees of freedom (informative only when sequential).
        alpha: The significance level the interval was built for.
        message: Why the result is uninformative, if it is.
    """

    method: Literal["welch", "sequential"]
    difference: Difference
    estimate: Number
    stddev: Number
    ci: tuple[Number, Number]
    p_value: Number
    dof: Number
    alpha: float
    message: str | None = None

    @property
    def significant(self) -> bool | npt.NDArray[np.bool_]:
        """Whether the p-value is below ``alpha`` (before any multiple-testing correction)."""
        sig = np.asarray(self.p_value) < self.alpha
        return bool(sig) if sig.ndim == 0 else sig


def welch_ttest(
    a: ArmStats, b: ArmStats, *, difference: Difference = "relative", alpha: float = 0.05
) -> EffectResult:
    """Fixed-horizon two-sided Welch t-test of B against A (GrowthBook's ``TwoSidedTTest``).

    Args:
        a: The control arm.
        b: The treatment arm.
        difference: ``"relative"`` (delta method, GrowthBook's default) or ``"absolute"``.
        alpha: Significance level; the interval covers ``1 - alpha``.
    """
    _check_alpha(alpha)
    m = _moments(a, b, difference)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(m.variance)
        width = t.ppf(1 - alpha / 2, m.dof) * se
        p = 2 * t.sf(np.abs(m.estimate / se), m.dof)
    ok = m.valid
    return EffectResult(
        method="welch",
        difference=difference,
        estimate=_out(np.where(ok, m.estimate, 0.0)),
        stddev=_out(np.where(ok, se, 0.0)),
        ci=(
            _out(np.where(ok, m.estimate - width, 0.0)),
            _out(np.where(ok, m.estimate + width, 0.0)),
        ),
        p_value=_out(np.where(ok, p, 1.0)),
        dof=_out(np.where(ok, m.dof, 0.0)),
        alpha=alpha,
        message=m.message,
    )


def sequential_rho(alpha: float, tuning: float = DEFAULT_SEQUENTIAL_TUNING) -> float:
    """The normal-mixture parameter ``rho`` for a two-sided confidence sequence that is
    tightest near a total sample of ``tuning`` (Waudby-Smith et al. 2023, eq. 161)."""
    _check_alpha(alpha)
    if tuning <= 0:
        raise ValueError(f"the sequential tuning parameter must be positive, got {tuning}")
    la = np.log(alpha)
    return float(np.sqrt((-2 * la + np.log(-2 * la + 1)) / tuning))


def sequential_ttest(
    a: ArmStats,
    b: ArmStats,
    *,
    difference: Difference = "relative",
    alpha: float = 0.05,
    tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> EffectResult:
    """Always-valid two-sided test of B against A (GrowthBook's ``SequentialTwoSidedTTest``).

    The interval is a confidence sequence and the p-value an always-valid p-value: the chance
    that *any* look ever shows significance under no effect stays at most ``alpha``, so the
    experiment can be checked after every batch of data.

    Args:
        a: The control arm.
        b: The treatment arm.
        difference: ``"relative"`` (delta method) or ``"absolute"``.
        alpha: Significance level.
        tuning: GrowthBook's ``sequentialTuningParameter``: the total sample size (both arms)
            where the interval is tightest; set it to the planned total.
    """
    rho = sequential_rho(alpha, tuning)
    m = _moments(a, b, difference)
    big_n = np.asarray(a.n, dtype=float) + np.asarray(b.n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        nr2 = big_n * rho**2
        s2 = m.variance * big_n
        half = np.sqrt(s2) * np.sqrt(
            2 * (nr2 + 1) / (big_n**2 * rho**2) * np.log(np.sqrt(nr2 + 1) / alpha)
        )
        st2 = m.estimate**2 * big_n / m.variance
        log_e = rho**2 * st2 / (2 * (nr2 + 1)) - 0.5 * np.log(nr2 + 1)
        p = np.exp(-np.maximum(log_e, 0.0))  # min(1, 1/e), without overflow
    ok = m.valid
    return EffectResult(
        method="sequential",
        difference=difference,
        estimate=_out(np.where(ok, m.estimate, 0.0)),
        stddev=_out(np.where(ok, np.sqrt(m.variance), 0.0)),
        ci=(_out(np.where(ok, m.estimate - half, 0.0)), _out(np.where(ok, m.estimate + half, 0.0))),
        p_value=_out(np.where(ok, p, 1.0)),
        dof=_out(np.where(ok, m.dof, 0.0)),
        alpha=alpha,
        message=m.message,
    )


@dataclass(frozen=True)
class GaussianPrior:
    """A Gaussian prior on the effect, on the scale of the test's ``difference``.

    ``proper=False`` (the default) is GrowthBook's improper flat prior: the posterior is then
    the likelihood, and ``mean``/``variance`` are ignored.
    """

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False


@dataclass(frozen=True)
class BayesianResult:
    """GrowthBook's Bayesian effect of B against A.

    Attributes:
        difference: ``"relative"`` or ``"absolute"``.
        estimate: Posterior mean of the effect.
        stddev: Posterior standard deviation.
        ci: Central ``1 - alpha`` credible interval.
        chance_to_win: ``P(effect > 0)`` (``P(effect < 0)`` for an inverse metric).
        risk: Expected loss of (keeping the control, shipping the treatment), in the effect's
            unit; swapped for an inverse metric.
        alpha: The credible interval's level.
        message: Why the result is uninformative, if it is.
    """

    difference: Difference
    estimate: Number
    stddev: Number
    ci: tuple[Number, Number]
    chance_to_win: Number
    risk: tuple[Number, Number]
    alpha: float
    message: str | None = None


def bayesian_test(
    a: ArmStats,
    b: ArmStats,
    *,
    difference: Difference = "relative",
    alpha: float = 0.05,
    prior: GaussianPrior | None = None,
    inverse: bool = False,
) -> BayesianResult:
    """Bayesian chance to win and risk of B against A (GrowthBook's ``EffectBayesianABTest``).

    Args:
        a: The control arm.
        b: The treatment arm.
        difference: ``"relative"`` or ``"absolute"``; the prior is on the same scale.
        alpha: The credible interval covers ``1 - alpha``.
        prior: Prior on the effect; ``None`` is the improper flat prior.
        inverse: The metric is better when lower (latency, cost): chance to win becomes
            ``P(effect < 0)`` and the two risks swap.
    """
    _check_alpha(alpha)
    prior = prior or GaussianPrior()
    if prior.proper and prior.variance <= 0:
        raise ValueError(f"a proper prior needs a positive variance, got {prior.variance}")
    m = _moments(a, b, difference)
    with np.errstate(divide="ignore", invalid="ignore"):
        if prior.proper:
            precision = 1 / m.variance + 1 / prior.variance
            mu = (m.estimate / m.variance + prior.mean / prior.variance) / precision
        else:
            precision = 1 / m.variance
            mu = m.estimate
        sd = np.sqrt(1 / precision)
        z = mu / sd
        win = norm.cdf(z)  # P(effect > 0)
        # E[max(x, 0)] and E[max(-x, 0)] for x ~ N(mu, sd^2): GrowthBook's risk, closed form.
        risk_ctrl = mu * norm.cdf(z) + sd * norm.pdf(z)
        risk_trt = sd * norm.pdf(z) - mu * norm.cdf(-z)
        q = norm.ppf(1 - alpha / 2)
    if inverse:
        win = 1 - win
        risk_ctrl, risk_trt = risk_trt, risk_ctrl
    ok = m.valid
    return BayesianResult(
        difference=difference,
        estimate=_out(np.where(ok, mu, 0.0)),
        stddev=_out(np.where(ok, sd, 0.0)),
        ci=(_out(np.where(ok, mu - q * sd, 0.0)), _out(np.where(ok, mu + q * sd, 0.0))),
        chance_to_win=_out(np.where(ok, win, 0.5)),
        risk=(_out(np.where(ok, risk_ctrl, 0.0)), _out(np.where(ok, risk_trt, 0.0))),
        alpha=alpha,
        message=m.message,
    )
