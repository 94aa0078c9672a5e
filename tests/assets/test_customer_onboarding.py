"""The customer-onboarding group through Dagster, end to end on real parts: a customer file in
an inbox folder, intake with quarantine, the demo CRM (its own SQLite, on loopback) filled in by
the browser agent in Chromium, welcome messages, status and review queue."""

from __future__ import annotations

import csv
import json
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from assets.customer_onboarding import onboarding_assets
from orchestration_project.customer_onboarding.samples import sample_customers, write_contract
from orchestration_project.demo_world.crm import start_crm
from resources.form_filling import BrowserFormFiller
from resources.language import OfflineLanguageEngine
from resources.mcp_form_filling import McpFormFiller, RoutedFormFiller
from resources.warehouse import DuckDBWarehouse, WarehouseIOManager

TOKEN = "test-token"


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory):
    server = start_crm("127.0.0.1", 0, tmp_path_factory.mktemp("crm") / "crm.db", api_token=TOKEN)
    yield server
    server.stop()


def _drop(inbox: Path, records: list[dict], name: str = "customers.csv") -> Path:
    """A customer CSV as a person would export it, and each customer's contract beside it."""
    inbox.mkdir(parents=True, exist_ok=True)
    for r in records:
        write_contract(inbox / "contracts" / f"{r['external_ref']}.pdf", signer=r["contact_name"])
    path = inbox / name
    with path.open("w", newline="", encoding="utf-8") as f:
        cols = [k for k in records[0] if k != "contract_path"]
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in records:
            w.writerow({**{k: r[k] for k in cols}, "addons": ";".join(r["addons"])})
    return path


def _resources(tmp_path: Path, crm, route: str = "direct") -> dict:
    wh = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    host_port = crm.url.split("//")[1]
    crm_settings = {
        "crm_url": crm.url,
        "username": crm.username,
        "password": crm.password,
        "api_token": TOKEN,
        "allowed_domains": [host_port],
        "allow_private_hosts": ["127.0.0.1"],
    }
    return {
        "warehouse": wh,
        "io_manager": WarehouseIOManager(warehouse=wh),
        "language": OfflineLanguageEngine(),
        "form_filler": RoutedFormFiller(
            direct=BrowserFormFiller(**crm_settings, contexts=2),
            mcp=McpFormFiller(**crm_settings),
            route=route,
        ),
    }


def _run(res: dict, path: Path):
    with dg.instance_for_test() as instance:
        return dg.materialize(
            onboarding_assets,
            resources=res,
            instance=instance,
            raise_on_error=False,
            run_config={"ops": {"customer_intake": {"config": {"file": str(path)}}}},
        )


def test_a_dropped_file_becomes_crm_accounts_and_welcomes(tmp_path: Path, crm) -> None:
    good = sample_customers(6, seed=11, contract_dir=tmp_path / "unused")
    bad = dict(good[0], external_ref="BAD-1", email="not-an-email")
    no_contract = dict(good[1], external_ref="NOPDF-1", email="nopdf@acme.example")
    inbox = tmp_path / "inbox"
    path = _drop(inbox, [*good, bad])
    # one customer's contract goes missing: a person must get it
    path2 = inbox / "customers.csv"
    with path2.open("a", encoding="utf-8") as f:
        row = {k: v for k, v in no_contract.items() if k != "contract_path"}
        row["addons"] = ";".join(row["addons"])
        csv.DictWriter(f, fieldnames=list(row)).writerow(row)
    before = crm.count_accounts()
    res = _resources(tmp_path, crm)
    assert _run(res, path).success
    wh = res["warehouse"]
    records = wh.read_table("customer_records", schema="customer_onboarding")
    quarantine = wh.read_table("customer_quarantine", schema="customer_onboarding")
    assert len(records) + len(quarantine) == 8  # records in = accepted + quarantined
    assert set(quarantine["external_ref"]) == {"BAD-1", "NOPDF-1"}
    assert "no signed contract" in quarantine.set_index("external_ref").loc["NOPDF-1", "reason"]
    accounts = wh.read_table("crm_accounts", schema="customer_onboarding")
    assert (accounts["status"] == "created").all() and len(accounts) == 6
    assert crm.count_accounts() == before + 6  # in the CRM's own database
    for r in good:
        assert crm.account(external_ref=r["external_ref"]) is not None
    assert (inbox / "processed" / "customers.csv").exists() and not path.exists()
    welcome = wh.read_table("welcome_messages", schema="customer_onboarding")
    assert len(welcome) == 6 and (welcome["problems"] == "").all()
    status = wh.read_table("onboarding_status", schema="customer_onboarding")
    assert status["stage"].value_counts().to_dict() == {"welcomed": 6, "quarantined": 2}
    review = wh.read_table("onboarding_review_queue", schema="customer_onboarding")
    assert set(review["external_ref"]) == {"BAD-1", "NOPDF-1"}

    # The same customers again, in a new file: nobody gets a second account.
    again = _drop(tmp_path / "inbox", good, name="again.json.csv")
    assert _run(res, again).success
    q2 = wh.read_table("customer_quarantine", schema="customer_onboarding")
    assert len(q2) == 6 and q2["reason"].str.contains("already has an account").all()
    assert crm.count_accounts() == before + 6


