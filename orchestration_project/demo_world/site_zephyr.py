"""Zephyr Climate: deeply nested generic divs, French paths, ``€249,00`` prices, JSON-LD on some
product pages only."""

from __future__ import annotations

from orchestration_project.demo_world.common import (
    esc,
    hostile_links,
    money,
    product_jsonld,
    stars,
)
from orchestration_project.demo_world.data import Product, Site

PRODUCT_PATH = "/produits/{slug}"
POST_PATH = "/actualites/{slug}"
REVIEWS_PATH = "/avis"
JSONLD_PRODUCTS = 2  # only the first two product pages carry JSON-LD


def price_text(p: Product) -> str:
    """``€249,00`` / ``€5,99/mo``."""
    base = f"€{money(p.price, dec=',', thou='.')}"
    return f"{base}/mo" if p.unit else base


def _layout(site: Site, path: str, title: str, body: str, outside_url: str, head: str = "") -> str:
    extra = ""
    for href, label, h in hostile_links(site, path, outside_url):
        if h.kind == "external_image":
            extra += f'<div class="c-x"><img src="{esc(href)}" alt="{esc(label)}"></div>'
        else:
            extra += f'<div class="c-x"><a href="{esc(href)}">{esc(label)}</a></div>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Zephyr Climate :: {esc(title)}</title>
