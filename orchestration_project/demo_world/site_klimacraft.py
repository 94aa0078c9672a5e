"""KlimaCraft: an old-school table layout with German paths, EUR prices and microdata."""

from __future__ import annotations

from orchestration_project.demo_world.common import esc, hostile_links, money, stars
from orchestration_project.demo_world.data import ALL_FEATURES, Product, Site

PRODUCT_PATH = "/produkte/{slug}"
POST_PATH = "/blog/{slug}"
REVIEWS_PATH = "/bewertungen"


def price_text(p: Product) -> str:
    """``249,00 €`` for products, ``4,99 € / Monat`` for the subscription."""
    base = f"{money(p.price, dec=',', thou='.')} €"
    return f"{base} / Monat" if p.unit else base


NAV = (
    ("/produkte", "Produkte"),
    ("/preise", "Preise"),
    ("/funktionen", "Funktionen"),
    ("/bewertungen", "Bewertungen"),
    ("/blog", "Blog"),
    ("/karriere", "Karriere"),
    ("/ueber-uns", "Über uns"),
)


def _layout(site: Site, path: str, title: str, body: str, outside_url: str) -> str:
    extra = ""
    for href, label, _h in hostile_links(site, path, outside_url):
        extra += f'<tr><td class="randlink"><a href="{esc(href)}">{esc(label)}</a></td></tr>'
    nav = "".join(
        f'<tr><td class="menupunkt"><a href="{h}">{esc(lbl)}</a></td></tr>' for h, lbl in NAV
    )
    return f"""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN">
<html lang="de">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>KlimaCraft GmbH - {esc(title)}</title>
<style type="text/css">
body {{ font-family: Verdana, Arial, sans-serif; font-size: 12px; background: #e8e8e8; }}
#rahmen {{ width: 960px; background: #fff; }}
.menupunkt a {{ color: #004a7f; font-weight: bold; }}
.preis {{ color: #b30000; font-weight: bold; }}
table.liste td, table.liste th {{ border: 1px solid #ccc; padding: 4px; }}
</style>
</head>
<body>
<table id="rahmen" cellpadding="0" cellspacing="0" border="0" align="center">
<tr><td colspan="2" id="kopf"><a href="/"><b>KlimaCraft</b></a> &mdash;
{esc(site.tagline)}</td></tr>
<tr>
<td id="navigation" valign="top" width="180">
<table cellpadding="3">{nav}{extra}</table>
</td>
<td id="inhalt" valign="top">
{body}
</td>
</tr>
<tr><td colspan="2" id="fuss">KlimaCraft GmbH · {esc(site.city)} ·
<a href="/impressum">Impressum</a> · <a href="/datenschutz">Datenschutz</a> ·
<a href="/agb">AGB</a></td></tr>
</table>
</body>
</html>
"""


