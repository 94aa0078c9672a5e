"""Load on the production stack (``scripts/stack``): concurrent market-research runs and a deep
queue of tiny canary runs through the run queue, with 1, 2 and 4 Celery workers.

It first fills the run queue with ``--canary-runs`` canary runs (the first through the
webserver, as the UI submits; the rest enqueued directly in the run storage as copies of it —
submitting 1000 runs over GraphQL would take longer than the measurement). Then, for each worker
count in turn (``scripts/stack workers N``), it submits ``--research-runs`` market-research runs
(each its own topic and its own three of the five sites) with a higher ``dagster/priority`` (they start before the queued canaries) and measures a
``--window``-second window over that one deep queue:

* runs/hour — runs finished in the window (success or failure) per hour;
* steps/s — step successes and failures in the window per second;
* queue wait p50/p99 — from a run's creation to its start, over the runs that started;
* PostgreSQL connections — ``pg_stat_activity`` rows of the stack's databases (max, mean),
  sampled every 2 s;
* event-log writes/s — rows added to Dagster's ``event_logs`` table per second;
* where the CPU went — each service's process tree (PostgreSQL, Redis, the code server, the
  webserver, the daemon, the run workers, the step workers, the demo world, this benchmark) in
  cores busy over the window, from ``/proc`` (the profile of the 2-core bottleneck).

At the end the runs still queued are canceled and the ones in progress are waited for (at most
``--drain`` s); the stack is left with two workers.

Usage (the stack must be up, or pass ``--up``; ``--down`` stops it at the end)::

    uv run python benchmarks/stack_load.py          # 1,2,4 workers, 1000 canaries, 2 research runs, 60 s each
    uv run python benchmarks/stack_load.py --workers 2 --canary-runs 200 --window 120
    uv run python benchmarks/stack_load.py --up --down --research-runs 4

Flags: ``--workers`` (comma list, default ``1,2,4``), ``--research-runs`` (default 2),
``--canary-runs`` (default 1000), ``--window`` (seconds per worker count, default 60),
``--drain`` (seconds, default 120), ``--up`` / ``--down``.
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STACK_DIR = ROOT / ".data" / "stack"
TAG = "stack_load"
TOPICS = ("smart home climate devices", "home air quality monitors", "smart thermostats")


def stack(*args: str) -> None:
    """``scripts/stack ARGS``, failing loudly."""
    subprocess.run([str(ROOT / "scripts" / "stack"), *args], cwd=ROOT, check=True)


def load_env() -> dict[str, str]:
    """The stack's settings, also put into this process's environment."""
    env = {}
    for line in (STACK_DIR / "env").read_text().splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value.strip().strip("'")
    os.environ.update(env)
    return env


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` (nearest rank); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class ConnectionSampler(threading.Thread):
    """Samples ``pg_stat_activity`` every ``every_s`` seconds until stopped."""

    def __init__(self, url: str, every_s: float = 2.0) -> None:
        super().__init__(daemon=True)
        import sqlalchemy as sa

        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.every_s = every_s
        self.samples: list[int] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        import sqlalchemy as sa

        while not self.stopped.is_set():
            try:
                with self.engine.connect() as conn:
                    n = conn.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname IN "
                            "('dagster', 'warehouse', 'coordination')"
                        )
                    ).scalar_one()
                self.samples.append(int(n))
            except Exception:  # noqa: BLE001 - a sample lost is not a benchmark lost
                pass
            self.stopped.wait(self.every_s)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float]]:
    """Every process: pid -> (parent pid, CPU seconds of itself and its reaped children)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[1] = ppid; [11..14] = utime, stime, cutime, cstime (clock ticks)
        ticks = sum(int(x) for x in fields[11:15])
        table[int(entry.name)] = (int(fields[1]), ticks / CLK_TCK)
    return table


def service_pids() -> dict[str, int]:
    """The stack's services and their main PIDs (``.data/stack/pids``, PostgreSQL's
    postmaster) and this benchmark's own process."""
    pids = {"benchmark": os.getpid()}
    for f in (STACK_DIR / "pids").glob("*.pid"):
        # step workers (worker1, worker2, ...) are summed as one service by cpu_by_service
        key = f"workers:{f.stem}" if f.stem.startswith("worker") else f.stem
        pids[key] = int(f.read_text())
    for pidfile in Path("/var/lib/postgresql").glob("*/stack/postmaster.pid"):
        pids["postgres"] = int(pidfile.read_text().split()[0])
    return pids


