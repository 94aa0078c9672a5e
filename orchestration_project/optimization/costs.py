"""What fetching costs per output, by route, and what routing saved against always taking the
most expensive route, measured on the platform's own history.

Inputs are the fetch history (``market_research.fetch_attempts``: every attempt with its route,
and the extra attempts an escalation or a retry cost) and the accepted facts
(``market_research.extracted_facts``, each with the page it came from). Every attempt costs its
route's price (:data:`orchestration_project.optimization.route_model.DEFAULT_COSTS`, in units
of one plain-HTTP fetch). A page's facts are credited to the route of the attempt that fetched
it (its last ``ok`` attempt).

By model: every attempt's reason starts with the name and version of the router that decided
it (``[bandit v1 +route_success@champion] …``), so the same table is also given per router
version. Per report: every crawl feeds one market report, so the cost per report is the total
over the number of crawls.

The saving is ``1 − actual cost / counterfactual cost``, the counterfactual being one fetch per
page attempted in each crawl, every one by the most expensive route (no escalations, no retries
needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

__all__ = ["CostReport", "cost_report"]


@dataclass(frozen=True)
class CostReport:
    """The cost report.

    Attributes:
        by_route: one row per route: ``attempts``, ``cost``, ``pages`` (fetched ok),
            ``facts`` (credited to pages it fetched), ``cost_per_page``, ``cost_per_fact``.
        total_cost: what the history cost.
        counterfactual_cost: one fetch per page and crawl by the most expensive route.
        saving: ``1 − total_cost / counterfactual_cost`` (0 without history).
        facts: accepted facts credited to a fetched page.
        cost_per_fact: ``total_cost / facts`` (None without facts).
        by_router: the ``by_route`` columns per router version (``router`` instead of
            ``route``; "unrecorded" for attempts whose reason names none).
        reports: crawls in the history (one market report each).
        cost_per_report: ``total_cost / reports`` (None without crawls).
    """

    by_route: pd.DataFrame
    total_cost: float
    counterfactual_cost: float
    saving: float
    facts: int
    cost_per_fact: float | None
    by_router: pd.DataFrame = field(default_factory=pd.DataFrame)
    reports: int = 0
    cost_per_report: float | None = None


_ROUTER = r"^\[([^\]]+)\]"  # "[router name and version] reason"
_COLS = ["attempts", "cost", "pages", "facts", "cost_per_page", "cost_per_fact"]


def _table(a: pd.DataFrame, ok: pd.DataFrame, key: str) -> pd.DataFrame:
    rows = []
    for value, g in a.groupby(key, sort=True):
        fetched = ok[ok[key] == value]
        cost = float(g["cost"].sum())
        n_facts = int(fetched["facts"].sum())
        rows.append(
            {
                key: value,
                "attempts": len(g),
                "cost": cost,
                "pages": len(fetched),
                "facts": n_facts,
                "cost_per_page": cost / len(fetched) if len(fetched) else None,
                "cost_per_fact": cost / n_facts if n_facts else None,
            }
        )
    return pd.DataFrame(rows, columns=[key, *_COLS])


def cost_report(
    attempts: pd.DataFrame, facts: pd.DataFrame, costs: Mapping[str, float]
) -> CostReport:
    """Cost per page and per fact by route, and the saving against the most expensive route.

    Args:
        attempts: fetch attempts (``url``, ``route``, ``outcome``; ``attempted_at`` orders
            several attempts of one page).
        facts: accepted fact rows (``source_url``).
        costs: the price of one attempt per route (a route not listed costs 0).

    Returns:
        The report.
    """
    if not len(attempts):
        empty = pd.DataFrame(columns=["route", *_COLS])
        return CostReport(empty, 0.0, 0.0, 0.0, 0, None, pd.DataFrame(columns=["router", *_COLS]))
    a = attempts.copy()
    a["cost"] = a["route"].map(lambda r: float(costs.get(str(r), 0.0)))
    reason = a["reason"] if "reason" in a.columns else pd.Series("", index=a.index)
    a["router"] = reason.fillna("").astype(str).str.extract(_ROUTER)[0].fillna("unrecorded")
    if "attempted_at" in a.columns:
        a = a.sort_values("attempted_at", kind="stable")
    ok = a[a["outcome"] == "ok"].drop_duplicates("url", keep="last")
    per_page = facts.groupby("source_url").size() if len(facts) else pd.Series(dtype=int)
    ok = ok.assign(facts=ok["url"].map(per_page).fillna(0).astype(int))
    total = float(a["cost"].sum())
    dearest = max((float(v) for v in costs.values()), default=0.0)
    # one fetch per page and crawl (a page crawled again is paid again)
    fetches = (
        a[["crawl_id", "url"]].drop_duplicates().shape[0]
        if "crawl_id" in a.columns
        else a["url"].nunique()
    )
    counterfactual = dearest * fetches
    n_facts = int(ok["facts"].sum())
    reports = int(a["crawl_id"].nunique()) if "crawl_id" in a.columns else 1
    return CostReport(
        by_route=_table(a, ok, "route"),
        total_cost=total,
        counterfactual_cost=counterfactual,
        saving=1.0 - total / counterfactual if counterfactual else 0.0,
        facts=n_facts,
        cost_per_fact=total / n_facts if n_facts else None,
        by_router=_table(a, ok, "router"),
        reports=reports,
        cost_per_report=total / reports if reports else None,
    )
