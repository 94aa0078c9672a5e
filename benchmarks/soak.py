"""Soak benchmark of the production healing path: a real Dagster daemon, its sensors and queue.

What it measures. ``--runs`` canary runs (``canary_job``: fetch every demo-world source,
extract, store) are submitted through the run queue of a fresh Dagster instance, exactly as
the UI or the GraphQL API submits them, while ``FAULT_STEP_RATE`` gives every canary step a
real injected fault (HTTP 503, slow page, refused connection, killed tool process, locked
warehouse; ledgered to ``<data>/faults.jsonl``). Everything else is production code running
in production processes:

* ``dagster-webserver`` (the GraphQL endpoint the runs are submitted to, and the UI),
* ``dagster-daemon run``: the QueuedRunCoordinator dequeues runs (``--max-concurrent-runs``)
  and the DefaultRunLauncher starts each in its own process; the sensor daemon ticks
  ``incident_sensor`` (run-failure sensor: opens an incident, classifies, plans the remedy)
  and ``remedy_sensor`` (requests the due re-executions as RunRequests, closes incidents whose
  recovery run succeeded with passing checks), with the production remedy policy,
* the demo world served by ``python -m orchestration_project.demo_world``.

This script only submits runs, watches, and reads the outcome afterwards from the Dagster
instance (run records), the coordination store (incidents and actions, as the sensors wrote
them) and the fault ledger. It computes no healing itself.

How it differs from the soak it replaced (in-process, until this commit's parent). That soak ran
every job in-process, one after the other, and healed with an in-process poller (``Healer.poll`` every ``--poll-s`` s) and an
in-process launcher, with a short backoff (2 s). Production runs none of that: failures are
detected by the daemon's run-failure sensor (10 s interval, plus the daemon's own tick
latency), re-executions are RunRequests of a sensor (15 s interval) that go through the same
run queue as everything else and start a new process, and the backoff is the production
``RemedyPolicy`` default (20 s, x2 per attempt, at most 240 s, +/-20 % jitter; the sensors build
``Healer(store)`` with the default policy, so it cannot be shortened without a code change).
Time to detect and time to recover are therefore larger here, and runs overlap (up to
``--max-concurrent-runs``), so they contend for the CPU and for the warehouse pool. With
``--scenarios`` the soak also takes one site down and blocks bots on another for a while, as
the old soak did (the demo world then runs in this process, so it can be switched); its data
folder is what ``benchmarks/alert_replay.py`` replays to judge the alerts.

Definitions (the same as the old soak, from ``healing.incidents_frame``): time to detect =
incident ``detected_at`` - ``failure_at`` (the first step-failure event of the failed run);
time to recover = ``recovered_at`` (end of the successful recovery run) - ``failure_at``. Both
are also shown from the failed run's end time. A logical run is a submitted run: it completed
if it, or a later recovery run of its incident, succeeded; completion = completed / submitted.

Usage (from the repository root)::

    uv run python benchmarks/soak.py [--runs 200] [--fault-rate 0.05] [--seed 1]
        [--max-concurrent-runs 2] [--queue-depth 2] [--keep]

The schedules ``canary_every_30_minutes`` and ``market_research_daily`` are stopped in the
fresh instance (through GraphQL, before the daemon starts) so that only submitted canary runs
and their recoveries are measured; ``operations_every_5_minutes`` keeps running as in
production (its runs are reported separately). ``--keep-schedules`` leaves all of them running.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LOCATION = "orchestration_project"
REPOSITORY = "__repository__"
JOB = "canary_job"
SENSORS = ("incident_sensor", "remedy_sensor")
STOPPED_SCHEDULES = ("canary_every_30_minutes", "market_research_daily")
BENCH_TAG = "soak/benchmark"
SEQ_TAG = "soak/seq"
PROGRESS_EVERY_S = 15.0


# ------------------------------------------------------------------------------------------
# processes
# ------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            out.extend(int(x) for x in text.split())
    except OSError:
        pass
    return out


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks


def _descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every descendant of ``pid``, to signal them later by id only."""
    seen: list[tuple[int, str]] = []
    todo = _children(pid)
    while todo:
        p = todo.pop()
        st = _start_time(p)
        if st is not None:
            seen.append((p, st))
            todo.extend(_children(p))
    return seen


