"""Product identity, naming and the price model, from small pages written for these tests down
to the competitor matrix and the report.

Regression (issue 12): on real catalogues the final product table named products by their
shortened display text, merged different products that share a name, and dropped every product
without a positive price.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from orchestration_project.agents.coordination import CoordinationStore, SharedContext
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.research.extraction import extract_page
from orchestration_project.research.fact_rows import fact_row
from orchestration_project.research.matrix import build_competitor_matrix, duplicate_products
from orchestration_project.research.quarantine import quarantine_facts
from orchestration_project.research.reporting import write_market_report
from orchestration_project.research.resolution import price_check_frame, resolve_facts

SITE = "http://shop.test"


def _page(title: str, body: str) -> str:
    return f"<html><head><title>{title} | Acme Store</title></head><body>{body}</body></html>"


def _card(path: str, shown: str, full: str | None, price: str, *, how: str = "title") -> str:
    """A listing card: image link (the full name in its ``title`` or the image ``alt``), a
    heading link showing ``shown`` and a price line."""
    title = f' title="{full}"' if full and how == "title" else ""
    alt = full if full and how == "alt" else "product photo"
    return (
        f'<li class="card"><a href="{path}"{title}><img src="/i.jpg" alt="{alt}"></a>'
        f'<h3><a href="{path}">{shown}</a></h3><span class="price">{price}</span></li>'
    )


def _product_page(name: str, price: str, sku: str) -> str:
    return _page(
        name,
        f'<main><div class="product"><h1>{name}</h1><p class="sku">SKU {sku}</p>'
        f'<span class="price" data-sku="{sku}">{price}</span>'
        "<button>Add to cart</button><p>A laptop for work and travel.</p></div></main>",
    )


def _rows(pages: dict[str, str]) -> list[dict[str, Any]]:
    """Fact rows of a site's pages, as the extractor step builds them."""
    rows = []
    for path, html in pages.items():
        page = extract_page(html, f"{SITE}{path}")
        rows += [fact_row("c1", SITE, page, f) for f in page.facts]
    return rows


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[SharedContext]:
    store = CoordinationStore(f"sqlite:///{tmp_path / 'coordination.db'}")
    yield SharedContext(store)
    store.engine.dispose()