<style>
.c-wrap{{max-width:1100px;margin:auto;font-family:Helvetica,Arial,sans-serif}}
.c-row{{display:flex;gap:12px}} .c-col{{flex:1}} .c-box{{border:1px solid #cde;padding:10px}}
.c-amt{{font-size:22px;color:#0a5}}
</style>
{head}
</head>
<body>
<div class="c-wrap">
 <div class="c-top">
  <div class="c-inner">
   <div class="c-row">
    <div class="c-col"><a class="c-logo" href="/">ZEPHYR<span>climate</span></a></div>
    <div class="c-col c-menu">
     <div class="c-m"><a href="/produits">Products</a></div>
     <div class="c-m"><a href="/tarifs">Prices</a></div>
     <div class="c-m"><a href="/fonctionnalites">Features</a></div>
     <div class="c-m"><a href="/avis">Reviews</a></div>
     <div class="c-m"><a href="/actualites">News</a></div>
     <div class="c-m"><a href="/a-propos">About</a></div>
    </div>
   </div>
  </div>
 </div>
 <div class="c-main"><div class="c-inner"><div class="c-content">
{body}
 </div></div></div>
 <div class="c-foot"><div class="c-inner"><div class="c-row">
  <div class="c-col">Zephyr Climate SAS — {esc(site.city)}</div>
  <div class="c-col"><a href="/recrutement">Careers</a> · <a href="/mentions-legales">Legal</a>
   · <a href="/confidentialite">Privacy</a></div>
  <div class="c-col">{extra}</div>
 </div></div></div>
</div>
</body>
</html>
"""


def render(site: Site, outside_url: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """All normal pages of Zephyr Climate."""
    pages: dict[str, str] = {}

    def add(path: str, title: str, body: str, head: str = "") -> None:
        pages[path] = _layout(site, path, title, body, outside_url, head)

    tiles = "".join(
        f"""<div class="c-col"><div class="c-box"><div class="c-in">
<h5 class="c-t"><a href="{PRODUCT_PATH.format(slug=p.slug)}">{esc(p.name)}</a></h5>
<div class="c-d">{esc(p.blurb)}</div>
<div class="c-amt">{price_text(p)}</div></div></div></div>"""
        for p in site.products
    )
    add(
        "/",
        "Home",
        f"""<div class="c-hero"><div class="c-in"><h2>{esc(site.tagline)}</h2>
<div class="c-d">Smart thermostats and ventilation controls for apartments.</div></div></div>
<div class="c-row">{tiles}</div>""",
    )
    add("/produits", "Products", f'<h2>Our products</h2><div class="c-row">{tiles}</div>')
    for i, p in enumerate(site.products):
        path = PRODUCT_PATH.format(slug=p.slug)
        head = product_jsonld(site, p, path, f"{p.price:.2f}") if i < JSONLD_PRODUCTS else ""
        feats = "".join(f'<div class="c-f">✓ {esc(f)}</div>' for f in p.features)
        add(
            path,
            p.name,
            f"""<div class="c-row"><div class="c-col"><div class="c-box c-img"></div></div>
<div class="c-col"><div class="c-box"><div class="c-in">
 <h2 class="c-t">{esc(p.name)}</h2>
 <div class="c-r"><span class="c-s">{stars(p.rating)}</span> <span>{p.rating}/5</span>
  <span>· {p.review_count} reviews</span></div>
 <div class="c-amt">{price_text(p)}</div>
 <div class="c-tax">VAT included</div>
 <div class="c-d">{esc(p.blurb)}</div>
 <div class="c-fs">{feats}</div>
</div></div></div></div>""",
            head,
        )
    rows = "".join(
        f"""<div class="c-row c-line"><div class="c-col">{esc(p.name)}</div>
<div class="c-col c-amt">{price_text(p)}</div></div>"""
        for p in site.products
    )
    add("/tarifs", "Prices", f"<h2>Prices</h2><div class='c-list'>{rows}</div>")
    feats = "".join(
        f"""<div class="c-box"><div class="c-in"><h5>{esc(p.name)}</h5>
{"".join(f'<div class="c-f">{esc(f)}</div>' for f in p.features)}</div></div>"""
        for p in site.products
    )
    add("/fonctionnalites", "Features", f"<h2>Features by product</h2>{feats}")
    revs = "".join(
        f"""<div class="c-box c-rev"><div class="c-in">
<div class="c-s" title="{r.rating} stars">{stars(r.rating)}</div>
<h5>{esc(r.title)}</h5><div class="c-d">{esc(r.text)}</div>
<div class="c-meta">{esc(r.author)} — {esc(r.product)} — {r.date}</div></div></div>"""
        for r in site.reviews
    )
    agg = "<br>".join(
        f'<span class="c-agg-i"><a href="{PRODUCT_PATH.format(slug=p.slug)}">{esc(p.name)}</a>'
        f" — average {p.rating}/5 ({p.review_count} reviews)</span>"
        for p in site.products
    )
    add(
        "/avis",
        "Reviews",
        f"<h2>Customer reviews</h2><h5>Average ratings</h5><div class='c-box c-agg'>{agg}</div>"
        f"<h5>Latest reviews</h5>{revs}",
    )
    news = "".join(
        f'<div class="c-box"><a href="{POST_PATH.format(slug=b.slug)}">{esc(b.title)}</a>'
        f'<div class="c-meta">{b.date}</div></div>'
        for b in site.posts
    )
    add("/actualites", "News", f"<h2>News</h2>{news}")
    for b in site.posts:
        paras = "".join(f'<div class="c-p">{esc(t)}</div>' for t in b.paragraphs)
        add(
            POST_PATH.format(slug=b.slug),
            b.title,
            f'<h2>{esc(b.title)}</h2><div class="c-meta">Published {b.date}</div>{paras}',
        )
    jobs = "".join(
        f'<div class="c-box"><h5>{esc(j.title)}</h5><div>{esc(j.location)}</div>'
        f"<div>€{money(j.salary_low, thou='.', places=0)} – "
        f"€{money(j.salary_high, thou='.', places=0)} gross per year</div></div>"
        for j in site.jobs
    )
    add("/recrutement", "Careers", f"<h2>Join us</h2>{jobs}")
    add(
        "/mentions-legales",
        "Legal notice",
        "<h2>Legal notice</h2><div class='c-p'>Zephyr Climate SAS, capital 50 000 €, Lyon.</div>",
    )
    add(
        "/confidentialite",
        "Privacy",
        "<h2>Privacy policy</h2><div class='c-p'>Your data stays in the EU.</div>",
    )
    about = "".join(f'<div class="c-p">{esc(t)}</div>' for t in site.about)
    add("/a-propos", "About", f"<h2>About Zephyr Climate</h2>{about}")
    return pages, {}
