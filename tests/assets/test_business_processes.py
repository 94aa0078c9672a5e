"""The business_processes group through Dagster on real parts: demo invoice PDFs and exports
in an inbox folder, a SQLite coordination store holding the event-sourced process state, a
DuckDB warehouse, approvals clicked by people in the web inbox in Chromium, payment export,
timelines and scorecard figures."""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from assets.business_processes import business_process_assets
from assets.business_processes.assets import VALIDATION, VALIDATION_CHECK
from assets.business_processes.common import process_engine
from orchestration_project.business_processes.inbox import start_inbox
from orchestration_project.business_processes.samples import write_demo_invoices
from resources.coordination import CoordinationResource
from resources.environment import ReportsDir
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager
from tests.conftest import chromium_page

USERS = {"alice": "alice-pw", "carol": "carol-pw", "frank": "frank-pw"}


@pytest.fixture(scope="module")
def instance():
    """One Dagster instance for the module (creating one costs seconds)."""
    with dg.instance_for_test() as inst:
        yield inst


def _resources(tmp_path: Path) -> dict:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    return {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "coordination": CoordinationResource(url=f"sqlite:///{tmp_path / 'coord.db'}"),
        "reports_dir": ReportsDir(path=str(tmp_path / "reports")),
    }


def _table(res: dict, name: str) -> pd.DataFrame:
    return res["warehouse"].read_table(name, schema="business_processes")


def _sign_in(page, url: str, user: str) -> None:
    page.context.clear_cookies()  # whoever was signed in before
    page.goto(url + "/")
    page.fill("#user", user)
    page.fill("#password", USERS[user])
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("h1:has-text('My tasks')")


def _decide(page, invoice_number: str, button: str, reason: str = "") -> None:
    page.click(f"#tasks tr:has-text('{invoice_number}') a")
    page.wait_for_selector("#evidence")
    assert invoice_number in page.inner_text("#evidence")
    if reason:
        page.fill("#reason", reason)
    page.click(f"#decide button:has-text('{button}')")
    page.wait_for_selector(".flash")