def cpu_by_service() -> dict[str, float]:
    """CPU seconds used so far by each service's whole process tree (live descendants plus
    the reaped children its processes accounted for); step workers summed as ``workers``."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[str, float] = {}
    for name, root in service_pids().items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in table:
                total += table[pid][1]
                todo.extend(children.get(pid, []))
        key = "workers" if name.startswith("workers:") else name
        out[key] = out.get(key, 0.0) + total
    return out


def event_log_rows(engine: Any) -> int:
    """Rows in Dagster's event log (PostgreSQL)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM event_logs")).scalar_one())


def submit(client: Any, job: str, tags: dict[str, str], run_config: dict | None = None) -> str:
    """One run through the webserver (the UI's path)."""
    return client.submit_job_execution(
        job,
        repository_location_name="orchestration_project",
        repository_name="__repository__",
        tags=tags,
        run_config=run_config or {},
    )


def enqueue_copies(instance: Any, template_id: str, n: int, threads: int = 16) -> float:
    """Enqueue ``n`` copies of a submitted run directly in the run storage (``threads`` at a
    time: each write opens its own PostgreSQL connection); return the seconds it took."""
    from concurrent.futures import ThreadPoolExecutor

    import dagster as dg
    from dagster._core.events import DagsterEvent

    template = instance.get_run_by_id(template_id)

    def one(_: int) -> None:
        run = template.with_status(dg.DagsterRunStatus.NOT_STARTED)._replace(
            run_id=str(uuid.uuid4())
        )
        instance.add_run(run)
        instance.report_dagster_event(DagsterEvent.job_enqueue(run), run_id=run.run_id)

    t0 = time.time()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(n)))
    return time.time() - t0


def measure(
    workers: int, args: argparse.Namespace, env: dict[str, str], tags: dict[str, str]
) -> dict[str, Any]:
    """One measurement window with ``workers`` Celery workers over the shared queue: the
    round's market-research runs jump the queue (``dagster/priority``)."""
    import dagster as dg
    import sqlalchemy as sa

    from assets.market_research.jobs import all_sites_tags, register_sites

    stack("workers", str(workers))
    instance = dg.DagsterInstance.get()
    dagster_db = sa.create_engine(dagster_url(env), poolclass=sa.pool.NullPool)
    sampler = ConnectionSampler(dagster_url(env))
    sampler.start()
    events_before = event_log_rows(dagster_db)
    cpu_before = cpu_by_service()
    t0 = time.time()
    sites = register_sites(instance, env["RESEARCH_SEED_URLS"].split(","))
    client = graphql_client(env)
    for i in range(args.research_runs):
        # different topics and seed sets: run i researches three consecutive sites (a range of
        # site partitions), starting one further along for each run
        first = i % max(1, len(sites) - 2)
        subset = sites[first : first + 3]
        submit(
            client,
            "market_research_job",
            {**tags, **all_sites_tags(subset), "dagster/priority": "10", "round": str(workers)},
            {"ops": {"research_sources": {"config": {"market_topic": TOPICS[i % len(TOPICS)]}}}},
        )
    time.sleep(args.window)
    t1 = time.time()
    cpu_after = cpu_by_service()
    events_after = event_log_rows(dagster_db)
    sampler.stopped.set()

    records = instance.get_run_records(dg.RunsFilter(tags=tags))
    done = [r for r in records if r.end_time and t0 <= r.end_time <= t1]
    started = [r for r in records if r.start_time and t0 <= r.start_time <= t1]
    waits = [r.start_time - r.create_timestamp.timestamp() for r in started]
    steps = 0
    for r in done:
        for kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            steps += len(instance.all_logs(r.dagster_run.run_id, of_type=kind))
    elapsed = t1 - t0
    research = [r for r in done if r.dagster_run.job_name == "market_research_job"]
    result = {
        "workers": workers,
        "finished": len(done),
        "research_done": len(research),
        "succeeded": sum(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in done),
        "runs_per_hour": len(done) / elapsed * 3600,
        "steps_per_s": steps / elapsed,
        "wait_p50_s": percentile(waits, 0.5),
        "wait_p99_s": percentile(waits, 0.99),
        "pg_conn_max": max(sampler.samples, default=0),
        "pg_conn_mean": statistics.fmean(sampler.samples) if sampler.samples else 0.0,
        "events_per_s": (events_after - events_before) / elapsed,
        # the profile: each service's share of the machine's CPU over the window
        "cpu": {
            name: (cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)) / elapsed
            for name in cpu_after
        },
    }
    dagster_db.dispose()
    instance.dispose()
    return result


