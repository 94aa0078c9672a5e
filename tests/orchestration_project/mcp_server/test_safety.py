"""The MCP server's rules and its domain actions, in process: report paths, argument limits,
secret-free audit summaries, the token verifier, the settings, and the mutating tools against a
real coordination store and warehouse (through the SDK's in-process ``mcp.Client``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from orchestration_project.agents.coordination.conflicts import Decision
from orchestration_project.common.time import utcnow
from orchestration_project.mcp_server.audit import AuditLog, read_audit
from orchestration_project.mcp_server.queries import Platform
from orchestration_project.mcp_server.safety import (
    McpSettings,
    PathRefused,
    StaticTokenVerifier,
    bounded_json,
    resolve_report_path,
    summarise_arguments,
)
from orchestration_project.mcp_server.server import build_server
from orchestration_project.operations.healing import CircuitBreakers, Healer, OpsSettings
from orchestration_project.operations.recommendations import RETRY_BUDGET, Recommendation
from orchestration_project.operations.review import ReviewQueue
from orchestration_project.research.resolution import write_decision
from resources.environment import local_resources
from resources.routing import route_breaker


def test_a_report_path_must_stay_inside_the_reports_folder(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    (root / "incidents").mkdir(parents=True)
    (root / "incidents" / "inc-1.md").write_text("# inc-1")
    (tmp_path / "outside.md").write_text("secret")
    (root / "escape.md").symlink_to(tmp_path / "outside.md")
    (root / "linked").symlink_to(tmp_path)

    assert resolve_report_path(root, "incidents/inc-1.md") == (root / "incidents/inc-1.md")
    for bad, why in [
        ("/etc/passwd", "absolute"),
        ("../outside.md", ".."),
        ("incidents/../../outside.md", ".."),
        ("incidents\\..\\..\\outside.md", "backslash"),
        ("escape.md", "outside"),
        ("linked/outside.md", "outside"),
        ("incidents/inc-1.md\x00.png", "NUL"),
        ("incidents/run.py", "not a report"),
        ("x" * 600 + ".md", "characters"),
    ]:
        with pytest.raises(PathRefused, match=why):
            resolve_report_path(root, bad)


def test_audit_summaries_hide_secrets_and_stay_short() -> None:
    args = {
        "job": "content_marketing_job",
        "run_config": {"resources": {"crm": {"config": {"password": "hunter22", "api_key": "k"}}}},
        "note": "the token is tok-123456789abcdef, do not log it",
        "keys": [f"k{i}" for i in range(10_000)],
        "blob": "x" * 1_000_000,
    }
    text = summarise_arguments(args, secrets=("tok-123456789abcdef",))
    assert "hunter22" not in text and '"password": "***"' in text
    assert "tok-123456789abcdef" not in text
    assert len(text) <= 500
    assert "10000 items" in text and "1000000 chars" in text


def test_a_run_config_is_bounded_in_size_and_depth() -> None:
    assert bounded_json({"ops": {"a": {"config": {"n": 1}}}}) == {
        "ops": {"a": {"config": {"n": 1}}}
    }
    with pytest.raises(ValueError, match="bytes as JSON"):
        bounded_json({f"k{i}": i for i in range(10_000)})
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(ValueError, match="nested deeper"):
        bounded_json(deep)


def test_the_token_verifier_accepts_only_the_token_and_keeps_no_copy() -> None:
    verifier = StaticTokenVerifier("s3cret-token-0123456789")
    good = asyncio.run(verifier.verify_token("s3cret-token-0123456789"))
    assert good is not None and good.client_id == "mcp-token"
    assert "s3cret" not in good.token
    assert asyncio.run(verifier.verify_token("s3cret-token-012345678")) is None
    assert asyncio.run(verifier.verify_token("")) is None


def test_settings_are_read_only_and_loopback_by_default_and_http_needs_a_token() -> None:
    default = McpSettings.from_env({})
    assert default.allow_mutations is False and default.host == "127.0.0.1"
    assert McpSettings.from_env({"MCP_ALLOW_MUTATIONS": "true"}).allow_mutations is True
    with pytest.raises(ValueError, match="MCP_TOKEN"):
        McpSettings.from_env({}, transport="http").check()
    with pytest.raises(ValueError, match="too short"):
        McpSettings.from_env({"MCP_TOKEN": "short"}, transport="http").check()
    ok = McpSettings.from_env({"MCP_TOKEN": "a" * 32, "MCP_HOST": "0.0.0.0"}, transport="http")
    ok.check()
    assert ok.host == "0.0.0.0" and "a" * 32 not in repr(ok)


# -- the mutating tools against the real stores ---------------------------------------------------


@pytest.fixture
def platform(tmp_path: Path) -> Platform:
    return Platform(local_resources(data=tmp_path), launch_dir=tmp_path / "launches")


def _call(platform: Platform, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Run tool calls (``prompt:<name>`` gets a prompt) through the SDK's in-process client;
    the results, in order."""
    audit = AuditLog(platform.warehouse)
    server = build_server(McpSettings(transport="memory", allow_mutations=True), platform, audit)

    async def run() -> list[Any]:
        async with Client(server) as client:
            return [
                await client.get_prompt(name.removeprefix("prompt:"), args)
                if name.startswith("prompt:")
                else await client.call_tool(name, args)
                for name, args in calls
            ]

    try:
        return asyncio.run(run())
    finally:
        audit.close()


