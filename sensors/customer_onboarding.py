"""The customer inbox: a sensor that starts one onboarding run per new customer file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from assets.customer_onboarding.jobs import customer_onboarding_job
from orchestration_project.common.inbox import cursor, scan
from resources.environment import data_dir

SUFFIXES = {".csv", ".json", ".xlsx", ".xlsm"}
CURSOR_FILES = 500  # remembered (name, size, mtime) -> key entries, newest kept


def inbox_folder() -> Path:
    """The watched folder: ``ONBOARDING_INBOX``, default ``<data>/inbox/customers``."""
    folder = Path(os.environ.get("ONBOARDING_INBOX") or data_dir() / "inbox" / "customers")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dg.sensor(
    name="customer_inbox_sensor",
    job=customer_onboarding_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts one customer_onboarding_job run per new customer file (CSV, JSON, "
    "Excel) dropped into the inbox (ONBOARDING_INBOX, default .data/inbox/customers); the "
    "run moves it to processed/ or rejected/.",
)
def customer_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """One run request per file in the inbox, keyed by name and content hash. The cursor
    (kept by Dagster, so it survives restarts) remembers each file's key by name, size and
    modification time, so an unchanged file is not hashed again."""
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    files = sorted(
        p
        for p in inbox_folder().iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith(".")
    )
    current, new = scan(files, seen)
    requests = [
        dg.RunRequest(
            run_key=key,
            run_config={"ops": {"customer_intake": {"config": {"file": str(path)}}}},
            tags={"customer_file": path.name},
        )
        for path, key in new
    ]
    # What is still in the inbox plus the newest of the rest, bounded.
    return dg.SensorResult(run_requests=requests, cursor=cursor(seen, current, keep=CURSOR_FILES))


defs = dg.Definitions(sensors=[customer_inbox_sensor])

__all__ = ["customer_inbox_sensor", "defs", "inbox_folder"]