def dagster_url(env: dict[str, str]) -> str:
    """The Dagster instance database's URL (with its password: never printed)."""
    return (
        f"postgresql+psycopg2://{env['DAGSTER_PG_USERNAME']}:{env['DAGSTER_PG_PASSWORD']}"
        f"@127.0.0.1:{env['DAGSTER_PG_PORT']}/dagster"
    )


def graphql_client(env: dict[str, str]) -> Any:
    """A GraphQL client on the stack's webserver."""
    from dagster_graphql import DagsterGraphQLClient

    return DagsterGraphQLClient("127.0.0.1", port_number=int(env["STACK_WEB_PORT"]), timeout=60)


def drain(instance: Any, tags: dict[str, str], timeout_s: float) -> None:
    """Cancel the round's queued runs and wait for its runs in progress."""
    import dagster as dg

    for record in instance.get_run_records(
        dg.RunsFilter(tags=tags, statuses=[dg.DagsterRunStatus.QUEUED])
    ):
        instance.report_run_canceled(record.dagster_run, message="benchmark round over")
    busy = [
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.CANCELING,
    ]
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if not instance.get_run_records(dg.RunsFilter(tags=tags, statuses=busy), limit=1):
            return
        time.sleep(2)
    print(f"warning: runs of round {tags} still in progress after {timeout_s} s", file=sys.stderr)


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a plain-text table."""
    cols = [
        ("workers", "{:>7}"),
        ("finished", "{:>8}"),
        ("research_done", "{:>13}"),
        ("succeeded", "{:>9}"),
        ("runs_per_hour", "{:>13.0f}"),
        ("steps_per_s", "{:>11.2f}"),
        ("wait_p50_s", "{:>10.1f}"),
        ("wait_p99_s", "{:>10.1f}"),
        ("pg_conn_max", "{:>11}"),
        ("pg_conn_mean", "{:>12.1f}"),
        ("events_per_s", "{:>12.1f}"),
    ]
    head = " ".join(
        f"{name:>{len(fmt.format(rows[0][name])) if rows else 8}}" for name, fmt in cols
    )
    lines = [head]
    for row in rows:
        lines.append(" ".join(fmt.format(row[name]) for name, fmt in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the load rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,4", help="Celery worker counts, comma list")
    parser.add_argument("--research-runs", type=int, default=2)
    parser.add_argument("--canary-runs", type=int, default=1000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds per worker count")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to let runs finish")
    parser.add_argument("--up", action="store_true", help="start the stack first")
    parser.add_argument("--down", action="store_true", help="stop the stack at the end")
    args = parser.parse_args(argv)
    if args.up:
        stack("up")
    env = load_env()
    import dagster as dg

    tags = {TAG: uuid.uuid4().hex[:8]}
    rows = []
    try:
        enqueue_s = 0.0
        if args.canary_runs:  # one deep queue, drained by every worker count in turn
            with dg.DagsterInstance.get() as instance:
                first = submit(graphql_client(env), "canary_job", tags)
                enqueue_s = enqueue_copies(instance, first, args.canary_runs - 1)
            print(f"enqueued {args.canary_runs} canary runs in {enqueue_s:.0f} s", file=sys.stderr)
        for workers in [int(w) for w in args.workers.split(",")]:
            rows.append(measure(workers, args, env, tags))
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr)
    finally:
        with dg.DagsterInstance.get() as instance:
            drain(instance, tags, args.drain)
        stack("workers", "2")
        if args.down:
            stack("down")
    print(
        f"\nstack load: {args.canary_runs} canary runs queued once (in {enqueue_s:.0f} s), then per "
        f"worker count {args.research_runs} market-research runs (priority) and a "
        f"{args.window:.0f} s window; {os.cpu_count()} cores"
    )
    print(table(rows))
    print(f"\nwhere the CPU went (cores busy, of {os.cpu_count()}), per worker count:")
    names = sorted({n for row in rows for n in row["cpu"]}, key=lambda n: -rows[0]["cpu"].get(n, 0))
    print(f"{'service':>12} " + " ".join(f"{row['workers']:>6}w" for row in rows))
    for name in names:
        print(f"{name:>12} " + " ".join(f"{row['cpu'].get(name, 0.0):>7.2f}" for row in rows))
    print(f"{'total':>12} " + " ".join(f"{sum(row['cpu'].values()):>7.2f}" for row in rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