def render(site: Site, outside_url: str) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """All normal pages of KlimaCraft."""
    pages: dict[str, str] = {}

    def add(path: str, title: str, body: str) -> None:
        pages[path] = _layout(site, path, title, body, outside_url)

    rows = "".join(
        f"""<tr class="artikelzeile"><td><a href="/produkte/{p.slug}">{esc(p.name)}</a></td>
<td>{esc(p.blurb)}</td><td class="preis">{price_text(p)}</td></tr>"""
        for p in site.products
    )
    add(
        "/",
        "Startseite",
        f"""<h2>Willkommen bei KlimaCraft</h2>
<p>Intelligente Thermostate und Raumsensoren &ndash; smart thermostats and room sensors
engineered in Germany.</p>
<h3>Unsere Produkte</h3>
<table class="liste" cellspacing="0">{rows}</table>""",
    )
    add(
        "/produkte",
        "Produkte",
        f"""<h2>Produktübersicht</h2>
<table class="liste" cellspacing="0">
<tr><th>Produkt</th><th>Beschreibung</th><th>Preis inkl. MwSt.</th></tr>{rows}</table>""",
    )
    for p in site.products:
        feats = "".join(f"<li>{esc(f)}</li>" for f in p.features)
        unit = (
            '<meta itemprop="unitText" content="MONTH"><span class="hinweis">monatlich '
            "kündbar</span>"
            if p.unit
            else ""
        )
        add(
            f"/produkte/{p.slug}",
            p.name,
            f"""<div itemscope itemtype="https://schema.org/Product">
<h2 itemprop="name">{esc(p.name)}</h2>
<meta itemprop="brand" content="{esc(site.brand)}">
<p itemprop="description">{esc(p.blurb)}</p>
<table class="liste" cellspacing="0">
<tr><td>Preis</td><td itemprop="offers" itemscope itemtype="https://schema.org/Offer">
<span class="preis">{price_text(p)}</span>
<meta itemprop="price" content="{p.price:.2f}">
<meta itemprop="priceCurrency" content="EUR">
<link itemprop="availability" href="https://schema.org/InStock">{unit}</td></tr>
<tr><td>Bewertung</td><td itemprop="aggregateRating" itemscope
 itemtype="https://schema.org/AggregateRating">{stars(p.rating)}
<span itemprop="ratingValue">{str(p.rating).replace(".", ",")}</span> von
<span itemprop="bestRating">5</span> (<span itemprop="reviewCount">{p.review_count}</span>
Bewertungen)</td></tr>
</table>
<h4>Funktionen</h4><ul>{feats}</ul>
<p><a href="/produkte">&laquo; zurück zur Übersicht</a></p>
</div>""",
        )
    add(
        "/preise",
        "Preise",
        f"""<h2>Preisliste 2024</h2>
<p>Alle Preise inkl. 19&nbsp;% MwSt., zzgl. Versand.</p>
<table class="liste" id="preistabelle" cellspacing="0">
<tr><th>Artikel</th><th>Preis</th></tr>
{
            "".join(
                f'<tr><td>{esc(p.name)}</td><td class="preis">{price_text(p)}</td></tr>'
                for p in site.products
            )
        }
</table>
<p>Händler: fragen Sie nach unserer <a href="/intern/preisliste-entwurf">internen
Preisliste</a>.</p>""",
    )
    head = "".join(f"<th>{esc(p.name)}</th>" for p in site.products)
    matrix = "".join(
        "<tr><td>"
        + esc(f)
        + "</td>"
        + "".join(
            f'<td class="{"ja" if f in p.features else "nein"}">'
            f"{'&#10003;' if f in p.features else '&ndash;'}</td>"
            for p in site.products
        )
        + "</tr>"
        for f in ALL_FEATURES
    )
    add(
        "/funktionen",
        "Funktionen",
        f"""<h2>Funktionsvergleich</h2>
<table class="liste" id="vergleich" cellspacing="0"><tr><th>Funktion</th>{head}</tr>
{matrix}</table>""",
    )
    revs = "".join(
        f"""<tr><td>{esc(r.product)}</td><td title="{r.rating} von 5">{stars(r.rating)}</td>
<td><b>{esc(r.title)}</b><br>{esc(r.text)}</td><td>{esc(r.author)}<br>{r.date}</td></tr>"""
        for r in site.reviews
    )
    summary = "".join(
        f"""<tr><td><a href="{PRODUCT_PATH.format(slug=p.slug)}">{esc(p.name)}</a></td>
<td>{stars(p.rating)}</td><td>{str(p.rating).replace(".", ",")} von 5</td>
<td>{p.review_count} Bewertungen</td></tr>"""
        for p in site.products
    )
    add(
        "/bewertungen",
        "Kundenbewertungen",
        f"""<h2>Kundenbewertungen</h2>
<h3>Durchschnittliche Bewertung</h3>
<table class="liste" id="gesamtbewertung" cellspacing="0"><tr><th>Produkt</th><th>Sterne</th>
<th>Durchschnitt</th><th>Anzahl</th></tr>{summary}</table>
<h3>Ausgewählte Bewertungen</h3>
<table class="liste" cellspacing="0"><tr><th>Produkt</th><th>Sterne</th><th>Bewertung</th>
<th>Kunde</th></tr>{revs}</table>""",
    )
    posts = "".join(
        f'<tr><td>{b.date}</td><td><a href="/blog/{b.slug}">{esc(b.title)}</a></td></tr>'
        for b in site.posts
    )
    add("/blog", "Blog", f"<h2>Neuigkeiten</h2><table class='liste'>{posts}</table>")
    for b in site.posts:
        paras = "".join(f"<p>{esc(t)}</p>" for t in b.paragraphs)
        add(
            f"/blog/{b.slug}",
            b.title,
            f"<h2>{esc(b.title)}</h2><p><i>Veröffentlicht am {b.date}</i></p>{paras}",
        )
    jobs = "".join(
        f"""<tr><td>{esc(j.title)}</td><td>{esc(j.location)}</td>
<td>{money(j.salary_low, thou=".", places=0)} € – {money(j.salary_high, thou=".", places=0)} €
brutto/Jahr</td></tr>"""
        for j in site.jobs
    )
    add(
        "/karriere",
        "Karriere",
        f"<h2>Stellenangebote</h2><table class='liste'>{jobs}</table>",
    )
    add(
        "/impressum",
        "Impressum",
        f"<h2>Impressum</h2><p>KlimaCraft GmbH, Industriestraße 12, 70565 Stuttgart.</p>"
        f"<p>Geschäftsführer: H. Brenner. Gegründet {site.founded}.</p>",
    )
    add(
        "/datenschutz",
        "Datenschutz",
        "<h2>Datenschutzerklärung</h2><p>Wir verarbeiten Ihre Daten gemäß DSGVO.</p>",
    )
    add(
        "/agb",
        "AGB",
        "<h2>Allgemeine Geschäftsbedingungen</h2><p>Es gilt deutsches Recht.</p>",
    )
    about = "".join(f"<p>{esc(t)}</p>" for t in site.about)
    add("/ueber-uns", "Über uns", f"<h2>Über KlimaCraft</h2>{about}")
    return pages, {}
