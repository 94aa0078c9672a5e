"""Ratings that are not text, reviews and features from the right places, content-based page kinds.

Regression (issue 12): on real catalogues star widgets drawn with CSS classes, icons, labels or
data attributes gave no ratings; code comments became reviews and documentation lists features;
product pages were classed by words in their URL; names that look like numbers were dropped.
Every page here is written for the test and names no real site.
"""

from __future__ import annotations

import pytest

from orchestration_project.research.extraction import classify_page, extract_page, needs_javascript
from orchestration_project.research.extraction.dates import looks_like_date
from orchestration_project.research.extraction.dom import parse_html
from orchestration_project.research.extraction.dom_signals import number_name_ok
from orchestration_project.research.extraction.dom_stars import class_rating

# Star widgets, each meaning the given rating on the 0-5 scale (and the page's scale).
WIDGETS: list[tuple[str, str, float, float]] = [
    ("class_number_word", '<p class="star-rating Four"><i></i><i></i></p>', 4.0, 5.0),
    ("class_digits_pair", '<span class="stars stars-4-5"></span>', 4.5, 5.0),
    ("class_implied_decimal", '<div class="rating rating-45"></div>', 4.5, 5.0),
    ("class_prefixed", '<i class="a-icon a-icon-star a-star-3-5"></i>', 3.5, 5.0),
    ("class_lone_token", '<span class="stars s4"></span>', 4.0, 5.0),
    (
        "counted_icons",
        '<div class="stars">'
        + '<i class="fa fa-star"></i>' * 4
        + '<i class="fa fa-star-o"></i></div>',
        4.0,
        5.0,
    ),
    (
        "counted_icons_half_aria_hidden",
        '<span class="rating">'
        + '<i class="fa fa-star" aria-hidden="true"></i>' * 3
        + '<i class="fa fa-star-half-o" aria-hidden="true"></i>'
        + '<i class="fa fa-star-empty" aria-hidden="true"></i></span>',
        3.5,
        5.0,
    ),
    (
        "active_marked_spans",
        '<div class="stars">'
        + '<span class="star active">★</span>' * 2
        + '<span class="star">★</span>' * 3
        + "</div>",
        2.0,
        5.0,
    ),
    (
        "svg_icons",
        '<div class="rating">'
        + '<svg class="icon icon-star-filled"><use href="#star"></use></svg>' * 4
        + '<svg class="icon icon-star-empty"><use href="#star"></use></svg></div>',
        4.0,
        5.0,
    ),
    ("glyphs", '<span class="stars">★★★★☆</span>', 4.0, 5.0),
    ("aria_label", '<div class="stars" aria-label="Rated 4.5 out of 5 stars"></div>', 4.5, 5.0),
    ("aria_label_words", '<div aria-label="Rated four out of five stars"></div>', 4.0, 5.0),
    ("data_attribute", '<div class="widget" data-rating="3.5"></div>', 3.5, 5.0),
    ("data_attribute_scale", '<div data-score="8" data-max="10"></div>', 4.0, 10.0),
    ("img_alt", '<img src="/i/s.png" alt="4.5 out of 5 stars">', 4.5, 5.0),
    ("out_of_ten_text", '<span class="score">8.6/10</span>', 4.3, 10.0),
]


def _card(name: str, price: str, widget: str) -> str:
    return (
        f'<div class="product-card"><h3 class="title">{name}</h3>{widget}'
        f'<span class="price">{price}</span><a href="/cart">Add to cart</a></div>'
    )


def _listing(widget: str) -> str:
    cards = [
        _card("Alder Lamp", "€49.00", widget),
        _card("Birch Lamp", "€59.00", '<span class="note">New this season</span>'),
        _card("Cedar Lamp", "€69.00", '<span class="note">Limited</span>'),
    ]
    return (
        "<html><head><title>Lamps</title></head><body><h1>Lamps</h1>"
        f'<div class="grid">{"".join(cards)}</div></body></html>'
    )


def _product_page(widget: str, url_hint: str = "") -> str:
    return f"""<html><head><title>Alder Lamp {url_hint}</title></head><body>
    <nav><a href="/">Home</a> <a href="/about">About</a> <a href="/jobs">Jobs</a></nav>
    <main><h1>Alder Lamp</h1>{widget}
    <p class="price">€49.00</p><button>Add to cart</button>
    <p>A warm reading lamp made of oiled alder wood, with a linen shade.</p></main>
    </body></html>"""


