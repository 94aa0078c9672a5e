"""Evaluate the streaming anomaly detector on the Numenta Anomaly Benchmark (NAB).

Reads NAB in place from ``$BENCHMARKS_DIR/nab`` (default ``<repo>/../shared/benchmarks/nab``).
Prints normalised NAB scores (standard, reward_low_FP_rate, reward_low_FN_rate) at one corpus
threshold, a leave-one-category-out held-out score, operational figures and throughput.

Usage: ``uv run python benchmarks/nab_eval.py [--threshold T]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ml.anomaly import DEFAULT_THRESHOLD, score_series
from ml.nab import (
    LOW_FN,
    LOW_FP,
    STANDARD,
    NabFile,
    best_threshold,
    default_nab_dir,
    load_corpus,
    load_profiles,
    score_corpus,
    score_file,
)


def score_all(files: list[NabFile], verbose: bool = False) -> dict[str, np.ndarray]:
    """Stream every file through a fresh detector."""
    out: dict[str, np.ndarray] = {}
    for f in files:
        out[f.name] = score_series(f.values)
        if verbose:
            fs = score_file(f, out[f.name] >= DEFAULT_THRESHOLD, STANDARD)
            print(
                f"  {f.name:60s} rows={len(f.values):6d} windows={fs.n_windows} "
                f"caught={fs.n_caught} raw={fs.raw:+.3f}"
            )
    return out


def held_out(files: list[NabFile], scores: dict[str, np.ndarray]) -> tuple[float, list[str]]:
    """Leave-one-category-out: tune the threshold on the other categories, score the held-out."""
    raw = null = perfect = 0.0
    lines: list[str] = []
    for cat in sorted({f.category for f in files}):
        train = [f for f in files if f.category != cat]
        test = [f for f in files if f.category == cat]
        thr, _ = best_threshold(train, scores, STANDARD)
        cs = score_corpus(test, scores, thr, STANDARD)
        raw += cs.raw
        null += cs.null
        perfect += cs.perfect
        lines.append(f"  fold {cat:24s} threshold={thr:.4f} held-out raw={cs.raw:+.2f}")
    return 100.0 * (raw - null) / (perfect - null), lines


def main() -> None:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args = parser.parse_args()

    nab_dir = default_nab_dir()
    print(f"[load] NAB from {nab_dir}")
    files = load_corpus(nab_dir)
    profiles = load_profiles(nab_dir)
    n_rows = sum(len(f.values) for f in files)
    n_win = sum(len(f.windows) for f in files)
    print(f"[load] {len(files)} files, {n_rows} rows, {n_win} windows")

    print("[score] streaming each file through a fresh detector")
    scores = score_all(files, verbose=True)

    print("[tune] all-data best threshold (diagnostic only)")
    thr_all, best_all = best_threshold(files, scores, STANDARD)
    print(f"  best on all data: threshold={thr_all:.4f} standard={best_all:.2f}")

    print("[cv] leave-one-category-out")
    ho, lines = held_out(files, scores)
    for line in lines:
        print(line)

    print("[speed] 3 timed passes over the whole corpus, single process")
    rates = []
    for k in range(3):
        t0 = time.perf_counter()
        for f in files:
            score_series(f.values)
        dt = time.perf_counter() - t0
        rates.append(n_rows / dt)
        print(f"  pass {k + 1}: {dt:.3f}s, {rates[-1]:,.0f} points/s")

    thr = args.threshold
    std = score_corpus(files, scores, thr, profiles.get("standard", STANDARD))
    lfp = score_corpus(files, scores, thr, profiles.get("reward_low_FP_rate", LOW_FP))
    lfn = score_corpus(files, scores, thr, profiles.get("reward_low_FN_rate", LOW_FN))
    print()
    print(f"=== NAB results at threshold {thr:.4f} (one threshold for the whole corpus) ===")
    print(f"standard normalised score:            {std.normalized:6.2f}")
    print(f"reward_low_FP_rate normalised score:  {lfp.normalized:6.2f}")
    print(f"reward_low_FN_rate normalised score:  {lfn.normalized:6.2f}")
    print(f"held-out standard (leave-one-category-out): {ho:6.2f}")
    print(f"windows caught: {std.n_caught}/{std.n_windows} = {std.caught_share:.1%}")
    print(f"median delay window start -> first detection: {std.median_delay_min:.0f} min")
    print(f"false alerts per metric-day (1 h merge): {std.false_alerts_per_day:.3f}")
    print(f"throughput: {statistics.median(rates):,.0f} points/s (median of 3 passes)")


if __name__ == "__main__":
    main()
