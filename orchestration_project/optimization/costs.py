"""What fetching costs per output, by route, and what routing saved against always taking the
most expensive route, measured on the platform's own history.

Inputs are the fetch history (``market_research.fetch_attempts``: every attempt with its route,
and the extra attempts an escalation or a retry cost) and the accepted facts
(``market_research.extracted_facts``, each with the page it came from). Every attempt costs its
route's price (:data:`orchestration_project.optimization.route_model.DEFAULT_COSTS`, in units
of one plain-HTTP fetch). A page's facts are credited to the route of the attempt that fetched
it (its last ``ok`` attempt).

The saving is ``1 − actual cost / counterfactual cost``, the counterfactual being one fetch per
page attempted in each crawl, every one by the most expensive route (no escalations, no retries
needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
    """

    by_route: pd.DataFrame
    total_cost: float
    counterfactual_cost: float
    saving: float
    facts: int
    cost_per_fact: float | None


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
    cols = ["route", "attempts", "cost", "pages", "facts", "cost_per_page", "cost_per_fact"]
    if not len(attempts):
        empty = pd.DataFrame(columns=cols)
        return CostReport(empty, 0.0, 0.0, 0.0, 0, None)
    a = attempts.copy()
    a["cost"] = a["route"].map(lambda r: float(costs.get(str(r), 0.0)))
    if "attempted_at" in a.columns:
        a = a.sort_values("attempted_at", kind="stable")
    ok = a[a["outcome"] == "ok"].drop_duplicates("url", keep="last")
    per_page = facts.groupby("source_url").size() if len(facts) else pd.Series(dtype=int)
    ok = ok.assign(facts=ok["url"].map(per_page).fillna(0).astype(int))
    rows = []
    for route, g in a.groupby("route", sort=True):
        fetched = ok[ok["route"] == route]
        cost = float(g["cost"].sum())
        n_facts = int(fetched["facts"].sum())
        rows.append(
            {
                "route": route,
                "attempts": len(g),
                "cost": cost,
                "pages": len(fetched),
                "facts": n_facts,
                "cost_per_page": cost / len(fetched) if len(fetched) else None,
                "cost_per_fact": cost / n_facts if n_facts else None,
            }
        )
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
    return CostReport(
        by_route=pd.DataFrame(rows, columns=cols),
        total_cost=total,
        counterfactual_cost=counterfactual,
        saving=1.0 - total / counterfactual if counterfactual else 0.0,
        facts=n_facts,
        cost_per_fact=total / n_facts if n_facts else None,
    )
