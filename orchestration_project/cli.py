"""Command line: run the main job with progress, serve the demo world, show where things are.

python -m orchestration_project demo     # materialise every market research asset
python -m orchestration_project world    # serve the demo world until Ctrl-C
python -m orchestration_project capacity show|revert [--change ID | --pool NAME]
python -m orchestration_project mcp [--transport stdio|http] [--allow-mutations]
python -m orchestration_project version [--json]   # code, configs and models in use
python -m orchestration_project migrate [--status] # the warehouse's versioned migrations
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from orchestration_project.common.net import port_open
from resources.environment import PROJECT_ROOT, data_dir


def prepare_dagster_home() -> Path:
    """Point DAGSTER_HOME at the project-local instance folder holding dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "dagster.yaml"
    if not cfg.exists():
        cfg.symlink_to(PROJECT_ROOT / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _print(msg: str) -> None:
    print(msg, flush=True)


def _rows(metadata: Any) -> Any:
    """A table's row count from its materialization metadata, if it reports one."""
    value = metadata.get("dagster/row_count") or metadata.get("row_count")
    return None if value is None else value.value


def _follow(instance: Any, run_id: str, stop: threading.Event, t0: float) -> None:
    """Print step and check events of a run as they happen."""
    from dagster import DagsterEventType

    kinds = {
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
        DagsterEventType.ASSET_CHECK_EVALUATION,
        DagsterEventType.ASSET_MATERIALIZATION,
    }
    seen = 0
    announced: set[Any] = set()  # partitioned assets already printed
    while True:
        done = stop.is_set()
        try:
            logs = instance.all_logs(run_id)
        except Exception:  # the run may not exist yet
            logs = []
        for rec in logs[seen:]:
            ev = rec.dagster_event
            if ev is None or ev.event_type not in kinds:
                continue
            t = f"[{time.monotonic() - t0:6.1f}s]"
            if ev.event_type == DagsterEventType.STEP_START:
                _print(f"{t} ▶ {ev.step_key}")
            elif ev.event_type == DagsterEventType.STEP_SUCCESS:
                _print(f"{t} ✔ {ev.step_key}")
            elif ev.event_type == DagsterEventType.STEP_FAILURE:
                _print(f"{t} ✘ {ev.step_key}: {ev.event_specific_data.error.message.strip()}")
            elif ev.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                mat = ev.event_specific_data.materialization
                if mat.partition and mat.asset_key in announced:
                    continue  # one line per asset, not per site partition
                announced.add(mat.asset_key)
                rows = _rows(mat.metadata)
                extra = f" ({rows} rows)" if rows is not None else ""
                _print(f"{t}   materialised {mat.asset_key.to_user_string()}{extra}")
            else:
                chk = ev.event_specific_data
                mark = "passed" if chk.passed else f"FAILED ({chk.severity.value})"
                _print(f"{t}   check {chk.asset_check_key.name}: {mark}")
        seen = len(logs)
        if done:
            return
        time.sleep(0.3)


def run_demo(args: argparse.Namespace) -> int:
    """Materialise the market research job on the embedded defaults, with progress."""
    home = prepare_dagster_home()
    base_port = int(os.environ.get("DEMO_WORLD_BASE_PORT", "8701"))
    world = None
    if not port_open("127.0.0.1", base_port):  # nothing serves there yet
        from orchestration_project.demo_world import start_demo_world

        world = start_demo_world("127.0.0.1", base_port)
        _print(
            f"demo world: {len(world.sites)} competitor sites on 127.0.0.1:{base_port}-"
            f"{base_port + len(world.sites) - 1}"
        )
    else:
        _print(f"demo world: already serving on 127.0.0.1:{base_port}")
    from resources.fetching import find_chromium

    try:
        _print(f"browser: {find_chromium()}")
    except Exception as exc:
        _print(f"error: {exc}")
        return 2

    t0 = time.monotonic()
    _print("loading definitions …")
    from dagster import DagsterInstance

    from assets.market_research import all_sites_tags, register_sites, source_sites
    from orchestration_project.definitions import defs

    instance = DagsterInstance.get()
    job = defs.resolve_job_def("market_research_job")
    sites = register_sites(instance, source_sites(defs.resources["market_sources"]))
    run_id = str(uuid.uuid4())
    _print(
        f"running market_research_job over {len(sites)} site partitions "
        f"(run {run_id[:8]}) on instance {home}"
    )
    stop = threading.Event()
    follower = threading.Thread(target=_follow, args=(instance, run_id, stop, t0), daemon=True)
    follower.start()
    try:
        result = job.execute_in_process(
            instance=instance,
            run_id=run_id,
            tags=all_sites_tags(sites),
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    finally:
        stop.set()
        follower.join()
        if world is not None:
            world.stop()
    wall = time.monotonic() - t0
    _summarise(instance, run_id, result.success, wall)
    return 0 if result.success else 1


def _summarise(instance: Any, run_id: str, success: bool, wall: float) -> None:
    from dagster import DagsterEventType

    mats = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    checks = instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
    _print("")
    _print(f"{'SUCCESS' if success else 'FAILED'}: market_research_job in {wall:.1f} s")
    by_asset: dict[str, tuple[Any, int]] = {}
    for rec in mats:
        mat = rec.dagster_event.event_specific_data.materialization
        name = mat.asset_key.to_user_string()
        seen = by_asset.get(name)
        by_asset[name] = (mat.metadata, (seen[1] if seen else 0) + bool(mat.partition))
    _print(f"assets materialised: {len(by_asset)}")
    report = None
    for name, (md, partitions) in by_asset.items():
        rows = _rows(md)
        parts = f", {partitions} site partitions" if partitions else ""
        _print(f"  - {name:<22} {str(rows) + ' rows' if rows is not None else ''}{parts}")
        if "report_html" in md:
            report = md["report_html"].value
    passed = sum(1 for c in checks if c.dagster_event.event_specific_data.passed)
    _print(f"checks: {passed}/{len(checks)} passed")
    for c in checks:
        data = c.dagster_event.event_specific_data
        if not data.passed:
            _print(f"  - FAILED {data.asset_check_key.name} ({data.severity.value})")
    if report:
        _print(f"report: {report}")
    _print(
        "look at it: `make ui` (Dagster UI on http://127.0.0.1:3000, this run included);"
        " open the report above in a browser"
    )


def run_world(args: argparse.Namespace) -> int:
    """Serve the demo world until interrupted."""
    from orchestration_project.demo_world import start_demo_world

    world = start_demo_world(args.host, args.base_port)
    for name, url in world.sites.items():
        _print(f"{name:>16}: {url}/")
    _print(f"{'outside':>16}: {world.outside_url}/  (not on the allow-list)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    world.stop()
    return 0


def run_capacity(args: argparse.Namespace) -> int:
    """Show the pool limits and their change log, or revert a change (the latest of a pool,
    or one by id), on the project's Dagster instance."""
    import dagster as dg

    from orchestration_project.agents.coordination.store import CoordinationStore
    from orchestration_project.optimization.capacity import CapacityError, PoolAllocator
    from resources.environment import build_resources

    prepare_dagster_home()
    url = build_resources()["coordination"].url
    store = CoordinationStore(url.get_value() if isinstance(url, dg.EnvVar) else url)
    with dg.DagsterInstance.get() as instance:
        allocator = PoolAllocator(instance.event_log_storage, store)
        if args.action == "revert":
            if args.change is None and args.pool is None:
                _print("capacity revert needs --change ID or --pool NAME")
                return 2
            try:
                change = allocator.revert(args.change, pool=args.pool)
            except CapacityError as exc:
                _print(f"capacity: {exc}")
                return 1
            _print(
                f"pool {change.pool}: {change.before.limit} -> {change.after} "
                f"(change {change.change_id}: {change.reason})"
            )
            return 0
        for pool, state in sorted(allocator.limits().items()):
            _print(
                f"{pool:>20}: {state.limit}{' (instance default)' if state.from_default else ''}"
            )
        log = allocator.history()
        if len(log):
            cols = ["change_id", "at", "pool", "previous_limit", "new_limit", "kind", "reason"]
            _print(log[cols].head(20).to_string(index=False))
        else:
            _print("no capacity changes recorded")
    return 0


def run_mcp(args: argparse.Namespace) -> int:
    """Serve the platform's MCP server on stdio or streamable HTTP (see
    ``orchestration_project.mcp_server``)."""
    from orchestration_project.mcp_server import McpSettings

    settings = McpSettings.from_env(
        transport=args.transport,
        host=args.host,
        port=args.port,
        allow_mutations=True if args.allow_mutations else None,
    )
    try:
        settings.check()
    except ValueError as exc:
        print(f"mcp: {exc}", file=sys.stderr, flush=True)
        return 2
    prepare_dagster_home()
    from orchestration_project.mcp_server.server import serve

    return serve(settings)


MODELS = ("route_success", "llm_router", "failure_predictor")


def versions() -> dict[str, Any]:
    """The versions in use: the package and its git description, the key libraries, each
    versioned config by content hash, and each model's champion in the registry (looked up
    only when a registry exists; nothing is created)."""
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    from orchestration_project.evolution.versions import (
        GROUP_SOURCES,
        code_versions,
        logic_versions,
    )

    def pkg(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    try:
        described = subprocess.run(
            ["git", "describe", "--tags", "--always", "--dirty"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    libraries = ("dagster", "mlflow", "great-expectations", "duckdb", "playwright", "mcp")
    out: dict[str, Any] = {
        "code": {"orchestration_project": pkg("orchestration_project"), "git": described or "n/a"},
        "libraries": {name: pkg(name) for name in libraries},
        "configs": logic_versions(PROJECT_ROOT),
        "asset groups": dict(code_versions(tuple(GROUP_SOURCES), pkg("orchestration_project"))),
    }
    from resources.tracking import MlflowTracking

    tracking = MlflowTracking(
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", ""),
        artifact_root=os.environ.get("MLFLOW_ARTIFACT_ROOT", ""),
    )
    models: dict[str, str] = {}
    if not tracking.has_store():
        models = {name: "no model registry yet" for name in MODELS}
    else:
        client = tracking.client()
        for name in MODELS:
            try:
                mv = client.get_model_version_by_alias(name, "champion")
                models[name] = f"v{mv.version} (champion, run {str(mv.run_id)[:8]})"
            except Exception as exc:  # no such model or alias: say so, keep going
                models[name] = "no champion" if "not found" in str(exc).lower() else str(exc)[:80]
    out["models"] = models
    return out


def run_version(args: argparse.Namespace) -> int:
    """Print the versions of the code, configs and models in use."""
    found = versions()
    if args.json:
        import json

        print(json.dumps(found, indent=2))
        return 0
    for section, values in found.items():
        _print(f"{section}:")
        for name, value in values.items():
            _print(f"  {name:<32} {value}")
    return 0


def run_migrate(args: argparse.Namespace) -> int:
    """Apply the warehouse's pending migrations (or, with --status, list every migration)."""
    from resources.environment import build_resources
    from resources.migrations import migrate_warehouse, warehouse_migration_status

    warehouse = build_resources()["warehouse"]
    if not args.status:
        applied = migrate_warehouse(warehouse)
        _print(f"applied {len(applied)} migration(s)")
    for m in warehouse_migration_status(warehouse):
        compatible = {True: "readable by the previous release", False: "breaks old readers"}
        when = m.applied_at.isoformat(timespec="seconds") if m.applied_at else ""
        _print(
            f"  {m.version:>4} {m.name:<36} {m.state:<8} {when:<25} "
            f"{compatible.get(m.backward_compatible, '')} {m.note}".rstrip()
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="orchestration_project")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="materialise every market research asset, with progress")
    w = sub.add_parser("world", help="serve the demo world on loopback")
    w.add_argument("--host", default="127.0.0.1")
    w.add_argument(
        "--base-port", type=int, default=int(os.environ.get("DEMO_WORLD_BASE_PORT", "8701"))
    )
    c = sub.add_parser("capacity", help="show pool limits and their changes, or revert one")
    c.add_argument("action", choices=["show", "revert"])
    c.add_argument("--change", type=int, default=None, help="the change id to revert")
    c.add_argument("--pool", default=None, help="revert the latest change of this pool")
    m = sub.add_parser("mcp", help="serve the platform's MCP server (stdio or streamable HTTP)")
    m.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    m.add_argument("--host", default=None, help="HTTP bind address (MCP_HOST, 127.0.0.1)")
    m.add_argument("--port", type=int, default=None, help="HTTP port (MCP_PORT, 8765)")
    m.add_argument(
        "--allow-mutations",
        action="store_true",
        help="allow tools that change the platform (MCP_ALLOW_MUTATIONS=true)",
    )
    v = sub.add_parser("version", help="versions of the code, configs and models in use")
    v.add_argument("--json", action="store_true", help="as JSON")
    g = sub.add_parser("migrate", help="apply the warehouse's versioned migrations")
    g.add_argument("--status", action="store_true", help="list them, apply nothing")
    args = parser.parse_args(argv)
    commands = {
        "demo": run_demo,
        "world": run_world,
        "capacity": run_capacity,
        "mcp": run_mcp,
        "version": run_version,
        "migrate": run_migrate,
    }
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
