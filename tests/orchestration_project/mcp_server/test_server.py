"""The platform's MCP server end to end, with real parts only: the SDK's own clients
(``ClientSession`` over ``stdio_client`` and over ``streamable_http_client``) talk to
``python -m orchestration_project mcp`` in a subprocess, which reads a temporary Dagster
instance (``DAGSTER_HOME`` with the project's ``dagster.yaml``) and a temporary data folder,
launches real runs and audits every call in the DuckDB warehouse."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from orchestration_project.mcp_server.audit import read_audit
from resources.environment import PROJECT_ROOT
from resources.warehouse import DuckDBWarehouse
from tests.conftest import free_base_port, wait_for_http

pytestmark = pytest.mark.slow

TOKEN = f"test-{secrets.token_urlsafe(24)}"
CHEAP_ASSET = "content_briefs"  # briefs from the bundled YAML: offline, about a second
REPORT = "# Market report\n\nThree competitors, prices from 9 to 49 USD.\n"
EXPECTED_TOOLS = {
    "list_asset_groups",
    "list_assets",
    "asset_lineage",
    "materialize_assets",
    "launch_job",
    "run_status",
    "run_events",
    "list_incidents",
    "acknowledge_incident",
    "resolve_incident",
    "health_summary",
    "list_reviews",
    "approve_review",
    "decide_research_review",
    "route_recommendation",
    "list_reports",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A Dagster instance, a data folder with two reports, and a file outside the reports
    folder that a symlink inside it points to."""
    root = tmp_path_factory.mktemp("mcp")
    home, data = root / "home", root / "data"
    home.mkdir()
    (home / "dagster.yaml").symlink_to(PROJECT_ROOT / "dagster.yaml")
    reports = data / "reports"
    (reports / "market_research" / "run-1").mkdir(parents=True)
    (reports / "market_research" / "run-1" / "report.md").write_text(REPORT)
    (reports / "incidents").mkdir()
    (reports / "incidents" / "inc-1.md").write_text("# Incident inc-1\n")
    secret = root / "outside.md"
    secret.write_text("not a report")
    (reports / "escape.md").symlink_to(secret)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ORCHESTRATION_DATA_DIR": str(data),
        "DAGSTER_DISABLE_TELEMETRY": "yes",
    }
    for name in ("MCP_TOKEN", "MCP_ALLOW_MUTATIONS", "MCP_HOST", "MCP_PORT"):
        env.pop(name, None)
    # Create the instance's storage once: the servers and their launches start at the same
    # moment, and several processes migrating one fresh SQLite schema race (alembic heads).
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
    return {"home": home, "data": data, "env": env}


@pytest.fixture(scope="module")
def http_server(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """``mcp --transport http --allow-mutations`` on a free loopback port. Started, not
    waited for: the stdio test asks for it too, so it boots while that test runs."""
    port = free_base_port(1)
    log = open(world["data"].parent / "http_server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration_project", "mcp", "--transport", "http"]
        + ["--port", str(port), "--allow-mutations"],
        env={**world["env"], "MCP_TOKEN": TOKEN},
        cwd=PROJECT_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield {"proc": proc, "url": f"http://127.0.0.1:{port}", "log": log.name}
    proc.send_signal(signal.SIGTERM)  # uvicorn stops gracefully; the audit log is flushed
    try:
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def _http_ready(server: dict[str, Any]) -> str:
    wait_for_http(f"{server['url']}/healthz", server["proc"], timeout_s=90, what="MCP server")
    return f"{server['url']}/mcp"


def _stdio(world: dict[str, Any], **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "orchestration_project", "mcp"],
        env={**world["env"], **env},
        cwd=str(PROJECT_ROOT),
    )


def _instance(world: dict[str, Any]) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(world["home"]))


def _warehouse(world: dict[str, Any]) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(world["data"] / "warehouse.duckdb"))


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def _audit_until(world: dict[str, Any], check: Any, timeout_s: float = 20) -> Any:
    """The audit table once ``check(table)`` holds (the writer appends every 0.25 s)."""
    deadline = time.monotonic() + timeout_s
    while True:
        df = read_audit(_warehouse(world))
        if check(df) or time.monotonic() > deadline:
            return df
        time.sleep(0.3)


