"""The customer-onboarding job (one run per dropped customer file)."""

from __future__ import annotations

import dagster as dg

from assets.customer_onboarding.assets import GROUP
from resources.executor import job_executor

customer_onboarding_job = dg.define_asset_job(
    "customer_onboarding_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Validate a dropped customer file, create the accounts in the CRM by filling "
    "its web forms in Chromium, write the welcome messages, report each customer's status.",
    executor_def=job_executor(),
    tags={"domain": GROUP},
)

__all__ = ["customer_onboarding_job"]
