"""Ground truth of the demo world, generated from the same data the pages are rendered from."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from orchestration_project.demo_world.data import JS_ONLY, MARKET_TOPIC, SITES
from orchestration_project.demo_world.sites import TEMPLATES, render_all

GROUND_TRUTH_PATH = Path(__file__).with_name("ground_truth.json")


def build_ground_truth() -> dict[str, Any]:
    """The ground truth with site-relative paths (what ``ground_truth.json`` holds)."""
    bundles = render_all()
    sites, products, reviews, stale, hostile = [], [], [], [], []
    for s in SITES:
        tpl = TEMPLATES[s.slug]
        sites.append(
            {"slug": s.slug, "brand": s.brand, "currency": s.currency, "home": "/", "path": "/"}
        )
        for p in s.products:
            products.append(
                {
                    "site": s.slug,
                    "brand": s.brand,
                    "name": p.name,
                    "kind": p.kind,
                    "price": p.price,
                    "currency": s.currency,
                    "unit": p.unit,
                    "path": tpl.PRODUCT_PATH.format(slug=p.slug),
                    "features": list(p.features),
                    "rating": p.rating,
                    "review_count": p.review_count,
                }
            )
        review_path = getattr(tpl, "review_path", None)
        for i, r in enumerate(s.reviews):
            reviews.append(
                {
                    "site": s.slug,
                    "product": r.product,
                    "rating": r.rating,
                    "sentiment": r.sentiment,
                    "author": r.author,
                    "date": r.date,
                    "path": review_path(i) if review_path else tpl.REVIEWS_PATH,
                }
            )
        for b in s.posts:
            if b.stale_product:
                stale.append(
                    {
                        "site": s.slug,
                        "product": b.stale_product,
                        "stale_price": b.stale_price,
                        "current_price": s.product(b.stale_product).price,
                        "currency": s.currency,
                        "path": tpl.POST_PATH.format(slug=b.slug),
                        "date": b.date,
                    }
                )
        for h in s.hostile:
            hostile.append(
                {
                    "kind": h.kind,
                    "site": s.slug,
                    "path": h.path,
                    "expected": h.expected,
                    "target": h.target,
                    "linked_from": h.linked_from,
                }
            )
            if h.kind == "redirect_loop":
                hostile[-1]["redirects_to"] = h.extra
    pages = {slug: sorted(b.normal) for slug, b in bundles.items()}
    return {
        "market": MARKET_TOPIC,
        "sites": sites,
        "products": products,
        "reviews": reviews,
        "stale_claims": stale,
        "hostile": hostile,
        "js_only": [dict(j) for j in JS_ONLY],
        "page_count": sum(len(v) for v in pages.values()),
        "pages": pages,
    }


def dumps_ground_truth(gt: dict[str, Any]) -> str:
    """Canonical JSON text of ``gt`` (as committed)."""
    return json.dumps(gt, indent=2, ensure_ascii=False) + "\n"


def load_ground_truth() -> dict[str, Any]:
    """The committed ground truth (site-relative paths)."""
    return json.loads(GROUND_TRUTH_PATH.read_text(encoding="utf-8"))


def absolutize(gt: dict[str, Any], sites: dict[str, str], outside_url: str) -> dict[str, Any]:
    """A copy of ``gt`` with ``site_url`` and absolute ``url`` fields for a running world.

    Site-relative ``path`` fields are kept; ``url`` is added next to them. ``pages`` maps each
    site slug to absolute page URLs.
    """
    out = copy.deepcopy(gt)

    def url_for(slug: str, path: str, target: str = "site") -> str:
        if target == "outside":
            return outside_url + path
        if path.startswith("/"):
            return sites[slug] + path
        return path

    for s in out["sites"]:
        s["site_url"] = sites[s["slug"]]
        s["url"] = sites[s["slug"]] + s["home"]
    for key in ("products", "reviews", "stale_claims", "js_only", "hostile"):
        for rec in out[key]:
            rec["site_url"] = sites[rec["site"]]
            rec["url"] = url_for(rec["site"], rec["path"], rec.get("target", "site"))
    out["pages"] = {slug: [sites[slug] + p for p in paths] for slug, paths in gt["pages"].items()}
    out["outside_url"] = outside_url
    return out
