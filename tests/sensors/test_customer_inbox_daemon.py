"""End to end under a real ``dagster-daemon``: a customer file dropped into the inbox is picked
up by ``customer_inbox_sensor`` (running by default), the run goes through the run queue and
launcher, and the accounts appear in the demo CRM's own database. Real parts: the daemon and
its code server over the repository's workspace, a SQLite Dagster instance, the demo CRM on
loopback, Chromium through Playwright, DuckDB."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import dagster as dg

from orchestration_project.customer_onboarding.samples import sample_customers, write_contract
from orchestration_project.demo_world.crm import start_crm
from resources.environment import PROJECT_ROOT
from tests.conftest import free_base_port
from tests.orchestration_project.operations.test_overrides_daemon import running_daemon, wait_for


def test_the_daemon_onboards_a_dropped_file_into_the_crm(tmp_path: Path) -> None:
    home, data, inbox = tmp_path / "home", tmp_path / "data", tmp_path / "inbox"
    for d in (home, data, inbox):
        d.mkdir()
    (home / "dagster.yaml").symlink_to(PROJECT_ROOT / "dagster.yaml")
    port = free_base_port(1)
    # The CRM the local configuration expects (credentials and token of resources/environment).
    crm = start_crm("127.0.0.1", port, data / "crm.db", api_token="local-demo-token")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ORCHESTRATION_DATA_DIR": str(data),
        "ONBOARDING_INBOX": str(inbox),
        "CRM_PORT": str(port),
        "DEMO_WORLD_BASE_PORT": str(free_base_port(6)),
        "CONTENT_SITE_PORT": str(free_base_port(1)),
    }
    records = sample_customers(4, seed=21, contract_dir=tmp_path / "unused")
    before = crm.count_accounts()
    log = tmp_path / "daemon.log"
    try:
        with running_daemon(env, log) as daemon:
            for r in records:
                write_contract(inbox / "contracts" / f"{r['external_ref']}.pdf")
            with (inbox / ".customers.csv").open("w", newline="") as f:  # hidden while written
                cols = [k for k in records[0] if k != "contract_path"]
                w = csv.DictWriter(f, fieldnames=cols)
                w.writeheader()
                for r in records:
                    w.writerow({**{k: r[k] for k in cols}, "addons": ";".join(r["addons"])})
            (inbox / ".customers.csv").rename(inbox / "customers.csv")
            wait_for(
                "the accounts in the CRM",
                lambda: crm.count_accounts() == before + 4,
                daemon,
                log,
                timeout_s=240,
            )
            wait_for(
                "the file in processed/",
                (inbox / "processed" / "customers.csv").exists,
                daemon,
                log,
                timeout_s=60,
            )
        for r in records:
            assert crm.account(external_ref=r["external_ref"]) is not None
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs(dg.RunsFilter(job_name="customer_onboarding_job"))
            assert len(runs) == 1  # one file, one run
            assert runs[0].tags.get("customer_file") == "customers.csv"
            assert runs[0].tags.get("dagster/sensor_name") == "customer_inbox_sensor"
    finally:
        crm.stop()
