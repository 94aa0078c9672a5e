"""Soak benchmark: many workflow runs under injected faults, healed automatically.

Runs the canary workflow (fetch every demo-world source → extract → store; or, with
``--job market_research_job``, the whole market research) ``--runs`` times on
a real Dagster instance with a ``--rate`` chance of a real fault per step (HTTP 503, a page
slower than the client timeout, a refused connection, a killed tool process, the warehouse
locked by another process), plus two scenarios: one site down for a while (circuit breaker on
the source) and one site blocking non-browser clients (breaker on the HTTP route, switch to the
browser). A detector thread polls the instance every ``--poll-s`` seconds, as the run-failure
sensor does; the healer classifies each failure and re-executes from failure with backoff.

Prints the SLO scorecard (completion rate, mean/p95 time to detect and to recover, alert
false-positive rate) and writes it with charts to ``<data>/reports/operations/scorecard.html``.

Usage: ``uv run python benchmarks/soak.py [--runs 200] [--rate 0.05] [--seed 1]``
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# Dagster's console logger would print every injected failure's stack trace; the events still
# land in the instance's event log (re-executions inherit this run config).
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def main() -> None:  # noqa: PLR0915 - a linear script
    """Run the soak and print the scorecard."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="workflow runs to start")
    ap.add_argument(
        "--job",
        default="canary_job",
        choices=["canary_job", "market_research_job"],
        help="workflow",
    )
    ap.add_argument("--rate", type=float, default=0.05, help="fault probability per step")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--poll-s", type=float, default=5.0, help="failure detection interval")
    ap.add_argument("--backoff-s", type=float, default=2.0, help="first re-execution backoff")
    ap.add_argument(
        "--grace-s", type=float, default=60.0, help="wait for an incident to confirm an alert"
    )
    ap.add_argument("--monitor-every", type=int, default=10, help="alert evaluation every N runs")
    ap.add_argument("--no-scenarios", action="store_true", help="no site outage / bot block")
    ap.add_argument("--data", default="", help="data folder (default: a temporary one)")
    args = ap.parse_args()

    from tests.conftest import free_base_port

    data = Path(args.data or tempfile.mkdtemp(prefix="soak-"))
    data.mkdir(parents=True, exist_ok=True)
    base = free_base_port()
    os.environ.update(
        ORCHESTRATION_DATA_DIR=str(data),
        DEMO_WORLD_BASE_PORT=str(base),
        FAULT_STEP_RATE=str(args.rate),
        FAULT_SEED=str(args.seed),
        WAREHOUSE_LOCK_TIMEOUT_S="2",
        FAULT_LOCK_HOLD_S="4",
        DAGSTER_DISABLE_TELEMETRY="yes",
    )
    import dagster as dg

    from ml.slo import scorecard
    from orchestration_project.agents.coordination.store import CoordinationStore
    from orchestration_project.demo_world import start_demo_world
    from orchestration_project.operations.alerting import AlertManager, WarehouseAlertStore
    from orchestration_project.operations.events import events_from_warehouse
    from orchestration_project.operations.faults import read_ledger
    from orchestration_project.operations.healing import (
        CircuitBreakers,
        Healer,
        OpsSettings,
        RemedyPolicy,
        incidents_frame,
    )
    from orchestration_project.operations.monitoring import MonitoringOutcome, evaluate_alerts
    from orchestration_project.operations.run_metadata import ingest
    from resources.warehouse import DuckDBWarehouse, WarehouseError
    from tests.reexecution import in_process_launcher, run_job

    world = start_demo_world("127.0.0.1", base, slow_seconds=6.0)
    (data / "dagster_home").mkdir(exist_ok=True)
    instance = dg.DagsterInstance.local_temp(str(data / "dagster_home"))
    store = CoordinationStore(f"sqlite:///{data / 'coordination.db'}")
    settings = OpsSettings(store)
    settings.set("breaker:cooldown_s", 8, reason="soak: short cooldown")
    settings.set("breaker:failure_threshold", 3, reason="soak")
    healer = Healer(
        store,
        policy=RemedyPolicy(
            max_attempts=5, backoff_base_s=args.backoff_s, backoff_max_s=args.backoff_s * 8
        ),
    )
    launcher = in_process_launcher(instance)
    warehouse = DuckDBWarehouse(path=str(data / "warehouse.duckdb"), lock_timeout_s=15)
    manager = AlertManager(WarehouseAlertStore(warehouse), cooldown=timedelta(minutes=5))

    def monitor() -> MonitoringOutcome | None:
        """Ingest run metadata and evaluate alerts, as the operations job does."""
        try:
            ingest(instance, warehouse)
            return evaluate_alerts(
                events=events_from_warehouse(warehouse),
                manager=manager,
                healer=healer,
                now=datetime.now(UTC),
                grace=timedelta(seconds=args.grace_s),
            )
        except WarehouseError as exc:  # a locked warehouse: try again next time
            print(f"  monitoring skipped: {exc}")
            return None

    stop = threading.Event()
    lock = threading.Lock()

    def detector() -> None:
        while not stop.wait(args.poll_s):
            with lock:
                healer.poll(instance)

    thread = threading.Thread(target=detector, name="detector", daemon=True)
    thread.start()

    slugs = list(world.sites)
    n = args.runs
    scenarios = (
        []
        if args.no_scenarios
        else [
            (n // 4, "down", slugs[1]),
            (n // 4 + max(8, n // 10), "up", slugs[1]),
            (n // 2, "block_bots", slugs[2]),
            (n // 2 + max(8, n // 10), "unblock", slugs[2]),
        ]
    )
    print(
        f"soak: {n} {args.job} runs, fault rate {args.rate:.0%} per step, seed {args.seed}, "
        f"detection every {args.poll_s:.0f} s, backoff from {args.backoff_s:.0f} s; data {data}"
    )
    t0 = time.perf_counter()
    durations = []
    for i in range(n):
        for at, what, slug in scenarios:
            if at == i:
                print(f"  [run {i}] scenario: {what} {slug}")
                # The replay benchmark judges alerts against this ground truth too.
                with (data / "scenarios.jsonl").open("a", encoding="utf-8") as fh:
                    fh.write(
                        json.dumps(
                            {"at": datetime.now(UTC).isoformat(), "what": what, "site": slug}
                        )
                        + "\n"
                    )
                if what == "down":
                    world.take_down(slug)
                elif what == "up":
                    world.bring_up(slug)
                elif what == "block_bots":
                    world.set_faults(slug, block_non_browsers=True)
                else:
                    world.set_faults(slug)
        t = time.perf_counter()
        run_job(instance, args.job, run_config=QUIET)
        durations.append(time.perf_counter() - t)
        healer.run_due(instance, launcher)
        if (i + 1) % args.monitor_every == 0:
            monitor()
        if (i + 1) % 20 == 0 or i + 1 == n:
            open_now = len(healer.incidents(statuses=["open", "remediating"]))
            print(
                f"  {i + 1}/{n} runs, {time.perf_counter() - t0:.0f} s, "
                f"incidents {len(healer.incidents())} ({open_now} open)",
                flush=True,
            )
    # drain: let every open incident finish its remedies
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        with lock:
            healer.poll(instance)
        healer.run_due(instance, launcher)
        if not healer.incidents(statuses=["open", "remediating"]):
            break
        time.sleep(min(args.poll_s, 1.0))
    stop.set()
    thread.join(timeout=args.poll_s + 5)
    with lock:
        healer.poll(instance)
    time.sleep(min(args.grace_s, 60) + 1)  # let resolved alerts pass their grace
    monitor()
    elapsed = time.perf_counter() - t0

    records = instance.get_run_records()
    import pandas as pd

    runs = pd.DataFrame(
        [
            {
                "run_id": r.dagster_run.run_id,
                "job_name": r.dagster_run.job_name,
                "status": r.dagster_run.status.value,
                "root_run_id": r.dagster_run.root_run_id,
                "tags": dict(r.dagster_run.tags),
            }
            for r in records
        ]
    )
    incidents = incidents_frame(healer.incidents())
    remediating = set(
        incidents.loc[incidents["status"].isin(["open", "remediating"]), "root_run_id"].dropna()
    )
    alerts = (
        warehouse.read_table("alerts", schema="operations")
        if warehouse.table_exists("alerts", schema="operations")
        else pd.DataFrame({"verdict": pd.Series([], dtype="boolean")})
    )
    card = scorecard(runs, incidents, alerts, still_remediating=remediating)

    faults = read_ledger(data / "faults.jsonl")
    actions = healer.actions()
    print()
    print(f"elapsed {elapsed:.0f} s; {len(records)} runs in all ({n} workflows + recoveries)")
    print(
        f"run duration median {statistics.median(durations):.2f} s, "
        f"p95 {sorted(durations)[int(0.95 * (len(durations) - 1))]:.2f} s"
    )
    print("faults injected:", dict(collections.Counter(f.kind for f in faults)))
    print(
        "incidents by root-cause class:",
        incidents["failure_class"].value_counts(dropna=False).to_dict(),
    )
    print("incidents by status:", incidents["status"].value_counts().to_dict())
    print("healer actions:", actions["action"].value_counts().to_dict())
    breakers = CircuitBreakers(store).all()
    fp = manager.false_positive_rate()
    print(
        f"alerts: {len(alerts)} episodes; judged true {fp.true}, false {fp.false}, "
        f"unjudged {fp.unconfirmed}"
    )
    if len(alerts):
        print(alerts.groupby(["rule", "verdict"], dropna=False).size().to_string())
    print("circuit breakers:", breakers[["name", "state"]].to_dict("records"))
    print()
    print(card.to_markdown(index=False, floatfmt=".4g"))
    from orchestration_project.operations.dashboards import write_scorecard

    path = write_scorecard(card, incidents, data / "reports" / "operations" / "scorecard.html")
    print(f"\nscorecard with charts: {path}")
    world.stop()


if __name__ == "__main__":
    main()