def _text(result: Any) -> str:
    return " ".join(getattr(c, "text", "") for c in result.content)


def test_an_incident_is_acknowledged_then_resolved_by_a_named_person(platform: Platform) -> None:
    healer = Healer(platform.store)
    incident = healer.on_alert(
        subject_kind="job",
        subject="canary_job",
        severity="critical",
        message="error rate 40 % over 1 h",
        at=utcnow() - timedelta(minutes=5),
        rule="error_rate",
    )
    assert incident is not None
    iid = incident.incident_id
    prompt, listed, ack, resolved, again = _call(
        platform,
        [
            ("prompt:investigate_incident", {"incident_id": iid}),
            ("list_incidents", {}),
            ("acknowledge_incident", {"incident_id": iid, "reviewer": "ana", "note": "on it"}),
            ("resolve_incident", {"incident_id": iid, "reviewer": "ana", "note": "rolled back"}),
            ("resolve_incident", {"incident_id": iid, "reviewer": "bo"}),
        ],
    )
    text = prompt.messages[0].content.text
    assert f"Investigate incident {iid}" in text and "error rate 40 %" in text
    assert [i["incident_id"] for i in listed.structured_content["incidents"]] == [iid]
    actions = {a["action"]: a for a in ack.structured_content["actions"]}
    assert actions["acknowledged"]["detail"] == {"by": "ana", "note": "on it"}
    assert resolved.structured_content["status"] == "resolved"
    assert healer.incident(iid).status == "resolved"
    assert healer.incident(iid).closed_at is not None
    assert again.is_error and "is resolved: nothing to do" in _text(again)


def test_approving_a_review_applies_its_setting_with_the_reviewer(platform: Platform) -> None:
    queue = ReviewQueue(platform.store)
    rec = Recommendation(
        kind=RETRY_BUDGET,
        subject="canary_job",
        current=4,
        proposed=2,
        evidence={"counts": {"incidents": 6}, "text": "no incident needed a third attempt"},
    )
    assert queue.propose(rec) == "queued"
    listed, approved, twice = _call(
        platform,
        [
            ("list_reviews", {"queue": "ops"}),
            ("approve_review", {"item_id": rec.id, "reviewer": "ana", "note": "agreed"}),
            ("approve_review", {"item_id": rec.id, "reviewer": "bo"}),
        ],
    )
    assert [i["item_id"] for i in listed.structured_content["ops"]] == [rec.id]
    item = approved.structured_content
    assert item["status"] == "applied" and item["reviewer"] == "ana" and item["note"] == "agreed"
    assert OpsSettings(platform.store).get(rec.setting) == 2
    assert twice.is_error and "not pending" in _text(twice)


def test_a_research_decision_is_overridden_in_the_shared_context(platform: Platform) -> None:
    shared = platform._shared()
    key = "http://127.0.0.1:8701|acme-pro|price"
    write_decision(
        shared,
        "market.crawl-1",
        key,
        49.0,
        "USD",
        Decision(value=49.0, strategy="reliability_recency", confidence=0.4, rationale="tie"),
    )
    (result,) = _call(
        platform,
        [
            (
                "decide_research_review",
                {
                    "crawl_id": "crawl-1",
                    "key": key,
                    "reviewer": "ana",
                    "note": "list price on the site",
                    "value": 59.0,
                },
            )
        ],
    )
    assert not result.is_error, _text(result)
    fact = shared.get("market.crawl-1", key)
    assert fact.version == 2
    assert fact.value["value"] == 59.0 and fact.value["currency"] == "USD"
    assert fact.value["strategy"] == "human_review"
    assert fact.value["rationale"].startswith("ana overrode 49.0 with 59.0")


def test_a_route_recommendation_respects_an_open_breaker_without_consuming_it(
    platform: Platform,
) -> None:
    url = "http://127.0.0.1:8701/products/1"
    breakers = CircuitBreakers(platform.store)
    breakers.trip(route_breaker("http", "http://127.0.0.1:8701"), "test: http keeps failing")
    before = breakers.state(route_breaker("http", "http://127.0.0.1:8701"))
    first, second = _call(platform, [("route_recommendation", {"url": url})] * 2)
    for result in (first, second):
        rec = result.structured_content
        assert rec["route"] == "browser", rec
        assert rec["breakers"]["http"] == "open"
        assert "breaker open on http" in rec["reason"]
    assert breakers.state(route_breaker("http", "http://127.0.0.1:8701")) == before


def test_every_call_is_audited_in_the_warehouse(platform: Platform) -> None:
    _call(
        platform,
        [
            ("list_reports", {}),
            ("run_status", {"run_id": "not-a-run-id!"}),
            ("list_incidents", {"limit": 5}),
        ],
    )
    audit = read_audit(platform.warehouse)
    calls = audit[audit["method"] == "tools/call"]
    assert list(calls["target"]) == ["list_reports", "run_status", "list_incidents"]
    assert list(calls["outcome"]) == ["ok", "refused", "ok"]
    assert (calls["transport"] == "memory").all() and (calls["latency_ms"] > 0).all()
    assert calls.iloc[2]["arguments"] == '{"limit": 5}'