async def _use_the_platform(session: ClientSession, world: dict[str, Any]) -> str:
    """List tools, read a report, materialise the cheap asset and read the run back; the run
    id."""
    await session.initialize()
    tools = {t.name for t in (await session.list_tools()).tools}
    assert tools >= EXPECTED_TOOLS

    read = await session.read_resource("report://market_research/run-1/report.md")
    assert read.contents[0].text == REPORT

    result = await session.call_tool(
        "materialize_assets", {"keys": [CHEAP_ASSET], "wait": True, "wait_timeout_s": 180}
    )
    assert not result.is_error, _text(result)
    run = result.structured_content
    assert run["status"] == "SUCCESS", run
    assert CHEAP_ASSET in run["assets"] and run["timed_out"] is False

    page = await session.call_tool("run_events", {"run_id": run["run_id"], "limit": 3})
    assert not page.is_error, _text(page)
    first = page.structured_content
    assert len(first["events"]) == 3 and first["has_more"] is True
    nxt = await session.call_tool(
        "run_events", {"run_id": run["run_id"], "limit": 3, "cursor": first["cursor"]}
    )
    assert {e["id"] for e in nxt.structured_content["events"]}.isdisjoint(
        {e["id"] for e in first["events"]}
    )

    preview = await session.read_resource(f"preview://{CHEAP_ASSET}?rows=1")
    table = json.loads(preview.contents[0].text)
    assert table["table"] == "content_marketing.content_briefs" and table["rows"] >= 1
    assert len(table["preview"]) == 1 and set(table["preview"][0]) == set(table["columns"])

    prompt = await session.get_prompt("summarise_market_research", {})
    assert REPORT.strip() in prompt.messages[0].content.text

    listed = await session.call_tool("list_assets", {"group": "content_marketing"})
    briefs = next(a for a in listed.structured_content["assets"] if a["key"] == CHEAP_ASSET)
    assert briefs["last_materialization"]["run_id"] == run["run_id"]
    assert briefs["freshness"] == "fresh"
    # Which version produced it: the asset's code version, recorded on the materialisation.
    assert briefs["code_version"].startswith("0.") and "+" in briefs["code_version"]
    assert briefs["last_materialization"]["code_version"] == briefs["code_version"]
    return run["run_id"]


def _assert_run_in_instance(world: dict[str, Any], run_id: str) -> None:
    with _instance(world) as instance:
        dagster_run = instance.get_run_by_id(run_id)
        assert dagster_run is not None, "the run is not in the Dagster instance"
        assert dagster_run.status == dg.DagsterRunStatus.SUCCESS
        assert dagster_run.tags["mcp/launched_by"] == "mcp_server"
        event = instance.get_latest_materialization_event(dg.AssetKey(CHEAP_ASSET))
        assert event is not None and event.run_id == run_id


def test_a_stdio_client_lists_tools_reads_a_report_and_materialises_an_asset(
    world: dict[str, Any], http_server: dict[str, Any]
) -> None:
    async def session() -> str:
        params = _stdio(world, MCP_ALLOW_MUTATIONS="true")
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            return await _use_the_platform(s, world)

    run_id = asyncio.run(session())
    _assert_run_in_instance(world, run_id)

    audit = _audit_until(world, lambda df: (df["transport"] == "stdio").sum() >= 6)
    mine = audit[audit["transport"] == "stdio"]
    calls = mine[mine["method"] == "tools/call"]
    launch = calls[calls["target"] == "materialize_assets"].iloc[0]
    assert launch["outcome"] == "ok" and CHEAP_ASSET in launch["arguments"]
    assert launch["latency_ms"] > 0 and launch["client"].startswith("mcp/")
    assert set(mine["method"]) >= {"tools/list", "resources/read", "tools/call"}


def test_http_refuses_a_missing_or_wrong_token(http_server: dict[str, Any]) -> None:
    url = _http_ready(http_server)
    hello = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    assert httpx.post(url, json=hello, headers=headers).status_code == 401
    wrong = {**headers, "Authorization": "Bearer not-the-token-at-all"}
    assert httpx.post(url, json=hello, headers=wrong).status_code == 401