def _alive(pid: int, start: str) -> bool:
    return _start_time(pid) == start  # same pid and same start time: the same process


class Managed:
    """A subprocess this script started, with its output in a log file."""

    def __init__(self, name: str, cmd: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 - our own command line
            list(cmd),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches only this script
        )

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def stop(self, grace_s: float = 60.0) -> str:
        """SIGINT to the process itself (``uv run`` forwards it), wait, then SIGTERM/SIGKILL;
        finally end any descendant it left behind (by pid, checked by its start time)."""
        if self.proc.poll() is not None:
            self._log.close()
            return f"{self.name}: had exited ({self.proc.returncode})"
        tree = _descendants(self.proc.pid)
        how = "SIGINT"
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            how = "SIGTERM"
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                how = "SIGKILL"
                self.proc.kill()
                self.proc.wait(15)
        left = [(p, st) for p, st in tree if _alive(p, st)]
        deadline = time.monotonic() + 10
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = [(p, st) for p, st in left if _alive(p, st)]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p, st in left:
                if _alive(p, st):
                    with contextlib.suppress(OSError):
                        os.kill(p, sig)
            time.sleep(2)
            left = [(p, st) for p, st in left if _alive(p, st)]
        self._log.close()
        return (
            f"{self.name}: stopped by {how} (exit {self.proc.returncode}), "
            f"{len(tree)} descendant(s), {len(left)} still alive"
        )


def _git_state() -> str:
    """HEAD and how many tracked files differ from it (the code the daemon loads)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"unknown ({exc})"
    return f"git {head}" + (f" + {len(dirty)} modified file(s)" if dirty else " (clean)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, ok: Any, timeout_s: float, procs: Iterable[Managed] = ()) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ok():
                return
        except Exception:  # noqa: BLE001, S110 - not up yet
            pass
        for p in procs:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited ({p.proc.returncode}); see {p.log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")
        time.sleep(1)


# ------------------------------------------------------------------------------------------
# GraphQL (the webserver) and the instance
# ------------------------------------------------------------------------------------------


def _graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(  # noqa: S310 - loopback
        f"http://127.0.0.1:{port}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
        out = json.loads(resp.read())
    if out.get("errors"):
        raise RuntimeError(f"GraphQL errors: {out['errors']}")
    return out["data"]


LOCATION_QUERY = """
query { workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""

SCHEDULES_QUERY = """
query($sel: RepositorySelector!) { schedulesOrError(repositorySelector: $sel) {
  __typename ... on Schedules { results { name id scheduleState { status } } }
  ... on PythonError { message } } }
"""

STOP_SCHEDULE = """
mutation($id: String) { stopRunningSchedule(id: $id) { __typename
  ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }
"""


def _location_loaded(port: int) -> bool:
    data = _graphql(port, LOCATION_QUERY)["workspaceOrError"]
    for entry in data.get("locationEntries", []):
        if entry["name"] == LOCATION and entry["loadStatus"] == "LOADED":
            loc = entry["locationOrLoadError"] or {}
            if loc.get("__typename") == "PythonError":
                raise RuntimeError(f"code location failed to load: {loc.get('message')}")
            return loc.get("__typename") == "RepositoryLocation"
    return False


def _stop_schedules(port: int, names: Sequence[str]) -> list[str]:
    sel = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY}
    res = _graphql(port, SCHEDULES_QUERY, {"sel": sel})["schedulesOrError"]
    if res["__typename"] != "Schedules":
        raise RuntimeError(f"cannot list schedules: {res}")
    done = []
    for sch in res["results"]:
        if sch["name"] not in names:
            continue
        out = _graphql(port, STOP_SCHEDULE, {"id": sch["id"]})["stopRunningSchedule"]
        status = (out.get("scheduleState") or {}).get("status")
        if status != "STOPPED":
            raise RuntimeError(f"could not stop schedule {sch['name']}: {out}")
        done.append(sch["name"])
    return done


