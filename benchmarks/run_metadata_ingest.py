"""Benchmark run-metadata ingestion: events per second from a SQLite Dagster instance into
DuckDB, and the time of a re-ingestion with nothing new (goal < 1 s).

It makes ``--runs`` runs of three assets (one run in five fails), writes ``--actions`` agent
actions per run to a domain table (``bench_domain.agent_actions``), then, in one process and on
fresh warehouse files, alternates:

* the old path: every event of each run's log (``event_types=None``, as ``all_logs``);
* the new path: only the event types the tables need (``EVENT_TYPES``);
* a full ingestion (new path plus the consolidation of agent actions), followed by a
  re-ingestion with nothing new.

Figures are medians over ``--repeats`` rounds. "Log events covered per second" divides the
events in the ingested runs' logs by the time taken, so the two paths compare on the same work.

    uv run python benchmarks/run_metadata_ingest.py [--runs 40] [--repeats 5] [--actions 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402
import pandas as pd  # noqa: E402

from orchestration_project.agents.runtime import AgentAction  # noqa: E402
from orchestration_project.operations.run_metadata import SCHEMA, ingest  # noqa: E402
from resources.warehouse import DuckDBWarehouse  # noqa: E402


@dg.asset
def a() -> int:
    return 1


@dg.asset(check_specs=[dg.AssetCheckSpec("ok", asset="b")])
def b(a: int):  # noqa: ANN201
    yield dg.Output(a + 1, metadata={"row_count": 2})
    yield dg.AssetCheckResult(passed=True)


@dg.asset
def c(context, b: int) -> int:  # noqa: ANN001 (Dagster reads the annotation: none under PEP 563)
    if context.run.tags.get("fail") == "1":
        raise TimeoutError("the upstream service timed out")
    return b


def _actions(run_ids: list[str], per_run: int) -> pd.DataFrame:
    now = datetime.now(UTC)
    rows = [
        AgentAction(
            action_id=uuid.uuid4().hex,
            run_id=rid,
            agent="researcher",
            role="research",
            kind="tool_call",
            name="fetch",
            inputs="{}",
            output="ok",
            started_at=now,
            duration_s=0.1,
            cost_usd=0.001,
            outcome="ok",
            route="http",
        ).__dict__
        for rid in run_ids
        for _ in range(per_run)
    ]
    return pd.DataFrame(rows)


def main() -> None:
    """Make the runs, time the ingestion paths and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--actions", type=int, default=20, help="agent actions per run")
    args = parser.parse_args()
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with tempfile.TemporaryDirectory() as d:
        Path(d, "home").mkdir()
        with dg.instance_for_test(temp_dir=f"{d}/home") as instance:
            for i in range(args.runs):
                dg.materialize(
                    [a, b, c],
                    instance=instance,
                    run_config=quiet,
                    tags={"fail": "1" if i % 5 == 4 else "0"},
                    raise_on_error=False,
                )
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1}/{args.runs} runs made", flush=True)
            run_ids = [r.dagster_run.run_id for r in instance.get_run_records()]
            log_events = sum(len(instance.all_logs(rid)) for rid in run_ids)
            actions = _actions(run_ids, args.actions)

            def fresh(name: str) -> DuckDBWarehouse:
                wh = DuckDBWarehouse(path=f"{d}/{name}.duckdb")
                wh.write_table("agent_actions", actions, schema="bench_domain")
                return wh

            old_s, new_s, full_s, noop_s = [], [], [], []
            for k in range(args.repeats):
                old = ingest(instance, fresh(f"old{k}"), event_types=None, consolidate=False)
                new = ingest(instance, fresh(f"new{k}"), consolidate=False)
                wh = fresh(f"full{k}")
                full = ingest(instance, wh)
                t0 = time.perf_counter()
                again = ingest(instance, wh)
                noop_s.append(time.perf_counter() - t0)
                assert again.runs == 0 and again.events == 0 and not again.rows, again
                old_s.append(old.seconds)
                new_s.append(new.seconds)
                full_s.append(full.seconds)
            assert len(wh.read_table("agent_actions", schema=SCHEMA)) == len(actions)

    med = statistics.median
    print(f"{args.runs} runs, {log_events} events in their logs; full ingestion rows {full.rows}")
    print(f"medians of {args.repeats} fresh ingestions (same process, same instance):")
    print(
        f"  old path (whole log, {old.events} events read): {med(old_s) * 1000:.0f} ms, "
        f"{old.events / med(old_s):,.0f} events/s"
    )
    print(
        f"  new path (needed types, {new.events} events read): {med(new_s) * 1000:.0f} ms, "
        f"{new.events / med(new_s):,.0f} events read/s, "
        f"{log_events / med(new_s):,.0f} log events covered/s"
    )
    print(f"  speed-up new vs old (time ratio): {med(old_s) / med(new_s):.2f}x")
    print(
        f"  full ingestion incl. {len(actions)} agent actions consolidated: "
        f"{med(full_s) * 1000:.0f} ms, {log_events / med(full_s):,.0f} log events covered/s"
    )
    print(f"re-ingestion with nothing new (median of {args.repeats}): {med(noop_s) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
