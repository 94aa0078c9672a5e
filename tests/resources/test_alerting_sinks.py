"""Alert sinks and the alerting resource.

No mocks: every HTTP case is a real ``ThreadingHTTPServer`` on 127.0.0.1 answering as scripted,
and the file sink writes a real file.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import pytest

from orchestration_project.operations.alerting import (
    Alert,
    AlertManager,
    InMemoryAlertStore,
    Notification,
)
from resources.alerting import (
    AlertingResource,
    DeliveryError,
    FileSink,
    LogSink,
    SlackSink,
    WebhookSink,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TOKEN = "xoxb-1234-5678-test-token"


def _notifications() -> list[Notification]:
    """Two real notifications from the manager: a critical job and a warning route."""

    def alert(rule: str, kind: str, subject: str, severity: str) -> Alert:
        return Alert(
            rule=rule,
            kind="threshold",
            severity=severity,  # type: ignore[arg-type]
            subject_kind=kind,
            subject=subject,
            value=0.5,
            threshold=0.9,
            message=f"{rule} crossed <limit> & more",
            at=NOW,
        )

    batch = [
        alert("job_success_rate", "job", "nightly", "warning"),
        alert("job_error_budget_burn", "job", "nightly", "critical"),
        alert("route_error_rate", "route", "GET /things", "warning"),
    ]
    return AlertManager(InMemoryAlertStore()).process(batch, now=NOW)


class StubServer:
    """A loopback HTTP server that records each POST and answers from a script.

    ``script`` entries are ``(status, json_body, headers)``; when it runs out the server answers
    ``default``. ``slack=True`` makes it check ``Authorization: Bearer <TOKEN>`` first, answering
    ``{"ok": false, "error": "invalid_auth"}`` like Slack does.
    """

    def __init__(self, *, slack: bool = False) -> None:
        """Start on an ephemeral port."""
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple[int, Any, dict[str, str]]] = []
        self.default: tuple[int, Any, dict[str, str]] = (200, {"ok": True}, {})
        server = self

        class Handler(BaseHTTPRequestHandler):
            """Records the request, answers the next scripted response."""

            def log_message(self, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                """Record and answer."""
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(raw) if raw else None,
                        "t": time.monotonic(),
                    }
                )
                status, body, headers = server.script.pop(0) if server.script else server.default
                if slack and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    status, body, headers = 200, {"ok": False, "error": "invalid_auth"}, {}
                if slack and self.path != "/api/chat.postMessage":
                    status, body, headers = 404, {"ok": False, "error": "unknown_method"}, {}
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[StubServer]:
    """A generic webhook receiver."""
    s = StubServer()
    yield s
    s.stop()


@pytest.fixture
def slack() -> Iterator[StubServer]:
    """A local stand-in for the Slack Web API (Slack itself cannot be reached from here)."""
    s = StubServer(slack=True)
    s.default = (200, {"ok": True, "channel": "C123", "ts": "1764072000.000100"}, {})
    yield s
    s.stop()


def _closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- log and file -----------------------------------------------------------------------------


def test_log_sink_logs_at_a_level_by_severity(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="orchestration_project.alerts")
    for n in _notifications():
        LogSink().send(n)
    levels = [(r.levelno, r.getMessage().splitlines()[0]) for r in caplog.records]
    assert levels[0][0] == logging.ERROR and "[CRITICAL] job nightly" in levels[0][1]
    assert levels[1][0] == logging.WARNING and "route GET /things" in levels[1][1]


def test_file_sink_appends_one_json_line_per_notification(tmp_path) -> None:
    path = tmp_path / "alerts" / "notifications.jsonl"
    path.parent.mkdir()
    path.write_text('{"earlier": true}\n')
    sink = FileSink(path)
    notes = _notifications()
    for n in notes:
        sink.send(n)
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"earlier": True}  # append-only
    first, second = (json.loads(x) for x in lines[1:])
    assert (first["subject_kind"], first["subject"], first["severity"]) == (
        "job",
        "nightly",
        "critical",
    )
    assert [a["rule"] for a in first["alerts"]] == ["job_error_budget_burn", "job_success_rate"]
    assert [a["alert_id"] for a in first["alerts"]] == list(notes[0].alert_ids)
    assert first["alerts"][0]["fingerprint"] and first["at"] == NOW.isoformat()
    assert second["subject"] == "GET /things" and len(second["alerts"]) == 1


# -- webhook ----------------------------------------------------------------------------------


def test_webhook_posts_the_notification_as_json(server: StubServer) -> None:
    n = _notifications()[0]
    WebhookSink(server.base + "/hook", 2.0, headers={"X-Token": "s3cret"}).send(n)
    (req,) = server.requests
    assert req["path"] == "/hook" and req["headers"]["X-Token"] == "s3cret"
    assert req["body"] == json.loads(json.dumps(n.to_dict()))


def test_webhook_retries_after_a_503(server: StubServer) -> None:
    server.script = [(503, {"error": "busy"}, {})]
    sink = WebhookSink(server.base + "/hook", 2.0, backoff_s=0.05)
    sink.send(_notifications()[0])
    assert len(server.requests) == 2 and sink.attempts == 2
    assert server.requests[0]["body"] == server.requests[1]["body"]


def test_webhook_gives_up_after_max_attempts_and_reports_failure(server: StubServer) -> None:
    server.default = (500, {"error": "down"}, {})
    sink = WebhookSink(server.base + "/hook", 2.0, max_attempts=3, backoff_s=0.02)
    with pytest.raises(DeliveryError, match="gave up after 3 attempts.*HTTP 500"):
        sink.send(_notifications()[0])
    assert len(server.requests) == 3


def test_webhook_client_errors_are_not_retried(server: StubServer) -> None:
    server.default = (400, {"error": "bad payload"}, {})
    with pytest.raises(DeliveryError, match="HTTP 400"):
        WebhookSink(server.base + "/hook", 2.0, backoff_s=0.02).send(_notifications()[0])
    assert len(server.requests) == 1


def test_webhook_retries_connection_errors_then_fails() -> None:
    sink = WebhookSink(
        f"http://127.0.0.1:{_closed_port()}/hook", 1.0, max_attempts=2, backoff_s=0.02
    )
    with pytest.raises(DeliveryError, match="connection failed"):
        sink.send(_notifications()[0])
    assert sink.attempts == 2


def test_a_failing_webhook_does_not_stop_the_file_sink(tmp_path) -> None:
    path = tmp_path / "notifications.jsonl"
    resource = AlertingResource(
        file_path=str(path),
        webhook_url=f"http://127.0.0.1:{_closed_port()}/hook",  # nothing listens there
        timeout_s=1.0,
        max_attempts=2,
        backoff_s=0.02,
    )
    notes = _notifications()
    results = resource.deliver(notes)
    assert [r.sink for r in results] == ["log", "file", "webhook"] * 2
    assert [r.ok for r in results] == [True, True, False] * 2
    assert all("connection failed" in (r.error or "") for r in results if r.sink == "webhook")
    assert len(path.read_text().splitlines()) == 2
    assert [(r.subject_kind, r.subject) for r in results[::3]] == [
        ("job", "nightly"),
        ("route", "GET /things"),
    ]


# -- Slack ------------------------------------------------------------------------------------


def test_slack_posts_chat_post_message_with_the_bearer_token(slack: StubServer) -> None:
    """Against a local stand-in for Slack's Web API, because Slack cannot be reached here: it
    checks the bearer token and the path and answers ``{"ok": true, "ts": ...}`` as Slack does."""
    n = _notifications()[0]
    answer = SlackSink(TOKEN, "#ops-alerts", slack.base + "/api").post(n)
    assert answer["ok"] is True and answer["ts"]
    (req,) = slack.requests
    assert req["path"] == "/api/chat.postMessage"
    assert req["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert req["headers"]["Content-Type"].startswith("application/json")
    body = req["body"]
    assert body["channel"] == "#ops-alerts"
    assert "[CRITICAL] job nightly" in body["text"] and "&lt;limit&gt; &amp; more" in body["text"]
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert body["blocks"][0]["text"]["text"] == "CRITICAL: job nightly"
    assert ":rotating_light:" in body["blocks"][1]["text"]["text"]
    assert n.alert_ids[0] in body["blocks"][-1]["elements"][0]["text"]


def test_slack_error_answer_is_reported_without_retry_or_token(slack: StubServer) -> None:
    """Local Slack stand-in: ``{"ok": false, "error": "channel_not_found"}`` with HTTP 200."""
    slack.script = [(200, {"ok": False, "error": "channel_not_found"}, {})]
    sink = SlackSink(TOKEN, "#nowhere", slack.base + "/api", backoff_s=0.02)
    with pytest.raises(DeliveryError, match="channel_not_found") as info:
        sink.send(_notifications()[0])
    assert TOKEN not in str(info.value)
    assert len(slack.requests) == 1


def test_slack_wrong_token_is_reported(slack: StubServer) -> None:
    """Local Slack stand-in: a token it does not know gets ``invalid_auth``."""
    sink = SlackSink("xoxb-wrong-token", "#ops-alerts", slack.base + "/api")
    with pytest.raises(DeliveryError, match="invalid_auth") as info:
        sink.send(_notifications()[0])
    assert "xoxb-wrong-token" not in str(info.value)


def test_slack_rate_limit_waits_for_retry_after_then_posts(slack: StubServer) -> None:
    """Local Slack stand-in: HTTP 429 with ``Retry-After: 1``, then ``{"ok": true}``."""
    slack.script = [(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})]
    sink = SlackSink(TOKEN, "#ops-alerts", slack.base + "/api", backoff_s=0.01)
    answer = sink.post(_notifications()[0])
    assert answer["ok"] is True and sink.attempts == 2
    first, second = slack.requests
    assert second["t"] - first["t"] >= 0.95  # the Retry-After was honoured, not the back-off


# -- the resource -----------------------------------------------------------------------------


def test_sinks_include_slack_only_when_a_token_is_configured(tmp_path) -> None:
    assert [s.name for s in AlertingResource().sinks()] == ["log"]
    full = AlertingResource(
        file_path=str(tmp_path / "a.jsonl"), webhook_url="http://127.0.0.1:9/x", slack_token=TOKEN
    )
    assert [s.name for s in full.sinks()] == ["log", "file", "webhook", "slack"]
    assert (
        AlertingResource(cooldown_minutes=5).manager(InMemoryAlertStore()).cooldown.seconds == 300
    )


def test_resource_reads_the_slack_token_from_the_environment_at_run_time(
    slack: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    configured = AlertingResource(
        slack_token=dg.EnvVar("SLACK_BOT_TOKEN"), slack_base_url=slack.base + "/api"
    )
    with dg.build_resources({"alerting": configured}) as resources:
        results = resources.alerting.deliver(_notifications())
    assert [(r.sink, r.ok) for r in results] == [("log", True), ("slack", True)] * 2
    assert all(r["headers"]["Authorization"] == f"Bearer {TOKEN}" for r in slack.requests)
