"""The business-process jobs: the whole group (one run per batch of invoice files), and the
payment export with the reports that follow it (after people approved in the inbox)."""

import dagster as dg

from assets.business_processes.assets import AFTER_APPROVAL, GROUP, ONBOARDING_PATH
from resources.executor import job_executor

business_processes_job = dg.define_asset_job(
    "business_processes_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Read a batch of invoice files, quarantine the bad ones, validate the rest "
    "against purchase orders, start their approval processes (and the onboarding exceptions), "
    "export approved payments, write timelines and the scorecard figures.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

payment_export_job = dg.define_asset_job(
    "payment_export_job",
    # by tag, not by key: a selection of keys would make the job unresolvable in a code
    # location that lacks these assets (the remedy sensor picks up every domain's jobs)
    selection=dg.AssetSelection.tag(*next(iter(AFTER_APPROVAL.items()))),
    description="Export the invoices approved since the last batch to a payment CSV, then "
    "refresh open tasks, timelines and the scorecard figures.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

onboarding_exceptions_job = dg.define_asset_job(
    "onboarding_exceptions_job",
    selection=dg.AssetSelection.tag(*next(iter(ONBOARDING_PATH.items())))
    | dg.AssetSelection.tag(*next(iter(AFTER_APPROVAL.items()))),
    description="Start an onboarding_exception process for every customer new in "
    "customer_onboarding's review queue, then refresh open tasks, timelines and figures.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

__all__ = ["business_processes_job", "onboarding_exceptions_job", "payment_export_job"]
