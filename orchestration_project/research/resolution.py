"""Resolving conflicting facts: one value per product and attribute, with a rationale.

Extracted facts become claims (:class:`~orchestration_project.agents.coordination.Claim`:
the source kind from the extraction method and the page kind, the publication date as the
time of observation), grouped per (site, product, attribute) and decided by a
:class:`~orchestration_project.agents.coordination.conflicts.ConflictResolver`. Every decision is
written to the shared context with compare-and-set and recorded as a decision of the resolver
agent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pandas as pd

from orchestration_project.agents.coordination.conflicts import (
    Claim,
    ConflictResolver,
    Decision,
)
from orchestration_project.agents.coordination.context import SharedContext, VersionConflict
from orchestration_project.agents.runtime import ActionRecorder, Agent
from orchestration_project.common.time import aware
from orchestration_project.research.fact_rows import REVIEW_TEXT, subject_key

__all__ = [
    "SOURCE_KIND_BY_PAGE",
    "STRUCTURED_METHODS",
    "claims_for",
    "conflicting_decisions",
    "default_resolver",
    "price_check_frame",
    "resolve_facts",
    "write_decision",
]

SOURCE_KIND_BY_PAGE = {
    "product": "product_page",
    "pricing": "pricing_page",
    "listing": "listing",
    "blog": "blog",
    "reviews": "review",
    "features": "product_page",
    "home": "listing",
}
"""The claim source kind of a fact found in the DOM of a page of this kind."""

STRUCTURED_METHODS = ("jsonld", "microdata", "rdfa")
"""Extraction methods whose facts count as structured data, wherever the page."""

SET_VALUED = ("feature", REVIEW_TEXT)
"""Attributes with many values per product: aggregated in the matrix, never a conflict."""


def default_resolver() -> ConflictResolver:
    """The market research resolver: reliability × confidence × recency, escalating below 0.6."""
    return ConflictResolver(strategy="reliability_recency", escalation_threshold=0.6)


def _published(value: Any) -> datetime | None:
    """An ISO publication date as an aware datetime (naive means UTC); None if absent or bad."""
    if not (isinstance(value, str) and value):
        return None
    try:
        published = datetime.fromisoformat(value)
    except ValueError:
        return None
    return aware(published)


def claims_for(group: pd.DataFrame) -> list[Claim]:
    """The claims of a group of fact rows about one product attribute.

    The source kind is ``structured`` for structured data, ``blog`` (on a blog page) or
    ``unknown`` for prose, otherwise the page kind's (``SOURCE_KIND_BY_PAGE``). A price claims
    ``(amount rounded to cents, currency)``; any other attribute its value string.

    Args:
        group: fact rows (``method``, ``page_kind``, ``published``, ``attribute``,
            ``value``, ``value_num``, ``currency``, ``source_url``, ``confidence``).

    Returns:
        One claim per row, in row order.
    """
    claims = []
    for f in group.itertuples():
        published = _published(f.published)
        kind = (
            "structured"
            if f.method in STRUCTURED_METHODS
            else SOURCE_KIND_BY_PAGE.get(f.page_kind or "", "unknown")
        )
        if f.method == "text":
            kind = "blog" if f.page_kind == "blog" else "unknown"
        value: Any = (
            (round(float(f.value_num), 2), f.currency) if f.attribute == "price" else f.value
        )
        claims.append(
            Claim(
                value=value,
                source=f.source_url,
                source_kind=kind,
                agent="extractor",
                role="extractor",
                observed_at=published,
                confidence=float(f.confidence),
            )
        )
    return claims


def write_decision(
    shared: SharedContext,
    namespace: str,
    key: str,
    value: Any,
    currency: str | None,
    decision: Decision,
) -> None:
    """Compare-and-set the decision into the shared context (a no-op if it is unchanged).

    Args:
        shared: the shared context.
        namespace: e.g. ``market.<crawl_id>``.
        key: ``<site>|<product key>|<attribute>``.
        value: the decided value (for a price, the amount).
        currency: the price's currency, or None.
        decision: the resolver's decision (strategy, rationale and confidence are written).

    Raises:
        RuntimeError: ten compare-and-set attempts in a row lost to other writers.
    """
    payload = {
        "value": value,
        "currency": currency,
        "strategy": decision.strategy,
        "rationale": decision.rationale,
    }
    for _ in range(10):
        current = shared.get(namespace, key)
        if current is not None and current.value == payload:
            return
        try:
            shared.put(
                namespace,
                key,
                payload,
                expected_version=current.version if current else None,
                source="resolver",
                agent="resolver",
                confidence=float(decision.confidence),
            )
            return
        except VersionConflict:
            continue
    raise RuntimeError(f"could not write {key} to the shared context after 10 attempts")


def resolve_facts(
    extracted_facts: pd.DataFrame,
    *,
    shared: SharedContext,
    recorder: ActionRecorder,
    resolver: ConflictResolver | None = None,
) -> pd.DataFrame:
    """One row per offered product and single-valued attribute, decided from its claims.

    A product is something a page offers for a price in structured data or the DOM; a name seen
    only in prose is a claim about a product, never a product of its own. Ratings within half a
    star of a more trusted rating restate it (star displays round). Each decision is written to
    ``shared`` (namespace ``market.<crawl_id>``) and recorded as a decision of the ``resolver``
    agent.

    Args:
        extracted_facts: accepted fact rows of one crawl.
        shared: the shared context the decisions are written to.
        recorder: where the resolver agent's decisions are recorded.
        resolver: the conflict resolver; default :func:`default_resolver`.

    Returns:
        Resolved facts sorted by site, product key and attribute: ``crawl_id``, ``site``,
        ``subject``, ``attribute``, ``value``, ``value_num``, ``currency``, ``unit``,
        ``confidence``, ``strategy``, ``rationale``, ``escalated``, ``n_claims``,
        ``n_values``, ``sources`` (an empty frame without columns when nothing was offered).
    """
    agent = Agent(
        name="resolver", role="resolver", goal="Reconcile conflicting facts", recorder=recorder
    )
    resolver = resolver or default_resolver()
    crawl_id = str(extracted_facts["crawl_id"].iloc[0]) if len(extracted_facts) else ""
    facts = extracted_facts.copy()
    facts["subject_key"] = facts["subject"].map(subject_key)
    offered = set(
        facts.loc[
            (facts["attribute"] == "price") & (facts["method"] != "text"), ["site", "subject_key"]
        ].itertuples(index=False, name=None)
    )
    rows = []
    for (site, key_of_subject, attribute), group in facts.groupby(
        ["site", "subject_key", "attribute"], sort=True
    ):
        if (site, key_of_subject) not in offered:
            continue
        if attribute in SET_VALUED:
            continue  # set-valued: aggregated in the matrix, not a conflict
        claims = claims_for(group)
        # Star displays round ratings to whole or half stars: within half a star, a rating
        # shown as stars restates the exact one rather than contradicting it.
        decision = resolver.resolve(claims, tolerance=0.5 if attribute == "rating" else None)
        subject = group.sort_values("confidence", ascending=False)["subject"].iloc[0]
        value = decision.value
        currency = None
        if attribute == "price":
            value, currency = decision.value
        unit = group["unit"].dropna().iloc[0] if group["unit"].notna().any() else None
        key = f"{site}|{key_of_subject}|{attribute}"
        write_decision(shared, f"market.{crawl_id}", key, value, currency, decision)
        agent.record_decision(
            f"resolve {attribute} of {subject}",
            value,
            inputs={"claims": len(claims), "strategy": decision.strategy},
            rationale=decision.rationale,
        )
        rows.append(
            {
                "crawl_id": crawl_id,
                "site": site,
                "subject": subject,
                "attribute": attribute,
                "value": str(value),
                "value_num": float(value) if attribute in ("price", "rating") else None,
                "currency": currency,
                "unit": unit,
                "confidence": float(decision.confidence),
                "strategy": decision.strategy,
                "rationale": decision.rationale,
                "escalated": bool(decision.escalated),
                "n_claims": len(claims),
                "n_values": len({json.dumps(c.value, default=str) for c in claims}),
                "sources": json.dumps(sorted({c.source for c in claims})),
            }
        )
    return pd.DataFrame(rows)


def conflicting_decisions(resolved: pd.DataFrame) -> pd.DataFrame:
    """The resolved facts whose claims stated more than one value."""
    return resolved[resolved["n_values"] > 1] if len(resolved) else resolved


def price_check_frame(resolved: pd.DataFrame) -> pd.DataFrame:
    """The resolved prices, each with a ``product_key`` (``<site>|<product key>``) to check
    that a product has one price (an empty frame with the checked columns when none)."""
    prices = (
        resolved[resolved["attribute"] == "price"]
        if len(resolved)
        else pd.DataFrame(columns=["value_num", "currency", "site", "subject"])
    )
    return prices.assign(product_key=prices["site"] + "|" + prices["subject"].map(subject_key))
