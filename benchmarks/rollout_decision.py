"""Rollout decision time from the data: how long ``decide_stage`` takes to turn per-unit
observations into a stage decision with its evidence.

For each size (1,000 / 10,000 / 100,000 observations by default) the benchmark builds the
observations of one stage of a rollout of extraction rule sets — units assigned to the 25 %
canary by the rollout's hash, the five metrics of ``rollouts.yaml`` (check pass, quarantine
rate, review share, trusted recall with its covariate, cost with its covariate), drawn with a
fixed seed, plus 20 % rows of another stage and a duplicate observation for 10 % of the units
(what the decision must filter out) — and times ``decide_stage`` end to end: filtering the
stage, keeping each unit's latest observation, the sample-ratio check, the regression
adjustment and the non-inferiority test of every metric. Also timed: assigning the units to
the canary (GrowthBook's hash per unit), which a step pays once per unit and run.

Median of ``--rounds`` runs (default 7). The candidate is equal to the current version, so the
decision is ``promote`` once the arms are large enough to show non-inferiority within the
margins, and ``hold`` (with the reason printed) before that.

Usage: ``uv run python benchmarks/rollout_decision.py [--sizes 1000 10000 100000] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from orchestration_project.evolution.rollout import (  # noqa: E402
    CANDIDATE,
    RolloutState,
    decide_stage,
    in_canary,
    load_rollouts,
    start_rollout,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def observations(n: int, seed: int) -> tuple[pd.DataFrame, RolloutState]:
    """``n`` observation rows of the 25 % stage of the packaged extraction rollout (plus noise
    rows the decision ignores), and the rollout's state at that stage."""
    spec = load_rollouts()["extraction-rules-v2"]
    # the 25 % stage (the benchmark times one stage's decision)
    state = replace(start_rollout(spec, now=T0), stage=1)
    rng = np.random.default_rng(seed)
    units = [f"https://site-{i % 50}.example/page/{i}" for i in range(int(n * 0.7))]
    arm = np.array([CANDIDATE if in_canary(spec.rollout_id, u, 25) else "current" for u in units])
    k = len(units)
    trusted = rng.random(k) < 0.55
    extraction = rng.gamma(4.0, 0.0025, k)
    df = pd.DataFrame(
        {
            "rollout_id": spec.rollout_id,
            "stage": 1,
            "percent": 25,
            "unit": units,
            "arm": arm,
            "version": np.where(arm == CANDIDATE, spec.candidate_version, spec.current_version),
            "run_id": "bench",
            "observed_at": T0,
            "check_pass": (rng.random(k) > 0.002).astype(float),
            "quarantine_rate": np.where(rng.random(k) < 0.05, rng.random(k) * 0.2, 0.0),
            "review_share": np.where(rng.random(k) < 0.06, 1.0, 0.0),
            "trusted_recall": np.where(trusted, 1.0 - (rng.random(k) < 0.01) * 0.2, 1.0),
            "trusted_recall_covariate": trusted.astype(float),
            "cost_s": extraction + rng.exponential(0.0002, k),
            "cost_s_covariate": extraction,
        }
    )
    dup = df.sample(frac=0.1, random_state=seed).assign(observed_at=T0 - timedelta(hours=1))
    other = df.sample(n=n - len(df) - len(dup), replace=True, random_state=seed + 1).assign(stage=0)
    out = pd.concat([df, dup, other], ignore_index=True)
    return out.sample(frac=1.0, random_state=seed + 2).reset_index(drop=True), state


def main() -> int:
    """Print the table; exit 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seed", type=int, default=20260101)
    args = ap.parse_args()
    spec = load_rollouts()["extraction-rules-v2"]
    print(f"rollout {spec.rollout_id}: {len(spec.metrics)} metrics, test {spec.test}, "
          f"alpha {spec.alpha}; median of {args.rounds} rounds")  # fmt: skip
    header = (
        f"{'observations':>12} {'units cur/cand':>15} {'decide_stage ms':>16} "
        f"{'per 1k obs ms':>14} {'assign µs/unit':>15}  decision"
    )
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        obs, state = observations(n, args.seed)
        times, decision = [], None
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            decision = decide_stage(state, obs, now=T0)
            times.append(time.perf_counter() - t0)
        units = obs["unit"].unique()[:20_000]
        t0 = time.perf_counter()
        for u in units:
            in_canary(spec.rollout_id, u, 25)
        assign_us = (time.perf_counter() - t0) / len(units) * 1e6
        med = statistics.median(times) * 1000
        assert decision is not None
        print(
            f"{n:>12,} {decision.units['current']:>7,}/{decision.units['candidate']:<7,} "
            f"{med:>16.1f} {med / n * 1000:>14.2f} {assign_us:>15.1f}  {decision.decision}"
        )
        if decision.decision != "promote":
            print(f"{'':>12} ({decision.reason})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
