"""Evaluate the streaming anomaly detector on the Numenta Anomaly Benchmark (NAB).

Reads NAB in place from ``$BENCHMARKS_DIR/nab`` (default ``<repo>/../shared/benchmarks/nab``).
Prints normalised NAB scores (standard, reward_low_FP_rate, reward_low_FN_rate) at one corpus
threshold, held-out scores (leave-one-category-out, 5-fold by file, and a nested
leave-one-category-out in which the smoothing length is chosen on the training categories
too), an ablation over the smoothing length, operational figures, and throughput of both the
block path and the one-point-at-a-time path on one core.

Usage: ``uv run python benchmarks/nab_eval.py [--threshold T] [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import numpy as np

from ml.anomaly import DEFAULT_THRESHOLD, DetectorConfig, StreamingAnomalyDetector, score_series
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

SMOOTH_GRID = (0, 10, 20, 30, 50, 100)  # 0 = raw envelope only (the previous detector)
KFOLD_SEEDS = (0, 1, 2, 3, 4)

Scores = dict[str, np.ndarray]


def score_all(files: list[NabFile], config: DetectorConfig | None = None) -> Scores:
    """Stream every file through a fresh detector (block path)."""
    return {f.name: score_series(f.values, config) for f in files}


def pooled(parts: Sequence[tuple[list[NabFile], Scores, float]]) -> float:
    """Normalised standard score pooled over (test files, scores, threshold) parts."""
    raw = null = perfect = 0.0
    for test, scores, thr in parts:
        cs = score_corpus(test, scores, thr, STANDARD)
        raw += cs.raw
        null += cs.null
        perfect += cs.perfect
    return 100.0 * (raw - null) / (perfect - null)


def held_out(files: list[NabFile], scores: Scores) -> tuple[float, list[str]]:
    """Leave-one-category-out: tune the threshold on the other categories, score the held-out."""
    parts = []
    lines: list[str] = []
    for cat in sorted({f.category for f in files}):
        train = [f for f in files if f.category != cat]
        test = [f for f in files if f.category == cat]
        thr, _ = best_threshold(train, scores, STANDARD)
        parts.append((test, scores, thr))
        raw = score_corpus(test, scores, thr, STANDARD).raw
        lines.append(f"  fold {cat:24s} threshold={thr:.4f} held-out raw={raw:+.2f}")
    return pooled(parts), lines


def kfold_by_file(files: list[NabFile], scores: Scores, k: int = 5, seed: int = 0) -> float:
    """k-fold by file: tune the threshold on k-1 folds of files, score the remaining fold."""
    order = np.random.default_rng(seed).permutation(len(files))
    parts = []
    for j in range(k):
        test_idx = set(order[j::k].tolist())
        train = [f for i, f in enumerate(files) if i not in test_idx]
        test = [f for i, f in enumerate(files) if i in test_idx]
        thr, _ = best_threshold(train, scores, STANDARD)
        parts.append((test, scores, thr))
    return pooled(parts)


def nested_held_out(files: list[NabFile], by_smooth: dict[int, Scores]) -> tuple[float, list[str]]:
    """Leave-one-category-out with the smoothing length *and* threshold chosen on training data."""
    parts = []
    lines: list[str] = []
    for cat in sorted({f.category for f in files}):
        train = [f for f in files if f.category != cat]
        test = [f for f in files if f.category == cat]
        fits = [(best_threshold(train, sc, STANDARD), k) for k, sc in by_smooth.items()]
        (thr, fit), k = max(fits, key=lambda r: r[0][1])
        parts.append((test, by_smooth[k], thr))
        lines.append(f"  fold {cat:24s} smooth={k:3d} threshold={thr:.4f} (train {fit:.2f})")
    return pooled(parts), lines


def main() -> None:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--quick", action="store_true", help="skip the ablation and nested CV")
    args = parser.parse_args()

    nab_dir = default_nab_dir()
    print(f"[load] NAB from {nab_dir}")
    files = load_corpus(nab_dir)
    profiles = load_profiles(nab_dir)
    n_rows = sum(len(f.values) for f in files)
    n_win = sum(len(f.windows) for f in files)
    print(f"[load] {len(files)} files, {n_rows} rows, {n_win} windows")

    cfg = DetectorConfig()
    print(f"[score] streaming each file through a fresh detector: {cfg}")
    scores = score_all(files, cfg)
    for f in files:
        fs = score_file(f, scores[f.name] >= args.threshold, STANDARD)
        print(
            f"  {f.name:60s} rows={len(f.values):6d} windows={fs.n_windows} "
            f"caught={fs.n_caught} raw={fs.raw:+.3f}"
        )

    print("[tune] all-data best threshold (diagnostic only)")
    thr_all, best_all = best_threshold(files, scores, STANDARD)
    print(f"  best on all data: threshold={thr_all:.4f} standard={best_all:.2f}")

    print("[cv] leave-one-category-out (threshold chosen on the other 3 categories)")
    ho, lines = held_out(files, scores)
    for line in lines:
        print(line)
    kf = [kfold_by_file(files, scores, 5, s) for s in KFOLD_SEEDS]
    print(
        f"[cv] 5-fold by file, {len(KFOLD_SEEDS)} random splits: "
        + " ".join(f"{v:.2f}" for v in kf)
        + f" -> mean {statistics.mean(kf):.2f}"
    )

    nested = float("nan")
    if not args.quick:
        print("[ablation] smoothing length (0 = raw envelope only); threshold tuned per row")
        by_smooth: dict[int, Scores] = {}
        for k in SMOOTH_GRID:
            sc = scores if k == cfg.smooth else score_all(files, DetectorConfig(smooth=k))
            by_smooth[k] = sc
            t, b = best_threshold(files, sc, STANDARD)
            lo, _ = held_out(files, sc)
            kk = statistics.mean(kfold_by_file(files, sc, 5, s) for s in KFOLD_SEEDS)
            print(f"  smooth={k:3d} all-data {b:6.2f} @ {t:.4f}  LOCO {lo:6.2f}  5-fold {kk:6.2f}")
        print("[cv] nested leave-one-category-out (smoothing length and threshold both tuned)")
        nested, lines = nested_held_out(files, by_smooth)
        for line in lines:
            print(line)

    print("[speed] block path (update_many): 3 timed passes over the corpus, one process")
    rates = []
    for k in range(3):
        t0 = time.perf_counter()
        for f in files:
            score_series(f.values)
        dt = time.perf_counter() - t0
        rates.append(n_rows / dt)
        print(f"  pass {k + 1}: {dt:.3f}s, {rates[-1]:,.0f} points/s")
    print("[speed] per-point path (update, one call per point): 3 timed passes")
    prates = []
    for k in range(3):
        lists = [(f.name, f.timestamps.tolist(), f.values.tolist()) for f in files]
        same = True
        t0 = time.perf_counter()
        for name, ts, vals in lists:
            upd = StreamingAnomalyDetector(cfg).update
            out = [upd(t, v) for t, v in zip(ts, vals, strict=True)]
            same = same and np.array_equal(np.asarray(out), scores[name])
        dt = time.perf_counter() - t0
        prates.append(n_rows / dt)
        print(f"  pass {k + 1}: {dt:.3f}s, {prates[-1]:,.0f} points/s, identical to block: {same}")

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
    print(
        f"held-out standard (5-fold by file, mean of {len(KFOLD_SEEDS)} splits): "
        f"{statistics.mean(kf):6.2f}"
    )
    if not args.quick:
        print(f"held-out standard (nested LOCO, smoothing length also tuned): {nested:6.2f}")
    print(f"windows caught: {std.n_caught}/{std.n_windows} = {std.caught_share:.1%}")
    print(f"median delay window start -> first detection: {std.median_delay_min:.0f} min")
    print(
        "median delay labelled anomaly (window centre) -> first detection: "
        f"{std.median_delay_from_label_min:+.0f} min"
    )
    print(f"false alerts per metric-day (1 h merge): {std.false_alerts_per_day:.3f}")
    print(f"throughput, block path:     {statistics.median(rates):,.0f} points/s (median of 3)")
    print(f"throughput, per-point path: {statistics.median(prates):,.0f} points/s (median of 3)")


if __name__ == "__main__":
    main()
