"""The content-marketing domain's Dagster definitions: briefs → drafts per strategy → checked
channel outputs → publication → experiment results → promoted strategy, and the content
calendar that runs them every day."""

from __future__ import annotations

import dagster as dg

from assets.content_marketing.assets import content_assets
from assets.content_marketing.experiments import experiment_assets
from assets.content_marketing.jobs import content_calendar, content_marketing_job

defs = dg.Definitions(
    assets=[*content_assets, *experiment_assets],
    jobs=[content_marketing_job],
    schedules=[content_calendar],
)

__all__ = ["content_calendar", "content_marketing_job", "defs"]