def _ratings(page, subject: str) -> list[tuple[float, float]]:
    return [
        (round(float(f.value), 2), f.extra.get("best_rating"))
        for f in page.facts
        if f.kind == "rating" and f.subject == subject
    ]


@pytest.mark.parametrize(("form", "widget", "value", "best"), WIDGETS, ids=[w[0] for w in WIDGETS])
def test_star_widget_gives_the_rating_on_a_product_card(
    form: str, widget: str, value: float, best: float
) -> None:
    page = extract_page(_listing(widget), "https://lamps.test/c/lamps")
    assert _ratings(page, "Alder Lamp") == [(value, best)], form
    assert _ratings(page, "Birch Lamp") == []


@pytest.mark.parametrize(("form", "widget", "value", "best"), WIDGETS, ids=[w[0] for w in WIDGETS])
def test_star_widget_gives_the_rating_on_a_product_page(
    form: str, widget: str, value: float, best: float
) -> None:
    page = extract_page(_product_page(widget), "https://lamps.test/alder-lamp")
    assert page.page_kind == "product"
    assert _ratings(page, "Alder Lamp") == [(value, best)], form


@pytest.mark.parametrize(
    "widget",
    [
        '<p class="grade">ADAC grade 2.3 (good)</p>',
        '<table class="results"><tr><th>Model</th><th>Grade</th></tr>'
        "<tr><td>Alder</td><td>1.7</td></tr><tr><td>Birch</td><td>2.4</td></tr></table>",
        '<p class="promo">Get a 10 € voucher with your first order</p>',
        '<span class="rating-count">(123 reviews)</span>',
        '<span class="review-count">45</span>',
        '<ul class="ratings-filter"><li class="rating-5">5 stars</li><li class="rating-4">4 stars'
        "</li><li class='rating-3'>3 stars</li></ul>",
        '<form class="review-form"><select name="rating"><option value="5">5 stars</option>'
        '<option value="1">1 star</option></select><input type="radio" class="star-5"></form>',
        '<div class="col-4 mt-5 p-3">Free delivery in 4-5 days</div>',
    ],
    ids=["grade", "grade_column", "voucher", "count", "count_class", "filter", "form", "layout"],
)
def test_unrelated_numbers_are_not_ratings(widget: str) -> None:
    page = extract_page(_product_page(widget), "https://lamps.test/alder-lamp")
    assert not [f for f in page.facts if f.kind == "rating"]
    assert page.prices()[0].subject == "Alder Lamp"


def test_indexed_star_icons_are_counted_not_read_as_numbers() -> None:
    widget = (
        '<div class="stars">'
        + "".join(f'<i class="star star-{i} on"></i>' for i in range(1, 4))
        + "".join(f'<i class="star star-{i} off"></i>' for i in range(4, 6))
        + "</div>"
    )
    page = extract_page(_product_page(widget), "https://lamps.test/alder-lamp")
    assert _ratings(page, "Alder Lamp") == [(3.0, 5.0)]


def test_class_rating_reads_only_star_and_rating_classes() -> None:
    assert class_rating("star-rating Five") == 5.0
    assert class_rating("stars_4_half") == 4.5
    assert class_rating("ui-bubble bubble_35") == 3.5
    assert class_rating("col-4 offset-1") is None
    assert class_rating("starter-plan p4") is None
    assert class_rating("rating-count-5") is None
    assert class_rating("rating rating-lg") is None


# -- reviews and features from the right places -----------------------------------------------
DOCS_PAGE = """<html><head><title>Command reference | Gizmo Docs</title></head><body>
<nav class="sidebar"><ul><li><a href="/docs/a">Install</a></li><li><a href="/docs/b">Usage</a></li>
</ul></nav><main><h1>Command reference</h1>
<p>Run the tools below from a shell. Each comment explains one step.</p>
<div class="highlight"><pre><code>
<span class="c1"># install the package with your package manager first</span>
<span class="c1"># then run the setup command to create the configuration file</span>
<span class="c1"># finally start the service and open the dashboard in a browser</span>
</code></pre></div>
<pre class="comments"><span class="comment"># this comment line is long enough to look like a review text</span>
<span class="comment"># and so is this second comment line in the very same block</span></pre>
<h2>Included tools and features</h2>
<ul>{tools}</ul>
</main></body></html>""".replace(
    "{tools}", "".join(f"<li>tool-{i:02d} helper</li>" for i in range(50))
)


