"""The web inbox's rules, through real HTTP on loopback (no browser): sign-in, CSRF on every
POST, escaped output, only permitted people decide. Approving by clicking in Chromium is in
tests/assets/test_business_processes.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.business_processes import EventStore, ProcessEngine, bundled_processes
from orchestration_project.business_processes.inbox import InboxServer, start_inbox

USERS = {"alice": "pw-a", "bob": "pw-b", "carol": "pw-c"}


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[InboxServer]:
    engine = ProcessEngine(
        EventStore(CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")),
        bundled_processes(),
        clock=lambda: datetime(2026, 12, 1, 9, tzinfo=UTC),
    )
    engine.start(
        "invoice_approval",
        "inv:x",
        {"amount": 5000.0, "currency": "EUR", "vendor": "<script>alert('x')</script> Ltd"},
    )
    server = start_inbox(engine, USERS)
    yield server
    server.stop()


def _sign_in(url: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=True, timeout=5)
    page = client.get("/login")
    token = re.search(r"name='csrf_token' value='([^']+)'", page.text).group(1)
    resp = client.post(
        "/login", data={"csrf_token": token, "user": user, "password": USERS[user], "next": "/"}
    )
    assert resp.status_code == 200 and "My tasks" in resp.text
    return client


def _task_page(client: httpx.Client) -> tuple[str, str, str]:
    listing = client.get("/").text
    href = re.search(r"href='(/tasks/[^']+)'", listing).group(1)
    page = client.get(href).text
    csrf = re.search(r"name='csrf_token' value='([^']+)'", page).group(1)
    return href, page, csrf


def test_signed_out_people_are_sent_to_sign_in(inbox: InboxServer) -> None:
    resp = httpx.get(inbox.url + "/", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
    bad = httpx.Client(base_url=inbox.url, follow_redirects=True)
    page = bad.get("/login")
    token = re.search(r"name='csrf_token' value='([^']+)'", page.text).group(1)
    resp = bad.post("/login", data={"csrf_token": token, "user": "alice", "password": "wrong"})
    assert resp.status_code == 401


def test_output_is_escaped(inbox: InboxServer) -> None:
    client = _sign_in(inbox.url, "alice")
    _, page, _ = _task_page(client)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Ltd" in page


def test_a_post_without_the_csrf_token_is_refused(inbox: InboxServer) -> None:
    client = _sign_in(inbox.url, "alice")
    href, _, csrf = _task_page(client)
    for token in ("", "forged"):
        resp = client.post(f"{href}/decide", data={"csrf_token": token, "outcome": "approve"})
        assert resp.status_code == 403 and "Security check failed" in resp.text
    assert "status <b id='status'>open</b>" in client.get(href).text
    resp = client.post(f"{href}/decide", data={"csrf_token": csrf, "outcome": "approve"})
    assert resp.status_code == 200 and "approve recorded for inv:x" in resp.text


def test_people_outside_the_role_cannot_decide(inbox: InboxServer) -> None:
    alice = _sign_in(inbox.url, "alice")
    href, _, _ = _task_page(alice)
    carol = _sign_in(inbox.url, "carol")
    assert "No open tasks for you" in carol.get("/").text
    page = carol.get(href).text
    assert "you may not decide it" in page
    csrf = re.search(r"name='csrf_token' value='([^']+)'", page).group(1)
    resp = carol.post(f"{href}/decide", data={"csrf_token": csrf, "outcome": "approve"})
    assert resp.status_code == 403 and "carol may not decide" in resp.text


def test_a_task_reassigned_in_the_inbox_moves_to_the_new_person(inbox: InboxServer) -> None:
    alice = _sign_in(inbox.url, "alice")
    href, page, csrf = _task_page(alice)
    assert "<option value='bob'>bob</option>" in page
    resp = alice.post(f"{href}/reassign", data={"csrf_token": csrf, "to": "bob", "reason": ""})
    assert resp.status_code == 400 and "reason is required" in resp.text
    resp = alice.post(
        f"{href}/reassign", data={"csrf_token": csrf, "to": "bob", "reason": "on leave"}
    )
    assert resp.status_code == 200 and "inv:x reassigned to bob" in resp.text
    assert "No open tasks for you" in alice.get("/").text
    bob = _sign_in(inbox.url, "bob")
    page = bob.get(href).text
    assert "<b id='assignee'>bob</b>" in page
    assert "alice reassigned" in page and "on leave" in page
