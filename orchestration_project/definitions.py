"""The one place that assembles the code location: it merges each domain's ``Definitions``
(assets, checks, jobs, schedules; the incident-response sensors) and applies the global policy:
the resources that the environment switch chooses, and a code version on every asset (its
group's code and logic inputs, see ``orchestration_project.evolution.versions``)."""

from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError, version

import dagster as dg

import assets.business_processes
import assets.canary
import assets.content_marketing
import assets.customer_onboarding
import assets.evolution
import assets.market_research
import assets.operations
import assets.optimization
import assets.site_qa
import sensors.business_processes
import sensors.customer_onboarding
import sensors.evolution
import sensors.operations
import sensors.optimization
from orchestration_project.evolution.versions import code_versions
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
    assets.evolution.defs,
    sensors.operations.defs,
    sensors.optimization.defs,
    sensors.customer_onboarding.defs,
    sensors.business_processes.defs,
    sensors.evolution.defs,
]


def _package_version() -> str:
    try:
        return version("orchestration_project")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+source"


def with_code_versions(merged: dg.Definitions) -> dg.Definitions:
    """Every asset gets its group's code version, unless it declares its own."""
    groups = sorted(
        {
            spec.group_name or "default"
            for a in merged.assets or []
            for spec in getattr(a, "specs", [a])
            if isinstance(spec, dg.AssetSpec)
        }
    )
    versions = code_versions(groups, _package_version())

    def version_of(spec: dg.AssetSpec) -> dg.AssetSpec:
        if spec.code_version:
            return spec
        return spec.replace_attributes(code_version=versions[spec.group_name or "default"])

    with warnings.catch_warnings():
        # Definitions.map_asset_specs is marked preview in Dagster 1.13; it only rebuilds specs.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return merged.map_asset_specs(func=version_of)


defs = with_code_versions(
    dg.Definitions.merge(*DOMAINS, dg.Definitions(resources=build_resources()))
)
