"""Benchmark the platform's MCP server: requests per second and per-call latency of two read
tools over stdio and streamable HTTP, against calling the same Python function in process.

Tools: ``list_assets`` (every asset with its last materialisation and checks: Dagster instance
reads) and ``list_asset_groups`` (the code location only: the cheapest read, so nearly all of
its time is protocol). Paths, each measured with one client issuing calls one after another:

* ``function``: ``Platform.list_assets()`` / ``list_asset_groups()`` called directly;
* ``memory``: the MCP server in process, through the SDK's ``mcp.Client`` (argument validation,
  serialisation, the audit middleware; no transport);
* ``stdio``: ``python -m orchestration_project mcp`` as a subprocess, ``ClientSession`` over
  ``stdio_client``;
* ``http``: the same server with ``--transport http`` on a loopback port, ``ClientSession`` over
  ``streamable_http_client`` with the bearer token.

Every MCP path audits every call (queued, appended to DuckDB by a writer thread), as in
production. Each path runs ``--runs`` rounds of ``--calls`` calls after a warm-up; the table
gives the median round's requests per second, p50 and p99 latency over all calls, and the
ratio of the path's p50 to the function's (the protocol's overhead). Progress goes to stderr,
the table to stdout. A temporary Dagster instance and data folder are used unless
``--project-data`` points at the project's (``.data``).

    uv run python benchmarks/mcp_server.py [--calls 100] [--runs 5] [--project-data]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOOLS = ("list_assets", "list_asset_groups")


def progress(msg: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _rounds(
    call: Callable[[], Awaitable[Any]], calls: int, runs: int
) -> tuple[list[float], list[float]]:
    """Per-round requests per second and every call's latency (ms)."""
    for _ in range(3):
        await call()  # warm-up: the code location is loaded on the first call
    rps, lat = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        for _ in range(calls):
            c0 = time.perf_counter()
            await call()
            lat.append((time.perf_counter() - c0) * 1000)
        rps.append(calls / (time.perf_counter() - t0))
    return rps, lat


def _tool_call(session: Any, tool: str) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        result = await session.call_tool(tool, {})
        if result.is_error:
            raise RuntimeError(f"{tool}: {result.content}")
        return result

    return call


async def bench_function(calls: int, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    from orchestration_project.mcp_server.queries import Platform

    platform = Platform()
    out = {}
    for tool in TOOLS:
        fn = getattr(platform, tool)

        async def call(fn: Callable[[], Any] = fn) -> Any:
            return fn()

        out[tool] = await _rounds(call, calls, runs)
    platform.close()
    return out


async def bench_memory(calls: int, runs: int) -> dict[str, tuple[list[float], list[float]]]:
    from mcp import Client

    from orchestration_project.mcp_server.audit import AuditLog
    from orchestration_project.mcp_server.queries import Platform
    from orchestration_project.mcp_server.safety import McpSettings
    from orchestration_project.mcp_server.server import build_server

    platform = Platform()
    audit = AuditLog(platform.warehouse)
    server = build_server(McpSettings(transport="memory"), platform, audit)
    out = {}
    async with Client(server) as client:
        for tool in TOOLS:
            out[tool] = await _rounds(_tool_call(client, tool), calls, runs)
    audit.close()
    platform.close()
    return out


async def bench_stdio(
    env: dict[str, str], calls: int, runs: int
) -> dict[str, tuple[list[float], list[float]]]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "orchestration_project", "mcp"],
        env=env,
        cwd=str(ROOT),
    )
    out = {}
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            for tool in TOOLS:
                out[tool] = await _rounds(_tool_call(s, tool), calls, runs)
    return out


async def bench_http(
    env: dict[str, str], calls: int, runs: int
) -> dict[str, tuple[list[float], list[float]]]:
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    token = secrets.token_urlsafe(32)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration_project", "mcp", "--transport", "http"]
        + ["--port", str(port)],
        env={**env, "MCP_TOKEN": token},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the HTTP server exited")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the HTTP server did not come up")
            await asyncio.sleep(0.3)
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
        out = {}
        async with (
            client,
            streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=client) as (r, w),
            ClientSession(r, w) as s,
        ):
            await s.initialize()
            for tool in TOOLS:
                out[tool] = await _rounds(_tool_call(s, tool), calls, runs)
        return out
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per round")
    parser.add_argument("--runs", type=int, default=5, help="rounds per path and tool")
    parser.add_argument(
        "--project-data", action="store_true", help="use .data and its Dagster instance"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.project_data:
            data, home = ROOT / ".data", ROOT / ".data" / "dagster_home"
        else:
            data, home = Path(tmp) / "data", Path(tmp) / "home"
            home.mkdir(parents=True)
            (home / "dagster.yaml").symlink_to(ROOT / "dagster.yaml")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCP_")} | {
            "DAGSTER_HOME": str(home),
            "ORCHESTRATION_DATA_DIR": str(data),
            "DAGSTER_DISABLE_TELEMETRY": "yes",
        }
        os.environ.update(env)
        import dagster as dg

        with dg.DagsterInstance.get() as instance:  # create the storage before the servers
            instance.get_runs(limit=1)

        results: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
        for name, bench in [
            ("function", lambda: bench_function(args.calls, args.runs)),
            ("memory", lambda: bench_memory(args.calls, args.runs)),
            ("stdio", lambda: bench_stdio(env, args.calls, args.runs)),
            ("http", lambda: bench_http(env, args.calls, args.runs)),
        ]:
            progress(f"{name}: {args.runs} rounds of {args.calls} calls per tool …")
            t0 = time.perf_counter()
            results[name] = asyncio.run(bench())
            progress(f"  done in {time.perf_counter() - t0:.1f} s")

    print(
        f"MCP server: {args.runs} rounds of {args.calls} sequential calls per path and tool, "
        f"one client; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print()
    print("| tool | path | req/s (median round) | p50 ms | p99 ms | p50 / function p50 |")
    print("|---|---|---:|---:|---:|---:|")
    for tool in TOOLS:
        base = statistics.median(results["function"][tool][1])
        for name, by_tool in results.items():
            rps, lat = by_tool[tool]
            p50 = statistics.median(lat)
            print(
                f"| {tool} | {name} | {statistics.median(rps):,.0f} | {p50:.2f} | "
                f"{_percentile(lat, 0.99):.2f} | {p50 / base:.1f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
