"""Benchmark run-metadata ingestion: events per second ingested from a Dagster instance into
the warehouse, and the time of a re-ingestion with nothing new.

Backends (``--backend``):

* ``duckdb`` — a SQLite Dagster instance (run-sharded event log: one query per run) into a
  DuckDB file;
* ``postgres`` — a PostgreSQL Dagster instance into a PostgreSQL warehouse, on the local server
  (``--pg-url``, default ``COORDINATION_TEST_PG_URL`` or ``./scripts/postgres``'s URL): a fresh
  database for the instance and fresh databases for the warehouses, all dropped at the end.

Volume. ``--templates`` real runs of three assets are executed (one in five fails), then copied
until the instance holds ``--runs`` runs: each copy gets a new run id, its own run record (run
events go through ``instance.handle_new_event``, so status, start and end times are real) and
its template's event log with shifted timestamps (the other events are inserted in batches,
as the storage itself writes them). ``--actions`` agent actions per run go to a domain table
(``bench_domain.agent_actions``), written once to a template warehouse that each round copies.

Each round ingests, on a fresh warehouse:

* ``per run``: the event types the tables need, one event-log query per run;
* ``by storage id`` (PostgreSQL only): the same events, one query per page of runs by storage
  id, step events read from columns (the default on PostgreSQL);
* ``full``: the default path plus the consolidation of agent actions, then a re-ingestion with
  nothing new.

Figures are medians over ``--repeats`` rounds; events/s is events ingested (the needed types,
``IngestResult.events``) per second of wall time. ``--profile FILE`` writes a pyinstrument
profile (text) of one default ingestion.

    uv run python benchmarks/run_metadata_ingest.py --backend postgres --runs 3000 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402
import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from dagster._core.events import EVENT_TYPE_TO_PIPELINE_RUN_STATUS  # noqa: E402

from orchestration_project.agents.runtime import AgentAction  # noqa: E402
from orchestration_project.operations.run_metadata import SCHEMA, IngestResult, ingest  # noqa: E402
from resources.dagster_storage import postgres_storage  # noqa: E402
from resources.warehouse import DuckDBWarehouse, PostgresWarehouse  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


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


def _pg_base_url(given: str | None) -> str:
    url = given or os.environ.get("COORDINATION_TEST_PG_URL")
    if url:
        return url
    out = subprocess.run(
        [str(ROOT / "scripts/postgres")], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


class _Databases:
    """Fresh databases on one PostgreSQL server, all dropped by :meth:`drop_all`."""

    def __init__(self, base_url: str) -> None:
        self.base = sa.make_url(base_url)
        self.admin = sa.create_engine(self.base, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, prefix: str, template: str | None = None) -> sa.URL:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as c:
            c.exec_driver_sql(
                f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
            )
        self.names.append(name)
        return self.base.set(database=name)

    def drop_all(self) -> None:
        with self.admin.connect() as c:
            for name in reversed(self.names):
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


@contextlib.contextmanager
def _instance(backend: str, tmp: str, dbs: _Databases | None) -> Iterator[dg.DagsterInstance]:
    Path(tmp, "home").mkdir()
    overrides: dict[str, Any] = {}
    if backend == "postgres":
        assert dbs is not None
        url = dbs.create("bench_dagster")
        overrides = {"storage": postgres_storage(url)}
    with dg.instance_for_test(temp_dir=f"{tmp}/home", overrides=overrides) as instance:
        yield instance


def _insert_events(instance: dg.DagsterInstance, run_id: str, entries: list[Any]) -> None:
    """Store non-run events as the storage writes them, in one statement."""
    if not entries:
        return
    storage: Any = instance.event_log_storage
    statement = storage.prepare_insert_event_batch(entries)
    connect = storage.run_connection(run_id) if storage.is_run_sharded else None
    with connect or storage.index_transaction() as conn:
        conn.execute(statement)


def _make_runs(instance: dg.DagsterInstance, runs: int, templates: int) -> list[str]:
    """Execute ``templates`` runs, then copy them until there are ``runs``; return run ids."""
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    made = []
    for i in range(min(templates, runs)):
        result = dg.materialize(
            [a, b, c],
            instance=instance,
            run_config=quiet,
            tags={"fail": "1" if i % 5 == 4 else "0"},
            raise_on_error=False,
        )
        made.append(result.run_id)
    executed = list(made)
    logs = {rid: instance.all_logs(rid) for rid in executed}
    # Copying opens a connection per storage call: keep a pool while making the runs (the
    # ingestion is timed on a fresh instance object, with Dagster's default NullPool).
    instance.optimize_for_webserver(statement_timeout=0, pool_recycle=3600, max_overflow=4)
    spans = {
        rid: max(e.timestamp for e in ev) - min(e.timestamp for e in ev) for rid, ev in logs.items()
    }
    shift = max(spans.values()) + 1.0
    t_start = time.perf_counter()
    for k in range(runs - len(made)):
        template = executed[k % len(executed)]
        old = instance.get_run_by_id(template)
        assert old is not None
        rid = str(uuid.uuid4())
        instance.add_run(
            dg.DagsterRun(
                job_name=old.job_name,
                run_id=rid,
                status=dg.DagsterRunStatus.NOT_STARTED,
                tags=old.tags,
            )
        )
        offset = (k + 1) * shift
        pending: list[Any] = []
        for entry in logs[template]:
            copy = entry._replace(run_id=rid, timestamp=entry.timestamp + offset)
            if entry.dagster_event_type in EVENT_TYPE_TO_PIPELINE_RUN_STATUS:
                _insert_events(instance, rid, pending)
                pending = []
                instance.handle_new_event(copy)  # updates the run record too
            else:
                pending.append(copy)
        _insert_events(instance, rid, pending)
        made.append(rid)
        if (k + 1) % 500 == 0:
            rate = (k + 1) / (time.perf_counter() - t_start)
            print(f"  {len(made)}/{runs} runs ({rate:.0f} copies/s)", flush=True)
    return made


def main() -> None:
    """Make the runs, time the ingestion paths and print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--runs", type=int, default=2500, help="runs in the instance")
    parser.add_argument("--templates", type=int, default=10, help="runs actually executed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--actions", type=int, default=20, help="agent actions per run")
    parser.add_argument(
        "--page-size",
        type=int,
        default=inspect.signature(ingest).parameters["page_size"].default,
        help="runs per ingestion page (default: ingest()'s own default)",
    )
    parser.add_argument("--pg-url", default=None, help="the PostgreSQL server (admin URL)")
    parser.add_argument("--profile", default=None, help="write a pyinstrument text profile")
    parser.add_argument(
        "--no-per-run", action="store_true", help="skip the per-run path (PostgreSQL: slow)"
    )
    args = parser.parse_args()
    pg = args.backend == "postgres"
    dbs = _Databases(_pg_base_url(args.pg_url)) if pg else None
    try:
        with (
            tempfile.TemporaryDirectory() as d,
            _instance(args.backend, d, dbs) as instance,
            contextlib.ExitStack() as stack,
        ):
            t0 = time.perf_counter()
            run_ids = _make_runs(instance, args.runs, args.templates)
            made_s = time.perf_counter() - t0
            log_events = sum(
                len(instance.get_records_for_run(rid, limit=100_000).records)
                for rid in run_ids[: args.templates]
            )
            log_events = round(log_events * len(run_ids) / min(args.templates, len(run_ids)))
            actions = _actions(run_ids, args.actions)
            # Timed on a fresh instance object (Dagster's default: no connection pool).
            instance = stack.enter_context(dg.DagsterInstance.from_config(f"{d}/home"))
            if pg:
                assert dbs is not None
                tpl = dbs.create("bench_wh_tpl")
                PostgresWarehouse(url=str(tpl.render_as_string(hide_password=False))).write_table(
                    "agent_actions", actions, schema="bench_domain"
                )

                def fresh(name: str) -> Any:
                    url = dbs.create("bench_wh", template=tpl.database)
                    return PostgresWarehouse(url=url.render_as_string(hide_password=False))

            else:
                tpl_path = f"{d}/template.duckdb"
                DuckDBWarehouse(path=tpl_path).write_table(
                    "agent_actions", actions, schema="bench_domain"
                )

                def fresh(name: str) -> Any:
                    shutil.copy(tpl_path, f"{d}/{name}.duckdb")
                    return DuckDBWarehouse(path=f"{d}/{name}.duckdb")

            kw = {"page_size": args.page_size}
            times: dict[str, list[float]] = {"per run": [], "by storage id": [], "full": []}
            noop_s: list[float] = []
            results: dict[str, IngestResult] = {}
            for k in range(args.repeats):
                if not (pg and args.no_per_run):
                    results["per run"] = ingest(
                        instance,
                        fresh(f"perrun{k}"),
                        consolidate=False,
                        by_storage_id=False if pg else None,
                        **kw,
                    )
                if pg:
                    results["by storage id"] = ingest(
                        instance, fresh(f"bulk{k}"), consolidate=False, **kw
                    )
                wh = fresh(f"full{k}")
                results["full"] = ingest(instance, wh, **kw)
                t1 = time.perf_counter()
                again = ingest(instance, wh, **kw)
                noop_s.append(time.perf_counter() - t1)
                assert again.runs == 0 and again.events == 0 and not again.rows, again
                for name, res in results.items():
                    times[name].append(res.seconds)
                print(f"  round {k + 1}/{args.repeats} done", flush=True)
            full = results["full"]
            assert full.runs == len(run_ids), (full.runs, len(run_ids))
            assert len(wh.read_table("agent_actions", schema=SCHEMA)) == len(actions)
            if args.profile:
                from pyinstrument import Profiler

                with Profiler(interval=0.001) as prof:
                    ingest(instance, fresh("profiled"), consolidate=False, **kw)
                Path(args.profile).write_text(prof.output_text(unicode=False, color=False))
    finally:
        if dbs is not None:
            dbs.drop_all()

    med = statistics.median
    events = full.events
    print(
        f"backend {args.backend}: {len(run_ids)} runs ({args.templates} executed, the rest "
        f"copied; made in {made_s:.0f} s), ~{log_events:,} events in their logs, {events:,} "
        f"events of the needed types; page size {args.page_size}"
    )
    print(f"rows written by a full ingestion: {full.rows}")
    print(f"medians of {args.repeats} fresh ingestions (same process, same instance):")
    for name, secs in times.items():
        if secs:
            res = results[name]
            print(
                f"  {name:<14} {med(secs):7.2f} s  {res.events / med(secs):>9,.0f} events/s "
                f"({res.events:,} events, {res.runs:,} runs; min {min(secs):.2f} s, "
                f"max {max(secs):.2f} s)"
            )
    print(
        f"  (full = default path + consolidation of {len(actions):,} agent actions; "
        f"events/s counts only the run events)"
    )
    print(f"re-ingestion with nothing new (median of {args.repeats}): {med(noop_s) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
