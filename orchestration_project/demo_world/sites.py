"""Which template renders which competitor site."""

from __future__ import annotations

from types import ModuleType

from orchestration_project.demo_world import (
    site_ambiently,
    site_heatherly,
    site_klimacraft,
    site_nestwell,
    site_zephyr,
)
from orchestration_project.demo_world.common import SiteBundle, build_bundle
from orchestration_project.demo_world.data import SITES, Site

TEMPLATES: dict[str, ModuleType] = {
    "nestwell": site_nestwell,
    "klimacraft": site_klimacraft,
    "heatherly": site_heatherly,
    "ambiently": site_ambiently,
    "zephyr": site_zephyr,
}

# Placeholder used when rendering without a running outside site (ground-truth generation).
NO_OUTSIDE = "http://127.0.0.1:9"


def render_site(site: Site, outside_url: str = NO_OUTSIDE) -> SiteBundle:
    """Render every page and endpoint of ``site``."""
    return build_bundle(site, outside_url, TEMPLATES[site.slug].render)


def render_all(outside_url: str = NO_OUTSIDE) -> dict[str, SiteBundle]:
    """Render every competitor site, in market order."""
    return {s.slug: render_site(s, outside_url) for s in SITES}
