"""The business-process domain's Dagster definitions: invoice intake → validation (blocking
GX check) → process instances (invoice approval, onboarding exceptions) → open tasks →
payment export → timelines and scorecard figures; state event-sourced in the coordination
store."""

import dagster as dg

from assets.business_processes.assets import business_process_assets
from assets.business_processes.jobs import (
    business_processes_job,
    onboarding_exceptions_job,
    payment_export_job,
)

defs = dg.Definitions(
    assets=business_process_assets,
    jobs=[business_processes_job, payment_export_job, onboarding_exceptions_job],
)

__all__ = [
    "business_process_assets",
    "business_processes_job",
    "defs",
    "onboarding_exceptions_job",
    "payment_export_job",
]
