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
from orchestration_project.research.extraction.facts import STRUCTURED_METHODS
from orchestration_project.research.fact_rows import REVIEW_TEXT, subject_key
from orchestration_project.research.identity import fact_extra, resolve_identities

__all__ = [
    "SOURCE_KIND_BY_PAGE",
    "RESOLVED_COLUMNS",
    "STRUCTURED_METHODS",
    "claims_for",
    "conflicting_decisions",
    "default_resolver",
    "identity_decisions",
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


SET_VALUED = ("feature", REVIEW_TEXT)
"""Attributes with many values per product: aggregated in the matrix, never a conflict."""


RESOLVED_COLUMNS = [
    "crawl_id",
    "site",
    "subject",
    "attribute",
    "value",
    "value_num",
    "currency",
    "unit",
    "confidence",
    "strategy",
    "rationale",
    "escalated",
    "n_claims",
    "n_values",
    "sources",
    "entity",
    "variant",
    "price_kind",
    "per",
]
"""The columns of the resolved facts."""


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

    A product is something a page offers in structured data or the DOM, with an amount or not
    (free, contact-us, no price shown); a name seen only in prose is a claim about a product,
    never a product of its own. Which rows are about one product is decided by
    :func:`~orchestration_project.research.identity.resolve_identities` (identifiers first, then
    names within the site); merges of different names, splits of one name and uncertain cases are
    written to ``market.<crawl_id>.identity`` and recorded as decisions, and the uncertain ones
    also become escalated rows of attribute ``identity`` (the human review queue). A product's
    price is decided among the claims with an amount; without any, its kind (``contact`` or
    ``none``) is its price. Ratings within half a star of a more trusted rating restate it (star
    displays round). Each decision is written to ``shared`` (namespace ``market.<crawl_id>``)
    and recorded as a decision of the ``resolver`` agent.

    Args:
        extracted_facts: accepted fact rows of one crawl.
        shared: the shared context the decisions are written to.
        recorder: where the resolver agent's decisions are recorded.
        resolver: the conflict resolver; default :func:`default_resolver`.

    Returns:
        Resolved facts sorted by site, product key and attribute: ``crawl_id``, ``site``,
        ``subject``, ``attribute``, ``value``, ``value_num``, ``currency``, ``unit``,
        ``confidence``, ``strategy``, ``rationale``, ``escalated``, ``n_claims``,
        ``n_values``, ``sources``, ``entity`` (the product's key in its site), ``variant``
        (what tells apart products sharing a name), ``price_kind`` and ``per``
        (``RESOLVED_COLUMNS``; no rows when nothing was offered).
    """
    agent = Agent(
        name="resolver", role="resolver", goal="Reconcile conflicting facts", recorder=recorder
    )
    resolver = resolver or default_resolver()
    crawl_id = str(extracted_facts["crawl_id"].iloc[0]) if len(extracted_facts) else ""
    facts = extracted_facts.copy()
    identity = resolve_identities(facts)
    facts["entity"] = identity.entity
    # an offer (a product shown without an amount) is a price claim of its own kind
    facts["claim_attribute"] = facts["attribute"].where(facts["attribute"] != "offer", "price")
    facts["price_kind"] = [
        fact_extra(e).get("price_kind") or ("fixed" if a == "price" else "none")
        for e, a in zip(facts["extra"], facts["attribute"], strict=True)
    ]
    rows = []
    for (site, entity, attribute), group in facts.groupby(
        ["site", "entity", "claim_attribute"], sort=True
    ):
        if (site, entity) not in identity.offered:
            continue
        if attribute in SET_VALUED:
            continue  # set-valued: aggregated in the matrix, not a conflict
        subject = identity.names[(site, entity)]
        if attribute == "price":
            row = _resolve_price(group, resolver)
        else:
            # Star displays round ratings to whole or half stars: within half a star, a rating
            # shown as stars restates the exact one rather than contradicting it.
            claims = claims_for(group)
            decision = resolver.resolve(claims, tolerance=0.5 if attribute == "rating" else None)
            row = {"decision": decision, "claims": claims, "value": decision.value}
            row.update(currency=None, price_kind=None, per=None)
            row["unit"] = group["unit"].dropna().iloc[0] if group["unit"].notna().any() else None
        decision, claims, value = row.pop("decision"), row.pop("claims"), row.pop("value")
        key = f"{site}|{entity}|{attribute}"
        write_decision(shared, f"market.{crawl_id}", key, value, row["currency"], decision)
        agent.record_decision(
            f"resolve {attribute} of {subject}",
            value,
            inputs={"claims": len(claims), "strategy": decision.strategy},
            rationale=decision.rationale,
        )
        numeric = attribute in ("price", "rating") and value is not None
        rows.append(
            {
                "crawl_id": crawl_id,
                "site": site,
                "subject": subject,
                "attribute": attribute,
                "value": str(value if value is not None else row["price_kind"]),
                "value_num": float(value) if numeric else None,
                "currency": row["currency"],
                "unit": row["unit"],
                "confidence": float(decision.confidence),
                "strategy": decision.strategy,
                "rationale": decision.rationale,
                "escalated": bool(decision.escalated),
                "n_claims": len(claims),
                "n_values": len({json.dumps(c.value, default=str) for c in claims}),
                "sources": json.dumps(sorted({c.source for c in claims})),
                "entity": entity,
                "variant": identity.variants.get((site, entity), ""),
                "price_kind": row["price_kind"],
                "per": row["per"],
            }
        )
    rows += _identity_rows(identity.decisions, crawl_id, shared, agent)
    return pd.DataFrame(rows, columns=RESOLVED_COLUMNS)


def _resolve_price(group: pd.DataFrame, resolver: ConflictResolver) -> dict[str, Any]:
    """The price of one product: decided among the claims with an amount; a product with no
    amount anywhere is priced by its kind (``contact`` when any source says so, else ``none``)."""
    priced = group[(group["attribute"] == "price") & group["value_num"].notna()]
    unit = None
    if len(priced):
        claims = claims_for(priced)
        decision = resolver.resolve(claims)
        value, currency = decision.value
        same = priced[
            (priced["value_num"].round(2) == round(float(value), 2))
            & (priced["currency"].fillna("") == (currency or ""))
        ]
        source = same if len(same) else priced
        kinds = source["price_kind"].value_counts()
        kind = str(kinds.index[0]) if len(kinds) else "fixed"
        if source["unit"].notna().any():
            unit = source["unit"].dropna().iloc[0]
        elif priced["unit"].notna().any():
            unit = priced["unit"].dropna().iloc[0]
        pers = [fact_extra(e).get("per") for e in source["extra"]]
        per = next((p for p in pers if p), None)
        return {
            "decision": decision,
            "claims": claims,
            "value": value,
            "currency": currency,
            "unit": unit,
            "price_kind": kind,
            "per": per,
        }
    claims = claims_for(group.assign(value_num=None))
    kind = "contact" if (group["price_kind"] == "contact").any() else "none"
    where = sorted(set(group["source_url"]))
    decision = Decision(
        value=None,
        strategy="unpriced",
        confidence=float(group["confidence"].max()),
        rationale=f"no amount shown; priced as {kind!r} by {len(where)} source(s): "
        + ", ".join(where[:3]),
        claims=claims,
    )
    return {
        "decision": decision,
        "claims": claims,
        "value": None,
        "currency": None,
        "unit": None,
        "price_kind": kind,
        "per": None,
    }


def _identity_rows(
    decisions: pd.DataFrame, crawl_id: str, shared: SharedContext, agent: Agent
) -> list[dict[str, Any]]:
    """Write every identity decision to ``market.<crawl_id>.identity`` (key
    ``<site>|<entity>|<decision>``), record it as a resolver decision, and return the uncertain
    ones as resolved rows (attribute ``identity``, escalated) for the human review queue."""
    out: list[dict[str, Any]] = []
    for d in decisions.itertuples():
        decision = Decision(
            value=d.decision,
            strategy="identity",
            confidence=float(d.confidence),
            rationale=f"{d.decision} {d.names}: {d.evidence}",
            escalated=bool(d.escalated),
        )
        key = f"{d.site}|{d.entity}|{d.decision}"
        write_decision(shared, f"market.{crawl_id}.identity", key, d.decision, None, decision)
        agent.record_decision(
            f"{d.decision} product {d.subject}",
            d.decision,
            inputs={"names": d.names, "strategy": "identity"},
            rationale=decision.rationale,
        )
        if not d.escalated:
            continue
        write_decision(
            shared,
            f"market.{crawl_id}",
            f"{d.site}|{d.entity}|identity",
            d.decision,
            None,
            decision,
        )
        out.append(
            {
                "crawl_id": crawl_id,
                "site": d.site,
                "subject": d.subject,
                "attribute": "identity",
                "value": d.decision,
                "value_num": None,
                "currency": None,
                "unit": None,
                "confidence": float(d.confidence),
                "strategy": "identity",
                "rationale": decision.rationale,
                "escalated": True,
                "n_claims": len(json.loads(d.names)),
                "n_values": 1,
                "sources": "[]",
                "entity": d.entity,
                "variant": "",
                "price_kind": None,
                "per": None,
            }
        )
    return out


def identity_decisions(extracted_facts: pd.DataFrame) -> pd.DataFrame:
    """The identity decisions (merges of different names, splits of one name, uncertain cases)
    among accepted fact rows, with their evidence (``DECISION_COLUMNS``)."""
    return resolve_identities(extracted_facts).decisions


def conflicting_decisions(resolved: pd.DataFrame) -> pd.DataFrame:
    """The resolved facts whose claims stated more than one value."""
    return resolved[resolved["n_values"] > 1] if len(resolved) else resolved


def price_check_frame(resolved: pd.DataFrame) -> pd.DataFrame:
    """The resolved prices, each with a ``product_key`` (``<site>|<product>``) to check that a
    product has one price (an empty frame with the checked columns when none).

    ``value_num`` is kept only for kinds that must carry a positive amount (fixed, from,
    tiered); a free product's 0 and an unpriced product's missing amount are not checked as
    amounts."""
    prices = (
        resolved[resolved["attribute"] == "price"]
        if len(resolved)
        else pd.DataFrame(columns=["value_num", "currency", "site", "subject"])
    )
    if len(prices) and "price_kind" in prices:
        amount = prices["price_kind"].fillna("fixed").isin(["fixed", "from", "tiered"])
        prices = prices.assign(value_num=prices["value_num"].where(amount, None))
    entity = (
        prices["entity"]
        if "entity" in prices and len(prices)
        else prices["subject"].map(subject_key)
    )
    return prices.assign(product_key=prices["site"] + "|" + entity)