def test_invoices_are_quarantined_validated_approved_in_the_browser_and_paid(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    inbox, po = tmp_path / "inbox", tmp_path / "po.csv"
    demo = write_demo_invoices(inbox, po, n=6, seed=5)  # 2 auto, 2 one approver, 2 two
    res = _resources(tmp_path)
    queue = pd.DataFrame(
        [
            {"external_ref": "C-1", "stage": "quarantined", "missing": "email", "seconds": 0.0},
            {"external_ref": "C-2", "stage": "crm_rejected", "missing": "CRM", "seconds": 2.0},
        ]
    )
    res["warehouse"].write_table("onboarding_review_queue", queue, schema="customer_onboarding")
    config = {"inbox": str(inbox), "purchase_orders": str(po)}
    result = dg.materialize(
        business_process_assets,
        resources=res,
        instance=instance,
        run_config={"ops": {"invoice_intake": {"config": config}}},
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(VALIDATION_CHECK, True)]

    # intake: records in = accepted + quarantined, each bad invoice with its reason
    records, quarantine = _table(res, "invoice_records"), _table(res, "invoice_quarantine")
    assert len(records) == 6 and len(quarantine) == 4
    assert sorted(quarantine["reason_codes"]) == [
        "amount_mismatch",
        "duplicate_invoice",
        "missing_po",
        "unreadable_pdf",
    ]
    assert sorted(p.name for p in (inbox / "rejected").glob("*.pdf")) == ["INV-005-BAD-1.pdf"]
    assert len(list((inbox / "processed").iterdir())) == len(demo.files) - 1
    assert not [p for p in inbox.iterdir() if p.is_file()]

    # the two small invoices were approved automatically and paid in the first batch
    engine = process_engine(res["coordination"])
    paid = _table(res, "payment_export")
    assert sorted(paid["invoice_number"]) == sorted(demo.auto)
    assert set(paid["approved_by"]) == {"auto"}
    tasks = _table(res, "process_tasks")
    assert sorted(tasks["process"]) == ["invoice_approval"] * 4 + ["onboarding_exception"] * 2

    # people decide in the web inbox, in Chromium
    server = start_inbox(engine, USERS)
    try:
        with chromium_page() as page:
            page.set_default_timeout(20_000)
            _sign_in(page, server.url, "alice")
            assert page.locator("#tasks tr[data-task]").count() == 4
            for number in demo.one_approver + demo.two_approvers:
                _decide(page, number, "Approve", "amount and PO checked")
            assert page.is_visible("#empty")
            page.click("button:has-text('Sign out')")
            _sign_in(page, server.url, "carol")
            big_ok, big_no = demo.two_approvers
            _decide(page, big_ok, "Approve", "within budget")
            _decide(page, big_no, "Reject", "price not agreed with procurement")
            page.click("button:has-text('Sign out')")
            page.wait_for_selector("#user")
            _sign_in(page, server.url, "frank")
            _decide(page, "C-1", "Resolved", "e-mail corrected with the customer")
    finally:
        server.stop()

    rejected = engine.state(next(i for i in engine.events.instance_ids() if big_no in i))
    task = [t for t in rejected["tasks"].values() if t["step"] == "second_approval"][0]
    assert (task["decided_by"], task["outcome"], task["reason"]) == (
        "carol",
        "reject",
        "price not agreed with procurement",
    )
    assert rejected["outcome"] == "rejected"

    # the next payment batch takes the three approved invoices
    again = dg.materialize(
        business_process_assets,
        resources=res,
        instance=instance,
        selection=[
            dg.AssetKey(k)
            for k in ("payment_export", "process_tasks", "process_timeline", "process_scorecard")
        ],
    )
    assert again.success
    paid = _table(res, "payment_export")
    assert sorted(paid["invoice_number"]) == sorted([*demo.one_approver, big_ok])
    assert set(paid[paid["invoice_number"] == big_ok]["approved_by"]) == {"alice;carol"}
    files = sorted((tmp_path / "reports" / "business_processes" / "payments").glob("*.csv"))
    assert [len(list(csv.DictReader(f.open()))) for f in files] in ([2, 3], [3, 2])
    assert list(_table(res, "process_tasks")["instance_id"]) == ["onboarding:C-2"]

    # audit: every instance's history, from its events
    timeline = _table(res, "process_timeline")
    ok_id = next(i for i in engine.events.instance_ids() if big_ok in i)
    story = list(timeline[timeline["instance_id"] == ok_id]["what"])
    assert story[0].startswith("started invoice_approval")
    assert "alice decided approve on approval: amount and PO checked" in story
    assert "carol decided approve on second_approval: within budget" in story
    assert story[-1] == "ended: paid"
    folder = tmp_path / "reports" / "business_processes" / "timelines"
    assert (folder / "timelines.png").exists() and len(list(folder.glob("*.md"))) == 8
    card = _table(res, "process_scorecard").set_index("metric")
    assert card.loc["invoice_approval: automated, no person", "value"] == 2 / 6
    assert card.loc["onboarding_exception: automated, no person", "value"] == 0.0
    assert engine.events.projection_mismatches() == []


def test_a_failing_validation_check_blocks_the_process_start(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    res = _resources(tmp_path)
    bad = pd.DataFrame(
        [
            {
                "instance_id": "invoice:acme:A-1",
                "invoice_number": "A-1",
                "vendor": "Acme",
                "po_number": "PO-1",
                "amount": 150.0,
                "currency": "EUR",
                "invoice_date": "",
                "source_file": "a.pdf",
                "source_kind": "pdf",
                "row": 1,
                "po_amount": 100.0,  # an intake bug let a mismatch through: the check stops it
                "po_vendor": "Acme",
            }
        ]
    )
    res["warehouse"].write_table("invoice_records", bad, schema="business_processes")
    result = dg.materialize(
        business_process_assets,
        resources=res,
        instance=instance,
        selection=[
            dg.AssetKey(k) for k in (VALIDATION, "onboarding_exceptions", "process_instances")
        ],
        raise_on_error=False,
    )
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed
    materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
    assert VALIDATION in materialized and "process_instances" not in materialized
    assert process_engine(res["coordination"]).events.instance_ids() == set()
