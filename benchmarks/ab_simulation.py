"""Do the experiment statistics keep their promises? 10,000 simulated experiments say.

Every figure comes from :mod:`ml.experiments` run on simulated data (numpy, fixed seed), the
tests applied to all experiments at once through their array inputs:

* **A/A** (both arms identical), 10,000 experiments, 5,000 units per arm at the end, looked at
  after every 500 units per arm (10 looks). Two metrics per unit: conversion ~ Bernoulli(10 %),
  and revenue = conversion x LogNormal(log-mean 3, log-sd 1) (zero for the 90 % who do not
  convert: skewed, like real revenue). Tests: relative effect (GrowthBook's default), alpha 0.05.

  - fixed-horizon Welch read once at the end: false-positive rate should be 5 % +- 0.5 %;
  - the same test read at each of the 10 looks, stopping at the first "significant" one
    (peeking): the inflation;
  - GrowthBook's sequential test (tuning = the planned 10,000 units) under the same peeking:
    should stay <= 5 %.
* **Power**: conversion 10 % -> 11 % (+10 % relative), 15,000 units per arm, 10,000
  experiments: each fixed-horizon test's rejection rate against its analytic power (normal
  approximation), within +-2 points. For the absolute test that is the textbook two-proportion
  formula. For the relative (delta-method) test the statistic's s.e. grows with the estimate,
  so its z has s.d. ~0.91, not 1; the analytic value uses that s.d. (delta method over the two
  rates), and the naive s.d.-1 value (2-3 points too low) is printed beside it. The sequential
  test's power with 10 looks is shown as the price of peeking safely.
* **Assignment**: 100,000 unit ids through GrowthBook's hash (50/50) and the SRM check, and the
  SRM check's false-alarm rate over the A/A experiments' binomial splits (threshold 0.001).

Rates carry a 95 % Clopper–Pearson interval. Timings are medians of 5 rounds. Exits non-zero
if a target is missed.

Usage: ``uv run python benchmarks/ab_simulation.py [--experiments 10000] [--seed 20260101]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import binomtest, norm

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ml.experiments import (  # noqa: E402
    ArmStats,
    assign,
    bayesian_test,
    sequential_ttest,
    srm_check,
    welch_ttest,
)

ALPHA = 0.05
LOOKS = 10
AA_UNITS = 5_000  # per arm, at the last look
CONVERSION = 0.10
LOG_MEAN, LOG_SD = 3.0, 1.0
POWER_UNITS = 15_000  # per arm
LIFT = 0.10  # relative
ASSIGN_UNITS = 100_000
ROUNDS = 5


def log(msg: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def rate(hits: np.ndarray) -> tuple[float, float, float]:
    """Share of True, with its 95 % Clopper–Pearson interval."""
    k, n = int(hits.sum()), int(hits.size)
    ci = binomtest(k, n).proportion_ci(0.95)
    return k / n, ci.low, ci.high


def median_time(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Median wall time of ``fn`` over ``rounds`` calls, in seconds."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class Arm:
    """Running sums of one arm in every simulated experiment."""

    def __init__(self, n_exp: int) -> None:
        self.n = np.zeros(n_exp)
        self.conv = np.zeros(n_exp)
        self.rev = np.zeros(n_exp)
        self.rev2 = np.zeros(n_exp)

    def add(self, rng: np.random.Generator, units: int, p: float, revenue: bool) -> None:
        """Add ``units`` more units per experiment with conversion probability ``p``."""
        k = rng.binomial(units, p, size=self.n.size)
        self.n += units
        self.conv += k
        if revenue:
            values = rng.lognormal(LOG_MEAN, LOG_SD, size=int(k.sum()))
            owner = np.repeat(np.arange(self.n.size), k)
            self.rev += np.bincount(owner, weights=values, minlength=self.n.size)
            self.rev2 += np.bincount(owner, weights=values**2, minlength=self.n.size)

    def conversion(self) -> ArmStats:
        return ArmStats.from_proportion(self.conv, self.n)

    def revenue(self) -> ArmStats:
        return ArmStats.from_sums(self.rev, self.rev2, self.n)


def simulate_aa(rng: np.random.Generator, n_exp: int) -> dict[str, dict[str, np.ndarray]]:
    """A/A experiments with 10 looks: per metric, which experiments each test rejected."""
    a, b = Arm(n_exp), Arm(n_exp)
    step = AA_UNITS // LOOKS
    metrics = ("conversion", "revenue")
    out = {
        m: {
            "fixed_end": np.zeros(n_exp, bool),
            "fixed_peek": np.zeros(n_exp, bool),
            "seq_peek": np.zeros(n_exp, bool),
            "seq_end": np.zeros(n_exp, bool),
        }
        for m in metrics
    }
    for look in range(1, LOOKS + 1):
        a.add(rng, step, CONVERSION, revenue=True)
        b.add(rng, step, CONVERSION, revenue=True)
        for m in metrics:
            sa, sb = getattr(a, m)(), getattr(b, m)()
            fixed = welch_ttest(sa, sb, alpha=ALPHA).p_value < ALPHA
            seq = sequential_ttest(sa, sb, alpha=ALPHA, tuning=2 * AA_UNITS).p_value < ALPHA
            out[m]["fixed_peek"] |= fixed
            out[m]["seq_peek"] |= seq
            if look == LOOKS:
                out[m]["fixed_end"] = fixed
                out[m]["seq_end"] = seq
        log(f"  A/A look {look}/{LOOKS}: {look * step} units per arm")
    return out


def simulate_power(rng: np.random.Generator, n_exp: int) -> dict[str, np.ndarray]:
    """A/B experiments with a +10 % relative lift on conversion: which ones each test detected."""
    a, b = Arm(n_exp), Arm(n_exp)
    step = POWER_UNITS // LOOKS
    out = {k: np.zeros(n_exp, bool) for k in ("relative_end", "absolute_end", "seq_peek")}
    for look in range(1, LOOKS + 1):
        a.add(rng, step, CONVERSION, revenue=False)
        b.add(rng, step, CONVERSION * (1 + LIFT), revenue=False)
        sa, sb = a.conversion(), b.conversion()
        seq = sequential_ttest(sa, sb, alpha=ALPHA, tuning=2 * POWER_UNITS)
        out["seq_peek"] |= seq.p_value < ALPHA
        if look == LOOKS:
            out["relative_end"] = welch_ttest(sa, sb, alpha=ALPHA).p_value < ALPHA
            absolute = welch_ttest(sa, sb, difference="absolute", alpha=ALPHA)
            out["absolute_end"] = absolute.p_value < ALPHA
    log(f"  power: {n_exp} experiments, {POWER_UNITS} units per arm")
    return out


def _two_sided_power(mean_z: float, sd_z: float) -> float:
    z = norm.ppf(1 - ALPHA / 2)
    return float(norm.cdf((mean_z - z) / sd_z) + norm.cdf((-mean_z - z) / sd_z))


def analytic_power_absolute() -> float:
    """Textbook power of the two-proportion test of the difference (normal approximation)."""
    pa, pb, n = CONVERSION, CONVERSION * (1 + LIFT), POWER_UNITS
    se = np.sqrt((pa * (1 - pa) + pb * (1 - pb)) / n)
    return _two_sided_power((pb - pa) / se, 1.0)


def _relative_z(ma: float, mb: float) -> float:
    """The relative test's statistic ``estimate / delta-method s.e.`` for conversion rates."""
    n = POWER_UNITS
    return (mb - ma) / np.sqrt((mb * (1 - mb) + (1 - ma) * mb**2 / ma) / n)