def _resolve(pages: dict[str, str], shared: SharedContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    outcome = quarantine_facts(_rows(pages))
    resolved = resolve_facts(outcome.accepted, shared=shared, recorder=ActionRecorder("t"))
    matrix = build_competitor_matrix(resolved, outcome.accepted, {SITE: "Acme"}).frame
    return resolved, matrix


def _prices(matrix: pd.DataFrame) -> dict[str, Any]:
    return {
        r.product: (None if pd.isna(r.price) else r.price, r.price_kind)
        for r in matrix.itertuples()
    }


# -- failure class 1: display text as the name ----------------------------------------------
def test_a_card_cut_short_takes_the_full_name_from_its_link_title_or_image_alt() -> None:
    html = _page(
        "Laptops",
        '<h1>Laptops</h1><ul class="grid">'
        + _card("/p/pro-14", "Acme UltraBook Pro 14…", "Acme UltraBook Pro 14 (2025)", "$1,299")
        + _card("/p/air-13", "Acme UltraBook Air…", "Acme UltraBook Air 13", "$899", how="alt")
        + _card("/p/go", "Acme Go 11", None, "$399")
        + "</ul>",
    )
    page = extract_page(html, f"{SITE}/laptops")
    got = {f.subject: (f.value, f.extra["name_source"]) for f in page.prices()}
    assert got == {
        "Acme UltraBook Pro 14 (2025)": (1299.0, "link_title"),
        "Acme UltraBook Air 13": (899.0, "image_alt"),
        "Acme Go 11": (399.0, "text"),  # "product photo" does not extend the shown name
    }
    urls = {f.subject: f.extra["product_url"] for f in page.prices()}
    assert urls["Acme Go 11"] == f"{SITE}/p/go"


def test_a_truncated_card_and_its_product_page_are_one_product_named_by_the_heading(
    shared: SharedContext,
) -> None:
    listing = _page(
        "Laptops",
        '<h1>Laptops</h1><ul class="grid">'
        + _card("/p/pro-14?utm_source=list", "Acme UltraBook Pro 14…", None, "$1,299")
        + _card("/p/go", "Acme Go 11", None, "$399")
        + _card("/p/go-plus", "Acme Go 11 Plus", None, "$499")
        + "</ul>",
    )
    pages = {
        "/laptops": listing,
        "/p/pro-14": _product_page("Acme UltraBook Pro 14 Laptop", "$1,299", "UB-14"),
    }
    resolved, matrix = _resolve(pages, shared)
    assert _prices(matrix) == {
        "Acme Go 11": (399.0, "fixed"),
        "Acme Go 11 Plus": (499.0, "fixed"),
        "Acme UltraBook Pro 14 Laptop": (1299.0, "fixed"),
    }
    # the merge of the two names is a decision with its evidence
    snap = shared.snapshot("market.c1.identity")
    merge = snap[f"{SITE}|acme ultrabook pro 14 laptop|merge"]
    assert "Acme UltraBook Pro 14…" in merge["rationale"]
    assert "same product URL" in merge["rationale"]


def test_cards_sharing_a_shortened_prefix_stay_apart_with_their_own_prices(
    shared: SharedContext,
) -> None:
    listing = _page(
        "Laptops",
        '<h1>Laptops</h1><ul class="grid">'
        + _card("/p/pro-14", "Acme UltraBook Pro…", "Acme UltraBook Pro 14", "$1,299")
        + _card("/p/pro-16", "Acme UltraBook Pro…", "Acme UltraBook Pro 16", "$1,899")
        + _card("/p/air", "Acme UltraBook Air 13", None, "$899")
        + "</ul>",
    )
    _, matrix = _resolve({"/laptops": listing}, shared)
    assert _prices(matrix) == {
        "Acme UltraBook Air 13": (899.0, "fixed"),
        "Acme UltraBook Pro 14": (1299.0, "fixed"),
        "Acme UltraBook Pro 16": (1899.0, "fixed"),
    }


# -- failure class 2: identity by name alone -------------------------------------------------
def test_two_products_with_one_name_and_different_skus_are_two_rows(
    shared: SharedContext,
) -> None:
    pages = {
        "/p/classic-a": _product_page("Classic Backpack", "$59.00", "BP-100"),
        "/p/classic-b": _product_page("Classic Backpack", "$89.00", "BP-200"),
    }
    resolved, matrix = _resolve(pages, shared)
    rows = matrix[["product", "variant", "price"]].values.tolist()
    assert rows == [["Classic Backpack", "BP-100", 59.0], ["Classic Backpack", "BP-200", 89.0]]
    assert duplicate_products(matrix) == 0
    checked = price_check_frame(resolved)
    assert checked["product_key"].is_unique and len(checked) == 2
    splits = shared.snapshot("market.c1.identity")
    assert {k.rsplit("|", 1)[-1] for k in splits} == {"split"}
    assert all("different sku" in v["rationale"] for v in splits.values())


def test_same_name_on_two_urls_with_different_prices_is_two_products_nothing_dropped(
    shared: SharedContext,
) -> None:
    listing = _page(
        "Bags",
        '<h1>Bags</h1><ul class="grid">'
        + _card("/p/tote-small", "Canvas Tote", None, "$25")
        + _card("/p/tote-large", "Canvas Tote", None, "$35")
        + _card("/p/duffel", "Weekender Duffel", None, "$120")
        + "</ul>",
    )
    _, matrix = _resolve({"/bags": listing}, shared)
    totes = matrix[matrix["product"] == "Canvas Tote"]
    assert sorted(totes["price"]) == [25.0, 35.0]
    assert sorted(totes["variant"]) == ["tote-large", "tote-small"]


def test_same_name_with_and_without_an_identifier_at_different_prices_waits_for_review(
    shared: SharedContext,
) -> None:
    pages = {
        "/p/lamp": _product_page("Alder Lamp", "$49.00", "AL-1"),
        # a pricing table names the lamp with no link and another price
        "/prices": _page(
            "Prices",
            "<h1>Price list</h1><table><tr><th>Product</th><th>Price</th></tr>"
            "<tr><td>Alder Lamp</td><td>$45.00</td></tr>"
            "<tr><td>Birch Lamp</td><td>$59.00</td></tr>"
            "<tr><td>Cedar Lamp</td><td>$69.00</td></tr></table>",
        ),
    }
    resolved, matrix = _resolve(pages, shared)
    assert matrix["product"].tolist() == ["Alder Lamp", "Birch Lamp", "Cedar Lamp"]
    queue = resolved[resolved["escalated"]]
    identity = queue[queue["attribute"] == "identity"]
    assert identity["subject"].tolist() == ["Alder Lamp"]
    assert "different prices" in identity["rationale"].iloc[0]
    # the review item is in the shared context like every other resolved row
    assert shared.get("market.c1", f"{SITE}|alder lamp|identity") is not None


def test_a_truncated_name_matching_two_full_names_is_kept_and_waits_for_review(
    shared: SharedContext,
) -> None:
    listing = _page(
        "Laptops",
        '<h1>Laptops</h1><ul class="grid">'
        '<li class="card"><h3>Acme UltraBook Pro…</h3><span class="price">$1,099</span></li>'
        '<li class="card"><h3>Acme UltraBook Pro 14</h3><span class="price">$1,299</span></li>'
        '<li class="card"><h3>Acme UltraBook Pro 16</h3><span class="price">$1,899</span></li>'
        "</ul>",
    )
    resolved, matrix = _resolve({"/laptops": listing}, shared)
    assert len(matrix) == 3  # nothing merged, nothing lost
    review = resolved[resolved["attribute"] == "identity"]
    assert review["subject"].tolist() == ["Acme UltraBook Pro…"]
    assert "prefix of 2 products" in review["rationale"].iloc[0]


# -- failure class 3: products without a price -----------------------------------------------
SAAS = _page(
    "Pricing",
    '<h1>Pricing</h1><div class="plans">'
    '<div class="plan"><h3>Starter</h3><p class="amount">Free</p><a href="/signup">Sign up</a>'
    "<ul><li>1 project</li></ul></div>"
    '<div class="plan"><h3>Team</h3><p class="amount">$12 per user per month</p>'
    '<a href="/signup?plan=team">Start trial</a><ul><li>Unlimited projects</li></ul></div>'
    '<div class="plan"><h3>Business</h3><p class="amount">from $99 / month</p>'
    '<a href="/signup?plan=business">Start trial</a><ul><li>SSO</li></ul></div>'
    '<div class="plan"><h3>Enterprise</h3><p>Custom pricing</p>'
    '<a href="/contact">Contact sales</a><ul><li>Audit log</li></ul></div>'
    "</div>",
)


def test_a_saas_pricing_page_gives_four_plans_with_their_price_kinds(
    shared: SharedContext,
) -> None:
    outcome = quarantine_facts(_rows({"/pricing": SAAS}))
    assert outcome.records_quarantined == 0  # the free plan passes quarantine
    resolved = resolve_facts(outcome.accepted, shared=shared, recorder=ActionRecorder("t"))
    matrix = build_competitor_matrix(resolved, outcome.accepted, {SITE: "Acme"}).frame
    got = {
        r.product: (None if pd.isna(r.price) else r.price, r.price_kind, r.unit, r.per)
        for r in matrix.itertuples()
    }
    assert got == {
        "Business": (99.0, "from", "month", None),
        "Enterprise": (None, "contact", None, None),
        "Starter": (0.0, "free", None, None),
        "Team": (12.0, "fixed", "month", "user"),
    }
    # the resolved-prices check sees no amount for free and contact plans
    checked = price_check_frame(resolved).set_index("subject")["value_num"]
    assert checked["Team"] == 12.0 and pd.isna(checked["Starter"])
    assert pd.isna(checked["Enterprise"])


def test_a_fixed_price_of_zero_is_still_quarantined() -> None:
    rows = _rows({"/pricing": SAAS})
    team = next(r for r in rows if r["subject"] == "Team" and r["attribute"] == "price")
    outcome = quarantine_facts([{**team, "value": "0.0", "value_num": 0.0, "fact_id": "x"}])
    assert outcome.quarantined["reason"].tolist() == ["price '0.0' is not positive"]


def test_a_listing_card_without_a_price_is_kept(shared: SharedContext) -> None:
    listing = _page(
        "Lamps",
        '<h1>Lamps</h1><ul class="grid">'
        + _card("/p/alder", "Alder Lamp", None, "$49.00")
        + _card("/p/birch", "Birch Lamp", None, "$59.00")
        + '<li class="card"><a href="/p/cedar"><img src="/i.jpg" alt="product photo"></a>'
        '<h3><a href="/p/cedar">Cedar Lamp</a></h3><span class="stock">Sold out</span></li>'
        "</ul>",
    )
    _, matrix = _resolve({"/lamps": listing}, shared)
    assert _prices(matrix) == {
        "Alder Lamp": (49.0, "fixed"),
        "Birch Lamp": (59.0, "fixed"),
        "Cedar Lamp": (None, "none"),
    }


def test_a_grid_of_product_cards_with_no_prices_at_all_is_a_listing() -> None:
    cards = "".join(
        f'<li class="product-tile"><a href="/p/{n.lower()}"><img src="/i.jpg" alt="{n} Chair">'
        f'</a><h3><a href="/p/{n.lower()}">{n} Chair</a></h3><p>Solid oak.</p></li>'
        for n in ("Oslo", "Bergen", "Malmo")
    )
    page = extract_page(_page("Chairs", f"<h1>Chairs</h1><ul>{cards}</ul>"), f"{SITE}/chairs")
    got = {(f.subject, f.attribute, f.value) for f in page.products()}
    assert got == {
        ("Oslo Chair", "offer", "none"),
        ("Bergen Chair", "offer", "none"),
        ("Malmo Chair", "offer", "none"),
    }


def test_a_grid_of_blog_posts_is_not_a_listing() -> None:
    posts = "".join(
        f'<article class="post"><a href="/blog/{n}"><img src="/i.jpg" alt="{n}"></a>'
        f'<h3><a href="/blog/{n}">How to choose a {n}</a></h3><p>Read the guide.</p></article>'
        for n in ("lamp", "chair", "desk")
    )
    page = extract_page(_page("Blog", f"<h1>Blog</h1><div>{posts}</div>"), f"{SITE}/blog")
    assert page.products() == []


def test_a_product_page_without_a_price_is_a_product(shared: SharedContext) -> None:
    html = _page(
        "Atlas Industrial Chiller",
        '<main><div class="product"><h1>Atlas Industrial Chiller</h1>'
        "<p>Cooling for large plants.</p><p>Price on request</p>"
        '<a href="/quote?p=atlas">Request a quote</a></div></main>',
    )
    _, matrix = _resolve({"/p/atlas": html}, shared)
    assert _prices(matrix) == {"Atlas Industrial Chiller": (None, "contact")}


def test_the_report_lists_free_and_unpriced_products_and_charts_only_priced_ones(
    shared: SharedContext, tmp_path: Path
) -> None:
    class Language:
        def write(self, *, instruction: str, facts: dict[str, Any]) -> Any:
            return type("R", (), {"value": json.dumps(facts, default=str)})()

    resolved, matrix = _resolve({"/pricing": SAAS}, shared)
    out = write_market_report(
        folder=tmp_path, topic="t", matrix=matrix, resolved=resolved, language=Language()
    )
    md = out.markdown_path.read_text()
    section = md.split("## Free and unpriced products", 1)[1].split("##", 1)[0]
    assert "Starter" in section and "free" in section
    assert "Enterprise" in section and "contact the seller" in section
    assert "Team" not in section
    assert '"products_without_amount": {"contact": 1, "free": 1}' in out.summary
    assert "Starter" not in out.summary.split("cheapest", 1)[1]  # the cheapest has a price


def test_a_rating_of_zero_is_kept_and_one_above_five_is_quarantined() -> None:
    from orchestration_project.research.quarantine import quarantine_reason

    base = {
        "source_url": "https://shop.test/p",
        "subject": "Widget",
        "confidence": 0.9,
        "attribute": "rating",
        "value": "0",
        "value_num": 0.0,
        "currency": None,
    }
    assert quarantine_reason(base) is None
    assert "outside 0..5" in quarantine_reason({**base, "value": "7", "value_num": 7.0})
    assert "outside 0..5" in quarantine_reason({**base, "value": "?", "value_num": None})
