"""Journey results as warehouse tables, and the accessibility baselines they keep."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from orchestration_project.site_qa.runner import COUNTED, JourneyResult

__all__ = [
    "FINDING_COLUMNS",
    "JOURNEY_COLUMNS",
    "baseline_rows",
    "baselines_from",
    "findings_frame",
    "journeys_frame",
    "markdown_table",
]

JOURNEY_COLUMNS = [
    "run_id",
    "journey",
    "site",
    "status",
    "failed_step",
    "error",
    "started_at",
    "duration_s",
    "steps_run",
    "pages",
    "slowest_page_ms",
    *(f"{k}s" for k in COUNTED),
    "steps",
    "captures",
]
FINDING_COLUMNS = ["run_id", "journey", "step", "kind", "severity", "page", "detail"]
BASELINE_COLUMNS = ["journey", "page_key", "url", "tree", "run_id", "saved_at"]


def journeys_frame(results: Iterable[JourneyResult], *, run_id: str) -> pd.DataFrame:
    """One row per journey run: status, failed step, duration, finding counts, steps."""
    rows = [{"run_id": run_id, **r.row()} for r in results]
    return pd.DataFrame(rows, columns=JOURNEY_COLUMNS)


def findings_frame(results: Iterable[JourneyResult], *, run_id: str) -> pd.DataFrame:
    """One row per finding of every journey run."""
    rows = [
        {
            "run_id": run_id,
            "journey": f.journey,
            "step": f.step,
            "kind": f.kind,
            "severity": f.severity,
            "page": f.page,
            "detail": f.detail,
        }
        for r in results
        for f in r.findings
    ]
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def baseline_rows(results: Iterable[JourneyResult], *, run_id: str) -> pd.DataFrame:
    """The new last good trees: every page of every journey that passed."""
    now = datetime.now(UTC)
    rows = [
        {
            "journey": r.journey,
            "page_key": p.key,
            "url": p.url,
            "tree": json.dumps(p.tree),
            "run_id": run_id,
            "saved_at": now,
        }
        for r in results
        if r.passed
        for p in r.pages
    ]
    return pd.DataFrame(rows, columns=BASELINE_COLUMNS)


def baselines_from(table: pd.DataFrame) -> dict[str, list[str]]:
    """The runner's baselines (``"<journey>|<page key>"`` -> tree) from the stored table."""
    out: dict[str, list[str]] = {}
    for row in table.itertuples(index=False):
        tree: Any = row.tree
        out[f"{row.journey}|{row.page_key}"] = json.loads(tree) if isinstance(tree, str) else []
    return out


def markdown_table(df: pd.DataFrame, columns: list[str], *, limit: int = 20) -> str:
    """A small Markdown table of ``columns`` (cells shortened, pipes escaped)."""
    if df.empty:
        return "_none_"

    def cell(v: Any) -> str:
        text = "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= 120 else text[:119] + "…"

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join(
        "| " + " | ".join(cell(v) for v in row) + " |\n"
        for row in df[columns].head(limit).itertuples(index=False)
    )
    more = f"\n_{len(df) - limit} more rows_" if len(df) > limit else ""
    return head + body + more
