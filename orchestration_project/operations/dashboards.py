"""Operations dashboards: self-contained HTML pages with embedded PNG charts.

- :func:`write_dashboard` — platform health: success rate and p95 latency per entity over the
  last 24 hours (``reports/operations/health.html``).
- :func:`write_scorecard` — the SLO scorecard: each figure against its goal, time to detect
  and to recover, incidents by root-cause class (``reports/operations/scorecard.html``).

Charts are drawn with matplotlib (Agg backend, no display needed) and embedded as base64 PNG
data URIs; the pages are rendered from the Jinja2 templates in ``templates/`` with
autoescaping on (only the tables pandas renders are inserted as markup, ``|safe``).
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_DPI = 100
_BAR = "#2a9d8f"
_MISSED = "#e76f51"
_DARK = "#264653"
_HEALTH_METRICS = (("success_rate", "success rate"), ("latency_p95_s", "p95 latency (s)"))


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("orchestration_project.operations", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """The HTML of ``templates/<template>`` rendered with ``context`` (autoescaped)."""
    return _templates().get_template(template).render(**context)


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (imported late: loading the Dagster
    definitions does not pay for matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Figure) -> str:
    """``fig`` laid out, as a base64-encoded PNG; the figure is closed."""
    plt = _pyplot()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _last_day(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the 24-hour window that saw events."""
    return df[(df["window"] == "24h") & (df["events"] > 0)]


def health_charts(df: pd.DataFrame) -> list[str]:
    """Base64 PNG charts of health metrics (``ml.health`` columns): one figure per metric
    (success rate, p95 latency), one bar chart per dimension, over the last 24 hours. None
    without events."""
    day = _last_day(df)
    if day.empty:
        return []
    plt = _pyplot()
    dims = list(dict.fromkeys(day["dimension"]))
    charts = []
    for metric, label in _HEALTH_METRICS:
        fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.6), squeeze=False)
        for ax, dim in zip(axes[0], dims, strict=True):
            part = day[day["dimension"] == dim]
            ax.barh(part["entity"], part[metric].astype(float), color=_BAR)
            ax.set_title(f"{dim}: {label}", fontsize=9)
            ax.tick_params(labelsize=7)
            if metric == "success_rate":
                ax.set_xlim(0, 1)
        charts.append(_png(fig))
    return charts


def write_dashboard(df: pd.DataFrame, path: Path, *, now: datetime) -> Path:
    """A self-contained HTML page: success rate and p95 latency per entity (last 24 h)."""
    day = _last_day(df)
    table = (
        day.drop(columns=["last_success_at"]).to_html(index=False, float_format="%.3g", na_rep="")
        if len(day)
        else ""
    )
    html = render("health.html.j2", now=now, charts=health_charts(df), table=table)
    path.write_text(html, encoding="utf-8")
    return path


def _goal_bars(card: pd.DataFrame) -> tuple[list[str], list[float], list[str], list[str]]:
    """Per measured scorecard row: label, share of the budget used (capped at 3x), colour (met
    or not) and a note with the value and its goal."""
    labels, ratios, colours, notes = [], [], [], []
    for r in card.itertuples():
        if r.value != r.value or r.goal != r.goal:  # NaN: nothing measured, or no goal
            continue
        if r.comparison == ">=":  # higher is better: shortfall from 1.0 scaled to the budget
            ratio = (1 - r.value) / max(1 - r.goal, 1e-9)
        else:
            ratio = r.value / r.goal if r.goal else 0.0
        labels.append(r.metric)
        ratios.append(min(ratio, 3.0))  # drawn up to 3x the budget; the label has the value
        colours.append(_BAR if r.met is True or (pd.notna(r.met) and bool(r.met)) else _MISSED)
        notes.append(f"{r.value:.4g}{r.unit or ''} (goal {r.comparison} {r.goal:g}{r.unit or ''})")
    return labels, ratios, colours, notes


def scorecard_charts(card: pd.DataFrame, incidents: pd.DataFrame) -> list[str]:
    """Base64 PNG charts: each figure against its goal; time to detect and to recover;
    incidents by root-cause class and outcome."""
    plt = _pyplot()
    charts = []
    labels, ratios, colours, notes = _goal_bars(card)
    fig, ax = plt.subplots(figsize=(7, max(3.2, 0.45 * len(labels) + 1)))
    bars = ax.barh(labels, ratios, color=colours)
    for bar, note in zip(bars, notes, strict=True):
        ax.annotate(
            note,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    ax.axvline(1.0, color="#333", linestyle="--", linewidth=1)
    ax.set_xlim(0, 4.2 if any(x > 1.0 for x in ratios) else 1.6)
    ax.set_xlabel("share of the budget used (1.0 = at the goal; left is better)")
    ax.tick_params(labelsize=8)
    ax.invert_yaxis()
    charts.append(_png(fig))
    failures = incidents[incidents["source"] == "run_failure"] if len(incidents) else incidents
    if len(failures):
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
        axes[0].hist(failures["ttd_s"].dropna(), bins=20, color=_DARK)
        axes[0].set_title("time to detect (s)", fontsize=9)
        axes[1].hist(failures["ttr_s"].dropna(), bins=20, color=_BAR)
        axes[1].set_title("time to recover (s)", fontsize=9)
        counts = failures.groupby(["failure_class", "status"]).size().unstack(fill_value=0)
        counts.plot.barh(stacked=True, ax=axes[2], fontsize=8)
        axes[2].set_title("incidents by root-cause class", fontsize=9)
        axes[2].legend(fontsize=7)
        charts.append(_png(fig))
    return charts


def write_scorecard(
    card: pd.DataFrame, incidents: pd.DataFrame, path: Path, *, now: datetime | None = None
) -> Path:
    """The SLO scorecard as a self-contained HTML page with charts (as of ``now``, default
    the current time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = card.to_html(index=False, float_format="%.4g", na_rep="n/a")
    html = render(
        "scorecard.html.j2",
        now=now or datetime.now(UTC),
        charts=scorecard_charts(card, incidents),
        table=table,
    )
    path.write_text(html, encoding="utf-8")
    return path


__all__ = ["health_charts", "render", "scorecard_charts", "write_dashboard", "write_scorecard"]
