"""Schema.org node helpers for the structured-data layer: lenient JSON-LD loading, compact
RDFa, the ``@id`` graph, and reading names, units, amounts, identifiers and ratings from nodes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

from orchestration_project.research.extraction.facts import norm_space, normalize_product_url
from orchestration_project.research.extraction.prices import (
    find_prices,
    normalize_currency,
    parse_amount,
)

__all__ = ["load_jsonld_blocks"]
_UNIT_CODES = {
    "MON": "month",
    "MTH": "month",
    "ANN": "year",
    "YR": "year",
    "YEA": "year",
    "WEE": "week",
    "WK": "week",
    "DAY": "day",
    "HUR": "hour",
    "P1M": "month",
    "P1Y": "year",
    "P12M": "year",
    "P1W": "week",
    "P7D": "week",
    "P1D": "day",
    "PT1H": "hour",
}
_SCHEMA_PREFIX = re.compile(r"^https?://schema\.org/")


def _repair_json(text: str) -> Any:
    text = text.strip()
    if text.startswith("<!--"):
        text = text[4:]
    if text.endswith("-->"):
        text = text[:-3]
    try:
        return json.loads(text, strict=False)
    except ValueError:
        pass
    fixed = re.sub(r",\s*([}\]])", r"\1", text)
    fixed = re.sub(r"[\x00-\x1f]", " ", fixed)
    try:
        return json.loads(fixed, strict=False)
    except ValueError:
        return None


def load_jsonld_blocks(root: Any) -> list[Any]:
    """Parse every ``<script type="application/ld+json">`` of a document (lenient).

    Args:
        root: the lxml document (scripts still present).

    Returns:
        The parsed JSON values (broken blocks are skipped).
    """
    out = []
    for script in root.iter("script"):
        if "ld+json" not in (script.get("type") or "").lower():
            continue
        data = _repair_json(script.text or "")
        if data is not None:
            out.append(data)
    return out


def _short(t: Any) -> str:
    return _SCHEMA_PREFIX.sub("", str(t)).rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _types(node: dict[str, Any]) -> set[str]:
    t = node.get("@type")
    if t is None:
        return set()
    if isinstance(t, list):
        return {_short(x) for x in t}
    return {_short(t)}


def _compact_rdfa(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expanded RDFa (full IRIs, ``@value`` wrappers) to compact schema.org-style dicts."""

    def conv(v: Any) -> Any:
        if isinstance(v, list):
            vals = [conv(x) for x in v]
            return vals[0] if len(vals) == 1 else vals
        if isinstance(v, dict):
            if "@value" in v:
                return v["@value"]
            out: dict[str, Any] = {}
            for k, val in v.items():
                if k == "@type":
                    out[k] = [_short(x) for x in val] if isinstance(val, list) else _short(val)
                elif k.startswith("@"):
                    out[k] = val
                elif _SCHEMA_PREFIX.match(k):
                    out[_SCHEMA_PREFIX.sub("", k)] = conv(val)
            return out
        return v

    return [conv(i) for i in items if isinstance(i, dict) and i.get("@type")]


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    stack = [value]
    seen: set[int] = set()
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(reversed(v))
        elif isinstance(v, dict):
            if id(v) in seen:
                continue
            seen.add(id(v))
            yield v
            stack.extend(reversed(list(v.values())))


class _Graph:
    """All nodes of one syntax, with ``@id`` resolution."""

    def __init__(self, roots: list[Any]) -> None:
        self.nodes = list(_walk(roots))
        self.by_id: dict[str, dict[str, Any]] = {}
        for n in self.nodes:
            nid = n.get("@id")
            if isinstance(nid, str) and len(n) > 1:
                self.by_id.setdefault(nid, {}).update(n)

    def resolve(self, v: Any) -> Any:
        if isinstance(v, dict) and set(v) <= {"@id"} and isinstance(v.get("@id"), str):
            return self.by_id.get(v["@id"], v)
        return v

    def many(self, node: dict[str, Any], *keys: str) -> list[Any]:
        out: list[Any] = []
        for k in keys:
            v = node.get(k)
            if v is None:
                continue
            for x in v if isinstance(v, list) else [v]:
                out.append(self.resolve(x))
        return out

    def one(self, node: dict[str, Any], *keys: str) -> Any:
        vals = self.many(node, *keys)
        return vals[0] if vals else None


