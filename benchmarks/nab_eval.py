"""Evaluate the streaming anomaly detector on the Numenta Anomaly Benchmark (NAB).

Reads NAB in place from ``$BENCHMARKS_DIR/nab`` (default ``<repo>/../shared/benchmarks/nab``).
Prints, at the one fixed corpus threshold :data:`ml.anomaly.DEFAULT_THRESHOLD`: normalised NAB
scores (standard, reward_low_FP_rate, reward_low_FN_rate), windows caught and false
detections; then held-out scores with the per-fold spread -- leave-one-category-out (LOCO,
threshold re-chosen on the three training categories), nested LOCO (the hyper-parameters of
:data:`NESTED_GRID` *and* the threshold re-chosen on the training categories), 5-fold by file
(five random splits) -- a short-history proxy (every file cut into ~2000-row pieces, each
scored by a fresh detector that has not learned the series), at the fixed threshold and under
nested LOCO (hyper-parameters and threshold chosen on the whole files of the training
categories, pieces of the held-out category scored), a scale-freeness proxy (every file scored
again after a random affine transform ``a * x + b`` of its values, ``a`` log-uniform in
0.01..100), an ablation that removes each ensemble member in turn, and the throughput of the
one-point-at-a-time and block paths.

Thresholds are chosen by a robustness rule, not the raw maximum: the threshold whose
*neighbourhood* (+-0.025) has the best mean score (the flat region of the threshold curve).

Usage: ``uv run python benchmarks/nab_eval.py [--threshold T] [--quick]``
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ml.anomaly import DEFAULT_THRESHOLD, DetectorConfig, StreamingAnomalyDetector, score_series
from ml.nab import (
    LOW_FN,
    LOW_FP,
    STANDARD,
    NabFile,
    default_nab_dir,
    load_corpus,
    load_profiles,
    score_corpus,
    score_file,
    threshold_curve,
)

GRID = np.round(np.arange(0.05, 1.0, 0.0025), 4)
FLAT = 10  # neighbourhood half-width in grid steps (10 * 0.0025 = 0.025)
KFOLD_SEEDS = (0, 1, 2, 3, 4)
# Hyper-parameters re-chosen inside every nested fold (the defaults are one of the cells).
NESTED_GRID = {
    "suppress": (30, 100, 300),
    "season_scale": (0.25, 0.5, 1.0),
    "season_min_acf": (0.3, 0.5),
    "ramp": (2000, 3000, 4000),
}
ABLATIONS = {
    "all members (default)": {},
    "without value envelope": {"value_member": False},
    "without short-mean envelope": {"smooth": 0},
    "without seasonal residual": {"season_smooth": 0},
    "without suppression": {"suppress": 0},
    "without small-sample discount (ramp=0)": {"ramp": 0},
    "value envelope only (no mean, seasonal)": {"smooth": 0, "season_smooth": 0},
    "previous detector (suppress=300, no seasonal)": {
        "suppress": 300,
        "season_smooth": 0,
        "ramp": 0,
    },
}

Scores = dict[str, np.ndarray]


def score_all(files: Sequence[NabFile], config: DetectorConfig | None = None) -> Scores:
    """Stream every file through a fresh detector (block path)."""
    return {f.name: score_series(f.values, config) for f in files}


def robust_threshold(files: Sequence[NabFile], scores: Scores) -> tuple[float, float]:
    """Threshold with the best mean standard score over its +-FLAT grid neighbourhood.

    Returns:
        ``(threshold, smoothed score)``; ties go to the lower threshold.
    """
    curve = threshold_curve(files, scores, GRID, STANDARD)
    pad = np.pad(curve, FLAT, mode="edge")
    smooth = np.convolve(pad, np.ones(2 * FLAT + 1) / (2 * FLAT + 1), mode="valid")
    i = int(np.argmax(smooth))
    return float(GRID[i]), float(smooth[i])


def pooled(parts: Sequence[tuple[Sequence[NabFile], Scores, float]]) -> float:
    """Normalised standard score pooled over (test files, scores, threshold) parts."""
    raw = null = perfect = 0.0
    for test, scores, thr in parts:
        cs = score_corpus(test, scores, thr, STANDARD)
        raw += cs.raw
        null += cs.null
        perfect += cs.perfect
    return 100.0 * (raw - null) / (perfect - null)


def fold_figure(test: Sequence[NabFile], scores: Scores, thr: float) -> str:
    """Normalised score of one fold (raw when it has no windows)."""
    cs = score_corpus(test, scores, thr, STANDARD)
    if cs.n_windows == 0:
        return f"raw {cs.raw:+.2f} (no windows; false detections only)"
    return f"{cs.normalized:6.2f} ({cs.n_caught}/{cs.n_windows} caught)"


def categories(files: Sequence[NabFile]) -> list[str]:
    return sorted({f.category for f in files})


def loco(files: Sequence[NabFile], scores: Scores) -> tuple[float, list[str], list[float]]:
    """Leave-one-category-out: threshold from the other categories, scored on the held-out."""
    parts, lines, per = [], [], []
    for cat in categories(files):
        train = [f for f in files if f.category != cat]
        test = [f for f in files if f.category == cat]
        thr, _ = robust_threshold(train, scores)
        parts.append((test, scores, thr))
        cs = score_corpus(test, scores, thr, STANDARD)
        if cs.n_windows:
            per.append(cs.normalized)
        lines.append(
            f"  fold {cat:24s} threshold={thr:.4f} held-out {fold_figure(test, scores, thr)}"
        )
    return pooled(parts), lines, per


def kfold_by_file(
    files: Sequence[NabFile], scores: Scores, k: int = 5, seed: int = 0
) -> tuple[float, list[float]]:
    """k-fold by file: threshold from k-1 folds of files, scored on the remaining fold."""
    order = np.random.default_rng(seed).permutation(len(files))
    parts, per = [], []
    for j in range(k):
        test_idx = set(order[j::k].tolist())
        train = [f for i, f in enumerate(files) if i not in test_idx]
        test = [f for i, f in enumerate(files) if i in test_idx]
        thr, _ = robust_threshold(train, scores)
        parts.append((test, scores, thr))
        cs = score_corpus(test, scores, thr, STANDARD)
        if cs.n_windows:
            per.append(cs.normalized)
    return pooled(parts), per


def nested_loco(
    files: Sequence[NabFile], by_cfg: dict[tuple, Scores]
) -> tuple[float, list[str], list[float], dict[str, tuple[tuple, float]]]:
    """LOCO with the hyper-parameters *and* the threshold chosen on the training categories.

    The hyper-parameters are chosen by the same rule as the defaults, applied to the training
    categories only: an inner leave-one-category-out over them, maximising the worst inner
    fold (ties: the pooled inner score); the threshold is then the robust-rule threshold on
    all training categories.

    Returns:
        Pooled held-out score, one line per fold, the per-fold scores and the choice
        ``{held-out category: (grid cell, threshold)}``.
    """
    parts, lines, per = [], [], []
    choice: dict[str, tuple[tuple, float]] = {}
    for cat in categories(files):
        train = [f for f in files if f.category != cat]
        test = [f for f in files if f.category == cat]
        best = None
        for key, sc in by_cfg.items():
            inner, _, inner_per = loco(train, sc)
            thr, _ = robust_threshold(train, sc)
            cand = (min(inner_per), inner, key, thr)
            if best is None or cand[:2] > best[:2]:
                best = cand
        assert best is not None
        worst, fit, key, thr = best
        choice[cat] = (key, thr)
        parts.append((test, by_cfg[key], thr))
        cs = score_corpus(test, by_cfg[key], thr, STANDARD)
        if cs.n_windows:
            per.append(cs.normalized)
        lines.append(
            f"  fold {cat:24s} {dict(zip(NESTED_GRID, key, strict=True))} thr={thr:.4f} "
            f"(inner worst {worst:.1f}) held-out {fold_figure(test, by_cfg[key], thr)}"
        )
    return pooled(parts), lines, per, choice


def nested_proxy(
    pieces: Sequence[NabFile], cfg: DetectorConfig, choice: dict[str, tuple[tuple, float]]
) -> tuple[float, list[str], list[float]]:
    """Short-history proxy under nested LOCO: the pieces of each held-out category, scored
    with the grid cell and threshold that nested LOCO chose on the training categories."""
    parts, lines, per = [], [], []
    for cat, (key, thr) in choice.items():
        test = [p for p in pieces if p.category == cat]
        sc = score_all(test, replace(cfg, **dict(zip(NESTED_GRID, key, strict=True))))
        parts.append((test, sc, thr))
        cs = score_corpus(test, sc, thr, STANDARD)
        if cs.n_windows:
            per.append(cs.normalized)
        lines.append(f"  fold {cat:24s} thr={thr:.4f} held-out pieces {fold_figure(test, sc, thr)}")
    return pooled(parts), lines, per


def affine_check(
    files: Sequence[NabFile], scores: Scores, cfg: DetectorConfig, thr: float, seed: int = 0
) -> None:
    """Scale-freeness proxy: score each file after a random affine transform of its values."""
    rng = np.random.default_rng(seed)
    moved: dict[str, np.ndarray] = {}
    worst, flips = 0.0, 0
    for f in files:
        a = float(10.0 ** rng.uniform(-2.0, 2.0))
        y = a * f.values
        b = float(rng.uniform(-10.0, 10.0)) * (float(np.max(np.abs(y))) + a)
        moved[f.name] = s = score_series(y + b, cfg)
        worst = max(worst, float(np.max(np.abs(s - scores[f.name]))))
        flips += int(np.sum((s >= thr) != (scores[f.name] >= thr)))
    cs = score_corpus(files, moved, thr, STANDARD)
    print(
        f"  standard at {thr:.4f} {cs.normalized:6.2f} ({cs.n_caught}/{cs.n_windows} caught); "
        f"largest score change {worst:.2e}; detections changed {flips}"
    )


def chunked(files: Sequence[NabFile], length: int = 2000) -> list[NabFile]:
    """Short-history proxy: cut each file into pieces of about ``length`` rows (never inside a
    window); each piece is a new file with its own warm-up, scored by a fresh detector."""
    out = []
    for f in files:
        n, wins = len(f.values), sorted(f.windows)
        cuts = [0]
        while cuts[-1] + length < n:
            c = cuts[-1] + length
            for a, b in wins:
                if a <= c <= b:
                    c = b + 1
            if n - c < length // 2:
                break
            cuts.append(c)
        cuts.append(n)
        for k, (s, e) in enumerate(itertools.pairwise(cuts)):
            w = [(a - s, b - s) for a, b in wins if a >= s and b < e]
            out.append(NabFile(f"{f.name}#{k}", f.timestamps[s:e], f.values[s:e], w))
    return out


def spread(values: Sequence[float]) -> str:
    return f"min {min(values):6.2f} max {max(values):6.2f}"


def throughput(files: Sequence[NabFile], scores: Scores, cfg: DetectorConfig, runs: int) -> None:
    n_rows = sum(len(f.values) for f in files)
    print(f"[speed] per-point path (update, one call per point): {runs} timed passes")
    prates = []
    for k in range(runs):
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
    print(f"[speed] block path (update_many): {runs} timed passes")
    rates = []
    for k in range(runs):
        t0 = time.perf_counter()
        for f in files:
            score_series(f.values, cfg)
        dt = time.perf_counter() - t0
        rates.append(n_rows / dt)
        print(f"  pass {k + 1}: {dt:.3f}s, {rates[-1]:,.0f} points/s")
    print(f"throughput, per-point path: {statistics.median(prates):,.0f} points/s (median)")
    print(f"throughput, block path:     {statistics.median(rates):,.0f} points/s (median)")


def main() -> None:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--quick", action="store_true", help="skip nested CV, ablation, proxy")
    args = parser.parse_args()
    thr = args.threshold

    nab_dir = default_nab_dir()
    print(f"[load] NAB from {nab_dir}")
    files = load_corpus(nab_dir)
    profiles = load_profiles(nab_dir)
    print(f"[load] {len(files)} files, {sum(len(f.values) for f in files)} rows")

    cfg = DetectorConfig()
    print(f"[score] each file streamed through a fresh detector: {cfg}")
    scores = score_all(files, cfg)
    for f in files:
        fs = score_file(f, scores[f.name] >= thr, STANDARD)
        print(
            f"  {f.name:58s} rows={len(f.values):6d} windows={fs.n_windows} "
            f"caught={fs.n_caught} false={int((f.window_id[scores[f.name] >= thr] == -1).sum())} "
            f"raw={fs.raw:+.3f}"
        )

    std = score_corpus(files, scores, thr, profiles.get("standard", STANDARD))
    lfp = score_corpus(files, scores, thr, profiles.get("reward_low_FP_rate", LOW_FP))
    lfn = score_corpus(files, scores, thr, profiles.get("reward_low_FN_rate", LOW_FN))
    false_det = sum(int((f.window_id[scores[f.name] >= thr] == -1).sum()) for f in files)
    print(f"\n=== all data at the fixed threshold {thr:.4f} ===")
    print(
        f"standard {std.normalized:6.2f}  low-FP {lfp.normalized:6.2f}  low-FN {lfn.normalized:6.2f}"
    )
    print(f"windows caught {std.n_caught}/{std.n_windows} = {std.caught_share:.1%}")
    print(
        f"false detections (rows after warm-up, outside windows) {false_det}; "
        f"false alerts per metric-day (1 h merge) {std.false_alerts_per_day:.3f}"
    )
    print(
        f"median delay window start -> first detection {std.median_delay_min:.0f} min; "
        f"labelled anomaly -> first detection {std.median_delay_from_label_min:+.0f} min"
    )
    rt, rs = robust_threshold(files, scores)
    curve = threshold_curve(files, scores, GRID, STANDARD)
    print(
        f"robust-rule threshold on all data {rt:.4f} (neighbourhood mean {rs:.2f}); "
        f"raw best {curve.max():.2f} @ {GRID[int(np.argmax(curve))]:.4f}"
    )
    print(
        "threshold curve: "
        + " ".join(
            f"{t:.2f}:{curve[int(np.argmin(np.abs(GRID - t)))]:.1f}"
            for t in (0.3, 0.35, 0.4, 0.425, 0.45, 0.5, 0.55, 0.6)
        )
    )

    print("\n[cv] leave-one-category-out (threshold by the robust rule on the other 3)")
    lo, lines, per = loco(files, scores)
    print("\n".join(lines))
    print(f"LOCO pooled {lo:6.2f}; per held-out category with windows: {spread(per)}")
    kf = [kfold_by_file(files, scores, 5, s) for s in KFOLD_SEEDS]
    allf = [v for _, p in kf for v in p]
    print(
        f"[cv] 5-fold by file, {len(KFOLD_SEEDS)} splits: "
        + " ".join(f"{v:.2f}" for v, _ in kf)
        + f" -> mean {statistics.mean(v for v, _ in kf):.2f}; per fold {spread(allf)}"
    )

    if not args.quick:
        print("\n[cv] nested LOCO: grid " + str(NESTED_GRID) + " and threshold tuned on training")
        by_cfg: dict[tuple, Scores] = {}
        for key in itertools.product(*NESTED_GRID.values()):
            c = replace(cfg, **dict(zip(NESTED_GRID, key, strict=True)))
            by_cfg[key] = scores if c == cfg else score_all(files, c)
        nested, lines, nper, choice = nested_loco(files, by_cfg)
        print("\n".join(lines))
        print(f"nested LOCO pooled {nested:6.2f}; per held-out category: {spread(nper)}")

        print("\n[proxy] short history: files cut into ~2000-row pieces, fresh detector each")
        pieces = chunked(files)
        psc = score_all(pieces, cfg)
        ps = score_corpus(pieces, psc, thr, STANDARD)
        pc = threshold_curve(pieces, psc, GRID, STANDARD)
        print(
            f"  {len(pieces)} pieces, {ps.n_windows} windows: standard at {thr:.4f} "
            f"{ps.normalized:6.2f} ({ps.n_caught} caught); best possible {pc.max():.2f}"
        )
        for cat in categories(pieces):
            sub = [p for p in pieces if p.category == cat]
            print(f"  {cat:24s} {fold_figure(sub, psc, thr)}")
        print("[proxy] short history under nested LOCO (grid cell and threshold from training)")
        npx, lines, pper = nested_proxy(pieces, cfg, choice)
        print("\n".join(lines))
        print(f"nested LOCO short-history proxy pooled {npx:6.2f}; per category: {spread(pper)}")

        print("\n[proxy] scale-free: each file after a random affine map a*x+b (a 0.01..100)")
        affine_check(files, scores, cfg, thr)

        print("\n[ablation] each member removed (fixed threshold / robust-rule LOCO / proxy)")
        for name, change in ABLATIONS.items():
            c = replace(cfg, **change)
            sc = scores if c == cfg else score_all(files, c)
            at = score_corpus(files, sc, thr, STANDARD)
            lo_a, _, per_a = loco(files, sc)
            best = threshold_curve(files, sc, GRID, STANDARD).max()
            pa = score_corpus(pieces, psc if c == cfg else score_all(pieces, c), thr, STANDARD)
            print(
                f"  {name:40s} at {thr:.4f}: {at.normalized:6.2f} ({at.n_caught} caught)  "
                f"best {best:6.2f}  LOCO {lo_a:6.2f} (worst fold {min(per_a):6.2f})  "
                f"short-history proxy {pa.normalized:6.2f}"
            )

    print()
    throughput(files, scores, cfg, 3)


if __name__ == "__main__":
    main()
