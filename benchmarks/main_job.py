"""Benchmark the main job and the fetch routes on the demo world (2 cores, loopback only).

Prints:
* main-job wall time after set-up (median of N in-process runs, each on a fresh data folder),
  with a profile of where the time goes (median seconds per step) — and one run through the CLI
  (``python -m orchestration_project demo``: process start, imports, everything);
* pages per second on the demo world for HTTP-only, browser-only and routed fetch (median of N
  crawls of all five sites each), the baseline being HTTP-only in the same process;
* peak memory (this process, and its children: Chromium, the CLI run).

    uv run python benchmarks/main_job.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from assets.market_research import all_sites_tags, register_sites, source_sites  # noqa: E402
from assets.market_research.assets import market_research_assets  # noqa: E402
from orchestration_project.agents.coordination import CoordinationStore  # noqa: E402
from orchestration_project.agents.routing import (  # noqa: E402
    ROUTE_BROWSER,
    ROUTE_HTTP,
    FixedRouter,
    RuleRouter,
)
from orchestration_project.agents.runtime import ActionRecorder  # noqa: E402
from orchestration_project.demo_world import start_demo_world  # noqa: E402
from orchestration_project.research.crawler import crawled_pages, run_crawl  # noqa: E402
from resources.environment import local_resources  # noqa: E402
from tests.conftest import free_base_port  # noqa: E402

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def step_durations(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds per step, from the run's event log."""
    starts, out = {}, {}
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None:
            continue
        if ev.event_type == dg.DagsterEventType.STEP_START:
            starts[ev.step_key] = rec.timestamp
        elif ev.event_type == dg.DagsterEventType.STEP_SUCCESS:
            out[ev.step_key] = rec.timestamp - starts[ev.step_key]
    return out


def main_job_runs(base_port: int, runs: int) -> tuple[list[float], dict[str, list[float]]]:
    walls, steps = [], {}
    for i in range(runs):
        with tempfile.TemporaryDirectory() as d:
            res = local_resources(data=Path(d), demo_base_port=base_port)
            with dg.instance_for_test() as instance:
                t0 = time.perf_counter()
                sites = register_sites(instance, source_sites(res["market_sources"]))
                result = dg.materialize(
                    market_research_assets,
                    resources=res,
                    instance=instance,
                    run_config=QUIET,
                    tags=all_sites_tags(sites),  # one run over every site partition
                )
                walls.append(time.perf_counter() - t0)
                assert result.success
                for k, v in step_durations(instance, result.run_id).items():
                    steps.setdefault(k, []).append(v)
        print(f"  main job run {i + 1}/{runs}: {walls[-1]:.1f} s", flush=True)
    return walls, steps


def crawl_rate(world: object, router_factory, runs: int) -> tuple[float, float, int]:
    """Median pages/s and wall seconds, and pages fetched, for one routing policy."""
    rates, walls, pages = [], [], 0
    res = local_resources(
        data=Path(tempfile.mkdtemp()), demo_base_port=int(world.allowed_hosts[0].split(":")[1])
    )
    for i in range(runs):
        with tempfile.TemporaryDirectory() as d:
            store = CoordinationStore(f"sqlite:///{d}/c.db")
            t0 = time.perf_counter()
            run_crawl(
                crawl_id=f"bench{i}",
                seeds=world.seed_urls,
                topic="thermostats",
                store=store,
                http=res["http"],
                browser=res["browser"],
                router=router_factory(),
                recorder=ActionRecorder(),
                max_pages=40,
                max_depth=3,
            )
            wall = time.perf_counter() - t0
            df = crawled_pages(store, f"bench{i}")
            pages = int((df["outcome"] == "ok").sum())
            rates.append(pages / wall)
            walls.append(wall)
    return statistics.median(rates), statistics.median(walls), pages


def cli_run(base_port: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        env = {
            **os.environ,
            "ORCHESTRATION_DATA_DIR": d,
            "DAGSTER_HOME": f"{d}/dagster_home",
            "DEMO_WORLD_BASE_PORT": str(base_port),
        }
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "orchestration_project", "demo"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:])
            raise SystemExit("CLI run failed")
        return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = free_base_port()
    print(f"demo world on 127.0.0.1:{base}-{base + 5} (slow page 15 s, oversized page 6 MB)")
    world = start_demo_world("127.0.0.1", base)
    try:
        print("main job (in-process, fresh data folder each run):", flush=True)
        walls, steps = main_job_runs(base, args.runs)
        print("fetch routes (crawl of all five sites, page budget 40/site, depth 3):", flush=True)
        rates = {}
        for name, factory in [
            ("http-only", lambda: FixedRouter(ROUTE_HTTP)),
            ("browser-only", lambda: FixedRouter(ROUTE_BROWSER)),
            ("routed", RuleRouter),
        ]:
            rates[name] = crawl_rate(world, factory, args.runs)
            print(f"  {name}: {rates[name][0]:.1f} pages/s", flush=True)
    finally:
        world.stop()
    print("main job through the CLI (python -m orchestration_project demo):", flush=True)
    cli = cli_run(base)

    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print()
    print("=" * 72)
    print(
        f"main job wall time, in-process, median of {args.runs}: "
        f"{statistics.median(walls):.1f} s  (runs: {', '.join(f'{w:.1f}' for w in walls)})"
    )
    print(
        f"main job wall time, CLI incl. interpreter start and imports: {cli:.1f} s  (goal ≤ 60 s)"
    )
    print("where the time goes (median seconds per step):")
    total = sum(statistics.median(v) for v in steps.values())
    for k, v in sorted(steps.items(), key=lambda kv: -statistics.median(kv[1])):
        m = statistics.median(v)
        print(f"  {k:<22} {m:6.2f} s  {100 * m / total:5.1f}%")
    base_rate = rates["http-only"][0]
    print("pages per second on the demo world (median of runs; pages fetched ok):")
    for name, (rate, wall, pages) in rates.items():
        print(
            f"  {name:<13} {rate:6.1f} pages/s  {pages:3d} pages in {wall:5.1f} s  "
            f"({rate / base_rate:.2f}× http-only)"
        )
    print(f"peak memory: this process {self_mb:.0f} MB; largest child process {child_mb:.0f} MB")


if __name__ == "__main__":
    main()
