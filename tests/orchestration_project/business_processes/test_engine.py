"""The engine on a real coordination store: paths through the invoice process, people's
rights, SLA escalation on an injected clock, the projection rebuilt from the events, and the
database refusing edits to past events (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.business_processes import (
    EventStore,
    InstanceExists,
    NotAllowed,
    ProcessEngine,
    ProcessError,
    TaskClosed,
    bundled_processes,
)
from orchestration_project.business_processes.timeline import timeline_markdown
from tests.backends import backends, temporary_store_url

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[CoordinationStore]:
    s = CoordinationStore(f"sqlite:///{tmp_path / 'coord.db'}")
    yield s
    s.dispose()


def _engine(store: CoordinationStore, clock: Clock) -> ProcessEngine:
    return ProcessEngine(EventStore(store), bundled_processes(), clock=clock)


def _open(state: dict) -> dict:
    (task,) = [t for t in state["tasks"].values() if t["status"] == "open"]
    return task


def test_small_invoices_are_approved_automatically_and_paid(sqlite_store) -> None:
    engine = _engine(sqlite_store, Clock())
    s = engine.start("invoice_approval", "inv:1", {"amount": 999.99, "currency": "EUR"})
    assert (s["step"], s["waiting"], s["tasks"]) == ("payment", "system", {})
    s = engine.complete_step("inv:1", "payment", data={"payment_batch": "b1"})
    assert (s["status"], s["outcome"], s["human_decisions"]) == ("completed", "paid", 0)
    assert s["data"]["payment_batch"] == "b1"
    with pytest.raises(InstanceExists):
        engine.start("invoice_approval", "inv:1", {"amount": 1})
    assert (
        engine.start("invoice_approval", "inv:1", {"amount": 1}, exist_ok=True)["seq"] == s["seq"]
    )


def test_large_invoices_need_two_different_approvers(sqlite_store) -> None:
    clock = Clock()
    engine = _engine(sqlite_store, clock)
    s = engine.start("invoice_approval", "inv:2", {"amount": 25_000.0, "currency": "EUR"})
    first = _open(s)
    assert (first["step"], first["assignee"]) == ("approval", "approvers")
    with pytest.raises(NotAllowed, match="carol may not decide"):
        engine.decide(first["task_id"], "approve", by="carol")
    with pytest.raises(ProcessError, match="reason is required"):
        engine.decide(first["task_id"], "reject", by="alice")
    clock.advance(hours=2)
    s = engine.decide(first["task_id"], "approve", by="alice", reason="matches PO")
    second = _open(s)
    assert (second["step"], second["assignee"]) == ("second_approval", "senior_approvers")
    with pytest.raises(TaskClosed):
        engine.decide(first["task_id"], "approve", by="bob")
    # alice is made a senior approver too, for this test: four eyes still refuses her.
    engine.definitions["invoice_approval"].roles["senior_approvers"].append("alice")
    try:
        with pytest.raises(NotAllowed, match="four eyes"):
            engine.decide(second["task_id"], "approve", by="alice")
    finally:
        engine.definitions["invoice_approval"].roles["senior_approvers"].remove("alice")
    s = engine.decide(second["task_id"], "approve", by="carol", reason="budget ok")
    assert (s["step"], s["waiting"], s["human_decisions"]) == ("payment", "system", 2)


def test_a_rejection_ends_the_instance_with_who_when_and_why(sqlite_store) -> None:
    clock = Clock()
    engine = _engine(sqlite_store, clock)
    s = engine.start("invoice_approval", "inv:3", {"amount": 5_000.0, "currency": "EUR"})
    task = _open(s)
    s = engine.reassign(task["task_id"], "bob", by="alice", reason="bob knows this vendor")
    assert _open(s)["assignee"] == "bob"
    with pytest.raises(NotAllowed):
        engine.decide(task["task_id"], "reject", by="alice", reason="x")
    with pytest.raises(NotAllowed, match="neither a role nor a person"):
        engine.reassign(task["task_id"], "mallory", by="bob", reason="x")
    clock.advance(minutes=30)
    s = engine.decide(task["task_id"], "reject", by="bob", reason="duplicate of a paid invoice")
    assert (s["status"], s["outcome"]) == ("completed", "rejected")
    done = s["tasks"][task["task_id"]]
    assert (done["decided_by"], done["reason"]) == ("bob", "duplicate of a paid invoice")
    assert done["decided_at"] == (START + timedelta(minutes=30)).isoformat(timespec="microseconds")
    md = timeline_markdown(engine.events.events("inv:3"))
    assert "alice reassigned" in md and "bob decided reject on approval: duplicate" in md


def test_an_overdue_task_escalates_level_by_level_on_the_clock(sqlite_store) -> None:
    clock = Clock()
    engine = _engine(sqlite_store, clock)
    s = engine.start("invoice_approval", "inv:4", {"amount": 4_000.0, "currency": "USD"})
    task = _open(s)
    clock.advance(hours=23, minutes=59)
    assert engine.escalate_overdue() == []  # not due yet
    clock.advance(hours=1, minutes=1)  # 1 h overdue (the SLA is 1 d)
    (notice,) = engine.escalate_overdue()
    assert (notice.level, notice.severity, notice.notify) == (1, "warning", ("erin",))
    assert notice.reassigned_to is None and notice.overdue_minutes == 60
    assert engine.escalate_overdue() == []  # the same level never twice
    clock.advance(hours=8)  # level 1 extended the SLA by 8 h
    (notice,) = engine.escalate_overdue()
    assert (notice.level, notice.severity, notice.reassigned_to) == (2, "critical", "finance_leads")
    state = engine.state("inv:4")
    assert state["tasks"][task["task_id"]]["assignee"] == "finance_leads"
    assert [t["task_id"] for t in engine.tasks_for("erin")] == [task["task_id"]]
    assert engine.tasks_for("alice") == []
    clock.advance(days=5)
    assert engine.escalate_overdue() == []  # the YAML's last level was reached
    s = engine.decide(task["task_id"], "approve", by="erin")
    assert s["escalations"] == 2 and s["step"] == "payment"


@pytest.mark.parametrize("backend", backends())
def test_the_projection_rebuilt_from_events_equals_the_live_state(
    backend: str, tmp_path: Path
) -> None:
    with temporary_store_url(backend, tmp_path) as url:
        store = CoordinationStore(url)
        clock = Clock()
        engine = _engine(store, clock)
        for i, amount in enumerate([100.0, 3_000.0, 20_000.0, 7_000.0, 50.0]):
            engine.start("invoice_approval", f"inv:{i}", {"amount": amount, "currency": "EUR"})
            clock.advance(minutes=7)
        engine.start("onboarding_exception", "onboarding:C1", {"external_ref": "C1"})
        t1 = _open(engine.state("inv:1"))
        engine.decide(t1["task_id"], "approve", by="bob", reason="ok")
        t2 = _open(engine.state("inv:2"))
        engine.decide(t2["task_id"], "approve", by="alice")
        engine.reassign(_open(engine.state("inv:3"))["task_id"], "alice", by="bob", reason="leave")
        clock.advance(days=2)
        assert len(engine.escalate_overdue()) == 3  # inv:2 second approval, inv:3, onboarding
        engine.complete_step("inv:0", "payment", data={"payment_batch": "b"})
        live = {s["instance_id"]: s for s in engine.events.instances()}
        live_tasks = engine.events.tasks(status=None)
        assert engine.events.projection_mismatches() == []
        assert engine.events.rebuild() == 6
        assert {s["instance_id"]: s for s in engine.events.instances()} == live
        assert engine.events.tasks(status=None) == live_tasks
        assert engine.events.replayed() == live
        store.dispose()


@pytest.mark.parametrize("backend", backends())
def test_the_database_refuses_to_edit_or_delete_past_events(backend: str, tmp_path: Path) -> None:
    with temporary_store_url(backend, tmp_path) as url:
        store = CoordinationStore(url)
        engine = _engine(store, Clock())
        engine.start("invoice_approval", "inv:9", {"amount": 5.0, "currency": "EUR"})
        before = [e.to_dict() for e in engine.events.events()]
        attempts = [
            "UPDATE bp_events SET actor = 'someone else'",
            "UPDATE bp_events SET payload = '{}' WHERE seq = 1",
            "DELETE FROM bp_events WHERE seq = 2",
            "DELETE FROM bp_events",
        ]
        if backend == "postgres":
            attempts.append("TRUNCATE bp_events")
        for sql in attempts:
            # straight to the database, not through the event store's code
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.transaction() as c:
                c.exec_driver_sql(sql)
        assert [e.to_dict() for e in engine.events.events()] == before
        # appending still works, and the projection may be rebuilt at will
        engine.complete_step("inv:9", "payment")
        assert engine.events.rebuild() == 1
        assert engine.state("inv:9")["outcome"] == "paid"
        store.dispose()


def test_two_people_deciding_one_task_at_once_record_one_decision(sqlite_store) -> None:
    a = _engine(sqlite_store, Clock())
    b = _engine(sqlite_store, Clock())
    task = _open(a.start("invoice_approval", "inv:5", {"amount": 2_000.0, "currency": "EUR"}))
    a.decide(task["task_id"], "approve", by="alice")
    with pytest.raises(TaskClosed, match="approve by alice"):
        b.decide(task["task_id"], "reject", by="bob", reason="too late")
    decided = [e for e in a.events.events("inv:5") if e.type == "task_decided"]
    assert [(e.actor, e.payload["outcome"]) for e in decided] == [("alice", "approve")]
