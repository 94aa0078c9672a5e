"""The one place that assembles the code location: it merges each domain's ``Definitions``
(assets, checks, jobs, schedules; the incident-response sensors) and applies the global policy,
which today is one thing: the resources that the environment switch chooses."""

from __future__ import annotations

import dagster as dg

import assets.business_processes
import assets.canary
import assets.content_marketing
import assets.customer_onboarding
import assets.market_research
import assets.operations
import assets.optimization
import assets.site_qa
import sensors.business_processes
import sensors.customer_onboarding
import sensors.operations
import sensors.optimization
from resources.environment import build_resources

DOMAINS = [
    assets.market_research.defs,
    assets.operations.defs,
    assets.canary.defs,
    assets.optimization.defs,
    assets.content_marketing.defs,
    assets.customer_onboarding.defs,
    assets.business_processes.defs,
    assets.site_qa.defs,
    sensors.operations.defs,
    sensors.optimization.defs,
    sensors.customer_onboarding.defs,
    sensors.business_processes.defs,
]

defs = dg.Definitions.merge(*DOMAINS, dg.Definitions(resources=build_resources()))
