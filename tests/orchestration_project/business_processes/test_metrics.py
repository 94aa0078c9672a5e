"""Scorecard figures from instances run through the engine on an injected clock, so every
figure is known in advance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.business_processes import (
    EventStore,
    ProcessEngine,
    bundled_processes,
    process_figures,
    scorecard_rows,
)
from orchestration_project.business_processes.timeline import plot_timelines


def test_cycle_times_sla_share_automation_and_minutes_saved(tmp_path: Path) -> None:
    now = [datetime(2026, 12, 1, 8, tzinfo=UTC)]
    engine = ProcessEngine(
        EventStore(CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")),
        bundled_processes(),
        clock=lambda: now[0],
    )
    # four auto-approved invoices paid after 10, 20, 30, 40 minutes
    for i in range(4):
        engine.start("invoice_approval", f"a{i}", {"amount": 100.0})
    for i in range(4):
        now[0] += timedelta(minutes=10)
        engine.complete_step(f"a{i}", "payment")
    # one manual invoice approved after 5 days (outside the 3-day process SLA), then paid
    t0 = now[0]
    state = engine.start("invoice_approval", "m1", {"amount": 2000.0})
    (task,) = state["tasks"]
    now[0] = t0 + timedelta(days=5)
    engine.decide(task, "approve", by="alice")
    engine.complete_step("m1", "payment")
    # one still waiting for a person: counted in instances, not in finished
    engine.start("invoice_approval", "m2", {"amount": 3000.0})
    minutes = {"invoice_approval": {"intake": 6.0, "route": 1.0, "approval": 4.0, "payment": 3.0}}
    (f,) = process_figures(engine.events.instances(), engine.definitions, minutes)
    assert (f.instances, f.finished) == (6, 5)
    assert f.cycle_p50_min == pytest.approx(30.0)
    assert f.cycle_p95_min == pytest.approx(40 + 0.8 * (5 * 1440 - 40))
    assert f.within_sla_share == pytest.approx(4 / 5)
    assert f.automated_share == pytest.approx(4 / 5)
    # saved: intake 6 for all six, route 1 for all six, payment 3 for the five paid
    assert f.manual_minutes_saved == pytest.approx(6 * 6 + 6 * 1 + 5 * 3)
    assert f.manual_minutes_left == pytest.approx(4.0)  # m1's approval by a person
    card = scorecard_rows([f])
    assert list(card.columns) == ["metric", "value", "goal", "comparison", "met", "n", "unit"]
    within = card.set_index("metric").loc["invoice_approval: finished within SLA"]
    assert (within["value"], within["goal"], within["met"]) == (pytest.approx(0.8), 0.95, False)
    assert card.set_index("metric").loc["invoice_approval: cycle time p50", "met"] is True
    assert plot_timelines(engine.events.instances(), tmp_path / "t.png").stat().st_size > 1000


def test_no_instances_no_figures() -> None:
    assert process_figures([], bundled_processes()) == []
    assert scorecard_rows([]).empty
