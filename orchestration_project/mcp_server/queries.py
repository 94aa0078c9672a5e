"""What the MCP server reads and changes, as plain Python: the platform's queries and actions.

Every method returns JSON-able dicts and raises :class:`PlatformError` with a message meant for
the client; ``server.py`` turns those into ``ToolError``s. Nothing here knows about MCP, so the
benchmark calls the same methods in-process to measure the protocol's overhead.

Where things come from:

- assets, groups, lineage, jobs: the code location ``orchestration_project.definitions.defs``
  (loaded once, lazily: importing it takes several seconds);
- materialisations, check results, runs and events: the Dagster instance at ``DAGSTER_HOME``;
- incidents, breakers, the ops review queue, the shared context: the coordination store,
  through the operations domain (:class:`~orchestration_project.operations.healing.Healer`,
  :class:`~orchestration_project.operations.review.ReviewQueue`) and the research domain's
  :func:`~orchestration_project.research.resolution.write_decision`;
- health, review tables and previews: the warehouse; reports: the reports folder.

**Launching runs.** A materialisation or job launch starts a child process
(:mod:`orchestration_project.mcp_server.launch`) that executes the run in process against the
same instance, under a run id chosen here and returned at once (the process starts importing
the code location as the request arrives and gets its spec on stdin once the request is
validated, so the two imports overlap); ``wait`` polls the instance
until the run ends or the bounded wait runs out. Why a child process and not the alternatives:
executing in the server's own process would block it, let an asset's output reach the stdio
transport's stdout and tie the run's life to the client's session; ``dagster asset materialize``
pays a process per step (≈20 s for two trivial assets here) and picks its own run id;
submitting to the instance's run queue needs a running daemon, which a laptop running only an
assistant does not have. The child runs in its own session, so closing the client does not kill
a run half-way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from orchestration_project.common.time import utcnow
from orchestration_project.mcp_server.safety import (
    MAX_EVENTS,
    MAX_PREVIEW_ROWS,
    MAX_REPORT_BYTES,
    MAX_WAIT_S,
    REPORT_SUFFIXES,
    PathRefused,
    resolve_report_path,
)
from resources.environment import PROJECT_ROOT, build_resources, data_dir

TERMINAL_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
NEEDS_PERSON = ("open", "remediating", "escalated")
"""Incident statuses shown as open: the healer's open statuses and escalated ones (the healer
gave up; a person has to act)."""
LAUNCH_TAG = "mcp/launched_by"
CLIENT_TAG = "mcp/client"


class PlatformError(ValueError):
    """A request the platform refuses or cannot answer; the message is for the client."""


def _iso(ts: float | datetime | None) -> str | None:
    if ts is None:
        return None
    if isinstance(ts, datetime):
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()
    return datetime.fromtimestamp(float(ts), tz=UTC).isoformat()


def _jsonable(value: Any) -> Any:
    """Plain JSON types for a value from pandas, numpy or datetime."""
    return json.loads(json.dumps(value, default=str))


def _records(df: pd.DataFrame, limit: int | None = None) -> list[dict[str, Any]]:
    if limit is not None:
        df = df.head(limit)
    return json.loads(df.to_json(orient="records", date_format="iso", default_handler=str))


class SerialisedWarehouse:
    """The warehouse, one operation at a time in this process.

    DuckDB refuses a second connection to a file with another configuration (read-only next
    to read-write) from the same process, and the server reads from worker threads while the
    audit log appends from its own; other processes are kept apart by the file lock, which
    the warehouse already waits for.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def serialised(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return serialised


class Platform:
    """The platform's state and actions for the MCP server.

    Args:
        resources: the environment's resources (default: :func:`build_resources`).
        launch_dir: where launch specs and logs go (default ``<data>/mcp/launches``).
    """

    def __init__(
        self, resources: Mapping[str, Any] | None = None, *, launch_dir: Path | None = None
    ) -> None:
        self.resources = dict(resources) if resources is not None else build_resources()
        self.warehouse = SerialisedWarehouse(self.resources["warehouse"])
        self.reports_root = Path(self.resources["reports_dir"].path)
        self.launch_dir = launch_dir or data_dir() / "mcp" / "launches"
        self._lock = threading.Lock()
        self._defs: Any = None
        self._instance: Any = None
        self._store: Any = None
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._route_prior: Any = None
        self._route_prior_loaded = False

    # -- shared handles ----------------------------------------------------------------------

    @property
    def defs(self) -> Any:
        """The code location's ``Definitions`` (imported on first use)."""
        if self._defs is None:
            with self._lock:
                if self._defs is None:
                    from orchestration_project.definitions import defs

                    self._defs = defs
        return self._defs

    @property
    def instance(self) -> Any:
        """The Dagster instance at ``DAGSTER_HOME``."""
        if self._instance is None:
            import dagster as dg

            with self._lock:
                if self._instance is None:
                    if not os.environ.get("DAGSTER_HOME"):
                        raise PlatformError("DAGSTER_HOME is not set: no Dagster instance to read")
                    self._instance = dg.DagsterInstance.get()
        return self._instance

    @property
    def store(self) -> Any:
        """The coordination store (incidents, breakers, reviews, shared context)."""
        if self._store is None:
            import dagster as dg

            coordination = self.resources["coordination"]
            url = coordination.url
            url = url.get_value() if isinstance(url, dg.EnvVar) else url
            self._store = type(coordination)(url=url).store()
        return self._store

    def warm_up(self) -> None:
        """Load the code location and open the instance now (the server does it in the
        background at start, so the first call that needs them does not wait)."""
        _ = self.defs
        if os.environ.get("DAGSTER_HOME"):
            _ = self.instance

    def close(self) -> None:
        """Release the instance (running launches continue on their own)."""
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None

    # -- assets --------------------------------------------------------------------------------

    def _graph(self) -> Any:
        return self.defs.resolve_asset_graph()

    def _node(self, key: str) -> Any:
        import dagster as dg

        graph = self._graph()
        asset_key = dg.AssetKey.from_user_string(key)
        if not graph.has(asset_key):
            raise PlatformError(f"no asset {key!r} (list_assets shows every key)")
        return graph.get(asset_key)

    def list_asset_groups(self) -> dict[str, Any]:
        """Every asset group with its number of assets and their keys."""
        groups: dict[str, list[str]] = {}
        graph = self._graph()
        for key in graph.get_all_asset_keys():
            groups.setdefault(graph.get(key).group_name or "default", []).append(
                key.to_user_string()
            )
        return {
            "groups": [
                {"group": g, "assets": len(keys), "keys": sorted(keys)}
                for g, keys in sorted(groups.items())
            ]
        }

    def list_assets(self, *, group: str | None = None, stale_after_h: float = 24.0) -> dict:
        """Assets (of one group, or all) with their last materialisation (time, run id,
        partition), age, freshness against ``stale_after_h`` and the latest result of each of
        their checks."""
        graph = self._graph()
        nodes = [graph.get(k) for k in graph.get_all_asset_keys()]
        if group is not None:
            nodes = [n for n in nodes if n.group_name == group]
            if not nodes:
                groups = sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()})
                raise PlatformError(f"no asset group {group!r}; groups: {', '.join(groups)}")
        nodes.sort(key=lambda n: (n.group_name or "", n.key.to_user_string()))
        instance = self.instance
        records = {
            r.asset_entry.asset_key: r for r in instance.get_asset_records([n.key for n in nodes])
        }
        check_keys = [ck for n in nodes for ck in n.check_keys]
        checks = (
            instance.event_log_storage.get_latest_asset_check_execution_by_key(check_keys)
            if check_keys
            else {}
        )
        now = time.time()
        out = []
        for n in nodes:
            rec = records.get(n.key)
            entry = rec.asset_entry.last_materialization if rec is not None else None
            last = None
            age = None
            if entry is not None:
                event = entry.dagster_event
                mat = event.event_specific_data.materialization if event is not None else None
                last = {
                    "at": _iso(entry.timestamp),
                    "run_id": entry.run_id,
                    "partition": getattr(mat, "partition", None),
                    "code_version": (getattr(mat, "tags", None) or {}).get("dagster/code_version"),
                }
                age = round(now - entry.timestamp, 1)
            out.append(
                {
                    "key": n.key.to_user_string(),
                    "group": n.group_name,
                    "description": (n.description or "").strip().split("\n")[0][:200],
                    "materializable": bool(n.is_materializable),
                    "partitioned": n.partitions_def is not None,
                    "code_version": n.code_version,
                    "last_materialization": last,
                    "age_s": age,
                    "freshness": (
                        "never"
                        if age is None
                        else "fresh"
                        if age <= stale_after_h * 3600
                        else "stale"
                    ),
                    "checks": [self._check(ck, checks.get(ck)) for ck in sorted(n.check_keys)],
                }
            )
        return {"assets": out, "count": len(out), "stale_after_h": stale_after_h}

    @staticmethod
    def _check(key: Any, record: Any) -> dict[str, Any]:
        if record is None:
            return {"name": key.name, "status": "never_run"}
        status = record.status.value.lower()
        event = record.event.dagster_event if record.event is not None else None
        data = event.event_specific_data if event is not None else None
        result: dict[str, Any] = {"name": key.name, "status": status, "run_id": record.run_id}
        if data is not None and hasattr(data, "passed"):
            result["passed"] = bool(data.passed)
            result["severity"] = data.severity.value
        if record.event is not None:
            result["at"] = _iso(record.event.timestamp)
        return result

    def lineage(self, key: str, *, depth: int = 1) -> dict[str, Any]:
        """Upstream and downstream asset keys of ``key`` up to ``depth`` hops, by hop."""
        node = self._node(key)
        graph = self._graph()

        def walk(attr: str) -> list[list[str]]:
            levels, seen, frontier = [], {node.key}, {node.key}
            for _ in range(depth):
                nxt = set()
                for k in frontier:
                    nxt |= set(getattr(graph.get(k), attr)) - seen
                if not nxt:
                    break
                levels.append(sorted(k.to_user_string() for k in nxt))
                seen |= nxt
                frontier = nxt
            return levels

        return {
            "key": node.key.to_user_string(),
            "group": node.group_name,
            "upstream": walk("parent_keys"),
            "downstream": walk("child_keys"),
        }

    # -- launching -----------------------------------------------------------------------------

    def selection(self, *, keys: list[str] | None = None, group: str | None = None) -> list[str]:
        """The asset keys a materialisation of ``keys`` or ``group`` runs: materialisable
        assets, plus the other outputs of a multi-asset that cannot run alone."""
        import dagster as dg

        graph = self._graph()
        if bool(keys) == bool(group):
            raise PlatformError("name either asset keys or a group, not both or neither")
        if keys:
            asset_keys = [self._node(k).key for k in keys]
            base = dg.AssetSelection.assets(*asset_keys)
        else:
            base = dg.AssetSelection.groups(group)
        chosen = {k for k in base.resolve(graph) if graph.get(k).is_materializable}
        if not chosen:
            raise PlatformError(
                f"nothing materialisable in group {group!r}"
                if group
                else "nothing materialisable selected"
            )
        full = dg.AssetSelection.assets(*chosen).required_multi_asset_neighbors().resolve(graph)
        return sorted(k.to_user_string() for k in full)

    def materialise(
        self,
        *,
        keys: list[str] | None = None,
        group: str | None = None,
        partition_key: str | None = None,
        client: str = "",
        wait: bool = False,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Materialise assets (by key or group) in a new run; see the module docstring."""
        import dagster as dg

        launcher = self._start_launcher()
        try:
            selected = self.selection(keys=keys, group=group)
            graph = self._graph()
            partitioned = [
                k for k in selected if graph.get(dg.AssetKey.from_user_string(k)).partitions_def
            ]
            if partitioned and not partition_key:
                raise PlatformError(
                    f"the selection has partitioned assets ({', '.join(partitioned[:5])}): "
                    "name a partition_key"
                )
        except BaseException:
            self._cancel(launcher)
            raise
        return self._launch(
            launcher,
            {"assets": selected, "partition_key": partition_key},
            client=client,
            wait=wait,
            timeout_s=timeout_s,
        )

    def launch_job(
        self,
        *,
        job: str,
        run_config: Mapping[str, Any] | None = None,
        partition_key: str | None = None,
        client: str = "",
        wait: bool = False,
        timeout_s: float = 60.0,
    ) -> dict[str, Any]:
        """Launch job ``job`` with ``run_config`` (validated against the job's config schema
        before anything runs)."""
        import dagster as dg

        launcher = self._start_launcher()
        try:
            names = sorted(
                j.name for j in self.defs.resolve_all_job_defs() if not j.name.startswith("__")
            )
            if job not in names:
                raise PlatformError(f"no job {job!r}; jobs: {', '.join(names)}")
            job_def = self.defs.resolve_job_def(job)
            try:
                dg.validate_run_config(job_def, dict(run_config or {}))
            except dg.DagsterInvalidConfigError as exc:
                errors = "; ".join(e.message for e in exc.errors[:5]) or str(exc)
                raise PlatformError(f"run config invalid for {job}: {errors}"[:1500]) from exc
            if job_def.partitions_def is not None and not partition_key:
                raise PlatformError(f"{job} is partitioned: name a partition_key")
        except BaseException:
            self._cancel(launcher)
            raise
        return self._launch(
            launcher,
            {"job": job, "run_config": dict(run_config or {}), "partition_key": partition_key},
            client=client,
            wait=wait,
            timeout_s=timeout_s,
        )

    def _start_launcher(self) -> subprocess.Popen[bytes]:
        """A launch process that starts importing the code location now, while this process
        validates the request, and then reads its spec from stdin: the first launch waits
        for one import instead of two in a row. Killed if the request is refused."""
        self.launch_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.launch_dir / f"launcher-{uuid.uuid4()}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own module, arguments we wrote
                [sys.executable, "-m", "orchestration_project.mcp_server.launch", "-"],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                env=os.environ.copy(),
                start_new_session=True,  # outlives the client's session; never writes our stdout
            )
        proc.log_path = log_path  # type: ignore[attr-defined]
        return proc

    @staticmethod
    def _cancel(proc: subprocess.Popen[bytes]) -> None:
        """Stop a launch process whose request was refused, and drop its empty log."""
        proc.kill()
        proc.wait(timeout=10)
        proc.log_path.unlink(missing_ok=True)  # type: ignore[attr-defined]

    def _launch(
        self,
        proc: subprocess.Popen[bytes],
        spec: dict[str, Any],
        *,
        client: str,
        wait: bool,
        timeout_s: float,
    ) -> dict[str, Any]:
        run_id = str(uuid.uuid4())
        spec = {
            **spec,
            "run_id": run_id,
            "tags": {LAUNCH_TAG: "mcp_server", CLIENT_TAG: client[:200] or "unknown"},
        }
        (self.launch_dir / f"{run_id}.json").write_text(json.dumps(spec, indent=2))
        log_path = self.launch_dir / f"{run_id}.log"
        proc.log_path.rename(log_path)  # type: ignore[attr-defined]  # same file, open in the child
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        proc.stdin.close()
        with self._lock:
            self._children[run_id] = proc
        launched = {
            "run_id": run_id,
            "status": "LAUNCHING",
            "assets": spec.get("assets"),
            "job": spec.get("job") or "__ASSET_JOB",
            "log": str(log_path),
        }
        if wait:
            launched.update(self.wait_for_run(run_id, timeout_s=timeout_s))
        return launched

    def wait_for_run(self, run_id: str, *, timeout_s: float = 60.0) -> dict[str, Any]:
        """Poll until ``run_id`` ends, its launch fails, or ``timeout_s`` (at most
        :data:`MAX_WAIT_S`) passes; the run's status with ``waited_s`` and ``timed_out``."""
        timeout_s = max(0.0, min(float(timeout_s), MAX_WAIT_S))
        t0 = time.monotonic()
        while True:
            status = self.run_status(run_id)
            done = status["status"] in TERMINAL_STATUSES | {"LAUNCH_FAILED"}
            waited = time.monotonic() - t0
            if done or waited >= timeout_s:
                return {**status, "waited_s": round(waited, 2), "timed_out": not done}
            time.sleep(0.25)

    def _child_state(self, run_id: str) -> dict[str, Any] | None:
        with self._lock:
            proc = self._children.get(run_id)
        if proc is None:
            return None
        code = proc.poll()
        if code is None:
            return {
                "run_id": run_id,
                "status": "LAUNCHING",
                "detail": "the launch process is loading the code location",
            }
        log = self.launch_dir / f"{run_id}.log"
        tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
        return {"run_id": run_id, "status": "LAUNCH_FAILED", "exit_code": code, "log_tail": tail}

    def run_status(self, run_id: str) -> dict[str, Any]:
        """A run's status, job, times, step and materialisation counts, and the MCP tags."""
        record = self.instance.get_run_record_by_id(run_id)
        if record is None:
            child = self._child_state(run_id)
            if child is None:
                raise PlatformError(f"no run {run_id} in the Dagster instance")
            if child["status"] == "LAUNCHING" or child.get("exit_code") == 0:
                # exit 0 without a run cannot happen; a race with the run's creation can
                record = self.instance.get_run_record_by_id(run_id)
                if record is None:
                    return child
            else:
                return child
        run = record.dagster_run
        stats = self.instance.get_run_stats(run_id)
        return {
            "run_id": run_id,
            "job": run.job_name,
            "status": run.status.value,
            "created_at": _iso(record.create_timestamp),
            "started_at": _iso(record.start_time),
            "ended_at": _iso(record.end_time),
            "steps_succeeded": stats.steps_succeeded,
            "steps_failed": stats.steps_failed,
            "materializations": stats.materializations,
            "asset_selection": sorted(k.to_user_string() for k in run.asset_selection or []),
            "tags": {k: v for k, v in run.tags.items() if k.startswith(("mcp/", "dagster/"))},
        }

    def run_events(
        self, run_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> dict[str, Any]:
        """Up to ``limit`` (at most :data:`MAX_EVENTS`) events of ``run_id`` after ``cursor``,
        with the cursor of the next page and whether there is one."""
        limit = max(1, min(int(limit), MAX_EVENTS))
        if self.instance.get_run_record_by_id(run_id) is None:
            raise PlatformError(f"no run {run_id} in the Dagster instance")
        try:
            conn = self.instance.get_records_for_run(run_id, cursor=cursor or None, limit=limit)
        except Exception as exc:  # noqa: BLE001 - a cursor that is not one of ours
            raise PlatformError(
                f"bad cursor {cursor!r}: pass the cursor a previous page gave"
            ) from exc
        events = []
        for rec in conn.records:
            entry = rec.event_log_entry
            event = entry.dagster_event
            events.append(
                {
                    "id": rec.storage_id,
                    "at": _iso(entry.timestamp),
                    "type": event.event_type_value if event is not None else "LOG",
                    "step": entry.step_key,
                    "level": entry.level if isinstance(entry.level, str) else int(entry.level),
                    "message": (entry.user_message or (event.message if event else "") or "")[:500],
                }
            )
        return {
            "run_id": run_id,
            "events": events,
            "cursor": conn.cursor,
            "has_more": conn.has_more,
        }

    # -- incidents -----------------------------------------------------------------------------

    def _healer(self) -> Any:
        from orchestration_project.operations.healing import Healer

        return Healer(self.store)

    @staticmethod
    def _incident(inc: Any) -> dict[str, Any]:
        return {
            "incident_id": inc.incident_id,
            "status": inc.status,
            "severity": inc.severity,
            "source": inc.source,
            "subject": f"{inc.subject_kind}:{inc.subject}",
            "job": inc.job_name,
            "root_run_id": inc.root_run_id,
            "step": inc.step_key,
            "failure_class": inc.failure_class,
            "message": (inc.message or "")[:300],
            "failure_at": _iso(inc.failure_at),
            "detected_at": _iso(inc.detected_at),
            "recovered_at": _iso(inc.recovered_at),
            "closed_at": _iso(inc.closed_at),
            "attempts": inc.attempts,
            "time_to_detect_s": round(inc.time_to_detect_s, 1),
            "time_to_recover_s": None
            if inc.time_to_recover_s is None
            else round(inc.time_to_recover_s, 1),
            "report": inc.report_path,
        }

    def incidents(self, *, include_closed: bool = False, limit: int = 50) -> dict[str, Any]:
        """Incidents that need attention (open, remediating, escalated), newest first; with
        ``include_closed`` every incident."""
        healer = self._healer()
        found = healer.incidents(statuses=None if include_closed else NEEDS_PERSON)
        found = sorted(found, key=lambda i: i.failure_at, reverse=True)
        return {
            "incidents": [self._incident(i) for i in found[:limit]],
            "count": len(found),
        }

    def incident_detail(self, incident_id: str) -> dict[str, Any]:
        """One incident with its actions (the timeline)."""
        healer = self._healer()
        try:
            inc = healer.incident(incident_id)
        except KeyError:
            raise PlatformError(f"no incident {incident_id!r}") from None
        actions = healer.actions(incident_id)
        return {**self._incident(inc), "actions": _records(actions, 100)}

    def acknowledge_incident(self, incident_id: str, *, reviewer: str, note: str = "") -> dict:
        """Record that ``reviewer`` has taken ``incident_id`` on (an ``acknowledged`` action
        in its timeline; the healer's remedies go on)."""
        healer = self._healer()
        inc = self._open_incident(healer, incident_id)
        healer.acknowledge(inc.incident_id, by=reviewer, note=note)
        return self.incident_detail(incident_id)

    def resolve_incident(self, incident_id: str, *, reviewer: str, note: str = "") -> dict:
        """Close ``incident_id`` as resolved by ``reviewer`` (an open or escalated incident;
        one the healer is still remediating is refused, as its planned re-execution would
        run anyway)."""
        healer = self._healer()
        inc = self._open_incident(healer, incident_id)
        if inc.status == "remediating":
            raise PlatformError(
                f"incident {incident_id} is being remediated by the healer (attempt "
                f"{inc.attempts}); resolve it once it is recovered or escalated"
            )
        healer.resolve_by_person(inc.incident_id, by=reviewer, note=note)
        return self.incident_detail(incident_id)

    def _open_incident(self, healer: Any, incident_id: str) -> Any:
        try:
            inc = healer.incident(incident_id)
        except KeyError:
            raise PlatformError(f"no incident {incident_id!r}") from None
        if inc.status not in NEEDS_PERSON:
            raise PlatformError(f"incident {incident_id} is {inc.status}: nothing to do")
        return inc

    # -- health --------------------------------------------------------------------------------

    def _table(self, schema: str, table: str) -> pd.DataFrame | None:
        if not self.warehouse.table_exists(table, schema=schema):
            return None
        return self.warehouse.read_table(table, schema=schema)

    def health_summary(self) -> dict[str, Any]:
        """The platform's health: jobs over the last 24 h (from ``operations.health_metrics``),
        the SLO scorecard, incidents needing attention, open circuit breakers, pending reviews
        and where the dashboards are. Tables not materialised yet are named as such."""
        from orchestration_project.operations.healing import CircuitBreakers
        from orchestration_project.operations.review import ReviewQueue

        out: dict[str, Any] = {"at": _iso(utcnow())}
        health = self._table("operations", "health_metrics")
        if health is None:
            out["jobs_24h"] = "operations/health_metrics is not materialised yet (operations_job)"
        else:
            day = health[(health["window"] == "24h") & (health["dimension"] == "job")]
            day = day.sort_values("success_rate", kind="stable")
            cols = [
                "entity",
                "events",
                "success_rate",
                "error_rate",
                "latency_p95_s",
                "freshness_s",
            ]
            out["jobs_24h"] = _records(day[[c for c in cols if c in day.columns]], 25)
        card = self._table("operations", "slo_scorecard")
        out["slo_scorecard"] = (
            _records(card) if card is not None else "slo_scorecard is not materialised yet"
        )
        incidents = self._healer().incidents(statuses=NEEDS_PERSON)
        by_severity: dict[str, int] = {}
        for inc in incidents:
            by_severity[inc.severity] = by_severity.get(inc.severity, 0) + 1
        out["incidents_needing_attention"] = {"count": len(incidents), "by_severity": by_severity}
        breakers = CircuitBreakers(self.store).all()
        out["open_breakers"] = _records(breakers[breakers["state"] != "closed"], 25)
        out["pending_reviews"] = len(ReviewQueue(self.store).pending())
        dashboards = self.reports_root / "operations"
        out["dashboards"] = sorted(
            str(p.relative_to(self.reports_root)) for p in dashboards.glob("*.html")
        )
        return _jsonable(out)

    def health_markdown(self) -> str:
        """:meth:`health_summary` as Markdown (the ``dashboard://health`` resource)."""
        s = self.health_summary()
        lines = [f"# Platform health ({s['at']})", ""]
        inc = s["incidents_needing_attention"]
        lines.append(f"- incidents needing attention: {inc['count']} {inc['by_severity'] or ''}")
        lines.append(f"- open circuit breakers: {len(s['open_breakers'])}")
        lines.append(f"- pending reviews: {s['pending_reviews']}")
        lines += ["", "## Jobs, last 24 h", ""]
        jobs = s["jobs_24h"]
        lines.append(
            pd.DataFrame(jobs).to_markdown(index=False)
            if isinstance(jobs, list) and jobs
            else str(jobs or "(no runs)")
        )
        lines += ["", "## SLO scorecard", ""]
        card = s["slo_scorecard"]
        lines.append(
            pd.DataFrame(card).to_markdown(index=False)
            if isinstance(card, list) and card
            else str(card)
        )
        return "\n".join(lines) + "\n"

    # -- review queues -------------------------------------------------------------------------

    def reviews(
        self, *, queue: str = "all", include_decided: bool = False, limit: int = 50
    ) -> dict:
        """The human-review queues: ``ops`` (configuration changes, ``ops_review_queue``),
        ``market_research`` (resolver decisions below the confidence threshold) and
        ``onboarding`` (customers who need a person; read-only here)."""
        from orchestration_project.operations.review import PENDING, ReviewQueue

        out: dict[str, Any] = {}
        if queue in ("all", "ops"):
            items = ReviewQueue(self.store).items()
            if not include_decided:
                items = items[items["status"] == PENDING]
            out["ops"] = _records(items, limit)
        if queue in ("all", "market_research"):
            df = self._table("market_research", "human_review_queue")
            if df is None:
                out["market_research"] = "human_review_queue is not materialised yet"
            else:
                df = df.assign(
                    key=df["site"] + "|" + df["entity"].astype(str) + "|" + df["attribute"]
                )
                shared = self._shared()
                decided = []
                for crawl_id, key in zip(df["crawl_id"], df["key"], strict=True):
                    fact = shared.get(f"market.{crawl_id}", key)
                    decided.append(
                        None
                        if fact is None
                        else {**fact.value, "version": fact.version, "by": fact.agent}
                    )
                df = df.assign(current_decision=decided)
                if not include_decided:
                    df = df[[d is None or d.get("by") == "resolver" for d in decided]]
                cols = [
                    "crawl_id",
                    "key",
                    "subject",
                    "attribute",
                    "value",
                    "currency",
                    "confidence",
                    "rationale",
                    "current_decision",
                ]
                out["market_research"] = _records(df[[c for c in cols if c in df.columns]], limit)
        if queue in ("all", "onboarding"):
            df = self._table("customer_onboarding", "onboarding_review_queue")
            out["onboarding"] = (
                "onboarding_review_queue is not materialised yet"
                if df is None
                else _records(df, limit)
            )
        if not out:
            raise PlatformError("queue is one of all, ops, market_research, onboarding")
        return _jsonable(out)

    def approve_review(self, item_id: str, *, reviewer: str, note: str = "") -> dict:
        """Approve an ops review item: ``ReviewQueue.approve`` applies its setting, recording
        the reviewer, the note and the value it replaced."""
        from orchestration_project.operations.review import ReviewQueue

        try:
            item = ReviewQueue(self.store).approve(item_id, reviewer, note)
        except KeyError:
            raise PlatformError(f"no review item {item_id!r}") from None
        except ValueError as exc:
            raise PlatformError(str(exc)) from exc
        return _jsonable(item.__dict__)

    def reject_review(self, item_id: str, *, reviewer: str, note: str = "") -> dict:
        """Reject an ops review item (``ReviewQueue.reject``): nothing is applied, and it comes
        back only if its evidence grows materially."""
        from orchestration_project.operations.review import ReviewQueue

        try:
            item = ReviewQueue(self.store).reject(item_id, reviewer, note)
        except KeyError:
            raise PlatformError(f"no review item {item_id!r}") from None
        except ValueError as exc:
            raise PlatformError(str(exc)) from exc
        return _jsonable(item.__dict__)

    def _shared(self) -> Any:
        from orchestration_project.agents.coordination import SharedContext

        return SharedContext(self.store)

    def decide_research_review(
        self,
        *,
        crawl_id: str,
        key: str,
        reviewer: str,
        note: str = "",
        value: str | float | None = None,
        currency: str | None = None,
    ) -> dict[str, Any]:
        """Confirm (no ``value``) or override (a ``value``) a market research decision that
        was sent to human review, as a new version of the fact in the shared context
        (namespace ``market.<crawl_id>``, key ``<site>|<entity>|<attribute>``), written by the
        research domain's ``write_decision`` with strategy ``human_review``, confidence 1 and a
        rationale naming the reviewer."""
        from orchestration_project.agents.coordination.conflicts import Decision
        from orchestration_project.research.resolution import write_decision

        shared = self._shared()
        namespace = f"market.{crawl_id}"
        current = shared.get(namespace, key)
        if current is None:
            raise PlatformError(f"no decision {key!r} in crawl {crawl_id} (see list_reviews)")
        old = current.value or {}
        new_value = old.get("value") if value is None else value
        new_currency = old.get("currency") if currency is None else currency
        verb = "confirmed" if value is None else f"overrode {old.get('value')!r} with {value!r}"
        rationale = f"{reviewer} {verb}" + (f": {note}" if note else "")
        write_decision(
            shared,
            namespace,
            key,
            new_value,
            new_currency,
            Decision(value=new_value, strategy="human_review", confidence=1.0, rationale=rationale),
        )
        fact = shared.get(namespace, key)
        return _jsonable(
            {"namespace": namespace, "key": key, "version": fact.version, "decision": fact.value}
        )

    # -- routing -------------------------------------------------------------------------------

    def _prior(self) -> Any:
        """The fetch router's prior from ``route_success@champion`` (None without a registry
        or champion), loaded once."""
        if not self._route_prior_loaded:
            tracking = self.resources.get("tracking")
            prior = None
            try:
                if tracking is not None and tracking.has_store():  # no store: no scikit-learn
                    from orchestration_project.optimization.route_model import (
                        MODEL_NAME,
                        model_prior,
                    )

                    model, config = tracking.load_sklearn_model(MODEL_NAME)
                    prior = model_prior(model, config.get("histories"))
                    version = tracking.alias_version(MODEL_NAME, "champion")
                    prior.label = f"{MODEL_NAME}/v{version}" if version else MODEL_NAME
            except Exception:  # noqa: BLE001 - no champion: the rule's priors, as crawls do
                prior = None
            self._route_prior, self._route_prior_loaded = prior, True
        return self._route_prior

    def route_recommendation(self, url: str, *, history: int = 200) -> dict[str, Any]:
        """Which fetch route (plain HTTP or the browser) the platform's router would take for
        ``url`` now, and why.

        The router is the one crawls use (``agents.routing``: the bandit with the rule's
        JavaScript memory, priors from ``route_success@champion`` when it loads, the
        ``routing`` resource's strategy and costs), fed the site's last ``history`` recorded
        fetch attempts (``market_research.fetch_attempts``). Its breaker gate only *reads*
        breaker states, and it trips none: asking for advice must not consume a half-open
        breaker's trial call or open a breaker, which the crawl's wiring
        (``RoutingResource.router``) would do.
        """
        from orchestration_project.agents.planning import site_of
        from orchestration_project.agents.routing import BanditRouter, RuleRouter, default_bandit
        from orchestration_project.operations.healing import CircuitBreakers
        from resources.routing import route_breaker

        routing = self.resources["routing"]
        breakers = CircuitBreakers(self.store)
        site = site_of(url)
        if routing.strategy == "rule":
            router: Any = RuleRouter()
        else:
            bandit = default_bandit(
                http_cost=routing.http_cost,
                browser_cost=routing.browser_cost,
                value=routing.value,
                discount=routing.discount,
            )
            prior = self._prior()
            bandit.prior_fn = prior
            router = BanditRouter(
                bandit=bandit,
                allowed=lambda s, r: breakers.state(route_breaker(r, s)).state != "open",
            )
            if prior is not None and getattr(prior, "label", None):
                router.name = f"{BanditRouter.name}+{prior.label}"
        replayed = 0
        if self.warehouse.table_exists("fetch_attempts", schema="market_research"):
            rows = self.warehouse.query(
                "SELECT url, route, outcome, needs_javascript FROM market_research.fetch_attempts "
                "WHERE site = ? ORDER BY attempted_at DESC LIMIT ?",
                [site, int(history)],
            )
            for r in reversed(list(rows.itertuples(index=False))):
                router.observe(r.url, needs_javascript=bool(r.needs_javascript))
                router.record(r.url, r.route, ok=r.outcome == "ok")
                replayed += 1
        route, reason = router.choose(url)
        return {
            "url": url,
            "site": site,
            "route": route,
            "reason": reason,
            "router": router.name,
            "history_replayed": replayed,
            "breakers": {
                r: breakers.state(route_breaker(r, site)).state for r in ("http", "browser")
            },
        }

    # -- reports and previews ------------------------------------------------------------------

    def list_reports(self, *, prefix: str = "", limit: int = 200) -> dict[str, Any]:
        """Report files (newest first) under the reports folder, optionally under ``prefix``."""
        root = self.reports_root.resolve()
        base = resolve_report_dir(root, prefix)
        files = []
        if base.is_dir():
            for p in base.rglob("*"):
                if p.is_file() and p.suffix.lower() in REPORT_SUFFIXES:
                    real = p.resolve()
                    if not real.is_relative_to(root):
                        continue  # a symlink out of the folder is not a report
                    st = p.stat()
                    files.append((st.st_mtime, p.relative_to(root).as_posix(), st.st_size))
        files.sort(reverse=True)
        return {
            "reports": [
                {"path": rel, "uri": f"report://{rel}", "bytes": size, "modified_at": _iso(m)}
                for m, rel, size in files[:limit]
            ],
            "count": len(files),
        }

    def read_report(self, path: str) -> tuple[str | bytes, str]:
        """The content of report ``path`` and its MIME type.

        Raises:
            PlatformError: the path is refused (outside the folder, not a report) or missing.
        """
        try:
            target = resolve_report_path(self.reports_root, path)
        except PathRefused as exc:
            raise PlatformError(f"refused: {exc}") from exc
        if not target.is_file():
            raise PlatformError(f"no report {path!r} (list_reports shows them)")
        if target.stat().st_size > MAX_REPORT_BYTES:
            raise PlatformError(f"report {path!r} is larger than {MAX_REPORT_BYTES} bytes")
        mime = REPORT_SUFFIXES[target.suffix.lower()]
        if mime.startswith("image/") and mime != "image/svg+xml":
            return target.read_bytes(), mime
        return target.read_text(errors="replace"), mime

    def latest_report(self, folder: str, name: str) -> tuple[Path, datetime] | None:
        """The newest ``<folder>/**/<name>`` report and its modification time, if any."""
        base = self.reports_root / folder
        found = [(p.stat().st_mtime, p) for p in base.glob(f"**/{name}")] if base.is_dir() else []
        if not found:
            return None
        mtime, path = max(found)
        return path, datetime.fromtimestamp(mtime, tz=UTC)

    def preview(self, key: str, *, rows: int = 20) -> dict[str, Any]:
        """The first ``rows`` (at most :data:`MAX_PREVIEW_ROWS`) rows of an asset's warehouse
        table, with its row count."""
        from resources.warehouse import WarehouseIOManager

        node = self._node(key)
        rows = max(1, min(int(rows), MAX_PREVIEW_ROWS))
        schema, table = WarehouseIOManager._location(node.key, node.metadata)
        if not self.warehouse.table_exists(table, schema=schema):
            raise PlatformError(f"{key} has no warehouse table yet ({schema}.{table})")
        df = self.warehouse.query(f'SELECT * FROM "{schema}"."{table}" LIMIT {rows}')
        total = self.warehouse.query(f'SELECT count(*) AS n FROM "{schema}"."{table}"')
        return {
            "key": key,
            "table": f"{schema}.{table}",
            "rows": int(total["n"].iloc[0]),
            "columns": [str(c) for c in df.columns],
            "preview": _records(df),
        }

    # -- prompts' material ---------------------------------------------------------------------

    def market_research_today(self, *, max_chars: int = 20_000) -> dict[str, Any]:
        """The newest market report (Markdown), whether it is from today (UTC), and the
        competitor matrix's size."""
        found = self.latest_report("market_research", "report.md")
        if found is None:
            return {"report": None}
        path, mtime = found
        text = path.read_text(errors="replace")
        return {
            "report": path.relative_to(self.reports_root).as_posix(),
            "modified_at": mtime.isoformat(),
            "today": mtime.date() == utcnow().date(),
            "markdown": text[:max_chars],
            "truncated": len(text) > max_chars,
        }


def resolve_report_dir(root: Path, prefix: str) -> Path:
    """The folder ``prefix`` inside ``root`` (``root`` itself for an empty prefix).

    Raises:
        PlatformError: ``prefix`` leaves the reports folder.
    """
    if not prefix:
        return root
    pure = Path(prefix)
    if pure.is_absolute() or ".." in pure.parts or "\x00" in prefix:
        raise PlatformError(f"refused: {prefix!r} is not a folder inside the reports folder")
    base = (root / pure).resolve()
    if not base.is_relative_to(root):
        raise PlatformError(f"refused: {prefix!r} resolves outside the reports folder")
    return base


__all__ = ["NEEDS_PERSON", "Platform", "PlatformError", "SerialisedWarehouse", "resolve_report_dir"]
