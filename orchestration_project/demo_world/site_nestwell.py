"""Nestwell: a modern marketing site — BEM class names, card grids, JSON-LD, JS-rendered pricing."""

from __future__ import annotations

from orchestration_project.demo_world.common import (
    JSON,
    SVG,
    esc,
    hostile_links,
    json_bytes,
    money,
    product_jsonld,
    product_svg,
    stars,
)
from orchestration_project.demo_world.data import ALL_FEATURES, Product, Site

PRODUCT_PATH = "/products/{slug}"
POST_PATH = "/blog/{slug}"
REVIEWS_PATH = "/reviews"
REVIEWS_PER_PAGE = 4  # the reviews are paginated: /reviews, /reviews/page/2, ...


def review_path(index: int) -> str:
    """The page that shows the ``index``-th review of the site (0-based)."""
    page = index // REVIEWS_PER_PAGE + 1
    return REVIEWS_PATH if page == 1 else f"{REVIEWS_PATH}/page/{page}"


def price_text(p: Product) -> str:
    """``$1,299.00`` for products, ``$9/mo`` for plans."""
    if p.unit:
        return f"${int(p.price)}/mo" if p.price == int(p.price) else f"${money(p.price)}/mo"
    return f"${money(p.price)}"


def _layout(site: Site, path: str, title: str, body: str, outside_url: str, head: str = "") -> str:
    extras = ""
    inline = ("/products", "/blog")  # these pages place their odd links in the body
    for href, label, h in [] if path in inline else hostile_links(site, path, outside_url):
        if h.kind == "external_image":
            extras += f'<img class="site-footer__badge" src="{esc(href)}" alt="{esc(label)}">'
        else:
            extras += f'<a class="site-footer__link" href="{esc(href)}">{esc(label)}</a>'
    nav = "".join(
        f'<li class="site-nav__item"><a class="site-nav__link" href="{href}">{label}</a></li>'
        for href, label in (
            ("/products", "Products"),
            ("/pricing", "Pricing"),
            ("/features", "Features"),
            ("/reviews", "Reviews"),
            ("/blog", "Blog"),
            ("/about", "About"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} | Nestwell</title>
<link rel="icon" href="https://cdn.example.com/nestwell/favicon.ico">
<style>
body{{font-family:system-ui,sans-serif;margin:0;color:#1d2a33}}
.site-header{{display:flex;justify-content:space-between;padding:1rem 2rem;background:#f4f8fb}}
.site-nav__list{{display:flex;gap:1.5rem;list-style:none;margin:0}}
.product-grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:1.5rem}}
.product-card{{border:1px solid #dde6ee;border-radius:12px;padding:1.25rem}}
.product-card__price{{font-size:1.4rem;font-weight:700}}
main{{padding:2rem}} .site-footer{{padding:2rem;background:#1d2a33;color:#fff}}
.site-footer a{{color:#9cd}}
</style>
{head}
</head>
<body class="page page--{esc(path.strip("/").replace("/", "-") or "home")}">
<header class="site-header">
  <a class="site-header__logo" href="/">Nestwell</a>
  <nav class="site-nav" aria-label="Main"><ul class="site-nav__list">{nav}</ul></nav>
</header>
<main id="main-content">
{body}
</main>
<footer class="site-footer">
  <p>&copy; 2024 Nestwell Inc., {esc(site.city)}</p>
  <p><a href="/careers">Careers</a> · <a href="/legal/privacy">Privacy</a> ·
  <a href="/legal/terms">Terms</a> · <a href="/about">About us</a></p>
  <div class="site-footer__extras">{extras}</div>
</footer>
</body>
</html>
"""


def _card(p: Product) -> str:
    return f"""<article class="product-card">
  <img class="product-card__img" src="/static/{p.slug}.svg" alt="">
  <h3 class="product-card__title"><a href="/products/{p.slug}">{esc(p.name)}</a></h3>
  <p class="product-card__blurb">{esc(p.blurb)}</p>
  <p class="product-card__price">{price_text(p)}</p>
  <p class="product-card__rating" title="{p.rating} out of 5">{stars(p.rating)}
     <span>({p.review_count:,})</span></p>
</article>"""


def render(site: Site, outside_url: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """All normal pages of Nestwell plus its JSON API."""
    pages: dict[str, str] = {}
    static: dict[str, tuple[str, bytes]] = {}
    for p in site.products:
        static[f"/static/{p.slug}.svg"] = (SVG, product_svg(p.name, "#2b7bb9", 220, 160))
        static[f"/static/{p.slug}-large.svg"] = (SVG, product_svg(p.name, "#2b7bb9", 480, 360))

    def add(path: str, title: str, body: str, head: str = "") -> None:
        pages[path] = _layout(site, path, title, body, outside_url, head)

    grid = "\n".join(_card(p) for p in site.products)
    add(
        "/",
        "Smart thermostats that learn you",
        f"""<section class="hero">
  <h1 class="hero__title">{esc(site.tagline)}</h1>
  <p class="hero__lead">Smart thermostats, room sensors and whole-home climate kits.</p>
  <a class="btn btn--primary" href="/products">Shop all products</a>
  <a class="btn btn--ghost" href="/deals/partner-exclusive">Partner exclusive deal</a>
</section>
<section class="featured"><h2>Best sellers</h2><div class="product-grid">{grid}</div></section>""",
    )
    hostile_404 = "".join(
        f'<li><a href="{esc(href)}">{esc(label)}</a> <em>(discontinued)</em></li>'
        for href, label, h in hostile_links(site, "/products", outside_url)
        if h.kind == "missing_page"
    )
    add(
        "/products",
        "All products",
        f"""<h1>All products</h1>
<div class="product-grid">{grid}</div>
<section class="legacy"><h2>Older models</h2><ul>{hostile_404}</ul></section>""",
    )
    for p in site.products:
        path = f"/products/{p.slug}"
        feats = "".join(f'<li class="feature-list__item">{esc(f)}</li>' for f in p.features)
        price_attr = f"{p.price:.2f}"
        add(
            path,
            p.name,
            f"""<div class="pdp">
  <nav class="breadcrumbs"><a href="/">Home</a> / <a href="/products">Products</a></nav>
  <div class="pdp__gallery"><img src="/static/{p.slug}-large.svg" alt="{esc(p.name)}"></div>
  <div class="pdp__info">
    <h1 class="pdp__title">{esc(p.name)}</h1>
    <div class="pdp__rating">{stars(p.rating)} {p.rating} ({p.review_count:,} reviews)</div>
    <p class="pdp__price" data-price="{price_attr}">{price_text(p)}</p>
    <p class="pdp__shipping">Free shipping on orders over $50</p>
    <p class="pdp__desc">{esc(p.blurb)}</p>
    <h2>Highlights</h2>
    <ul class="feature-list">{feats}</ul>
    <button class="btn btn--primary" type="button">Add to cart</button>
  </div>
</div>""",
            head=product_jsonld(site, p, path, price_attr),
        )
    add(
        "/pricing",
        "Pricing",
        """<h1>Pricing</h1>
<p>Simple pricing, no hidden fees. Prices in US dollars.</p>
<div id="pricing-root" class="product-grid" aria-live="polite"></div>
<noscript>Please enable JavaScript to see our current prices.</noscript>
<script>
(function () {
  fetch('/api/prices.json').then(function (r) { return r.json(); }).then(function (data) {
    var root = document.getElementById('pricing-root');
    data.items.forEach(function (it) {
      var card = document.createElement('article');
      card.className = 'product-card pricing-card';
      card.innerHTML = '<h3 class="product-card__title"><a href="' + it.url + '">' +
        it.name + '</a></h3><p class="product-card__price">' + it.display + '</p>';
      root.appendChild(card);
    });
  });
})();
</script>""",
    )
    static["/api/prices.json"] = (
        JSON,
        json_bytes(
            {
                "currency": "USD",
                "items": [
                    {
                        "name": p.name,
                        "amount": p.price,
                        "display": price_text(p),
                        "interval": p.unit,
                        "url": f"/products/{p.slug}",
                    }
                    for p in site.products
                ],
            }
        ),
    )
    feature_sections = "".join(
        f"""<section class="feature-block"><h2>{esc(p.name)}</h2><ul class="feature-list">
{"".join(f'<li class="feature-list__item">{esc(f)}</li>' for f in p.features)}</ul></section>"""
        for p in site.products
    )
    add(
        "/features",
        "Features",
        f"<h1>What each Nestwell device can do</h1>\n{feature_sections}\n"
        f'<p class="note">Feature glossary: {esc(", ".join(ALL_FEATURES))}.</p>',
    )
    _reviews(site, add)
    _blog(site, add, outside_url)
    jobs = "".join(
        f"""<article class="job"><h3>{esc(j.title)}</h3><p>{esc(j.location)}</p>
<p class="job__salary">${j.salary_low:,} – ${j.salary_high:,} per year</p></article>"""
        for j in site.jobs
    )
    add("/careers", "Careers", f"<h1>Join the Nestwell team</h1>\n{jobs}")
    add(
        "/legal/privacy",
        "Privacy policy",
        "<h1>Privacy policy</h1><p>We collect temperature and occupancy data only to run your "
        "schedule. We never sell personal data.</p>",
    )
    add(
        "/legal/terms",
        "Terms of service",
        "<h1>Terms of service</h1><p>Prices are subject to change. Subscriptions renew monthly "
        "until cancelled.</p>",
    )
    about = "".join(f"<p>{esc(t)}</p>" for t in site.about)
    add("/about", "About us", f"<h1>About Nestwell</h1>\n{about}")
    return pages, static


def _reviews(site: Site, add) -> None:  # noqa: ANN001
    """The paginated reviews, with the aggregate rating of every product on the first page."""
    summary = "".join(
        f"""<li class="rating-summary__item"><a href="/products/{p.slug}">{esc(p.name)}</a>
  <span class="rating-summary__stars" aria-hidden="true">{stars(p.rating)}</span>
  <span class="rating-summary__value">{p.rating} out of 5</span>
  <span class="rating-summary__count">based on {p.review_count:,} reviews</span></li>"""
        for p in site.products
    )
    by_page: dict[str, list[str]] = {}
    for i, r in enumerate(site.reviews):
        by_page.setdefault(review_path(i), []).append(
            f"""<article class="review-card" data-rating="{r.rating}">
  <h3 class="review-card__title">{esc(r.title)}</h3>
  <div class="review-card__stars" aria-label="{r.rating} out of 5 stars">{stars(r.rating)}</div>
  <p class="review-card__product">Product: {esc(r.product)}</p>
  <blockquote class="review-card__text">{esc(r.text)}</blockquote>
  <footer class="review-card__meta">{esc(r.author)} · <time datetime="{r.date}">{r.date}</time>
  </footer>
</article>"""
        )
    paths = list(by_page)
    for n, path in enumerate(paths, start=1):
        pager = "".join(
            f'<a class="pager__link{" pager__link--current" if q == path else ""}" '
            f'href="{q}">{i}</a>'
            for i, q in enumerate(paths, start=1)
        )
        if n < len(paths):
            pager += f'<a class="pager__next" rel="next" href="{paths[n]}">Next page</a>'
        top = (
            '<section class="rating-summary"><h2>Ratings at a glance</h2>'
            f'<ul class="rating-summary__list">{summary}</ul></section>'
            if n == 1
            else ""
        )
        add(
            path,
            "Customer reviews" if n == 1 else f"Customer reviews (page {n})",
            f"<h1>What our customers say</h1>\n{top}\n{''.join(by_page[path])}\n"
            f'<nav class="pager" aria-label="Review pages">{pager}</nav>',
        )


def _blog(site: Site, add, outside_url: str) -> None:  # noqa: ANN001
    outside = "".join(
        f'<p class="blog-aside">Read the <a href="{esc(href)}">{esc(label)}</a>.</p>'
        for href, label, h in hostile_links(site, "/blog", outside_url)
    )
    items = "".join(
        f"""<li class="post-teaser"><h2><a href="/blog/{b.slug}">{esc(b.title)}</a></h2>
<time datetime="{b.date}">{b.date}</time></li>"""
        for b in site.posts
    )
    add("/blog", "Blog", f'<h1>The Nestwell blog</h1><ul class="post-list">{items}</ul>{outside}')
    for b in site.posts:
        paras = "".join(f"<p>{esc(t)}</p>" for t in b.paragraphs)
        add(
            f"/blog/{b.slug}",
            b.title,
            f"""<article class="post"><h1 class="post__title">{esc(b.title)}</h1>
<p class="post__meta">Posted <time datetime="{b.date}">{b.date}</time> by the Nestwell team</p>
{paras}</article>""",
        )
