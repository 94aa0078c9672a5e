"""Heatherly Home: a classic British shop — definition lists, GBP, no structured data at all."""

from __future__ import annotations

from orchestration_project.demo_world.common import esc, hostile_links, money
from orchestration_project.demo_world.data import Product, Site

PRODUCT_PATH = "/products/{slug}.html"
POST_PATH = "/journal/{slug}"
REVIEWS_PATH = "/reviews"


def price_text(p: Product) -> str:
    """``£199`` for whole pounds, ``£3.50 a month`` for the plan."""
    amount = f"£{int(p.price)}" if p.price == int(p.price) else f"£{money(p.price)}"
    return f"{amount} a month" if p.unit else amount


def _layout(site: Site, path: str, title: str, body: str, outside_url: str) -> str:
    links = "".join(
        f'<li><a href="{esc(href)}">{esc(label)}</a></li>'
        for href, label, _h in hostile_links(site, path, outside_url)
    )
    aside = f'<aside class="sidebar"><h4>Useful links</h4><ul>{links}</ul></aside>' if links else ""
    return f"""<!doctype html>
<html lang="en-GB">
<head>
<meta charset="utf-8">
<title>{esc(title)} — Heatherly Home</title>
<style>
body {{ font-family: Georgia, 'Times New Roman', serif; max-width: 58em; margin: 0 auto;
  background: #fbf8f3; color: #3b2f2f; }}
#masthead {{ border-bottom: 3px double #7a4b3a; }}
dl.spec dt {{ font-weight: bold; margin-top: .6em; }}
dl.spec dd {{ margin-left: 1.5em; }}
.sidebar {{ float: right; width: 14em; }}
</style>
</head>
<body>
<div id="masthead">
  <h3 class="brand"><a href="/">Heatherly Home</a></h3>
  <p class="motto">{esc(site.tagline)}</p>
  <p class="menu"><a href="/products">Our range</a> | <a href="/prices">Price list</a> |
  <a href="/features">What it does</a> | <a href="/reviews">Reviews</a> |
  <a href="/journal">Journal</a> | <a href="/about">Our story</a></p>
</div>
{aside}
<div id="body-copy">
{body}
</div>
<div id="colophon">
  <p>Heatherly Home Ltd · Registered in England &amp; Wales · {esc(site.city)}</p>
  <p><a href="/careers">Work with us</a> · <a href="/privacy">Privacy notice</a> ·
  <a href="/terms">Terms &amp; conditions</a></p>
</div>
</body>
</html>
"""


def render(site: Site, outside_url: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """All normal pages of Heatherly Home."""
    pages: dict[str, str] = {}

    def add(path: str, title: str, body: str) -> None:
        pages[path] = _layout(site, path, title, body, outside_url)

    add(
        "/",
        "Home",
        f"""<h4>Welcome</h4>
<p>Since {site.founded} we have made smart heating controls for British homes: thermostats,
damp sensors and a friendly care plan.</p>
<p>Browse <a href="/products">our range</a> or read the latest from
<a href="/journal">the journal</a>.</p>""",
    )
    entries = "".join(
        f"""<dt><a href="{PRODUCT_PATH.format(slug=p.slug)}">{esc(p.name)}</a></dt>
<dd>{esc(p.blurb)} <span class="cost">{price_text(p)}</span></dd>"""
        for p in site.products
    )
    add("/products", "Our range", f'<h4>Our range</h4>\n<dl class="range">{entries}</dl>')
    for p in site.products:
        feats = ", ".join(p.features)
        add(
            PRODUCT_PATH.format(slug=p.slug),
            p.name,
            f"""<h4>{esc(p.name)}</h4>
<p>{esc(p.blurb)}</p>
<dl class="spec">
  <dt>Price</dt><dd>{price_text(p)} (inc. VAT)</dd>
  <dt>Customer rating</dt><dd>Rated {p.rating} out of 5 by {p.review_count} customers</dd>
  <dt>Features</dt><dd>{esc(feats)}</dd>
  <dt>Delivery</dt><dd>Free UK delivery, 2–3 working days</dd>
</dl>
<p><a href="/products">Back to our range</a></p>""",
        )
    prices = "".join(f"<dt>{esc(p.name)}</dt><dd>{price_text(p)}</dd>" for p in site.products)
    add(
        "/prices",
        "Price list",
        f"""<h4>Price list</h4><p>All prices include VAT at 20%.</p>
<dl class="spec">{prices}</dl>""",
    )
    feats = "".join(
        f"<dt>{esc(p.name)}</dt>" + "".join(f"<dd>{esc(f)}</dd>" for f in p.features)
        for p in site.products
    )
    add(
        "/features", "What it does", f'<h4>What each product does</h4><dl class="spec">{feats}</dl>'
    )
    revs = "".join(
        f"""<div class="testimonial">
<p>&ldquo;{esc(r.text)}&rdquo;</p>
<p class="by">&mdash; {esc(r.author)}, on the {esc(r.product)}, {r.date}.
Scored {r.rating} out of 5.</p></div>"""
        for r in site.reviews
    )
    averages = "".join(
        f"<dt>{esc(p.name)}</dt><dd>Average {p.rating} out of 5 from {p.review_count} reviews</dd>"
        for p in site.products
    )
    add(
        "/reviews",
        "Reviews",
        f'<h4>Kind words (and some less kind)</h4><dl class="averages">{averages}</dl>'
        f"<h5>Recent testimonials</h5>{revs}",
    )
    posts = "".join(
        f'<dt><a href="{POST_PATH.format(slug=b.slug)}">{esc(b.title)}</a></dt><dd>{b.date}</dd>'
        for b in site.posts
    )
    add("/journal", "Journal", f"<h4>The Heatherly journal</h4><dl>{posts}</dl>")
    for b in site.posts:
        paras = "".join(f"<p>{esc(t)}</p>" for t in b.paragraphs)
        add(
            POST_PATH.format(slug=b.slug),
            b.title,
            f"<h4>{esc(b.title)}</h4><p class='date'>Written on {b.date}</p>{paras}",
        )
    jobs = "".join(
        f"<dt>{esc(j.title)}</dt><dd>{esc(j.location)}; salary £{j.salary_low:,} – "
        f"£{j.salary_high:,}</dd>"
        for j in site.jobs
    )
    add("/careers", "Work with us", f"<h4>Vacancies</h4><dl>{jobs}</dl>")
    add(
        "/privacy",
        "Privacy notice",
        "<h4>Privacy notice</h4><p>We are registered with the ICO and follow UK GDPR.</p>",
    )
    add(
        "/terms",
        "Terms & conditions",
        "<h4>Terms &amp; conditions</h4><p>You may cancel the care plan at any time.</p>",
    )
    about = "".join(f"<p>{esc(t)}</p>" for t in site.about)
    add("/about", "Our story", f"<h4>Our story</h4>{about}")
    return pages, {}
