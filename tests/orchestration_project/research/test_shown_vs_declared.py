"""A product page whose buy box and structured data disagree, and product pages a shop builds
in ways the card rules did not expect.

Regression (issue 12, unseen marketplace and shop pages): structured data declared a price
without VAT while the page showed it with VAT; structured data rounded a rating to half stars
while the page showed two decimals; five star icons numbered ``data-rating="0" … "4"`` gave a
rating of 0; a listing title longer than 160 characters, and a page with its title twice (mobile
and desktop copies), gave no product-page price at all. Every page here is written for the test
and names no real site.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from orchestration_project.agents.coordination import CoordinationStore
from orchestration_project.agents.coordination.context import SharedContext
from orchestration_project.agents.runtime import ActionRecorder
from orchestration_project.research.extraction import extract_page
from orchestration_project.research.extraction.reconcile import rating_step
from orchestration_project.research.fact_rows import FACT_COLUMNS, fact_row
from orchestration_project.research.resolution import resolve_facts

URL = "http://shop.test/p/doormat"
NAME = "Hand-painted pumpkin doormat"


def _page(
    *,
    declared_price: str | None = "43.90",
    shown_price: str = "53,11 €",
    declared_rating: str | None = None,
    rating_widget: str = "",
    extra_body: str = "",
    heading: str = NAME,
    headings: int = 1,
) -> str:
    data: dict[str, object] = {"@context": "https://schema.org", "@type": "Product", "name": NAME}
    if declared_price is not None:
        data["offers"] = {"@type": "Offer", "price": declared_price, "priceCurrency": "EUR"}
    if declared_rating is not None:
        data["aggregateRating"] = {
            "@type": "AggregateRating",
            "ratingValue": declared_rating,
            "reviewCount": 120,
        }
    titles = "".join(f'<div class="title-wrap"><h1>{heading}</h1></div>' for _ in range(headings))
    return f"""<html lang="es"><head><title>{NAME} | Shop</title>
