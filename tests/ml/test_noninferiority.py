"""The one-sided non-inferiority test (ml/experiments/noninferiority.py)."""

import math

import numpy as np
import pytest
from scipy import stats

from ml.experiments.noninferiority import noninferiority_test
from ml.experiments.summary import ArmStats


def _arms(rng: np.random.Generator, n: int, mean_a: float, mean_b: float, sd: float):
    return (
        ArmStats.from_values(rng.normal(mean_a, sd, n)),
        ArmStats.from_values(rng.normal(mean_b, sd, n)),
    )


def test_welch_bounds_and_p_values_match_scipy() -> None:
    rng = np.random.default_rng(1)
    xa, xb = rng.normal(1.0, 0.3, 40), rng.normal(1.05, 0.5, 25)
    a, b = ArmStats.from_values(xa), ArmStats.from_values(xb)
    r = noninferiority_test(a, b, margin=0.1, alpha=0.05)
    # scipy's Welch test of H0: mean_b - mean_a <= -0.1 against the greater alternative
    ref = stats.ttest_ind(xb + 0.1, xa, equal_var=False, alternative="greater")
    assert r.p_noninferior == pytest.approx(ref.pvalue, rel=1e-9)
    worse = stats.ttest_ind(xb, xa, equal_var=False, alternative="less")
    assert r.p_worse == pytest.approx(worse.pvalue, rel=1e-9)
    q = stats.t.ppf(0.95, r.dof)
    assert r.lower == pytest.approx(r.improvement - q * r.stderr)
    assert r.upper == pytest.approx(r.improvement + q * r.stderr)
    assert (r.p_noninferior < 0.05) == (r.lower > -0.1)


def test_direction_lower_is_better_flips_the_improvement() -> None:
    a = ArmStats(n=100, mean=10.0, variance=4.0)
    b = ArmStats(n=100, mean=9.0, variance=4.0)
    r = noninferiority_test(a, b, margin=0.5, higher_is_better=False)
    assert r.difference == pytest.approx(-1.0) and r.improvement == pytest.approx(1.0)
    assert r.verdict == "non_inferior"


@pytest.mark.parametrize(
    ("mean_b", "margin", "verdict"),
    [(1.0, 0.1, "non_inferior"), (0.7, 0.1, "worse"), (0.97, 0.01, "inconclusive")],
)
def test_verdicts(mean_b: float, margin: float, verdict: str) -> None:
    a = ArmStats(n=200, mean=1.0, variance=0.04)
    b = ArmStats(n=200, mean=mean_b, variance=0.04)
    assert noninferiority_test(a, b, margin=margin).verdict == verdict


def test_worse_within_the_margin_is_still_non_inferior() -> None:
    a = ArmStats(n=100_000, mean=1.0, variance=0.01)
    b = ArmStats(n=100_000, mean=0.99, variance=0.01)
    r = noninferiority_test(a, b, margin=0.05)
    assert r.p_worse < 1e-6  # significantly worse ...
    assert r.verdict == "non_inferior"  # ... but by less than the tolerated margin


def test_no_variation_in_either_arm_is_exact() -> None:
    same = noninferiority_test(
        ArmStats(n=80, mean=1.0, variance=0.0), ArmStats(n=4, mean=1.0, variance=0.0), margin=0.05
    )
    assert same.verdict == "non_inferior" and same.stderr == 0.0
    lost = noninferiority_test(
        ArmStats(n=80, mean=1.0, variance=0.0), ArmStats(n=4, mean=0.0, variance=0.0), margin=0.05
    )
    assert lost.verdict == "worse" and lost.p_worse == 0.0


def test_too_few_units_is_inconclusive() -> None:
    r = noninferiority_test(
        ArmStats(n=50, mean=1, variance=1), ArmStats(n=1, mean=1, variance=0), margin=1
    )
    assert r.verdict == "inconclusive" and r.message
    assert r.as_dict()["lower"] is None  # JSON-ready: no infinities


def test_sequential_is_wider_than_welch_and_consistent() -> None:
    a = ArmStats(n=500, mean=1.0, variance=0.25)
    b = ArmStats(n=500, mean=1.0, variance=0.25)
    w = noninferiority_test(a, b, margin=0.05, method="welch")
    s = noninferiority_test(a, b, margin=0.05, method="sequential", tuning=1000)
    assert s.lower < w.lower and s.upper > w.upper
    assert (s.p_noninferior < 0.05) == (s.lower > -0.05)


def test_false_non_inferiority_rate_is_at_most_alpha() -> None:
    """At the margin's edge (true improvement = -margin) Welch declares non-inferiority in
    about alpha of the experiments, never much more."""
    rng = np.random.default_rng(7)
    hits = 0
    trials = 2000
    for _ in range(trials):
        a, b = _arms(rng, 30, 1.0, 0.9, 0.3)
        hits += noninferiority_test(a, b, margin=0.1).verdict == "non_inferior"
    assert hits / trials < 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)


def test_bad_arguments() -> None:
    a = ArmStats(n=10, mean=1, variance=1)
    with pytest.raises(ValueError):
        noninferiority_test(a, a, margin=-1)
    with pytest.raises(ValueError):
        noninferiority_test(a, a, margin=1, alpha=0.6)
    with pytest.raises(ValueError):
        noninferiority_test(a, a, margin=1, method="bayes")  # type: ignore[arg-type]