def analytic_power_relative(naive: bool = False) -> float:
    """Power of the relative (delta-method) test, normal approximation.

    The statistic is ``z = (mb - ma) / sqrt((vb + va mb^2 / ma^2) / n)``. Its standard error
    grows with the estimate, so ``z`` is not N(d, 1): its mean is ``z`` at the true rates and its
    s.d., by the delta method over the two estimated rates, about 0.91 here. ``naive=True``
    assumes s.d. 1 (the usual shortcut), which understates this test's power.
    """
    pa, pb, n = CONVERSION, CONVERSION * (1 + LIFT), POWER_UNITS
    mean_z = _relative_z(pa, pb)
    if naive:
        return _two_sided_power(mean_z, 1.0)
    h = 1e-7
    dz_da = (_relative_z(pa + h, pb) - _relative_z(pa - h, pb)) / (2 * h)
    dz_db = (_relative_z(pa, pb + h) - _relative_z(pa, pb - h)) / (2 * h)
    sd_z = np.sqrt(dz_da**2 * pa * (1 - pa) / n + dz_db**2 * pb * (1 - pb) / n)
    return _two_sided_power(mean_z, float(sd_z))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--experiments", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args()
    n_exp = args.experiments
    rng = np.random.default_rng(args.seed)
    t_start = time.perf_counter()

    log(f"A/A: {n_exp} experiments, {LOOKS} looks")
    aa = simulate_aa(rng, n_exp)
    power = simulate_power(rng, n_exp)

    log(f"assignment: {ASSIGN_UNITS} unit ids")
    arms = [assign(f"visitor-{i}", "content-strategy-aa", [0.5, 0.5]) for i in range(ASSIGN_UNITS)]
    split = np.bincount(np.asarray(arms), minlength=2)
    srm_split = srm_check(split)
    aa_counts = rng.binomial(2 * AA_UNITS, 0.5, size=n_exp)
    srm_alarm = np.array([srm_check([c, 2 * AA_UNITS - c]).mismatch for c in aa_counts])

    log("timings")
    one_a, one_b = ArmStats.from_proportion(500, 5000), ArmStats.from_proportion(550, 5000)
    many_a = ArmStats.from_proportion(rng.binomial(5000, 0.1, size=n_exp), np.full(n_exp, 5000))
    many_b = ArmStats.from_proportion(rng.binomial(5000, 0.1, size=n_exp), np.full(n_exp, 5000))
    calls = 1000
    t_welch = median_time(lambda: [welch_ttest(one_a, one_b) for _ in range(calls)]) / calls
    t_seq = median_time(lambda: [sequential_ttest(one_a, one_b) for _ in range(calls)]) / calls
    t_bayes = median_time(lambda: [bayesian_test(one_a, one_b) for _ in range(calls)]) / calls
    t_assign = median_time(lambda: [assign(f"u{i}", "k", [0.5, 0.5]) for i in range(calls)])
    t_assign /= calls
    t_vec = median_time(lambda: welch_ttest(many_a, many_b))
    t_total = time.perf_counter() - t_start

    failures: list[str] = []

    def row(label: str, hits: np.ndarray, target: str, ok: bool | None) -> None:
        r, lo, hi = rate(hits)
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        if ok is False:
            failures.append(label)
        print(
            f"  {label:<44} {100 * r:6.2f} %  [{100 * lo:5.2f}, {100 * hi:5.2f}]  {target:<14} {verdict}"
        )

    print(
        f"A/A: {n_exp} experiments, {AA_UNITS} units per arm, {LOOKS} looks (every "
        f"{AA_UNITS // LOOKS} per arm), relative effect, alpha {ALPHA}"
    )
    print(
        f"  metrics: conversion ~ Bernoulli({CONVERSION:.0%}); revenue = conversion x "
        f"LogNormal({LOG_MEAN:g}, {LOG_SD:g})"
    )
    print(f"  {'false-positive rate':<44} {'rate':>8}  {'95 % interval':<16} {'target':<14}")
    for m in ("conversion", "revenue"):
        r = aa[m]
        fixed, _, _ = rate(r["fixed_end"])
        row(
            f"{m}: fixed horizon, read once",
            r["fixed_end"],
            "5 % +- 0.5",
            abs(fixed - 0.05) <= 0.005,
        )
        row(f"{m}: fixed horizon, peeked {LOOKS}x", r["fixed_peek"], "(inflation)", None)
        row(f"{m}: sequential, read once", r["seq_end"], "<= 5 %", rate(r["seq_end"])[0] <= 0.05)
        seq_ok = rate(r["seq_peek"])[0] <= 0.05
        row(f"{m}: sequential, peeked {LOOKS}x", r["seq_peek"], "<= 5 %", seq_ok)

    print(
        f"\nPower: conversion {CONVERSION:.0%} -> {CONVERSION * (1 + LIFT):.0%} "
        f"(+{LIFT:.0%} relative), {POWER_UNITS} units per arm, {n_exp} experiments, alpha {ALPHA}"
    )
    for label, key, analytic in (
        ("absolute effect, read once", "absolute_end", analytic_power_absolute()),
        ("relative effect (delta method), read once", "relative_end", analytic_power_relative()),
    ):
        simulated, _, _ = rate(power[key])
        ok = abs(simulated - analytic) <= 0.02
        row(label, power[key], f"{100 * analytic:.2f} +- 2", ok)
    print(
        f"  {'analytic, absolute (two-proportion z)':<44} {100 * analytic_power_absolute():6.2f} %"
    )
    print(
        f"  {'analytic, relative (z s.d. by delta method)':<44} {100 * analytic_power_relative():6.2f} %"
    )
    naive = 100 * analytic_power_relative(naive=True)
    print(
        f"  {'analytic, relative, naive (z s.d. = 1)':<44} {naive:6.2f} %  (understates: see doc)"
    )
    row(f"sequential relative, peeked {LOOKS}x", power["seq_peek"], "(price of peeking)", None)

    print(f"\nAssignment and sample-ratio mismatch (threshold {srm_split.threshold:g})")
    print(
        f"  {ASSIGN_UNITS} ids, 50/50 by GrowthBook hash v2: {split[0]} / {split[1]} "
        f"({100 * split[0] / split.sum():.2f} %), SRM p = {srm_split.p_value:.3f}, "
        f"{'MISMATCH' if srm_split.mismatch else 'no mismatch'}"
    )
    if srm_split.mismatch:
        failures.append("hash split SRM")
    _, lo, hi = rate(srm_alarm)
    row("SRM false alarms on A/A binomial splits", srm_alarm, "0.1 % in CI", lo <= 0.001 <= hi)

    print(f"\nTimings (median of {ROUNDS} rounds)")
    print(f"  welch_ttest, one experiment              {1e6 * t_welch:8.1f} us")
    print(f"  sequential_ttest, one experiment         {1e6 * t_seq:8.1f} us")
    print(f"  bayesian_test, one experiment            {1e6 * t_bayes:8.1f} us")
    print(f"  assign, one unit                         {1e6 * t_assign:8.1f} us")
    print(f"  welch_ttest, {n_exp} experiments as arrays {1e3 * t_vec:8.1f} ms")
    print(f"  whole benchmark                          {t_total:8.1f} s")
    if failures:
        print(f"\nMISSED: {', '.join(failures)}")
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
