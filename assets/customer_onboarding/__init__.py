"""The customer-onboarding domain's Dagster definitions: intake → CRM accounts → welcome
messages → status and review queue, one run per customer file the inbox sensor sees."""

from __future__ import annotations

import dagster as dg

from assets.customer_onboarding.assets import onboarding_assets
from assets.customer_onboarding.jobs import customer_onboarding_job

defs = dg.Definitions(assets=onboarding_assets, jobs=[customer_onboarding_job])

__all__ = ["customer_onboarding_job", "defs", "onboarding_assets"]