def test_an_http_client_with_the_token_reads_a_report_and_materialises_an_asset(
    world: dict[str, Any], http_server: dict[str, Any]
) -> None:
    url = _http_ready(http_server)

    async def session() -> str:
        client = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
        async with (
            client,
            streamable_http_client(url, http_client=client) as (r, w),
            ClientSession(r, w) as s,
        ):
            run_id = await _use_the_platform(s, world)
            bad = await s.call_tool(
                "launch_job",
                {"job": "content_marketing_job", "run_config": {"ops": {"no_such_op": {}}}},
            )
            assert bad.is_error and "run config invalid" in _text(bad), _text(bad)
            unknown = await s.call_tool("launch_job", {"job": "no_such_job"})
            assert unknown.is_error and "content_marketing_job" in _text(unknown)
            return run_id

    run_id = asyncio.run(session())
    _assert_run_in_instance(world, run_id)

    audit = _audit_until(
        world,
        lambda df: ((df["transport"] == "http") & (df["target"] == "list_assets")).any(),
    )
    mine = audit[audit["transport"] == "http"]
    assert "materialize_assets" in set(mine["target"])
    assert mine["client"].str.contains("token:mcp-token").all()
    assert not audit.astype(str).apply(lambda col: col.str.contains(TOKEN)).any().any()


def test_refusals_without_permission_traversal_and_oversized_arguments(
    world: dict[str, Any],
) -> None:
    async def session() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with stdio_client(_stdio(world)) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            for tool, args in [
                ("materialize_assets", {"keys": [CHEAP_ASSET]}),
                ("launch_job", {"job": "content_marketing_job"}),
                ("acknowledge_incident", {"incident_id": "inc-1", "reviewer": "ana"}),
                ("approve_review", {"item_id": "item-1", "reviewer": "ana"}),
            ]:
                out[tool] = await s.call_tool(tool, args)
            out["big_string"] = await s.call_tool("list_assets", {"group": "x" * 1_000_000})
            out["many_keys"] = await s.call_tool("asset_lineage", {"key": ["k"] * 10_000})
            out["many_keys_list"] = await s.call_tool(
                "materialize_assets", {"keys": [f"k{i}" for i in range(10_000)]}
            )
            out["big_config"] = await s.call_tool(
                "launch_job", {"job": "x", "run_config": {f"k{i}": i for i in range(10_000)}}
            )
            for name, uri in [
                ("dotdot", "report://market_research/../../outside.md"),
                ("encoded", "report://%2E%2E/outside.md"),
                ("absolute", "report:///etc/passwd"),
                ("symlink", "report://escape.md"),
            ]:
                try:
                    out[name] = await s.read_resource(uri)
                except Exception as exc:  # noqa: BLE001 - the refusal is what is tested
                    out[name] = exc
        return out

    launched = {"mcp/launched_by": "mcp_server"}
    with _instance(world) as instance:
        before = len(instance.get_run_records(dg.RunsFilter(tags=launched)))
    out = asyncio.run(session())
    for tool in ("materialize_assets", "launch_job", "acknowledge_incident", "approve_review"):
        assert out[tool].is_error, tool
        assert "MCP_ALLOW_MUTATIONS=true" in _text(out[tool]), _text(out[tool])
    assert out["big_string"].is_error
    assert "at most 100 characters" in _text(out["big_string"])
    assert len(_text(out["big_string"])) < 2000  # the message does not echo the megabyte
    assert out["many_keys"].is_error and "valid string" in _text(out["many_keys"])
    assert "at most 100 items" in _text(out["many_keys_list"])
    assert "bytes as JSON" in _text(out["big_config"])
    for name in ("dotdot", "encoded", "absolute", "symlink"):
        assert isinstance(out[name], Exception), f"{name} was served: {out[name]}"
    assert "outside the reports folder" in str(out["symlink"])
    with _instance(world) as instance:  # nothing was launched
        assert len(instance.get_run_records(dg.RunsFilter(tags=launched))) == before

    audit = _audit_until(world, lambda df: (df["outcome"] == "refused").sum() >= 8)
    refused = audit[audit["outcome"] == "refused"]
    assert set(refused["target"]) >= {"materialize_assets", "acknowledge_incident"}
    gate = refused[refused["target"] == "approve_review"].iloc[0]
    assert "MCP_ALLOW_MUTATIONS" in gate["error"]
    big = audit[audit["arguments"].str.contains("1000000 chars")]
    assert len(big) == 1 and len(big.iloc[0]["arguments"]) <= 500


def test_http_does_not_start_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestration_project.cli import main

    monkeypatch.delenv("MCP_TOKEN", raising=False)
    assert main(["mcp", "--transport", "http"]) == 2
    assert "MCP_TOKEN" in capsys.readouterr().err
