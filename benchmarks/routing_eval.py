"""Evaluate LLM routers (weak Mixtral-8x7B vs strong GPT-4) on prompts they never saw.

Reads RouteLLM's MMLU routing data in place from ``$BENCHMARKS_DIR/routing`` (default
``<repo>/../shared/benchmarks/routing``): one CSV per MMLU subject with each model's
correctness, minus the prompts listed in ``contaminated_prompts.jsonl``.

Every figure is measured on held-out prompts only, under two protocols:

* **5 random folds**: stratified by the four (weak, strong) outcomes, shuffled, seed 0. The
  learned router's inner cross-validation is stratified too.
* **leave subjects out**: group 5-fold over the source files (whole subjects held out,
  shuffled, seed 0). The learned router's inner cross-validation is grouped by subject as
  well, so its hyper-parameters are chosen for "new topic" generalisation. Subject names are
  never features.

Routers: random (20 seeds per fold, median per fold), the length rule (longer prompts to the
strong model) and :class:`ml.routing.TextRouter` (ridge penalty and blend weight chosen by
inner CV on each training fold; everything else fixed). Metrics (:mod:`ml.routing_metrics`):
APGR, CPT(50%), CPT(80%), mean and worst fold. Then: what :func:`ml.routing.decide` does at a
few willingness-to-pay values (pooled out-of-fold scores of the random folds), single-decision
latency of :meth:`ml.routing.TextRouter.score_one` (p50/p99, median of 3 rounds) and batch
throughput of :meth:`ml.routing.TextRouter.score`, and the decision latency of
:class:`resources.language.TieredLanguageEngine` on page-sized inputs (model loading excluded).

Usage: ``uv run python benchmarks/routing_eval.py [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedKFold

from ml.routing import (
    LengthRouter,
    RandomRouter,
    RoutingData,
    TextRouter,
    apgr,
    cpt,
    decide,
    default_routing_dir,
    load_routing_data,
    pgr,
    routed_accuracy_curve,
)

SEED = 0
FOLDS = 5
RANDOM_SEEDS = 20
SHORT_CHARS = 256  # "one short prompt" for the latency budget
LATENCY_ROUNDS = 3
LATENCY_BUDGET_US = 200.0
ROUTERS = ("random", "length", "learned")
PUBLISHED = (
    "published (held-out): random APGR 0.50, CPT(50%) 50%; length rule APGR 0.583, "
    "CPT(50%) 36.7%, CPT(80%) 69.3%; best RouteLLM MMLU routers APGR ~0.60, CPT(50%) ~35%"
)


def log(msg: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def fold_metrics(scores: np.ndarray, weak: np.ndarray, strong: np.ndarray) -> dict[str, float]:
    """APGR, CPT(50%) and CPT(80%) of one fold's scores."""
    return {
        "apgr": apgr(scores, weak, strong),
        "cpt50": cpt(scores, weak, strong, 0.5),
        "cpt80": cpt(scores, weak, strong, 0.8),
    }