def test_an_unreadable_file_is_rejected_with_its_reason_and_nothing_is_lost(
    tmp_path: Path, crm
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "broken.csv"
    path.write_bytes("external_ref,company\nC-1,M\xfcller\n".encode("latin-1"))
    res = _resources(tmp_path, crm)
    result = _run(res, path)
    assert result.success
    [check] = [
        c for c in result.get_asset_check_evaluations() if c.check_name == "customer_file_readable"
    ]
    assert not check.passed
    reason = (inbox / "rejected" / "broken.csv.reason.txt").read_text()
    assert "not UTF-8" in reason and (inbox / "rejected" / "broken.csv").exists()
    q = res["warehouse"].read_table("customer_quarantine", schema="customer_onboarding")
    assert q["reason"].tolist() == [reason.strip()]


def test_crm_down_fails_its_customers_with_the_reason_not_the_run(tmp_path: Path, crm) -> None:
    records = sample_customers(3, seed=12, contract_dir=tmp_path / "unused")
    path = _drop(tmp_path / "inbox", records)
    crm.take_down()
    try:
        res = _resources(tmp_path, crm)
        assert _run(res, path).success
    finally:
        crm.bring_up()
    wh = res["warehouse"]
    accounts = wh.read_table("crm_accounts", schema="customer_onboarding")
    assert (accounts["status"] == "failed").all() and len(accounts) == 3
    assert accounts["errors"].str.len().gt(0).all()
    review = wh.read_table("onboarding_review_queue", schema="customer_onboarding")
    assert set(review["stage"]) == {"crm_failed"} and len(review) == 3
    assert json.loads(json.dumps(review["missing"].tolist()))  # says what is missing
    for record in records:  # nothing half-created while the CRM was away
        assert crm.count_accounts(external_ref=record["external_ref"]) == 0


def test_a_login_that_expires_mid_batch_is_renewed_and_no_customer_is_lost(
    tmp_path: Path, crm
) -> None:
    """The CRM's login expires every seventh page, and once more by hand mid-batch: the agent
    signs in again and every customer still gets exactly one account, in the CRM's database."""
    records = sample_customers(5, seed=13, contract_dir=tmp_path / "unused")
    path = _drop(tmp_path / "inbox", records)
    crm.set_faults(session_max_requests=7)
    res = _resources(tmp_path, crm)
    expired: list[int] = []

    def expire_when_busy() -> None:  # "the login expired" while the batch is filling forms
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and crm.count_accounts() == before:
            time.sleep(0.05)
        expired.append(crm.expire_sessions())

    before = crm.count_accounts()
    killer = threading.Thread(target=expire_when_busy, daemon=True)
    killer.start()
    try:
        assert _run(res, path).success
    finally:
        crm.clear_faults()
        killer.join(timeout=5)
    assert expired and expired[0] >= 1  # sessions really were cut mid-batch
    accounts = res["warehouse"].read_table("crm_accounts", schema="customer_onboarding")
    assert (accounts["status"] == "created").all() and len(accounts) == 5, accounts["errors"]
    assert accounts["notes"].str.contains("signed in again").any()
    for record in records:
        assert crm.count_accounts(external_ref=record["external_ref"]) == 1
    status = res["warehouse"].read_table("onboarding_status", schema="customer_onboarding")
    assert status["stage"].tolist() == ["welcomed"] * 5


def test_the_mcp_route_onboards_through_the_playwright_mcp_servers_tools(
    tmp_path: Path, crm
) -> None:
    """FORM_ROUTE=mcp: the same asset, the same YAML mapping, filled through the Playwright MCP
    server's tools; every tool call lands in agent_actions with route ``mcp``."""
    records = sample_customers(2, seed=14, contract_dir=tmp_path / "unused")
    path = _drop(tmp_path / "inbox", records)
    res = _resources(tmp_path, crm, route="mcp")
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            onboarding_assets,
            resources=res,
            instance=instance,
            run_config={"ops": {"customer_intake": {"config": {"file": str(path)}}}},
        )
        assert result.success
        mat = instance.get_latest_materialization_event(dg.AssetKey("crm_accounts"))
        assert mat.asset_materialization.metadata["form_route"].value == "mcp"
    wh = res["warehouse"]
    accounts = wh.read_table("crm_accounts", schema="customer_onboarding")
    assert (accounts["status"] == "created").all() and len(accounts) == 2
    for record in records:
        assert crm.count_accounts(external_ref=record["external_ref"]) == 1
    actions = wh.read_table("agent_actions", schema="customer_onboarding")
    mcp_calls = actions[actions["route"] == "mcp"]
    assert {"browser_snapshot", "browser_navigate"} <= set(mcp_calls["name"])
