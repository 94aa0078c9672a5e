"""Site QA: scripted user journeys through the Playwright MCP server's browser tools.

Journeys are YAML (:mod:`.journeys`; the demo world's are ``demo_world/qa_journeys.yaml``).
:class:`.runner.JourneyRunner` walks them over a tool caller and reports broken links, console
errors, failed requests, slow pages and accessibility-tree changes against the last good
snapshot (:mod:`.a11y`); :mod:`.tables` turns results into warehouse rows. Pure domain code: no
Dagster, no resources.
"""

from orchestration_project.site_qa.a11y import A11yDiff, diff_snapshots, normalise_snapshot
from orchestration_project.site_qa.journeys import (
    Journey,
    JourneyError,
    Step,
    load_journeys,
    parse_journeys,
)
from orchestration_project.site_qa.links import HttpLinkChecker
from orchestration_project.site_qa.runner import Finding, JourneyResult, JourneyRunner

__all__ = [
    "A11yDiff",
    "Finding",
    "HttpLinkChecker",
    "Journey",
    "JourneyError",
    "JourneyResult",
    "JourneyRunner",
    "Step",
    "diff_snapshots",
    "load_journeys",
    "normalise_snapshot",
    "parse_journeys",
]