def _text(v: Any) -> str:
    if isinstance(v, dict):
        v = v.get("name") or v.get("@value") or v.get("text") or ""
    if isinstance(v, list):
        v = v[0] if v else ""
    return norm_space(str(v)) if v is not None else ""


def _unit_of(g: _Graph, *nodes: Any) -> str | None:
    for n in nodes:
        if not isinstance(n, dict):
            continue
        for key in ("unitText", "unitCode", "billingDuration", "eligibleDuration"):
            v = g.one(n, key)
            if isinstance(v, dict):
                v = v.get("value") or v.get("unitCode") or v.get("unitText")
            if v is None:
                continue
            s = str(v).strip()
            if s.upper() in _UNIT_CODES:
                return _UNIT_CODES[s.upper()]
            low = s.lower()
            for word, unit in (
                ("month", "month"),
                ("year", "year"),
                ("annual", "year"),
                ("week", "week"),
                ("day", "day"),
                ("hour", "hour"),
            ):
                if word in low:
                    return unit
        ref = g.one(n, "referenceQuantity")
        if isinstance(ref, dict):
            u = _unit_of(g, ref)
            if u:
                return u
    return None


def _amount_and_currency(raw: Any, currency: Any) -> tuple[float | None, str | None, str | None]:
    cur = normalize_currency(currency) if currency else None
    amount = parse_amount(raw)
    unit = None
    if amount is None and isinstance(raw, str):
        ms = find_prices(raw, default_currency=cur, bare_numbers=True)
        if ms:
            amount, unit = ms[0].price.amount, ms[0].price.unit
            cur = cur or ms[0].price.currency
    return amount, cur, unit


_GTIN_KEYS = ("gtin", "gtin14", "gtin13", "gtin12", "gtin8", "isbn")


def _identity(node: dict[str, Any], page_url: str) -> dict[str, str]:
    """A product node's identifiers: ``gtin`` (GTIN/EAN/UPC/ISBN), ``sku`` (or ``productID``),
    ``mpn``, ``item_id`` (its ``@id``) and ``product_url`` (its ``url``)."""
    out: dict[str, str] = {}
    for key in _GTIN_KEYS:
        if _text(node.get(key)):
            out["gtin"] = re.sub(r"\D", "", _text(node.get(key))) or _text(node.get(key))
            break
    for key, name in (("sku", "sku"), ("productID", "sku"), ("mpn", "mpn")):
        value = _text(node.get(key))
        if value and name not in out and len(value) <= 60:
            out[name] = value
    nid = node.get("@id")
    if isinstance(nid, str) and nid.strip() and not nid.startswith("_:"):
        out["item_id"] = urljoin(page_url, nid.strip())
    url = node.get("url")
    if isinstance(url, list):
        url = url[0] if url else None
    if isinstance(url, str) and url.strip():
        norm = normalize_product_url(urljoin(page_url, url.strip()))
        if norm:
            out["product_url"] = norm
    return out


def _score(value: Any) -> float | None:
    """A rating number: a plain decimal with any number of places ("4.8304", "4,5"), else what
    :func:`parse_amount` reads (a price parser: two decimals, thousands separators)."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d{1,3})(?:[.,](\d+))?\s*", value)
        if m:
            return float(f"{m.group(1)}.{m.group(2) or 0}")
    return parse_amount(value)


def _rating(g: _Graph, node: Any) -> tuple[float, dict[str, Any]] | None:
    if not isinstance(node, dict):
        if _score(node) is not None:
            node = {"ratingValue": node}
        else:
            return None
    value = _score(g.one(node, "ratingValue"))
    if value is None:
        return None
    best = _score(g.one(node, "bestRating"))
    worst = _score(g.one(node, "worstRating"))
    if best is None:
        best = 5.0 if value <= 5 else 10.0 if value <= 10 else 100.0
    if best <= 0:
        return None
    extra: dict[str, Any] = {"best_rating": best, "raw_value": value}
    if worst is not None:
        extra["worst_rating"] = worst
    for key, name in (("reviewCount", "review_count"), ("ratingCount", "rating_count")):
        cnt = parse_amount(g.one(node, key))
        if cnt is not None:
            extra[name] = int(cnt)
    return round(value / best * 5.0, 3), extra


def _evidence(node: Any) -> str:
    try:
        return json.dumps(node, ensure_ascii=False, default=str)[:200]
    except (TypeError, ValueError):
        return str(node)[:200]
