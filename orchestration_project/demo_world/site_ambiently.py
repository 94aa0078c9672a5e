"""Ambiently: a single-page-app-ish startup site — utility-class soup, client-side listing and
pricing (product links and prices exist only after JavaScript runs), no structured data."""

from __future__ import annotations

from orchestration_project.demo_world.common import JSON, esc, hostile_links, json_bytes, money
from orchestration_project.demo_world.data import Product, Site

PRODUCT_PATH = "/p/{slug}"
POST_PATH = "/blog/{slug}"
REVIEWS_PATH = "/reviews"


def price_text(p: Product) -> str:
    """``USD 59.99`` / ``USD 7.99 / month``."""
    base = f"USD {money(p.price)}"
    return f"{base} / month" if p.unit else base


def _layout(site: Site, path: str, title: str, body: str, outside_url: str) -> str:
    extra = "".join(
        f'<a class="tw-text-xs tw-underline tw-opacity-70" href="{esc(href)}">{esc(label)}</a>'
        for href, label, _h in hostile_links(site, path, outside_url)
    )
    nav = "".join(
        f'<a class="tw-px-3 tw-py-2 hover:tw-bg-slate-100 tw-rounded" href="{h}">{lbl}</a>'
        for h, lbl in (
            ("/shop", "Shop"),
            ("/pricing", "Pricing"),
            ("/features", "Features"),
            ("/reviews", "Reviews"),
            ("/blog", "Blog"),
            ("/about", "About"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{esc(title)} · Ambiently</title>
<style>
.tw-flex{{display:flex}}.tw-grid{{display:grid}}.tw-gap-4{{gap:1rem}}.p-4{{padding:1rem}}
.tw-p-6{{padding:1.5rem}}.tw-rounded{{border-radius:.5rem}}.tw-shadow{{box-shadow:0 1px 3px
#0002}}.tw-font-bold{{font-weight:700}}.tw-text-xl{{font-size:1.25rem}}.tw-text-xs{{font-size:
.75rem}}.tw-grid-cols-3{{grid-template-columns:repeat(3,1fr)}}.tw-bg-slate-50{{background:
#f8fafc}}
</style>
</head>
<body class="tw-bg-slate-50 tw-font-sans">
<div id="__next">
<div class="tw-flex tw-items-center tw-justify-between p-4 tw-border-b">
  <a class="tw-font-bold tw-text-xl" href="/">ambiently</a>
  <div class="tw-flex tw-gap-4">{nav}</div>
</div>
<div class="tw-container tw-mx-auto tw-p-6">
{body}
</div>
<div class="tw-flex tw-gap-4 p-4 tw-text-xs tw-border-t">
  <span>© 2024 Ambiently, Inc.</span>
  <a href="/careers">Careers</a><a href="/legal/privacy">Privacy</a>
  <a href="/legal/terms">Terms</a>{extra}
</div>
</div>
</body>
</html>
"""


def _hydrate(target: str, source: str, item_js: str) -> str:
    return f"""<script>
(function(){{
  var el=document.getElementById('{target}');
  fetch('{source}').then(function(r){{return r.json();}}).then(function(d){{
    d.data.forEach(function(x){{
      var c=document.createElement('div');
      c.className='tw-rounded tw-shadow tw-p-6 tw-bg-white';
      c.innerHTML={item_js};
      el.appendChild(c);
    }});
  }});
}})();
</script>"""


def render(site: Site, outside_url: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """All normal pages of Ambiently plus its JSON APIs."""
    pages: dict[str, str] = {}

    def add(path: str, title: str, body: str) -> None:
        pages[path] = _layout(site, path, title, body, outside_url)

    add(
        "/",
        "Home",
        f"""<div class="tw-grid tw-gap-4 p-4">
  <div class="tw-text-4xl tw-font-bold">{esc(site.tagline)}</div>
  <div class="tw-text-lg">Thermostats, sensors and vents that speak Matter.</div>
  <div><a class="tw-btn tw-btn-primary tw-rounded p-4" href="/shop">Browse the shop →</a></div>
</div>""",
    )
    add(
        "/shop",
        "Shop",
        '<h2 class="tw-text-2xl tw-font-bold">Shop</h2>\n'
        '<div id="shop-grid" class="tw-grid tw-grid-cols-3 tw-gap-4"></div>\n'
        + _hydrate(
            "shop-grid",
            "/api/products.json",
            "'<a class=\"tw-font-bold\" href=\"'+x.href+'\">'+x.title+'</a>'+"
            "'<div class=\"tw-text-sm\">'+x.tagline+'</div>'",
        ),
    )
    for p in site.products:
        feats = "".join(
            f'<span class="tw-badge tw-rounded tw-px-2 tw-bg-emerald-100">{esc(f)}</span>'
            for f in p.features
        )
        add(
            PRODUCT_PATH.format(slug=p.slug),
            p.name,
            f"""<div class="tw-grid md:tw-grid-cols-2 tw-gap-4">
  <div class="tw-aspect-square tw-bg-slate-200 tw-rounded"></div>
  <div class="tw-flex tw-flex-col tw-gap-4">
    <h2 class="tw-text-3xl tw-font-bold">{esc(p.name)}</h2>
    <div class="tw-text-2xl tw-text-emerald-700">{price_text(p)}</div>
    <div class="tw-text-sm">★ {p.rating} · {p.review_count} ratings</div>
    <div class="tw-text-base">{esc(p.blurb)}</div>
    <div class="tw-flex tw-flex-wrap tw-gap-2">{feats}</div>
    <button class="tw-btn tw-rounded p-4">Add to bag</button>
  </div>
</div>""",
        )
    add(
        "/pricing",
        "Pricing",
        '<h2 class="tw-text-2xl tw-font-bold">Pricing</h2>\n'
        '<div id="price-table" class="tw-grid tw-grid-cols-3 tw-gap-4"></div>\n'
        + _hydrate(
            "price-table",
            "/api/prices.json",
            "'<div class=\"tw-font-bold\">'+x.product+'</div>'+"
            "'<div class=\"tw-text-2xl\">'+x.label+'</div>'",
        ),
    )
    feats = "".join(
        f"""<div class="tw-rounded tw-shadow tw-p-6"><div class="tw-font-bold">{esc(p.name)}</div>
<div class="tw-flex tw-flex-wrap tw-gap-2">{
            "".join(f'<span class="tw-badge">{esc(f)}</span>' for f in p.features)
        }</div></div>"""
        for p in site.products
    )
    add(
        "/features",
        "Features",
        f'<h2 class="tw-text-2xl">Features</h2><div class="tw-grid tw-gap-4">{feats}</div>',
    )
    revs = "".join(
        f"""<div class="tw-rounded tw-shadow tw-p-6" data-stars="{r.rating}">
<div class="tw-flex tw-gap-2"><span class="tw-font-bold">{esc(r.title)}</span>
<span class="tw-text-amber-500">{r.rating}/5</span></div>
<div class="tw-text-xs">{esc(r.author)} reviewed {esc(r.product)} · {r.date}</div>
<div class="tw-text-sm">{esc(r.text)}</div></div>"""
        for r in site.reviews
    )
    agg = "".join(
        f"""<div class="tw-flex tw-justify-between p-4 tw-border-b"><span class="tw-font-bold">{
            esc(p.name)
        }</span><span class="tw-text-amber-500">★ {p.rating}</span><span class="tw-text-xs">{
            p.review_count
        } ratings</span></div>"""
        for p in site.products
    )
    add(
        "/reviews",
        "Reviews",
        f'<h2 class="tw-text-2xl">Reviews</h2><div class="tw-rounded tw-shadow">{agg}</div>'
        f'<div class="tw-grid tw-gap-4">{revs}</div>',
    )
    posts = "".join(
        f'<div class="p-4"><a class="tw-font-bold" href="{POST_PATH.format(slug=b.slug)}">'
        f'{esc(b.title)}</a><div class="tw-text-xs">{b.date}</div></div>'
        for b in site.posts
    )
    add("/blog", "Blog", f'<h2 class="tw-text-2xl">Blog</h2>{posts}')
    for b in site.posts:
        paras = "".join(f'<p class="tw-mb-4">{esc(t)}</p>' for t in b.paragraphs)
        add(
            POST_PATH.format(slug=b.slug),
            b.title,
            f'<h2 class="tw-text-3xl">{esc(b.title)}</h2><div class="tw-text-xs">{b.date}</div>'
            f"{paras}",
        )
    jobs = "".join(
        f"""<div class="tw-flex tw-justify-between p-4"><span>{esc(j.title)} — {esc(j.location)}
</span><span>${j.salary_low:,} – ${j.salary_high:,} + equity</span></div>"""
        for j in site.jobs
    )
    add("/careers", "Careers", f'<h2 class="tw-text-2xl">Open roles</h2>{jobs}')
    add(
        "/legal/privacy",
        "Privacy",
        '<h2 class="tw-text-2xl">Privacy</h2><p>We use your data only to run your devices.</p>',
    )
    add(
        "/legal/terms",
        "Terms",
        '<h2 class="tw-text-2xl">Terms</h2><p>Subscriptions are billed monthly.</p>',
    )
    about = "".join(f"<p>{esc(t)}</p>" for t in site.about)
    add("/about", "About", f'<h2 class="tw-text-2xl">About</h2>{about}')
    static = {
        "/api/products.json": (
            JSON,
            json_bytes(
                {
                    "data": [
                        {
                            "title": p.name,
                            "href": PRODUCT_PATH.format(slug=p.slug),
                            "tagline": p.blurb,
                        }
                        for p in site.products
                    ]
                }
            ),
        ),
        "/api/prices.json": (
            JSON,
            json_bytes(
                {
                    "data": [
                        {
                            "product": p.name,
                            "amount": p.price,
                            "currency": "USD",
                            "per": p.unit,
                            "label": price_text(p),
                        }
                        for p in site.products
                    ]
                }
            ),
        ),
    }
    return pages, static
