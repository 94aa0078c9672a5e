"""Drafts per strategy: the competing ways of writing a brief that experiments compare.

* ``templated``: a fixed template filled with the brief (no market data, no numbers);
* ``market_facts``: built from the resolved market facts (the competitor matrix): how many
  products and brands, price range, best rated, most features. Every number in it comes from
  a fact, and each claim is kept (product, price, currency) so the content checks can verify it;
* ``llm``: written by the language engine from the brief and the same facts, only when an LLM
  endpoint is configured (offline, the strategy is skipped and says why).

Scraped text (product and brand names) is data: it enters prose in quotation marks and is
HTML-escaped when a channel renders HTML (:mod:`.channels`), never interpreted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from orchestration_project.content_marketing.briefs import Brief

STRATEGIES = ("templated", "market_facts", "llm")
STRATEGY_VERSION = "drafts-v1"


class Writer(Protocol):
    """What a strategy needs of the language engine."""

    def write(
        self, *, instruction: str, facts: dict[str, Any], template: str | None = None
    ) -> Any: ...


@dataclass(frozen=True)
class Draft:
    """A strategy's draft of a brief: a title, Markdown paragraphs, the claims it makes."""

    brief_id: str
    strategy: str
    title: str
    summary: str
    paragraphs: tuple[str, ...]
    claims: tuple[dict[str, Any], ...] = ()
    model: str = ""
    cost_usd: float = 0.0
    facts_used: int = 0
    lineage: tuple[str, ...] = field(default=())


class StrategyUnavailable(RuntimeError):
    """The strategy cannot run here (e.g. the LLM strategy with no LLM configured)."""


def _money(value: float, currency: str | None) -> str:
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(str(currency or "").upper())
    return f"{symbol}{value:,.2f}" if symbol else f"{value:,.2f} {currency or ''}".strip()


def relevant_products(matrix: pd.DataFrame, topic: str) -> pd.DataFrame:
    """The matrix rows about the brief's topic: its head noun (last word, singular) in the
    product name; all rows when none match, so a broad brief still gets facts."""
    if matrix.empty or not topic.split():
        return matrix
    head = topic.split()[-1].lower()
    head = head[:-1] if head.endswith("s") and len(head) > 3 else head
    mask = matrix["product"].astype(str).str.lower().str.contains(head, regex=False)
    return matrix[mask] if mask.any() else matrix


def templated(brief: Brief) -> Draft:
    """The fixed template: no facts, no numbers."""
    title = f"How to choose {brief.topic}: a guide for {brief.audience}"
    paragraphs = (
        f"Choosing {brief.topic} is easier when you know what to look for. This guide walks "
        f"{brief.audience} through the questions that matter before you buy.",
        "Start with the features you will use every day. Then check how the product fits the "
        "devices you already own. Finally, compare the total cost over a few years, not only "
        "the price on the label.",
        "Reviews from other buyers tell you how a product behaves after the first week. Look "
        "for patterns in what people praise and what they return.",
    )
    summary = f"A short guide to choosing {brief.topic}."
    return Draft(brief.brief_id, "templated", title, summary, paragraphs, model="template")


