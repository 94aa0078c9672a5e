"""Predictive failure detection measured on soaks with degradation scenarios.

How it runs (and how that differs from production). The model is first trained by
materialising the real ``failure_predictor`` asset (recorded scenario traces, seeds 10-15, four
for training and two held out; logged and registered in an MLflow SQLite store inside this
benchmark's data folder). Then, per scenario (``degrade``, ``decay``, ``lock_growth``) and seed,
two episodes run with the same seed, one with prediction on and one off, each in its own
process with its own demo world, DuckDB warehouse, coordination store and ephemeral Dagster
instance: the real ``canary_job`` assets run back to back in-process (``dg.materialize``; no
daemon), the scenario starts after a quiet lead-in, and every ``--tick-s`` seconds of wall clock
the real ``failure_prediction_sensor`` is evaluated with a built context (prediction on), or the
same indicators are scored in shadow without acting (prediction off; also for the baseline
rule). Driving the sensor on a clock instead of under ``dagster-daemon`` keeps the whole
benchmark under ~15 minutes on 2 cores; time is compressed (30 s ramps, 3 s ticks, a 12 s
horizon) against production's minutes.

What it prints, per scenario (medians over seeds where a median is meaningful):
* precision and recall of the warnings and the median lead time before the failure, from the
  prediction-off episodes (where nothing acted, so every failure happened): a warning is true
  when its subject failed within the horizon after it; a failure is warned when a warning came
  within the horizon before it; lead = failure - earliest such warning. Model and baseline;
* failures with and without prediction: failed canary runs, and for ``decay`` the runs whose
  decayed source yielded no prices or ratings (the extraction failure); and the cost of acting
  (runs that skipped the source).

A failure is the first failed run (or extraction failure) after the scenario started; its
subject is the degraded source or the warehouse.

Usage: ``uv run python benchmarks/predictive_failure.py [--seeds 1 2 3] [--ramp-s 30]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "yes")

SCENARIOS = ("degrade", "decay", "lock_growth")


def _train(model_dir: Path, ramp_s: float) -> dict[str, Any]:
    import dagster as dg

    from assets.operations.prediction import FailurePredictorConfig, failure_predictor
    from resources.tracking import MlflowTracking

    config = FailurePredictorConfig(
        train_seeds=[10, 11, 12, 13], test_seeds=[14, 15], ramp_s=ramp_s, lead_in_s=8.0
    )
    result = dg.materialize(
        [failure_predictor],
        resources={
            "tracking": MlflowTracking(data_dir=str(model_dir)),
            "io_manager": dg.mem_io_manager,
        },
        run_config={"ops": {"failure_predictor": {"config": config.model_dump()}}},
        instance=dg.DagsterInstance.ephemeral(),
    )
    frame = result.output_for_node("failure_predictor")
    return {"table": frame}


def _episode(kind: str, seed: int, predict: bool, model_dir: str, args: dict[str, float]) -> dict:
    """One soak episode in this (worker) process; returns its timeline."""
    import logging
    import random

    import dagster as dg

    logging.getLogger("dagster").setLevel(logging.ERROR)
    from assets.canary.assets import canary_assets
    from assets.operations.prediction import load_failure_predictor
    from ml.failure_prediction import BaselineRule
    from orchestration_project.common.time import utcnow
    from orchestration_project.demo_world import start_demo_world
    from orchestration_project.operations.faults import grow_warehouse_lock
    from orchestration_project.operations.prediction import read_indicators, score_now
    from resources.sources import DemoWorldSources
    from resources.tracking import MlflowTracking
    from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
    from sensors.operations import BASELINE_FEATURES, failure_prediction_sensor
    from tests.conftest import demo_resources, free_base_port

    data = Path(tempfile.mkdtemp(prefix=f"pred-{kind}-{seed}-{int(predict)}-"))
    world = start_demo_world("127.0.0.1", free_base_port(), slow_seconds=3.0)
    res = demo_resources(world, data)
    wh = DuckDBWarehouse(path=str(data / "warehouse.duckdb"), lock_timeout_s=args["lock_timeout_s"])
    res |= {"warehouse": wh, "io_manager": WarehouseIOManager(warehouse=wh)}
    # a site the scenario took down must stay down (not be served again by the step)
    res["market_sources"] = DemoWorldSources(
        base_port=res["market_sources"].base_port, start_if_missing=False
    )
    res["tracking"] = MlflowTracking(data_dir=model_dir)
    store = res["coordination"].store()
    instance = dg.DagsterInstance.ephemeral()
    model = load_failure_predictor(res["tracking"])
    baseline = BaselineRule()
    rng = random.Random(seed)
    ramp = args["ramp_s"] * rng.uniform(0.8, 1.2)
    slug = rng.choice(["nestwell", "klimacraft", "zephyr"])  # sites whose pages have prices
    host = world.sites[slug].split("://")[1]
    subject = "warehouse" if kind == "lock_growth" else f"source:{host}"
    start = time.monotonic()
    started_at = None
    holder = None
    runs, shadow = [], []
    last_tick = -1e9
    while time.monotonic() - start < args["lead_in_s"] + ramp + args["tail_s"]:
        if started_at is None and time.monotonic() - start >= args["lead_in_s"]:
            started_at = utcnow()
            if kind == "degrade":
                world.degrade(slug, ramp_s=ramp, peak_delay_s=1.4, peak_error_rate=0.4)
            elif kind == "decay":
                world.decay(slug, ramp_s=ramp)
            else:
                holder = grow_warehouse_lock(
                    wh.path,
                    ramp_s=ramp,
                    first_hold_s=0.1,
                    last_hold_s=args["lock_timeout_s"] * 0.9,
                    gap_s=1.0,
                    final_hold_s=args["lock_timeout_s"] * 10,
                )
        if time.monotonic() - last_tick >= args["tick_s"]:
            last_tick = time.monotonic()
            now = utcnow()
            if predict:
                ctx = dg.build_sensor_context(
                    instance=instance,
                    resources={
                        k: res[k] for k in ("coordination", "warehouse", "alerting", "tracking")
                    },
                )
                failure_prediction_sensor(ctx)
            else:
                obs = read_indicators(wh, store, warehouse_path=wh.path, now=now)
                for name, scorer, cfg in (
                    ("model", model, model.config),
                    ("baseline", baseline, BASELINE_FEATURES),
                ):
                    scores = score_now(obs, scorer, cfg, now=now)
                    for r in scores[scores["warn"]].itertuples():
                        shadow.append({"scorer": name, "subject": r.subject, "at": now, "p": r.p})
        t0 = utcnow()
        result = dg.materialize(
            canary_assets, resources=res, instance=instance, raise_on_error=False
        )
        run_id = result.run_id
        extraction_failed = False
        if kind == "decay" and result.success:
            hist = wh.query(
                "SELECT count(*) AS n FROM canary.fact_history_rows WHERE run_id = ? AND source = ? "
                "AND attribute IN ('price', 'rating')",
                [run_id, host],
            )
            fetched = wh.query(
                "SELECT count(*) AS n FROM canary.fetch_attempts WHERE crawl_id = ? AND site = ? "
                "AND outcome = 'ok'",
                [run_id, host],
            )
            extraction_failed = int(fetched["n"].iloc[0]) > 0 and int(hist["n"].iloc[0]) == 0
        skipped = False
        if result.success:
            mats = result.asset_materializations_for_node("canary__pages")
            pages = [m for m in mats if "skipped_sources" in m.metadata]
            skipped = bool(pages and pages[0].metadata["skipped_sources"].value)
        runs.append(
            {
                "start": t0,
                "end": utcnow(),
                "success": result.success,
                "extraction_failed": extraction_failed,
                "skipped": skipped,
                "in_scenario": started_at is not None,
            }
        )
    if holder is not None:
        holder.terminate()
        holder.wait(10)
    from orchestration_project.operations.healing import PREDICTED_FAILURE_ACTION, op_events

    actions = op_events(store, kinds=[PREDICTED_FAILURE_ACTION])
    world.stop()
    return {
        "kind": kind,
        "seed": seed,
        "predict": predict,
        "subject": subject,
        "started_at": started_at,
        "runs": runs,
        "shadow": shadow,
        "actions": actions[["at", "subject", "detail"]].to_dict("records"),
        "horizon_s": model.config.horizon_s,
        "tick_s": args["tick_s"],
    }


def _first_failure(ep: dict) -> Any:
    for r in ep["runs"]:
        if r["in_scenario"] and (not r["success"] or r["extraction_failed"]):
            return r["end"]
    return None


def _failures(ep: dict) -> int:
    return sum((not r["success"]) or r["extraction_failed"] for r in ep["runs"])


def _median(values: list[float]) -> str:
    vals = [v for v in values if v == v]
    return f"{statistics.median(vals):.1f}" if vals else "n/a"


def _warning_figures(eps: list[dict], scorer: str) -> tuple[str, str, str]:
    import pandas as pd

    from ml.failure_prediction import match_warnings

    all_w, all_f = [], []
    for i, ep in enumerate(eps):
        sh = [w for w in ep["shadow"] if w["scorer"] == scorer]
        # a warning is a rising edge per subject: the first of each run of consecutive ticks
        seen: dict[str, Any] = {}
        for w in sh:
            prev = seen.get(w["subject"])
            if prev is None or (w["at"] - prev).total_seconds() > 2.5 * ep.get("tick_s", 3.0):
                all_w.append({"subject": f"{i}|{w['subject']}", "at": pd.Timestamp(w["at"])})
            seen[w["subject"]] = w["at"]
        f = _first_failure(ep)
        if f is not None:
            all_f.append({"subject": f"{i}|{ep['subject']}", "at": pd.Timestamp(f)})
    score = match_warnings(
        pd.DataFrame(all_w, columns=["subject", "at"]),
        pd.DataFrame(all_f, columns=["subject", "at"]),
        eps[0]["horizon_s"],
    )
    p = f"{score.precision:.2f} ({score.true_warnings}/{score.warnings})"
    r = f"{score.recall:.2f} ({score.warned_failures}/{score.failures})"
    return p, r, _median(list(score.lead_times_s))


def main() -> int:
    """Train, run the paired episodes, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--ramp-s", type=float, default=30.0)
    ap.add_argument("--lead-in-s", type=float, default=10.0)
    ap.add_argument("--tail-s", type=float, default=15.0)
    ap.add_argument("--tick-s", type=float, default=3.0)
    ap.add_argument("--lock-timeout-s", type=float, default=2.0)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--model-dir", default="", help="reuse a trained model (skip training)")
    a = ap.parse_args()
    t_start = time.monotonic()
    if a.model_dir:
        model_dir = Path(a.model_dir)
        print(f"reusing the model in {model_dir}/mlflow", flush=True)
    else:
        model_dir = Path(tempfile.mkdtemp(prefix="pred-model-"))
        print(f"training failure_predictor (MLflow store in {model_dir}/mlflow) ...", flush=True)
        trained = _train(model_dir, a.ramp_s)
        print(trained["table"].round(3).to_string(index=False), flush=True)
        print(f"trained in {time.monotonic() - t_start:.0f} s", flush=True)
    from assets.operations.prediction import load_failure_predictor
    from resources.tracking import MlflowTracking

    # open (and, if needed, migrate) the MLflow store once here, not in two workers at once
    model = load_failure_predictor(MlflowTracking(data_dir=str(model_dir)))
    print(f"model: threshold {model.threshold:.2f}, horizon {model.config.horizon_s:.0f} s")
    args = {k: getattr(a, k) for k in ("ramp_s", "lead_in_s", "tail_s", "tick_s", "lock_timeout_s")}
    jobs = [(k, s, p) for k in a.scenarios for s in a.seeds for p in (False, True)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = {j: pool.submit(_episode, *j, str(model_dir), args) for j in jobs}
        episodes = {j: f.result() for j, f in futures.items()}
    print(f"\nepisodes done in {time.monotonic() - t_start:.0f} s\n")
    header = (
        f"{'scenario':<12} {'scorer':<9} {'precision':>12} {'recall':>12} {'lead s':>7} "
        f"{'failures off':>13} {'failures on':>12} {'skipped-runs on':>16}"
    )
    print(header)
    print("-" * len(header))
    for kind in a.scenarios:
        off = [episodes[(kind, s, False)] for s in a.seeds]
        on = [episodes[(kind, s, True)] for s in a.seeds]
        f_off = [_failures(e) for e in off]
        f_on = [_failures(e) for e in on]
        skipped = [sum(r["skipped"] for r in e["runs"]) for e in on]
        for scorer in ("model", "baseline"):
            p, r, lead = _warning_figures(off, scorer)
            tail = (
                f"{statistics.median(f_off):>13.1f} {statistics.median(f_on):>12.1f} "
                f"{statistics.median(skipped):>16.1f}"
                if scorer == "model"
                else ""
            )
            print(f"{kind:<12} {scorer:<9} {p:>12} {r:>12} {lead:>7} {tail}")
        print(
            f"{'':<12} per seed: failures off {f_off}, on {f_on}; actions on "
            f"{[len(e['actions']) for e in on]}; runs off {[len(e['runs']) for e in off]}"
        )
    print(f"\ntotal {time.monotonic() - t_start:.0f} s (medians over seeds {a.seeds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