<script type="application/ld+json">{json.dumps(data)}</script></head>
<body><main><div class="listing">{titles}
<div class="rating">{rating_widget}</div>
<div class="buy-box"><p class="price">{shown_price}</p>
<button>Añadir al carrito</button></div>
<p>Felpudo de fibra de coco pintado a mano.</p>{extra_body}</div></main></body></html>"""


def _facts(html: str, attribute: str) -> dict[str, tuple[float, float, dict]]:
    page = extract_page(html, URL)
    return {
        f.method: (float(f.value), f.confidence, f.extra)
        for f in page.facts
        if f.attribute == attribute
    }


def _resolved(html: str, tmp_path) -> pd.DataFrame:
    page = extract_page(html, URL)
    rows = [fact_row("c1", "http://shop.test", page, f) for f in page.facts]
    facts = pd.DataFrame(rows, columns=FACT_COLUMNS)
    store = CoordinationStore(f"sqlite:///{tmp_path / 'coord.db'}")
    try:
        return resolve_facts(facts, shared=SharedContext(store), recorder=ActionRecorder("t"))
    finally:
        store.dispose()


def test_a_declared_price_the_page_never_shows_loses_to_the_buy_box(tmp_path) -> None:
    prices = _facts(_page(), "price")
    assert prices["dom"][0] == 53.11
    declared, confidence, extra = prices["jsonld"]
    assert declared == 43.9 and confidence < prices["dom"][1]
    assert extra["not_shown"] is True and "53.11 EUR" in extra["superseded"]

    resolved = _resolved(_page(), tmp_path)
    price = resolved[resolved["attribute"] == "price"].iloc[0]
    assert (price["value_num"], price["currency"]) == (53.11, "EUR")
    assert price["n_values"] == 2  # both claims were weighed, none dropped


def test_a_declared_price_shown_anywhere_on_the_page_keeps_its_weight() -> None:
    # the declared amount is the page's sale price, further down: structured data is right
    html = _page(extra_body="<p>Oferta de invierno: 43,90 € hasta el domingo.</p>")
    prices = _facts(html, "price")
    assert prices["jsonld"][1] == 0.95 and "superseded" not in prices["jsonld"][2]


def test_a_shown_price_in_another_currency_never_overrides_the_declared_one() -> None:
    prices = _facts(_page(shown_price="US$ 48.00"), "price")
    assert prices["jsonld"][1] == 0.95 and "superseded" not in prices["jsonld"][2]


def test_a_declared_half_star_rating_loses_to_the_finer_rating_shown() -> None:
    widget = '<span class="visually-hidden">Rated 4.75 out of 5 stars.</span>'
    ratings = _facts(
        _page(declared_price="53.11", declared_rating="4.5", rating_widget=widget), "rating"
    )
    assert ratings["dom"][0] == 4.75 and ratings["dom"][1] == 0.8
    assert ratings["jsonld"][1] < 0.5 and "steps of 0.5" in ratings["jsonld"][2]["superseded"]


def test_a_rounded_star_count_on_the_page_loses_to_the_finer_declared_rating(tmp_path) -> None:
    widget = '<span class="screen-reader-only">5 de 5 estrellas</span>'
    html = _page(declared_price="53.11", declared_rating="4.8304", rating_widget=widget)
    ratings = _facts(html, "rating")
    assert ratings["dom"][0] == 5.0 and "steps of 1.0" in ratings["dom"][2]["superseded"]
    assert ratings["jsonld"][1] == 0.95

    resolved = _resolved(html, tmp_path)
    rating = resolved[resolved["attribute"] == "rating"].iloc[0]
    assert rating["value_num"] == pytest.approx(4.83)


def test_ratings_that_disagree_beyond_rounding_are_left_to_the_resolver() -> None:
    widget = '<span class="visually-hidden">Rated 3 out of 5 stars.</span>'
    ratings = _facts(
        _page(declared_price="53.11", declared_rating="4.5", rating_widget=widget), "rating"
    )
    assert "superseded" not in ratings["jsonld"][2] and "superseded" not in ratings["dom"][2]


def test_star_icons_numbered_by_position_are_not_a_rating_of_zero() -> None:
    icons = "".join(
        f'<span class="icon" data-rating="{i}"><svg class="star"></svg></span>' for i in range(5)
    )
    widget = f'<input type="hidden" name="rating" value="4.8304"><span>{icons}</span>'
    ratings = _facts(
        _page(declared_price="53.11", declared_rating="4.8304", rating_widget=widget), "rating"
    )
    assert "dom" not in ratings or ratings["dom"][0] > 0
    # one widget whose element carries the rating is still read
    single = '<span class="stars" data-rating="4.5"></span>'
    ratings = _facts(_page(declared_price="53.11", rating_widget=single), "rating")
    assert ratings["dom"][0] == 4.5


def test_a_long_marketplace_title_is_the_product_page_name() -> None:
    long_name = " / ".join(
        ["Felpudo pintado a mano con calabazas", "decoración de otoño", "estera de bienvenida"]
        + ["felpudo personalizado", "lindo felpudo de fibra de coco", "decoración del porche"] * 2
    )
    assert 160 < len(long_name) <= 300
    page = extract_page(_page(declared_price=None, heading=long_name), URL)
    prices = [f for f in page.facts if f.attribute == "price"]
    assert [(f.subject, f.value) for f in prices] == [(long_name, 53.11)]


def test_a_title_repeated_for_mobile_and_desktop_is_one_main_heading() -> None:
    page = extract_page(_page(declared_price=None, headings=2), URL)
    prices = [f for f in page.facts if f.attribute == "price"]
    assert [(f.subject, f.value, f.method) for f in prices] == [(NAME, 53.11, "dom")]


def test_two_different_headings_are_still_no_main_heading() -> None:
    html = _page(declared_price=None).replace("<h1>", "<h1>Otra cosa</h1><h1>", 1)
    page = extract_page(html, URL)
    assert not [f for f in page.facts if f.attribute == "price" and f.subject == "Otra cosa"]


@pytest.mark.parametrize(
    ("value", "step"),
    [
        (5.0, 1.0),
        (4.5, 0.5),
        (4.75, 0.25),
        (4.8, 0.1),
        (4.83, 0.01),
        (4.748, 0.001),
        (4.8304, 0.0001),
    ],
)
def test_rating_step_is_the_coarsest_grid_the_value_lies_on(value: float, step: float) -> None:
    assert rating_step(value) == step