def test_documentation_page_gives_no_reviews_and_no_features() -> None:
    page = extract_page(DOCS_PAGE, "https://gizmo.test/docs/reference")
    assert not [f for f in page.facts if f.kind == "review"]
    assert not [f for f in page.facts if f.kind == "feature"]


def test_product_feature_list_is_still_read() -> None:
    html = _product_page(
        "<h2>Features</h2><ul><li>Dimmable LED</li><li>Linen shade</li><li>USB-C port</li></ul>"
    )
    page = extract_page(html, "https://lamps.test/alder-lamp")
    features = {f.value for f in page.facts if f.kind == "feature" and f.subject == "Alder Lamp"}
    assert features == {"Dimmable LED", "Linen shade", "USB-C port"}


@pytest.mark.parametrize(
    "url",
    [
        "https://bakery.test/shop/cookies/alder-lamp",
        "https://books.test/jobs-to-be-done-handbook",
        "https://watches.test/about-time/alder-lamp",
        "https://x.test/careers/alder-lamp",
    ],
)
def test_product_page_is_classified_by_its_content_not_its_url(url: str) -> None:
    page = extract_page(_product_page('<div data-rating="4.5"></div>'), url)
    assert page.page_kind == "product"
    assert page.prices()[0].subject == "Alder Lamp"
    assert page.prices()[0].value == 49.0


def test_noise_page_is_still_noise() -> None:
    html = """<html><head><title>Careers at Lamps</title></head><body><h1>Senior engineer</h1>
    <p>Salary: €65,000 per year. Full-time, hybrid. Apply now.</p></body></html>"""
    page = extract_page(html, "https://lamps.test/careers/senior-engineer")
    assert page.page_kind == "noise"
    assert not page.prices()


RENDERED_PRODUCT = """<html><head><title>Alder Lamp</title></head><body>
<main><h1>Alder Lamp</h1><p class="price">€49.00</p><button>Add to cart</button>
<section id="reviews"><h2>Customer reviews</h2>
<div class="review-item"><div class="stars s5"></div>
  <p>Beautiful warm light, the oiled wood looks even better than in the photos.</p>
  <span class="author">Anna</span></div>
<div class="review-item"><div class="stars s3"></div>
  <p>Nice lamp but the shade arrived slightly creased and needed steaming.</p>
  <span class="author">Ben</span></div>
<div class="review-item"><div class="stars s4"></div>
  <p>Good value for the money, assembly took five minutes without any tools.</p>
  <span class="author">Chloe</span></div>
</section>
<section class="related"><h2>You may also like</h2><div class="grid">
{cards}</div></section></main>
<script>fetch('/api/reviews.json').then(r => r.json()).then(d => {
  document.getElementById('reviews').innerHTML = render(d);});</script>
</body></html>""".replace(
    "{cards}",
    "".join(
        _card(n, p, "")
        for n, p in [("Birch Lamp", "€59.00"), ("Cedar Lamp", "€69.00"), ("Elm Lamp", "€79.00")]
    ),
)


def test_js_rendered_product_page_is_a_product_page_with_its_reviews() -> None:
    url = "https://lamps.test/shop/catalog/lamps/alder-lamp"
    kind, _ = classify_page(url, "Alder Lamp", "", parse_html(RENDERED_PRODUCT))
    page = extract_page(RENDERED_PRODUCT, url)
    assert page.page_kind == "product"
    assert kind in ("product", "other")  # without the layout's evidence: not a listing
    reviews = [
        (f.subject, f.extra.get("rating"), f.extra.get("author"))
        for f in page.facts
        if f.kind == "review"
    ]
    assert reviews == [
        ("Alder Lamp", 5.0, "Anna"),
        ("Alder Lamp", 3.0, "Ben"),
        ("Alder Lamp", 4.0, "Chloe"),
    ]


