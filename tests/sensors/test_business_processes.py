"""Business-process sensors, one tick at a time: the invoice inbox (run keys from names and
content hashes, the cursor), the SLA watch (escalation on an injected clock, notifications
through the alerting file sink) and payments ready."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from assets.business_processes.common import process_engine
from orchestration_project.business_processes.samples import write_demo_invoices
from resources.alerting import AlertingResource
from resources.coordination import CoordinationResource
from sensors.business_processes import (
    defs,
    invoice_inbox_sensor,
    onboarding_review_sensor,
    payment_ready_sensor,
    process_sla_sensor,
)


def test_every_sensor_runs_by_default() -> None:
    for sensor in defs.sensors:
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_new_invoice_files_start_one_run_and_never_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = tmp_path / "inbox"
    monkeypatch.setenv("INVOICE_INBOX", str(inbox))
    demo = write_demo_invoices(inbox, tmp_path / "po.csv", n=4, seed=1, faults=False)
    result = invoice_inbox_sensor(dg.build_sensor_context())
    (request,) = result.run_requests
    files = request.run_config["ops"]["invoice_intake"]["config"]["files"]
    assert sorted(files) == sorted(str(p) for p in demo.files)
    assert request.run_key.startswith("invoices:")
    # a restart that lost the cursor sees the same files: the same run key (Dagster dedups)
    restarted = invoice_inbox_sensor(dg.build_sensor_context())
    assert restarted.run_requests[0].run_key == request.run_key
    # the next tick, with the cursor Dagster kept: nothing new
    again = invoice_inbox_sensor(dg.build_sensor_context(cursor=result.cursor))
    assert again.run_requests == []
    # one more file: one run for it alone
    more = write_demo_invoices(inbox, tmp_path / "po.csv", n=1, seed=2, faults=False, prefix="X")
    third = invoice_inbox_sensor(dg.build_sensor_context(cursor=again.cursor))
    (request,) = third.run_requests
    assert request.run_config["ops"]["invoice_intake"]["config"]["files"] == [
        str(p) for p in more.files
    ]


def test_an_overdue_task_is_escalated_and_people_are_notified(tmp_path: Path) -> None:
    coordination = CoordinationResource(url=f"sqlite:///{tmp_path / 'coord.db'}")
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    past = process_engine(coordination, clock=lambda: two_days_ago)
    state = past.start("invoice_approval", "inv:late", {"amount": 4000.0, "currency": "EUR"})
    past.start("invoice_approval", "inv:fresh-auto", {"amount": 10.0, "currency": "EUR"})
    (task_id,) = state["tasks"]
    alerts = tmp_path / "alerts.jsonl"
    resources = {"coordination": coordination, "alerting": AlertingResource(file_path=str(alerts))}
    with dg.build_sensor_context(resources=resources) as context:
        skip = process_sla_sensor(context)
    assert "escalated 1 overdue task" in skip.skip_message
    (line,) = alerts.read_text().splitlines()
    sent = json.loads(line)
    assert (sent["subject_kind"], sent["subject"], sent["severity"]) == (
        "process_task",
        "inv:late/approval",
        "warning",
    )
    assert "notify erin" in sent["text"]
    task = process_engine(coordination).state("inv:late")["tasks"][task_id]
    assert task["escalation_level"] == 1
    # level 1 gave 8 more hours: the next tick has nothing to do
    with dg.build_sensor_context(resources=resources) as context:
        assert process_sla_sensor(context).skip_message == "no task is overdue"
    assert len(alerts.read_text().splitlines()) == 1


def test_approved_invoices_waiting_for_payment_request_an_export(tmp_path: Path) -> None:
    coordination = CoordinationResource(url=f"sqlite:///{tmp_path / 'coord.db'}")
    resources = {"coordination": coordination}
    with dg.build_sensor_context(resources=resources) as context:
        assert isinstance(payment_ready_sensor(context), dg.SkipReason)
    engine = process_engine(coordination)
    engine.start("invoice_approval", "inv:a", {"amount": 10.0})
    engine.start("invoice_approval", "inv:b", {"amount": 20.0})
    with dg.build_sensor_context(resources=resources) as context:
        first = payment_ready_sensor(context).run_requests[0]
    with dg.build_sensor_context(resources=resources) as context:
        assert payment_ready_sensor(context).run_requests[0].run_key == first.run_key
    engine.complete_step("inv:a", "payment")
    with dg.build_sensor_context(resources=resources) as context:
        assert payment_ready_sensor(context).run_requests[0].run_key != first.run_key


def test_a_new_onboarding_review_queue_starts_the_exception_path_once() -> None:
    with dg.instance_for_test() as instance:
        (nothing,) = onboarding_review_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(nothing, dg.SkipReason)
        instance.report_runless_asset_event(dg.AssetMaterialization("onboarding_review_queue"))
        context = dg.build_sensor_context(instance=instance)
        (request,) = list(onboarding_review_sensor(context))
        assert request.run_key.startswith("onboarding-review:")
        again = dg.build_sensor_context(instance=instance, cursor=context.cursor)
        assert all(isinstance(r, dg.SkipReason) for r in onboarding_review_sensor(again))