def market_facts(brief: Brief, matrix: pd.DataFrame) -> Draft:
    """Built from the competitor matrix: every number is a resolved fact, kept as a claim."""
    rows = relevant_products(matrix, brief.topic)
    priced = rows.dropna(subset=["price"]) if "price" in rows else rows.iloc[0:0]
    if rows.empty or priced.empty:
        raise StrategyUnavailable("no priced market facts for this topic yet")
    claims: list[dict[str, Any]] = []

    def claim(row: pd.Series) -> str:
        claims.append(
            {
                "product": str(row["product"]),
                "price": float(row["price"]),
                "currency": str(row.get("currency") or ""),
            }
        )
        return _money(float(row["price"]), row.get("currency"))

    brands = rows["brand"].dropna().astype(str).nunique() if "brand" in rows else 0
    # Prices are compared within one currency: the one most of the products are priced in.
    currencies = priced["currency"].fillna("").astype(str)
    currency = currencies.value_counts().index[0]
    same = priced[currencies == currency].sort_values(["price", "product"])
    cheapest, dearest = same.iloc[0], same.iloc[-1]
    paragraphs = [
        f"We compared {len(rows)} {brief.topic} from {brands} brands for {brief.audience}. "
        f"Of the {len(same)} priced in {currency or 'one currency'}, prices run from "
        f'{claim(cheapest)} for "{cheapest["product"]}" to {claim(dearest)} for '
        f'"{dearest["product"]}".'
    ]
    rated = rows.dropna(subset=["rating"]) if "rating" in rows else rows.iloc[0:0]
    if len(rated):
        best = rated.sort_values(["rating", "product"], ascending=[False, True]).iloc[0]
        paragraphs.append(
            f'Buyers rate "{str(best["product"])}" highest, at {float(best["rating"]):.1f} '
            "out of 5, which makes it a safe first pick if reviews matter most to you."
        )
    if "n_features" in rows and rows["n_features"].notna().any():
        rich = rows.sort_values(["n_features", "product"], ascending=[False, True]).iloc[0]
        paragraphs.append(
            f'For the longest feature list, look at "{str(rich["product"])}" with '
            f"{int(rich['n_features'])} of the features we tracked."
        )
    lines = [
        f'- "{str(r["product"])}": {claim(r)}'
        + (f", rated {float(r['rating']):.1f}/5" if pd.notna(r.get("rating")) else "")
        for _, r in same.head(5).iterrows()
    ]
    paragraphs.append(f"The lowest prices in {currency or 'that currency'}:\n\n" + "\n".join(lines))
    title = f"{brief.topic.capitalize()} compared: prices and ratings from {brands} brands"
    summary = (
        f"{len(rows)} {brief.topic} compared, from "
        f"{_money(float(cheapest['price']), cheapest.get('currency'))}."
    )
    return Draft(
        brief.brief_id,
        "market_facts",
        title,
        summary,
        tuple(paragraphs),
        tuple(claims),
        model="facts",
        facts_used=len(rows),
        lineage=("competitor_matrix", "market_report"),
    )


def llm_written(brief: Brief, matrix: pd.DataFrame, writer: Writer, *, available: bool) -> Draft:
    """Written by the language engine from the brief and the market facts (LLM only)."""
    if not available:
        raise StrategyUnavailable("no LLM endpoint configured (the offline engine only)")
    rows = relevant_products(matrix, brief.topic).head(8)
    facts = {
        "topic": brief.topic,
        "audience": brief.audience,
        "tone": brief.tone,
        "products": [
            {
                k: (None if pd.isna(r.get(k)) else r.get(k))
                for k in ("product", "brand", "price", "currency", "rating")
            }
            for _, r in rows.iterrows()
        ],
    }
    res = writer.write(
        instruction=(
            f"Write a short article for {brief.audience} about {brief.topic}: a title line, "
            "then three paragraphs. Use only prices that appear in the facts."
        ),
        facts=facts,
    )
    lines = [ln.strip() for ln in str(res.value).splitlines() if ln.strip()]
    if not lines:
        raise StrategyUnavailable("the LLM returned no text")
    title = lines[0].lstrip("# ").strip()[:120]
    body = tuple(lines[1:]) or (lines[0],)
    return Draft(
        brief.brief_id,
        "llm",
        title,
        body[0][:200],
        body,
        model=str(getattr(res, "model", "")),
        cost_usd=float(getattr(res, "cost_usd", 0.0)),
        facts_used=len(rows),
        lineage=("competitor_matrix", "market_report"),
    )


def draft(
    brief: Brief, strategy: str, matrix: pd.DataFrame, writer: Writer, *, llm_available: bool
) -> Draft:
    """The ``strategy``'s draft of ``brief``; :class:`StrategyUnavailable` when it cannot run."""
    if strategy == "templated":
        return templated(brief)
    if strategy == "market_facts":
        return market_facts(brief, matrix)
    if strategy == "llm":
        return llm_written(brief, matrix, writer, available=llm_available)
    raise ValueError(f"unknown strategy {strategy!r}; known: {STRATEGIES}")


__all__ = [
    "STRATEGIES",
    "STRATEGY_VERSION",
    "Draft",
    "StrategyUnavailable",
    "Writer",
    "draft",
    "llm_written",
    "market_facts",
    "relevant_products",
    "templated",
]