def test_loading_placeholder_for_reviews_needs_javascript() -> None:
    # Regression: a server-rendered product page whose reviews a script loads into a slot found
    # by class was taken as complete, so the reviews were never rendered.
    description = (
        "<p>" + "A warm reading lamp of oiled alder wood with a linen shade. " * 6 + "</p>"
    )
    head = RENDERED_PRODUCT.split('<section id="reviews">')[0]
    shell = head.replace("</button>", "</button>" + description) + (
        '<section class="reviews" data-product="17">Loading reviews…</section>'
        "<script>fetch('/api/reviews?product=17').then(r => r.json()).then(d => {"
        "document.querySelector('.reviews').innerHTML = d.html;});</script></main></body></html>"
    )
    needs, why = needs_javascript(shell)
    assert needs and "server-rendered" not in why
    assert not needs_javascript(RENDERED_PRODUCT)[0]  # the same page once a browser filled it


# -- names that look like numbers or dates ----------------------------------------------------
def test_number_like_product_names_in_card_headings_are_extracted() -> None:
    cards = "".join(
        _card(n, p, "")
        for n, p in [
            ("2049", "€19.99"),
            ("1984 Deluxe Edition", "€29.99"),
            ("7.1", "€9.99"),
            ("Model 3", "€39.00"),
        ]
    )
    html = (
        "<html><head><title>Films</title></head><body><h1>Films</h1>"
        f'<div class="grid">{cards}</div></body></html>'
    )
    page = extract_page(html, "https://films.test/c/films")
    got = {f.subject: f.value for f in page.prices()}
    assert got == {"2049": 19.99, "1984 Deluxe Edition": 29.99, "7.1": 9.99, "Model 3": 39.0}


def test_bare_dates_are_not_names_but_numbers_in_name_positions_are() -> None:
    assert all(number_name_ok(t) for t in ("2049", "7.1", "#9", "3+1"))
    assert not any(number_name_ok(t) for t in ("05.03.2024", "2024-03-05", "10:30", "0301234567"))
    assert all(
        looks_like_date(t)
        for t in ("March 5, 2024", "Posted on 5 March 2024", "2024-03-05", "Updated: Mar 2024")
    )
    assert not any(looks_like_date(t) for t in ("2049", "1984 Deluxe Edition", "Model 3"))


def test_help_page_index_of_linked_tool_names_gives_no_features() -> None:
    tools = "".join(f'<li><a href="/help/tool-{i}">Tool {i:02d} helper</a></li>' for i in range(30))
    html = f"""<html><head><title>Features | Gizmo Help</title></head><body><main>
    <h1>Help centre</h1><h2>Features</h2><ul>{tools}</ul></main></body></html>"""
    page = extract_page(html, "https://gizmo.test/features")
    assert not [f for f in page.facts if f.kind == "feature"]


def _business(rating: str) -> str:
    return f"""<html><head><title>Harbor Bistro - Reviews</title></head><body>
<div itemscope itemtype="http://schema.org/LocalBusiness">
  <h1 itemprop="name">Harbor Bistro</h1>
  {rating}
  <div itemprop="address" itemscope itemtype="http://schema.org/PostalAddress">
    <span itemprop="streetAddress">1 Quay Street</span></div>
</div></body></html>"""


def test_a_rated_business_on_a_review_page_is_a_market_subject() -> None:
    """A business, venue or event that the page rates is what a competitor offers (a review
    site's listing): it becomes a subject with its rating; an unrated one (a shop's own address
    block) does not."""
    rated = _business(
        '<div itemprop="aggregateRating" itemscope itemtype="http://schema.org/AggregateRating">'
        '<meta itemprop="ratingValue" content="4.5"><meta itemprop="reviewCount" content="3819">'
        "</div>"
    )
    page = extract_page(rated, "https://reviews.test/biz/harbor-bistro")
    assert "Harbor Bistro" in {f.subject for f in page.facts}
    assert [r for r, _ in _ratings(page, "Harbor Bistro")] == [4.5]
    plain = extract_page(_business(""), "https://shop.test/contact")
    assert not [f for f in plain.facts if f.subject == "Harbor Bistro" and f.method == "microdata"]