def _sensor_ticks(instance: Any) -> dict[str, collections.Counter]:
    """Tick counts by status of the healing sensors, as the daemon stored them."""
    from dagster._core.definitions.run_request import InstigatorType

    out: dict[str, collections.Counter] = {name: collections.Counter() for name in SENSORS}
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name in out:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id)
            out[state.instigator_name].update(t.status.value for t in ticks)
    return out


def _first_tick_errors(instance: Any) -> list[str]:
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    errors = []
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        ticks = instance.get_ticks(
            state.instigator_origin_id, state.selector_id, statuses=[TickStatus.FAILURE]
        )
        if ticks:
            err = ticks[-1].error
            msg = (err.message if err else "?").strip().splitlines()[0][:300]
            errors.append(f"{state.instigator_name}: {len(ticks)} failed tick(s), first: {msg}")
    return errors


# ------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------


def _scenario(world: Any, data: Path, what: str, slug: str) -> None:
    """Switch a scenario on the in-process demo world and ledger it (``scenarios.jsonl``, the
    ground truth ``benchmarks/alert_replay.py`` judges alerts against)."""
    with (data / "scenarios.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"at": datetime.now(UTC).isoformat(), "what": what, "site": slug}))
        fh.write("\n")
    if what == "down":
        world.take_down(slug)
    elif what == "up":
        world.bring_up(slug)
    elif what == "block_bots":
        world.set_faults(slug, block_non_browsers=True)
    else:
        world.set_faults(slug)


def _stats(values: Sequence[float]) -> str:
    import pandas as pd

    s = pd.Series([v for v in values if v == v], dtype=float)
    if s.empty:
        return "n=0"
    return (
        f"mean {s.mean():.1f} s, p95 {s.quantile(0.95):.1f} s, "
        f"min {s.min():.1f} s, max {s.max():.1f} s (n={len(s)})"
    )


# ------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------


def main() -> int:  # noqa: C901, PLR0912, PLR0915 - a linear script
    """Run the soak against a real daemon and print what the daemon did."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="canary runs to submit")
    ap.add_argument("--fault-rate", type=float, default=0.05, help="fault probability per step")
    ap.add_argument("--seed", type=int, default=1, help="FAULT_SEED of the fault draws")
    ap.add_argument(
        "--max-concurrent-runs",
        type=int,
        default=2,
        help="concurrency.runs.max_concurrent_runs of the instance (2 for 2 cores)",
    )
    ap.add_argument(
        "--queue-depth",
        type=int,
        default=2,
        help="submit the next run only while fewer than this many runs are QUEUED",
    )
    ap.add_argument(
        "--lock-timeout-s",
        type=float,
        default=2.0,
        help="WAREHOUSE_LOCK_TIMEOUT_S (as the old in-process soak; the default 60 s would absorb the "
        "injected 4 s warehouse lock, so that fault would never fail a step)",
    )
    ap.add_argument("--lock-hold-s", type=float, default=4.0, help="FAULT_LOCK_HOLD_S")
    ap.add_argument(
        "--timeout-s",
        type=float,
        default=0.0,
        help="global timeout (default max(1800, 30 s x runs))",
    )
    ap.add_argument(
        "--scenarios",
        action="store_true",
        help="also take one site down and block bots on another for a while (the demo world then "
        "runs in this process so it can be switched; ledgered to <data>/scenarios.jsonl)",
    )
    ap.add_argument("--keep-schedules", action="store_true", help="stop no schedule")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = ap.parse_args()
    timeout_s = args.timeout_s or max(1800.0, 30.0 * args.runs)

    from tests.conftest import free_base_port

    work = Path(tempfile.mkdtemp(prefix="soak-daemon-"))
    home, data, logs = work / "dagster_home", work / "data", work / "logs"
    for d in (home, data, logs):
        d.mkdir()
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    config.setdefault("concurrency", {}).setdefault("runs", {})["max_concurrent_runs"] = (
        args.max_concurrent_runs
    )
    config.setdefault("telemetry", {})["enabled"] = False
    (home / "dagster.yaml").write_text(
        "# The repository's dagster.yaml, written by benchmarks/soak.py with\n"
        f"# max_concurrent_runs = {args.max_concurrent_runs}.\n" + yaml.safe_dump(config)
    )
    base = free_base_port()
    web_port = _free_port()
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(home),
        ORCHESTRATION_DATA_DIR=str(data),
        DEMO_WORLD_BASE_PORT=str(base),
        FAULT_STEP_RATE=str(args.fault_rate),
        FAULT_SEED=str(args.seed),
        WAREHOUSE_LOCK_TIMEOUT_S=str(args.lock_timeout_s),
        FAULT_LOCK_HOLD_S=str(args.lock_hold_s),
        PYTHONUNBUFFERED="1",
    )
    env.pop("ORCHESTRATION_ENV", None)  # local resources: demo world, DuckDB, SQLite
    os.environ.update(ORCHESTRATION_DATA_DIR=str(data), DAGSTER_HOME=str(home))

    import dagster as dg
    import pandas as pd

    from orchestration_project.agents.coordination.store import CoordinationStore
    from orchestration_project.operations.faults import read_ledger
    from orchestration_project.operations.healing import (
        ACTION_TAG,
        INCIDENT_TAG,
        REEXECUTE,
        ROOT_TAG,
        Healer,
        incidents_frame,
    )

    # Created (empty) before the daemon starts, so that this process never races the
    # sensors' table creation; from then on it is only read here.
    healer = Healer(CoordinationStore(f"sqlite:///{data / 'coordination.db'}"))
    instance = dg.DagsterInstance.from_config(str(home))

    print(
        f"soak_daemon: {args.runs} {JOB} runs through the daemon, fault rate "
        f"{args.fault_rate:.0%} per step, seed {args.seed}, max_concurrent_runs "
        f"{args.max_concurrent_runs}, submit while < {args.queue_depth} queued, "
        f"warehouse lock timeout {args.lock_timeout_s:g} s / injected hold {args.lock_hold_s:g} s, "
        f"timeout {timeout_s:.0f} s",
        flush=True,
    )
    print(f"  code: {_git_state()}", flush=True)
    print(f"  work dir {work} (DAGSTER_HOME {home}, data {data}, logs {logs})", flush=True)

    procs: list[Managed] = []
    t_start = time.monotonic()
    outcome = "interrupted"
    submitted: list[str] = []
    t_first_submit: float | None = None
    t_done: float | None = None

    def progress(tag: str) -> str:
        recs = instance.get_run_records()
        by = collections.Counter(r.dagster_run.status.value for r in recs)
        mine = {r.dagster_run.run_id for r in recs if r.dagster_run.tags.get(BENCH_TAG)}
        recov = sum(1 for r in recs if r.dagster_run.tags.get(INCIDENT_TAG))
        other = sum(
            1
            for r in recs
            if r.dagster_run.job_name != JOB and not r.dagster_run.tags.get(INCIDENT_TAG)
        )
        try:
            inc = collections.Counter(i.status for i in healer.incidents())
        except Exception as exc:  # noqa: BLE001 - a locked SQLite file: report and go on
            inc = collections.Counter({f"unreadable ({type(exc).__name__})": 1})
        ticks = _sensor_ticks(instance)
        finished = by["SUCCESS"] + by["FAILURE"] + by["CANCELED"]
        return (
            f"  [{tag} {time.monotonic() - t_start:5.0f} s] submitted {len(submitted)}/"
            f"{args.runs} ({len(mine)} in instance); runs: queued {by['QUEUED']}, "
            f"starting/started {by['STARTING'] + by['STARTED']}, finished {finished} "
            f"(ok {by['SUCCESS']}, failed {by['FAILURE']}, canceled {by['CANCELED']}); "
            f"recovery runs {recov}, other jobs {other}; incidents {sum(inc.values())} "
            f"{dict(inc)}; ticks incident {sum(ticks['incident_sensor'].values())} "
            f"remedy {sum(ticks['remedy_sensor'].values())}"
        )

    interrupted = False
    world = None
    scenarios: list[tuple[int, str, str]] = []
    try:
        if args.scenarios:
            from orchestration_project.demo_world.world import start_demo_world

            world = start_demo_world("127.0.0.1", base)
            slugs, n = list(world.sites), args.runs
            scenarios = [
                (n // 4, "down", slugs[1]),
                (n // 4 + max(8, n // 10), "up", slugs[1]),
                (n // 2, "block_bots", slugs[2]),
                (n // 2 + max(8, n // 10), "unblock", slugs[2]),
            ]
        else:
            procs.append(
                Managed(
                    "demo-world",
                    [
                        "uv",
                        "run",
                        "python",
                        "-m",
                        "orchestration_project.demo_world",
                        "--base-port",
                        str(base),
                    ],
                    env,
                    logs / "demo_world.log",
                )
            )
        _wait("demo world", lambda: all(_port_open(base + i) for i in range(6)), 120, procs)
        print(f"  demo world on 127.0.0.1:{base}..{base + 5}", flush=True)

        web = Managed(
            "dagster-webserver",
            [
                "uv",
                "run",
                "dagster-webserver",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(web_port),
            ],
            env,
            logs / "webserver.log",
        )
        procs.append(web)
        _wait("webserver", lambda: _location_loaded(web_port), 300, procs)
        print(f"  webserver and UI: http://127.0.0.1:{web_port}", flush=True)
        if not args.keep_schedules:
            stopped = _stop_schedules(web_port, STOPPED_SCHEDULES)
            print(f"  schedules stopped in this instance: {', '.join(stopped)}", flush=True)

        daemon = Managed(
            "dagster-daemon",
            ["uv", "run", "dagster-daemon", "run", "-w", "workspace.yaml"],
            env,
            logs / "daemon.log",
        )
        procs.append(daemon)

        def sensors_ticked() -> bool:
            ticks = _sensor_ticks(instance)
            return all(sum(ticks[s].values()) > 0 for s in SENSORS)

        _wait("first ticks of the healing sensors", sensors_ticked, 300, procs)
        print(
            f"  daemon up; first sensor ticks after {time.monotonic() - t_start:.0f} s",
            flush=True,
        )

        from dagster_graphql import DagsterGraphQLClient

        client = DagsterGraphQLClient("127.0.0.1", port_number=web_port)
        deadline = time.monotonic() + timeout_s
        last = 0.0
        t_first_submit = time.monotonic()
        queued_filter = dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]
        )
        while len(submitted) < args.runs and time.monotonic() < deadline:
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"{p.name} exited; see {p.log_path}")
            if instance.get_runs_count(queued_filter) < args.queue_depth:
                for at, what, slug in scenarios:
                    if at == len(submitted) and world is not None:
                        _scenario(world, data, what, slug)
                        print(f"  [run {at}] scenario: {what} {slug}", flush=True)
                run_id = client.submit_job_execution(
                    JOB,
                    repository_location_name=LOCATION,
                    repository_name=REPOSITORY,
                    tags={BENCH_TAG: "soak_daemon", SEQ_TAG: str(len(submitted))},
                )
                submitted.append(run_id)
            else:
                time.sleep(1.0)
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                print(progress("submit"), flush=True)

        # Drain: every run finished, every failed run handled by incident_sensor, and no
        # run-failure incident still open or remediating.
        active = [
            dg.DagsterRunStatus.QUEUED,
            dg.DagsterRunStatus.NOT_STARTED,
            dg.DagsterRunStatus.STARTING,
            dg.DagsterRunStatus.STARTED,
            dg.DagsterRunStatus.CANCELING,
        ]
        outcome = "timeout"
        while time.monotonic() < deadline:
            for p in procs:
                if not p.alive():
                    raise RuntimeError(f"{p.name} exited; see {p.log_path}")
            if time.monotonic() - last >= PROGRESS_EVERY_S:
                last = time.monotonic()
                print(progress("drain"), flush=True)
            time.sleep(2)
            if len(submitted) < args.runs or instance.get_runs_count(
                dg.RunsFilter(statuses=active)
            ):
                continue
            try:
                acts = healer.actions()
                incs = healer.incidents()
            except Exception:  # noqa: BLE001, S112 - locked for a moment
                continue
            handled = set(acts.loc[acts["action"] == "failure_detected", "run_id"])
            failed = {
                r.dagster_run.run_id
                for r in instance.get_run_records(
                    dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE])
                )
            }
            pending = [
                i for i in incs if i.source == "run_failure" and i.status in ("open", "remediating")
            ]
            if failed <= handled and not pending:
                outcome = "complete"
                break
        t_done = time.monotonic()
        print(progress("end"), flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping and reporting what happened so far", flush=True)
    except Exception as exc:  # noqa: BLE001 - report, shut down, then fail
        outcome = f"error: {type(exc).__name__}: {exc}"
        print(f"\nERROR: {outcome}", flush=True)
    finally:
        t_done = t_done or time.monotonic()
        print("shutting down (daemon first, then webserver, then demo world)", flush=True)
        for p in reversed(procs):
            try:
                print("  " + p.stop(), flush=True)
            except Exception as exc:  # noqa: BLE001 - go on with the others
                print(f"  {p.name}: stop failed: {exc}", flush=True)
        if world is not None:
            world.stop()
    if interrupted:
        outcome = "interrupted"

    # ---------------------------------------------------------------- the report
    report(
        instance=instance,
        healer=healer,
        submitted=submitted,
        data=data,
        logs=logs,
        args=args,
        outcome=outcome,
        wall_total=t_done - t_start,
        wall_soak=(t_done - t_first_submit) if t_first_submit else float("nan"),
        read_ledger=read_ledger,
        incidents_frame=incidents_frame,
        tags=(ACTION_TAG, INCIDENT_TAG, ROOT_TAG, REEXECUTE),
        pd=pd,
        dg=dg,
    )
    print()
    if args.keep:
        print(f"data kept in {work}. To open the UI on it (from {ROOT}):")
        print(
            f"  DAGSTER_HOME={home} ORCHESTRATION_DATA_DIR={data} "
            "uv run dagster-webserver -w workspace.yaml"
        )
        print(f"  incidents: sqlite {data / 'coordination.db'}; daemon log {logs / 'daemon.log'}")
    else:
        shutil.rmtree(work, ignore_errors=True)
        print(f"removed {work} (run with --keep to keep it and open the UI on it)")
    instance.dispose()
    return 0 if outcome == "complete" else 1


def report(  # noqa: C901, PLR0912, PLR0913, PLR0915 - one printout
    *,
    instance: Any,
    healer: Any,
    submitted: list[str],
    data: Path,
    logs: Path,
    args: argparse.Namespace,
    outcome: str,
    wall_total: float,
    wall_soak: float,
    read_ledger: Any,
    incidents_frame: Any,
    tags: tuple[str, str, str, str],
    pd: Any,
    dg: Any,
) -> None:
    """Print what the daemon did, from the instance, the coordination store and the ledger."""
    ACTION_TAG, INCIDENT_TAG, ROOT_TAG, REEXECUTE = tags  # noqa: N806
    records = instance.get_run_records()
    runs = {r.dagster_run.run_id: r for r in records}
    sub = set(submitted)

    def root_of(rec: Any) -> str:
        run = rec.dagster_run
        return run.tags.get(ROOT_TAG) or run.root_run_id or run.run_id

    ok_roots = {root_of(r) for r in records if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS}
    completed = [rid for rid in submitted if rid in ok_roots]
    first_try = [
        rid
        for rid in submitted
        if rid in runs and runs[rid].dagster_run.status == dg.DagsterRunStatus.SUCCESS
    ]
    kind = collections.Counter()
    status_by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        run = r.dagster_run
        k = (
            "submitted canary"
            if run.run_id in sub
            else "recovery"
            if run.tags.get(INCIDENT_TAG)
            else f"other ({run.job_name}"
            + (
                f", schedule {run.tags['dagster/schedule_name']}"
                if run.tags.get("dagster/schedule_name")
                else ""
            )
            + ")"
        )
        kind[k] += 1
        status_by_kind[k][run.status.value] += 1

    print()
    print(f"=== soak_daemon result: {outcome} ===")
    print(
        f"wall time: {wall_soak:.0f} s from the first submission to drained "
        f"({wall_total:.0f} s including start-up)"
    )
    n = len(submitted)
    print(f"runs submitted: {n} (requested {args.runs})")
    if n:
        print(
            f"logical runs completed: {len(completed)}/{n} = {len(completed) / n:.1%} "
            f"(first try {len(first_try)}, after recovery {len(completed) - len(first_try)})"
        )
    print("runs in the instance by kind and status:")
    for k, c in status_by_kind.items():
        print(f"  {k}: {sum(c.values())} {dict(c)}")
    failed_runs = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.FAILURE]
    print(f"failed runs (all kinds): {len(failed_runs)}")
    not_done = [rid for rid in submitted if rid not in ok_roots]
    if not_done:
        print(f"logical runs not completed ({len(not_done)}):")

    incs = healer.incidents()
    acts = healer.actions()
    inc_by_root = {i.root_run_id: i for i in incs if i.root_run_id}
    for rid in not_done:
        inc = inc_by_root.get(rid)
        st = runs[rid].dagster_run.status.value if rid in runs else "not in instance"
        what = (
            f"incident {inc.incident_id} {inc.failure_class}/{inc.status}, {inc.attempts} "
            f"attempt(s): {inc.error_class}: {(inc.message or '')[:120]}"
            if inc
            else "no incident"
        )
        print(f"  {rid[:8]} run {st}; {what}")

    # incidents, as the sensors recorded them
    df = incidents_frame(incs)
    print(f"incidents: {len(df)}")
    if len(df):
        df["job"] = df["job_name"].fillna("-")
        print("  by source, job, root-cause class and status:")
        table = (
            df.groupby(["source", "job", "failure_class", "status"], dropna=False)
            .size()
            .rename("n")
            .reset_index()
        )
        for line in table.to_string(index=False).splitlines():
            print("    " + line)
        print(
            "  by error class:",
            df["error_class"].value_counts(dropna=False).to_dict(),
        )
    if len(acts):
        counts = acts.groupby(["action", "status"]).size().to_dict()
        print("healer actions:", {f"{a}/{s}": int(v) for (a, s), v in counts.items()})

    # time to detect and to recover
    fail_inc = df[df["source"] == "run_failure"] if len(df) else df
    print("time to detect (incidents of failed runs):")
    print("  detected_at - failure_at (first step failure; incidents_frame):", end=" ")
    print(_stats(list(fail_inc["ttd_s"]) if len(fail_inc) else []))
    print("time to recover (recovered incidents):")
    print("  recovered_at - failure_at (incidents_frame, as the old soak):", end=" ")
    print(_stats(list(fail_inc["ttr_s"].dropna()) if len(fail_inc) else []))
    first_fail = {}
    if len(acts):
        det = acts[acts["action"] == "failure_detected"].sort_values("at")
        first_fail = det.groupby("incident_id")["run_id"].first().to_dict()
    ttd_end, ttr_end = [], []
    for inc in incs:
        if inc.source != "run_failure":
            continue
        rec = runs.get(first_fail.get(inc.incident_id, ""))
        if rec is None or rec.end_time is None:
            continue
        end = datetime.fromtimestamp(rec.end_time, UTC)
        ttd_end.append((inc.detected_at - end).total_seconds())
        if inc.recovered_at is not None:
            ttr_end.append((inc.recovered_at - end).total_seconds())
    print(f"  from the failed run's end time: detect {_stats(ttd_end)}")
    print(f"  from the failed run's end time: recover {_stats(ttr_end)}")

    # where the recovery time goes (recovered incidents, the recovery run that closed them)
    if len(acts):
        parts: dict[str, list[float]] = collections.defaultdict(list)
        rec_acts = acts[acts["action"] == "recovered"]
        by_id = acts.set_index("action_id")
        for _, a in rec_acts.iterrows():
            inc = next((i for i in incs if i.incident_id == a["incident_id"]), None)
            rec = runs.get(a["run_id"])
            if inc is None or rec is None or inc.source != "run_failure":
                continue
            aid = rec.dagster_run.tags.get(ACTION_TAG)
            if not aid or not aid.isdigit() or int(aid) not in by_id.index:
                continue
            plan = by_id.loc[int(aid)]
            created = rec.create_timestamp.timestamp()
            due = plan["due_at"].timestamp()
            parts["detect (failure -> detected)"].append(inc.time_to_detect_s)
            parts["backoff (detected -> due)"].append(due - plan["at"].timestamp())
            parts["sensor (due -> run created)"].append(created - due)
            if rec.start_time:
                parts["queue + launch (created -> RUN_START)"].append(rec.start_time - created)
                parts["run (RUN_START -> end)"].append(rec.end_time - rec.start_time)
            if inc.closed_at is not None and inc.recovered_at is not None:
                parts["verify (ended -> closed)"].append(
                    (inc.closed_at - inc.recovered_at).total_seconds()
                )
        if parts:
            print("where the time to recover goes (recovered incidents; last recovery run):")
            for k, v in parts.items():
                print(f"  {k}: {_stats(v)}")

    # faults from the ledger
    faults = read_ledger(data / "faults.jsonl")
    print(
        f"faults injected (ledger): {len(faults)}",
        dict(collections.Counter(f.kind for f in faults)),
    )
    faulted = {f.run_id for f in faults}
    unexplained = [r for r in failed_runs if r.dagster_run.run_id not in faulted]
    print(
        f"failed runs with an injected fault: {len(failed_runs) - len(unexplained)}; "
        f"without one: {len(unexplained)}"
    )
    by_cls = {i.incident_id: i for i in incs}
    for r in unexplained[:10]:
        run = r.dagster_run
        det = acts[(acts["action"] == "failure_detected") & (acts["run_id"] == run.run_id)]
        detail = det.iloc[0]["detail"] if len(det) else {}
        inc = by_cls.get(det.iloc[0]["incident_id"]) if len(det) else None
        print(
            f"  {run.run_id[:8]} {run.job_name}: "
            f"{(detail or {}).get('error_class') or (inc.error_class if inc else '?')}: "
            f"{((detail or {}).get('message') or '')[:160]}"
        )

    # how many runs overlapped (from the run records' start and end times)
    spans = sorted((r.start_time, r.end_time) for r in records if r.start_time and r.end_time)
    if spans:
        edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        cur = peak = 0
        for _, d in edges:
            cur += d
            peak = max(peak, cur)
        busy = sum(e - s for s, e in spans)
        span = max(e for _, e in spans) - min(s for s, _ in spans)
        print(
            f"run overlap (RUN_START to end): peak {peak}, mean {busy / span:.2f} over "
            f"{span:.0f} s; mean run {busy / len(spans):.1f} s (n={len(spans)})"
        )

    # the sensors, as the daemon ran them
    ticks = _sensor_ticks(instance)
    print("sensor ticks:", {k: dict(v) for k, v in ticks.items()})
    for line in _first_tick_errors(instance):
        print("  " + line)
    log = logs / "daemon.log"
    if log.exists():
        text = log.read_text(errors="replace").splitlines()
        errs = [ln for ln in text if " - ERROR - " in ln or "Traceback" in ln]
        blocked = sum("is blocked by global concurrency limits" in ln for ln in text)
        print(
            f"daemon log: {len(text)} lines, {len(errs)} error lines, {blocked} 'run blocked "
            f"by global concurrency limits' (pool) lines ({log})"
        )
        for ln in errs[:5]:
            print("  " + ln[:240])


if __name__ == "__main__":
    sys.exit(main())
