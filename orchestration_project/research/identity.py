"""Product identity: which fact rows are about one product, and what that product is called.

Products are matched within a site only (the site is the blocking key). Inside a site, the
*mentions* of products (price and offer facts from structured data or the layout; prose only
ever claims things about products) are joined in this order:

1. **identifiers**: the same GTIN, SKU, MPN or structured-data ``@id`` is one product; so is the
   same product URL (a card's link, a product page's canonical URL);
2. **names**: mentions with one normalised name are one product unless their identifiers say
   otherwise: a different GTIN/SKU/MPN, or different product URLs *and* different prices, make
   two products with one name (a name collision). A mention without identifiers joins the one
   identified product of its name; when its price differs, the merge is flagged for review;
3. **truncated names** ("Acme UltraBook Pro 1…"): a shortened name that no identifier joined to a
   full name merges into the one full name it is a prefix of; when it is a prefix of several,
   it stays apart and is flagged for review.

Each product is named by its best name: never a truncated one, never a prefix of a longer name
of the same product, then by source (structured data, the product page's heading, the link's
``title``, the image ``alt``, display text). Products of one site that end with one name get a
discriminator (``variant``: SKU, GTIN, MPN or the URL's last segment) so the name stays exact.

Merges of different names, splits of one name and every uncertain case are returned as
decisions with their evidence.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pandas as pd

from orchestration_project.research.extraction.facts import (
    NAME_SOURCES,
    STRUCTURED_METHODS,
    is_truncated,
    strip_ellipsis,
)
from orchestration_project.research.fact_rows import subject_key

__all__ = [
    "DECISION_COLUMNS",
    "PRODUCT_ATTRIBUTES",
    "STRONG_IDS",
    "IdentityResolution",
    "fact_extra",
    "resolve_identities",
]

PRODUCT_ATTRIBUTES = ("price", "offer")
"""Attributes of the fact rows that mention a product offered (with or without an amount)."""
STRONG_IDS = ("gtin", "sku", "mpn", "item_id")
"""Identifiers that name one product wherever they appear (stronger than a URL)."""
DECISION_COLUMNS = [
    "site",
    "entity",
    "subject",
    "decision",
    "names",
    "evidence",
    "confidence",
    "escalated",
]
"""The columns of the identity decisions."""


def fact_extra(value: Any) -> dict[str, Any]:
    """A fact row's ``extra`` as a dict (rows hold a dict before quarantine, JSON after)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            out = json.loads(value)
        except ValueError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}


@dataclass
class _Mention:
    row: Any
    name: str
    key: str
    ids: dict[str, str]
    url: str | None
    truncated: bool
    rank: int
    amount: float | None
    source_url: str
    confidence: float


@dataclass(frozen=True)
class IdentityResolution:
    """Products found among fact rows.

    Attributes:
        entity: per fact row (same index), the key of the product it is about within its site:
            the normalised best name, plus ``#<variant>`` when several products of the site share
            that name; facts about no offered product keep their normalised subject.
        names: ``(site, entity)`` -> the product's best name.
        variants: ``(site, entity)`` -> the discriminator ("" when the name is unique).
        offered: the ``(site, entity)`` pairs that are products (a price or offer mention).
        decisions: merges of different names, splits of one name and uncertain cases
            (``DECISION_COLUMNS``).
    """

    entity: pd.Series
    names: dict[tuple[str, str], str]
    variants: dict[tuple[str, str], str]
    offered: set[tuple[str, str]]
    decisions: pd.DataFrame


