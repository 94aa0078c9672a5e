"""The competitor matrix: one row per competitor product, pivoted from the resolved facts.

Every product is kept, priced or not: price (with its kind: fixed, free, from, tiered, contact
or none), currency, unit and rating come from the resolved facts; features and review sentiment,
which have many values per product, are aggregated from the extracted facts. Each site is named
by its brand, read from its own page titles.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from orchestration_project.research.fact_rows import REVIEW_TEXT, subject_key
from orchestration_project.research.identity import resolve_identities

__all__ = [
    "CompetitorMatrix",
    "build_competitor_matrix",
    "duplicate_products",
    "site_brands",
    "unpriced_products",
]

_TITLE_SEPARATORS = r"\s*(?:\|+|::|–|—|·|»|:|\s-\s)\s*"


def site_brands(snapshots: pd.DataFrame) -> dict[str, str]:
    """A display name per site: the title segment shared by most of its pages' titles (sites
    put their name in every title: "Pricing | Acme", "Acme – Blog").

    Args:
        snapshots: page snapshots (``site`` and ``title`` columns).

    Returns:
        site -> brand; the site's host when no segment of 2–40 characters appears in at least
        two titles (ties: the shorter segment).
    """
    out = {}
    for site, pages in snapshots.groupby("site"):
        counts: dict[str, int] = defaultdict(int)
        for title in pages["title"].dropna():
            for part in {p.strip() for p in re.split(_TITLE_SEPARATORS, str(title))}:
                if 1 < len(part) <= 40:
                    counts[part] += 1
        best = max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])), default=None)
        out[site] = best[0] if best and best[1] >= 2 else site.split("//")[-1]
    return out


@dataclass(frozen=True)
class CompetitorMatrix:
    """The matrix and the features it tracks.

    Attributes:
        frame: one row per product, sorted by brand and product: ``site``, ``brand``,
            ``product`` (its exact name), ``variant`` (what tells apart products of one site that
            share a name, else ""), ``price`` (None without an amount), ``price_kind`` (fixed,
            free, from, tiered, contact or none), ``currency``, ``unit`` (billing period),
            ``per`` (user, seat...), ``price_confidence``, ``rating``, ``n_features``,
            ``reviews``, ``sentiment`` and one boolean ``feature:<name>`` column per feature.
        features: the tracked feature names (lower case), sorted.
    """

    frame: pd.DataFrame
    features: list[str]


def build_competitor_matrix(
    resolved_facts: pd.DataFrame, extracted_facts: pd.DataFrame, brands: Mapping[str, str]
) -> CompetitorMatrix:
    """Pivot resolved facts into one row per product, with its features and review sentiment.

    Args:
        resolved_facts: one decided value per (site, product, attribute).
        extracted_facts: accepted fact rows (features, and reviews with ``extra["sentiment"]``
            as JSON); facts about products not in ``resolved_facts`` are ignored.
        brands: site -> display name (see :func:`site_brands`); a missing site names itself.

    Returns:
        The matrix (``sentiment`` is the mean review sentiment, None without reviews).
    """
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in resolved_facts.itertuples():
        if r.attribute not in ("price", "rating"):
            continue  # identity decisions waiting for review are not product values
        entity = getattr(r, "entity", None) or subject_key(r.subject)
        key = (r.site, entity)
        row = rows.setdefault(
            key,
            {
                "site": r.site,
                "brand": brands.get(r.site, r.site),
                "product": r.subject,
                "variant": getattr(r, "variant", None) or "",
            },
        )
        if r.attribute == "price":
            kind = getattr(r, "price_kind", None) or "fixed"
            row.update(
                price=None if pd.isna(r.value_num) else r.value_num,
                price_kind=kind,
                currency=r.currency,
                unit=r.unit,
                per=getattr(r, "per", None),
                price_confidence=r.confidence,
            )
        elif r.attribute == "rating":
            row["rating"] = r.value_num
    features: dict[tuple[str, str], set[str]] = defaultdict(set)
    sentiments: dict[tuple[str, str], list[float]] = defaultdict(list)
    entity_of = (
        resolve_identities(extracted_facts).entity
        if len(extracted_facts)
        else pd.Series(dtype=object)
    )
    for f in extracted_facts.itertuples():
        key = (f.site, entity_of.get(f.Index) or subject_key(f.subject))
        if key not in rows:
            continue
        if f.attribute == "feature":
            features[key].add(str(f.value).strip().lower())
        elif f.attribute == REVIEW_TEXT:
            s = json.loads(f.extra or "{}").get("sentiment")
            if s is not None:
                sentiments[key].append(float(s))
    all_features = sorted({x for s in features.values() for x in s})
    for key, row in rows.items():
        row["n_features"] = len(features[key])
        row["reviews"] = len(sentiments[key])
        row["sentiment"] = sum(sentiments[key]) / len(sentiments[key]) if sentiments[key] else None
        for feat in all_features:
            row[f"feature:{feat}"] = feat in features[key]
    df = pd.DataFrame(list(rows.values()))
    for col in ("price", "price_kind", "currency", "unit", "per", "rating", "price_confidence"):
        if col not in df.columns:
            df[col] = None
    if len(df):
        # a product known only by its rating shows no price: its kind is "none"
        df["price_kind"] = df["price_kind"].fillna("none")
        df = df.sort_values(["brand", "product", "variant"]).reset_index(drop=True)
    return CompetitorMatrix(frame=df, features=all_features)


def duplicate_products(matrix: pd.DataFrame) -> int:
    """How many rows repeat a (site, product, variant) of an earlier row (0 for an empty
    matrix); two products that share a name differ by their ``variant``."""
    if not len(matrix):
        return 0
    cols = ["site", "product", "variant"] if "variant" in matrix.columns else ["site", "product"]
    return int(matrix.duplicated(cols).sum())


def unpriced_products(matrix: pd.DataFrame) -> pd.DataFrame:
    """The products without an amount to compare: free, contact-us and no price shown."""
    if not len(matrix) or "price_kind" not in matrix.columns:
        return matrix.iloc[0:0]
    return matrix[matrix["price_kind"].isin(["free", "contact", "none"])]