def splits(data: RoutingData, protocol: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The outer folds of a protocol (``random`` or ``subjects``)."""
    idx = np.arange(len(data.prompts))
    if protocol == "random":
        outcome = 2 * data.strong_correct.astype(int) + data.weak_correct.astype(int)
        return list(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(idx, outcome))
    return list(GroupKFold(FOLDS, shuffle=True, random_state=SEED).split(idx, groups=data.groups))


def run_protocol(data: RoutingData, protocol: str) -> dict[str, Any]:
    """Fit on each training fold, score the held-out fold; per-fold metrics of every router."""
    prompts = np.array(data.prompts, dtype=object)
    weak, strong = data.weak_correct, data.strong_correct
    folds: list[dict[str, Any]] = []
    oof = np.zeros(len(prompts))
    last: TextRouter | None = None
    for k, (tr, te) in enumerate(splits(data, protocol)):
        t0 = time.perf_counter()
        w, s = weak[te], strong[te]
        groups = data.groups[tr] if protocol == "subjects" else None
        router = TextRouter(seed=SEED).fit(prompts[tr], weak[tr], strong[tr], groups=groups)
        learned = router.score(prompts[te])
        oof[te] = learned
        rand = [
            fold_metrics(RandomRouter(seed).score(prompts[te]), w, s)
            for seed in range(RANDOM_SEEDS)
        ]
        folds.append(
            {
                "n": len(te),
                "held_out_groups": len(set(data.groups[te])),
                "weak_acc": float(w.mean()),
                "strong_acc": float(s.mean()),
                "alpha": router.alpha_,
                "blend": router.blend_,
                "random": {m: statistics.median(r[m] for r in rand) for m in rand[0]},
                "length": fold_metrics(LengthRouter().score(prompts[te]), w, s),
                "learned": fold_metrics(learned, w, s),
            }
        )
        last = router
        log(
            f"[{protocol}] fold {k + 1}/{FOLDS}: {len(te)} held-out prompts, "
            f"learned APGR {folds[-1]['learned']['apgr']:.3f} "
            f"(alpha={router.alpha_:g}, blend={router.blend_:g}) in {time.perf_counter() - t0:.1f}s"
        )
    return {"folds": folds, "oof": oof, "last_router": last, "last_test": te}


def summary(folds: Sequence[dict[str, Any]], router: str) -> dict[str, float]:
    """Mean and worst fold (lowest APGR, highest CPT) of one router."""
    vals = {m: [f[router][m] for f in folds] for m in ("apgr", "cpt50", "cpt80")}
    return {
        "apgr_mean": float(np.mean(vals["apgr"])),
        "apgr_worst": float(np.min(vals["apgr"])),
        "cpt50_mean": float(np.mean(vals["cpt50"])),
        "cpt50_worst": float(np.max(vals["cpt50"])),
        "cpt80_mean": float(np.mean(vals["cpt80"])),
        "cpt80_worst": float(np.max(vals["cpt80"])),
    }


def latency(router: TextRouter, prompts: Sequence[str]) -> dict[str, float]:
    """Single-decision latency (µs) over ``prompts``: median over rounds of p50 and p99."""
    for p in prompts[:200]:  # warm up
        router.score_one(p)
    p50s, p99s = [], []
    clock = time.perf_counter_ns
    for _ in range(LATENCY_ROUNDS):
        ns = np.empty(len(prompts))
        for i, p in enumerate(prompts):
            t0 = clock()
            router.score_one(p)
            ns[i] = clock() - t0
        p50s.append(float(np.percentile(ns, 50)) / 1e3)
        p99s.append(float(np.percentile(ns, 99)) / 1e3)
    return {
        "n": len(prompts),
        "p50_us": statistics.median(p50s),
        "p99_us": statistics.median(p99s),
        "mean_chars": float(np.mean([len(p) for p in prompts])),
    }


PAGE_CHARS = 3000  # a typical page handed to the tiered engine's summarize()
ROOT = Path(__file__).resolve().parents[1]


def pages_of(text: str, n: int = 2000, seed: int = SEED) -> list[str]:
    """``n`` page-sized (:data:`PAGE_CHARS`) slices of ``text`` at random offsets."""
    starts = np.random.default_rng(seed).integers(0, max(len(text) - PAGE_CHARS, 1), n)
    return [text[i : i + PAGE_CHARS] for i in starts]


def tiered_latency(router: TextRouter, pages: Sequence[str]) -> dict[str, float]:
    """Decision latency (µs) of :class:`resources.language.TieredLanguageEngine` on ``pages``:
    the router's score of the text's scored head and the price threshold, without the engine
    call and without model loading (the router is handed to the engine as if loaded from the
    registry); median over rounds of p50 and p99."""
    from resources.language import OfflineLanguageEngine, OpenAIChatEngine, TieredLanguageEngine

    engine = TieredLanguageEngine(
        offline=OfflineLanguageEngine(),
        llm=OpenAIChatEngine(base_url="http://127.0.0.1:9", api_key="never-called"),
    )
    engine._router = (router, "routing_eval")  # as loaded once per run; loading not timed
    for page in pages[:200]:  # warm up
        engine.decide_tier(page)
    p50s, p99s = [], []
    clock = time.perf_counter_ns
    for _ in range(LATENCY_ROUNDS):
        ns = np.empty(len(pages))
        for i, page in enumerate(pages):
            t0 = clock()
            engine.decide_tier(page)
            ns[i] = clock() - t0
        p50s.append(float(np.percentile(ns, 50)) / 1e3)
        p99s.append(float(np.percentile(ns, 99)) / 1e3)
    return {
        "n": len(pages),
        "p50_us": statistics.median(p50s),
        "p99_us": statistics.median(p99s),
        "scored_chars": engine.max_scoring_chars,
    }


def throughput(fn: Callable[[Sequence[str]], Any], prompts: Sequence[str]) -> float:
    """Prompts per second of the batch path (median of 3 runs)."""
    rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        fn(prompts)
        rates.append(len(prompts) / (time.perf_counter() - t0))
    return statistics.median(rates)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    """The main table: per protocol and router, mean and worst fold."""
    head = (
        f"{'protocol':<22}{'router':<9}{'APGR mean':>10}{'worst':>8}"
        f"{'CPT50 mean':>12}{'worst':>8}{'CPT80 mean':>12}{'worst':>8}"
    )
    print(head)
    print("-" * len(head))
    names = {"random": "5 random folds", "subjects": "leave subjects out"}
    for protocol, res in results.items():
        for router in ROUTERS:
            s = res["summary"][router]
            print(
                f"{names[protocol]:<22}{router:<9}{s['apgr_mean']:>10.3f}{s['apgr_worst']:>8.3f}"
                f"{s['cpt50_mean']:>11.1%} {s['cpt50_worst']:>7.1%}"
                f"{s['cpt80_mean']:>11.1%} {s['cpt80_worst']:>7.1%}"
            )
    print(
        "(worst = lowest APGR / highest CPT over the 5 held-out folds; random = median of 20 seeds)"
    )


def main() -> None:
    """Run the evaluation and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    t_start = time.perf_counter()

    root = default_routing_dir()
    log(f"[load] {root}")
    data = load_routing_data(root)
    weak, strong = data.weak_correct, data.strong_correct
    n = len(data.prompts)
    print(
        f"data: {n + data.dropped} prompts in {len(set(data.groups))} files, "
        f"{data.dropped} contaminated dropped -> {n}; "
        f"weak {weak.mean():.1%}, strong {strong.mean():.1%}"
    )
    oracle = strong.astype(float) - weak.astype(float)
    print(
        f"oracle (labels as scores, all prompts): APGR {apgr(oracle, weak, strong):.3f}, "
        f"CPT(50%) {cpt(oracle, weak, strong, 0.5):.1%}, CPT(80%) {cpt(oracle, weak, strong, 0.8):.1%}"
    )

    results: dict[str, dict[str, Any]] = {}
    for protocol in ("random", "subjects"):
        res = run_protocol(data, protocol)
        res["summary"] = {r: summary(res["folds"], r) for r in ROUTERS}
        results[protocol] = res

    print()
    print_table(results)
    for protocol, res in results.items():
        for router in ("length", "learned"):
            per = " ".join(f"{f[router]['apgr']:.3f}" for f in res["folds"])
            print(f"  {protocol:<9} {router:<8} APGR per fold: {per}")
        chosen = ", ".join(f"({f['alpha']:g}, {f['blend']:g})" for f in res["folds"])
        print(f"  {protocol:<9} inner-CV choice (ridge alpha, boosting weight) per fold: {chosen}")
    print(PUBLISHED)

    # Cost-aware decisions on pooled out-of-fold scores (calibrated expected gains).
    oof = results["random"]["oof"]
    costs = (1.0, 10.0)
    print(
        f"\ndecide() on out-of-fold scores of the random folds, costs weak={costs[0]:g} strong={costs[1]:g}:"
    )
    share, acc = routed_accuracy_curve(oof, weak, strong)
    decisions = []
    for wtp in (20.0, 50.0, 100.0, 200.0, 1000.0):
        go = decide(oof, wtp, costs)
        routed = float(np.where(go, strong, weak).mean())
        decisions.append({"wtp": wtp, "strong_share": float(go.mean()), "accuracy": routed})
        print(
            f"  willingness to pay {wtp:>6g}: gain threshold {(costs[1] - costs[0]) / wtp:.3f} -> "
            f"{go.mean():6.1%} strong calls, accuracy {routed:.1%}, "
            f"PGR {pgr(routed, weak.mean(), strong.mean()):.2f}, "
            f"mean cost {costs[0] + go.mean() * (costs[1] - costs[0]):.2f}"
        )

    # Latency and throughput of the last random-fold router on its held-out prompts.
    router: TextRouter = results["random"]["last_router"]
    held_out = [data.prompts[i] for i in results["random"]["last_test"]]
    short = [p for p in held_out if len(p) <= SHORT_CHARS]
    log(
        f"[latency] {len(short)} short and {len(held_out)} held-out prompts, {LATENCY_ROUNDS} rounds"
    )
    lat_short = latency(router, short)
    lat_all = latency(router, held_out)
    docs = [ROOT / "README.md", *sorted((ROOT / "benchmarks").glob("*/README.md"))]
    prose = "\n\n".join(p.read_text() for p in docs)
    lat_tiered = {
        "prose": tiered_latency(router, pages_of(prose)),
        "mmlu": tiered_latency(router, pages_of("\n\n".join(held_out))),
    }
    batch = throughput(router.score, held_out)
    single = throughput(lambda ps: [router.score_one(p) for p in ps], held_out)
    same = np.max(
        np.abs(router.score(held_out[:500]) - [router.score_one(p) for p in held_out[:500]])
    )
    ok = "within" if lat_short["p99_us"] <= LATENCY_BUDGET_US else "OVER"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\nsingle decision (score_one), short prompts (<= {SHORT_CHARS} chars, mean "
        f"{lat_short['mean_chars']:.0f}, n={lat_short['n']}): p50 {lat_short['p50_us']:.1f} µs, "
        f"p99 {lat_short['p99_us']:.1f} µs ({ok} the {LATENCY_BUDGET_US:g} µs budget)"
    )
    print(
        f"single decision, all held-out prompts (mean {lat_all['mean_chars']:.0f} chars, "
        f"n={lat_all['n']}): p50 {lat_all['p50_us']:.1f} µs, p99 {lat_all['p99_us']:.1f} µs"
    )
    print(
        f"throughput: batch score() {batch:,.0f} prompts/s; one-by-one score_one() "
        f"{single:,.0f} prompts/s; max |score - score_one| {same:.1e}; load average {load:.1f}"
    )
    elapsed = time.perf_counter() - t_start
    for kind, what in (("prose", "README prose"), ("mmlu", "held-out MMLU prompts joined")):
        lat = lat_tiered[kind]
        ok_tiered = "within" if lat["p99_us"] <= LATENCY_BUDGET_US else "OVER"
        print(
            f"tiered language engine decision, {PAGE_CHARS}-char pages of {what} (first "
            f"{lat['scored_chars']} chars scored, n={lat['n']}, model loading excluded): "
            f"p50 {lat['p50_us']:.1f} µs, p99 {lat['p99_us']:.1f} µs ({ok_tiered} the "
            f"{LATENCY_BUDGET_US:g} µs budget)"
        )
    print(f"total time {elapsed:.0f}s")

    if args.json:
        out = {
            "n_prompts": n,
            "dropped": data.dropped,
            "weak_acc": float(weak.mean()),
            "strong_acc": float(strong.mean()),
            "protocols": {
                p: {"summary": r["summary"], "folds": r["folds"]} for p, r in results.items()
            },
            "decide": {"costs": costs, "rows": decisions},
            "latency_short": lat_short,
            "latency_all": lat_all,
            "latency_tiered_engine": lat_tiered,
            "batch_prompts_per_s": batch,
            "single_prompts_per_s": single,
            "seconds": elapsed,
        }
        args.json.write_text(json.dumps(out, indent=2))
        log(f"[json] {args.json}")


if __name__ == "__main__":
    main()