class _Sets:
    """Union-find over cluster ids."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i


def urls_compatible(a: set[str], b: set[str]) -> bool:
    """Whether some URL of ``a`` and some of ``b`` can name one product page: the same path,
    and no query parameter with two different values (one link may carry extra parameters,
    ``?ie=UTF8&refRID=…``). Hosts are not compared: a saved or mirrored page links one product
    both absolutely (the shop's host) and relatively (wherever the page is served)."""
    for u in a:
        pu = urlsplit(u)
        qu = dict(parse_qsl(pu.query))
        for v in b:
            pv = urlsplit(v)
            if pu.path.rstrip("/") != pv.path.rstrip("/"):
                continue
            qv = dict(parse_qsl(pv.query))
            if all(qu[k] == qv[k] for k in qu.keys() & qv.keys()):
                return True
    return False


def _mention(row: Any, extra: dict[str, Any]) -> _Mention:
    name = str(row.subject)
    ids = {k: str(extra[k]) for k in STRONG_IDS if extra.get(k)}
    value = row.value_num if row.attribute == "price" else None
    amount = None if value is None or pd.isna(value) else float(value)
    source = extra.get("name_source") or (
        "structured" if row.method in STRUCTURED_METHODS else "text"
    )
    return _Mention(
        row=row.Index,
        name=name,
        key=subject_key(name),
        ids=ids,
        url=extra.get("product_url") or None,
        truncated=bool(extra.get("truncated")) or is_truncated(name),
        rank=NAME_SOURCES.get(str(source), 1),
        amount=amount,
        source_url=str(row.source_url),
        confidence=float(row.confidence),
    )


def _loose(name: str) -> str:
    return subject_key(strip_ellipsis(name))


def best_name(names: list[tuple[str, int, float]]) -> str:
    """The best of a product's names: ``(name, source rank, confidence)`` triples.

    Truncated names and names that are a prefix of a longer name of the product lose; then the
    strongest source, the most frequent name, the highest confidence.
    """
    keys = {_loose(n) for n, _, _ in names}
    counts = Counter(n for n, _, _ in names)

    def score(item: tuple[str, int, float]) -> tuple[Any, ...]:
        n, rank, conf = item
        k = _loose(n)
        prefix = any(o != k and o.startswith(k) for o in keys)
        return (not is_truncated(n), not prefix, rank, counts[n], conf, len(n))

    return max(names, key=score)[0]


class _SiteResolver:
    """Identity resolution of one site's mentions."""

    def __init__(self, site: str, mentions: list[_Mention]) -> None:
        self.site = site
        self.m = mentions
        self.sets = _Sets(len(mentions))
        self.evidence: dict[int, list[str]] = defaultdict(list)
        self.escalate: dict[int, list[str]] = defaultdict(list)
        self.splits: list[tuple[list[int], str, bool]] = []

    def union(self, a: int, b: int, why: str) -> int:
        ra, rb = self.sets.find(a), self.sets.find(b)
        if ra == rb:
            return ra
        self.sets.parent[rb] = ra
        self.evidence[ra] += [*self.evidence.pop(rb, []), why]
        self.escalate[ra] += self.escalate.pop(rb, [])
        return ra

    def members(self, root: int) -> list[_Mention]:
        return [m for i, m in enumerate(self.m) if self.sets.find(i) == root]

    def cluster_ids(self, root: int, key: str) -> set[str]:
        return {m.ids[key] for m in self.members(root) if key in m.ids}

    def conflict(self, a: int, b: int) -> str | None:
        """Why two clusters cannot be one product (a strong identifier differs), or None."""
        for key in STRONG_IDS:
            ia, ib = self.cluster_ids(a, key), self.cluster_ids(b, key)
            if ia and ib and not ia & ib:
                return f"different {key} ({', '.join(sorted(ia | ib))})"
        return None

    def amounts(self, root: int) -> set[float]:
        return {round(m.amount, 2) for m in self.members(root) if m.amount is not None}

    def urls(self, root: int) -> set[str]:
        return {m.url for m in self.members(root) if m.url}

    def run(self) -> None:
        first: dict[tuple[str, str], int] = {}
        for i, m in enumerate(self.m):
            for key in STRONG_IDS:
                if key in m.ids:
                    j = first.setdefault((key, m.ids[key]), i)
                    if j != i:
                        self.union(j, i, f"same {key} {m.ids[key]}")
            if m.url:
                j = first.setdefault(("url", m.url), i)
                if j != i:
                    self.union(j, i, f"same product URL {m.url}")
        self.by_name()
        self.truncated()

    def by_name(self) -> None:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, m in enumerate(self.m):
            if not m.truncated:
                groups[m.key].append(i)
        for idx in groups.values():
            roots = list(dict.fromkeys(self.sets.find(i) for i in idx))
            identified = [r for r in roots if any(m.ids or m.url for m in self.members(r))]
            anonymous = [r for r in roots if r not in identified]
            kept: list[int] = []
            for r in identified:
                for k in kept:
                    why = self.conflict(k, r)
                    a, b = self.amounts(k), self.amounts(r)
                    if why is None and a and b and not a & b and self.urls(k) != self.urls(r):
                        why = "different product URLs and prices"
                    if why is None:
                        self.union(k, r, "same name, identifiers agree")
                        break
                else:
                    kept.append(r)
                kept = list(dict.fromkeys(self.sets.find(k) for k in kept))
            if len(kept) > 1:
                reasons = sorted(
                    {
                        self.conflict(a, b) or "different product URLs and prices"
                        for a in kept
                        for b in kept
                        if a < b
                    }
                )
                self.splits.append((kept, "; ".join(reasons), False))
            for r in anonymous:
                if not kept:
                    kept.append(r)
                    continue
                mine = self.amounts(r)
                fits = [
                    k for k in kept if not mine or not self.amounts(k) or mine & self.amounts(k)
                ]
                if len(kept) == 1:
                    root = self.union(kept[0], r, "same name; one mention has no identifier")
                    kept = [root]
                    if not fits:
                        self.escalate[root].append(
                            "same name, one mention without identifiers, different prices "
                            f"({', '.join(map(str, sorted(mine | self.amounts(root))))})"
                        )
                elif len(fits) == 1:
                    root = self.union(fits[0], r, "same name and price as one of its namesakes")
                    kept = [root if k == fits[0] else k for k in kept]
                else:
                    self.escalate[r].append(
                        f"same name as {len(kept)} products with different identifiers; "
                        "which one it is, is unknown"
                    )

    def truncated(self) -> None:
        full: dict[int, set[str]] = defaultdict(set)
        for i, m in enumerate(self.m):
            if not m.truncated:
                full[self.sets.find(i)].add(m.key)
        for i, m in enumerate(self.m):
            r = self.sets.find(i)
            if not m.truncated or full.get(r):
                continue
            stem = _loose(m.name)
            if not stem:
                continue
            cands = [
                c
                for c, keys in full.items()
                if c != r
                and any(k.startswith(stem) and k != stem for k in keys)
                and self.conflict(c, r) is None
                and not (
                    self.urls(c)
                    and self.urls(r)
                    and not urls_compatible(self.urls(c), self.urls(r))
                )
            ]
            if len(cands) == 1:
                root = self.union(cands[0], r, f"truncated name {m.name!r} is a prefix of it")
                full[root] = full.pop(cands[0], set()) | full.pop(r, set())
            elif len(cands) > 1:
                self.escalate[r].append(
                    f"truncated name {m.name!r} is a prefix of {len(cands)} products' names"
                )

    def clusters(self) -> dict[int, list[_Mention]]:
        out: dict[int, list[_Mention]] = defaultdict(list)
        for i, m in enumerate(self.m):
            out[self.sets.find(i)].append(m)
        return dict(out)


def _variant(members: list[_Mention]) -> str:
    for key in ("sku", "gtin", "mpn"):
        vals = sorted({m.ids[key] for m in members if key in m.ids})
        if vals:
            return vals[0]
    urls = sorted({m.url for m in members if m.url})
    if urls:
        path = urlsplit(urls[0]).path.rstrip("/")
        tail = path.rsplit("/", 1)[-1] or urls[0]
        return re.sub(r"\.\w{2,5}$", "", tail) or tail
    ids = sorted({m.ids["item_id"] for m in members if "item_id" in m.ids})
    return ids[0] if ids else ""


def resolve_identities(facts: pd.DataFrame) -> IdentityResolution:
    """Find the products the fact rows are about, site by site.

    Args:
        facts: fact rows (``site``, ``kind``, ``subject``, ``attribute``, ``value_num``,
            ``source_url``, ``confidence``, ``method`` and ``extra`` as a dict or JSON).

    Returns:
        The product of every row, each product's name and discriminator, and the decisions.
    """
    entity = pd.Series("", index=facts.index, dtype=object)
    names: dict[tuple[str, str], str] = {}
    variants: dict[tuple[str, str], str] = {}
    offered: set[tuple[str, str]] = set()
    decisions: list[dict[str, Any]] = []
    if not len(facts):
        return IdentityResolution(
            entity, names, variants, offered, pd.DataFrame(columns=DECISION_COLUMNS)
        )
    extras = {i: fact_extra(e) for i, e in facts["extra"].items()}
    for site, rows in facts.groupby("site", sort=True):
        mentions = [
            _mention(r, extras[r.Index])
            for r in rows.itertuples()
            if r.kind == "product" and r.attribute in PRODUCT_ATTRIBUTES and r.method != "text"
        ]
        res = _SiteResolver(str(site), mentions)
        res.run()
        clusters = res.clusters()
        best = {
            root: best_name([(m.name, m.rank, m.confidence) for m in ms])
            for root, ms in clusters.items()
        }
        by_key: dict[str, list[int]] = defaultdict(list)
        for root, name in best.items():
            by_key[subject_key(name)].append(root)
        key_of: dict[int, str] = {}
        for key, roots in by_key.items():
            if len(roots) == 1:
                key_of[roots[0]] = key
                continue
            used: set[str] = set()
            for n, root in enumerate(roots, start=1):
                v = _variant(clusters[root]) or str(n)
                v = v if v not in used else f"{v}-{n}"
                used.add(v)
                key_of[root] = f"{key}#{v}"
                variants[(str(site), key_of[root])] = v
        for root, ms in clusters.items():
            ent = key_of[root]
            names[(str(site), ent)] = best[root]
            variants.setdefault((str(site), ent), "")
            offered.add((str(site), ent))
            for m in ms:
                entity[m.row] = ent
            distinct = sorted({m.name for m in ms})
            escalated = res.escalate.get(root, [])
            merged_names = len({_loose(n) for n in distinct}) > 1
            if merged_names or escalated:
                decisions.append(
                    {
                        "site": str(site),
                        "entity": ent,
                        "subject": best[root],
                        "decision": "uncertain" if escalated else "merge",
                        "names": json.dumps(distinct, ensure_ascii=False),
                        "evidence": "; ".join(
                            dict.fromkeys([*res.evidence.get(root, []), *escalated])
                        ),
                        "confidence": 0.5 if escalated else 0.9,
                        "escalated": bool(escalated),
                    }
                )
        for roots, why, escalated in res.splits:
            for root in (res.sets.find(r) for r in roots):
                decisions.append(
                    {
                        "site": str(site),
                        "entity": key_of[root],
                        "subject": best[root],
                        "decision": "split",
                        "names": json.dumps(
                            sorted({m.name for m in clusters[root]}), ensure_ascii=False
                        ),
                        "evidence": f"{len(roots)} products share the name: {why}",
                        "confidence": 0.9,
                        "escalated": escalated,
                    }
                )
        _assign_others(rows, extras, res, clusters, key_of, entity)
    return IdentityResolution(
        entity, names, variants, offered, pd.DataFrame(decisions, columns=DECISION_COLUMNS)
    )


def _assign_others(
    rows: pd.DataFrame,
    extras: dict[Any, dict[str, Any]],
    res: _SiteResolver,
    clusters: dict[int, list[_Mention]],
    key_of: dict[int, str],
    entity: pd.Series,
) -> None:
    """The product of every other fact row of a site: by identifier, else by name (the product
    seen on the same page when several share the name); else its own normalised subject."""
    by_id: dict[tuple[str, str], str] = {}
    by_name: dict[str, list[tuple[str, set[str]]]] = defaultdict(list)
    for root, ms in clusters.items():
        ent = key_of[root]
        pages = {m.source_url for m in ms}
        for m in ms:
            for k, v in m.ids.items():
                by_id.setdefault((k, v), ent)
            if m.url:
                by_id.setdefault(("url", m.url), ent)
        for k in {m.key for m in ms} | {subject_key(strip_ellipsis(m.name)) for m in ms}:
            by_name[k].append((ent, pages))
    for r in rows.itertuples():
        if entity[r.Index]:
            continue
        extra = extras[r.Index]
        ent = next(
            (
                by_id[(k, str(extra[k]))]
                for k in STRONG_IDS
                if extra.get(k) and (k, str(extra[k])) in by_id
            ),
            None,
        )
        if ent is None and extra.get("product_url"):
            ent = by_id.get(("url", str(extra["product_url"])))
        if ent is None:
            key = subject_key(str(r.subject))
            cands = list(dict.fromkeys(e for e, _ in by_name.get(key, [])))
            if len(cands) == 1:
                ent = cands[0]
            elif cands:
                here = [e for e, pages in by_name[key] if str(r.source_url) in pages]
                ent = here[0] if len(set(here)) == 1 else None
            if ent is None:
                ent = key if not cands else ""
        entity[r.Index] = ent
