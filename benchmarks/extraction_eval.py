"""Evaluate the generic extraction (``orchestration_project.research.extraction``) on saved and demo sites.

Usage (from the repo root)::

    uv run python benchmarks/extraction_eval.py [--no-demo] [--json]

Data: ``$BENCHMARKS_DIR`` (default ``../shared/benchmarks`` relative to the repo root), read in
place, never copied.

**pricelist_testingground** (``websites/pricelist_testingground``): each ``site/pricesN.html``
is given to ``extract_page`` as it is (no network). A prediction is a product price fact; its
key is ``(page, name, price)`` with the name compared case- and whitespace-insensitively and the
price rounded to cents. Each page lists every product twice (two layouts), and one product can
appear twice with two prices, so both sides are reduced to *distinct* tuples: a product found in
both layouts counts once, a product listed twice with the same price counts once, and two
different prices of one product are two tuples. Precision = matched distinct predicted tuples /
distinct predicted tuples; recall = matched distinct truth tuples / distinct truth tuples. The
same is reported for ``(page, price)`` alone.

**demo world** (``orchestration_project.demo_world``, when present): the world is started, every
page in ``ground_truth()["pages"]`` is fetched over HTTP with httpx and extracted; for each
(site, product) the single highest-confidence price fact over all the site's pages is kept (so a
stale price in a blog post, a low-confidence text fact, loses against the pricing page), and
``(site, name, price, currency)`` is scored against ``ground_truth()["products"]``. Pages whose
plain-HTTP copy needs JavaScript are rendered with Playwright + ``/usr/bin/chromium`` when
available (as the real pipeline's browser route would) and also scored separately.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from orchestration_project.research.extraction import extract_page  # noqa: E402
from orchestration_project.research.extraction.facts import norm_key  # noqa: E402


def benchmarks_dir() -> Path:
    """The shared benchmarks folder: ``$BENCHMARKS_DIR`` or ``<repo>/../shared/benchmarks``."""
    env = os.environ.get("BENCHMARKS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT / ".." / "shared" / "benchmarks").resolve()


def prf_counts(tp: int, predicted: int, truth: int) -> dict[str, float | int]:
    """Precision, recall and F1 from counts (true positives, predicted, truth)."""
    p = tp / predicted if predicted else 0.0
    r = tp / truth if truth else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f, 4),
        "tp": tp,
        "predicted": predicted,
        "truth": truth,
    }


def prf(predicted: set[Any], truth: set[Any]) -> dict[str, float | int]:
    """Precision, recall and F1 of two sets of tuples."""
    return prf_counts(len(predicted & truth), len(predicted), len(truth))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """Serve ``folder`` (in place) on an ephemeral loopback port; yields ``127.0.0.1:PORT``."""
    handler = functools.partial(_Quiet, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# -- pricelist_testingground ------------------------------------------------------------------
def evaluate_pricelist(bench: Path | None = None) -> dict[str, Any]:
    """Score extraction on the five saved price-list pages.

    Args:
        bench: the benchmarks folder (default: :func:`benchmarks_dir`).

    Returns:
        ``{"name_price": prf, "price": prf, "pages": {page: {...}}, "misses": [...],
        "false_positives": [...]}``.
    """
    root = (bench or benchmarks_dir()) / "websites" / "pricelist_testingground"
    truth: set[tuple[str, str, float]] = set()
    with open(root / "ground_truth" / "products.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            truth.add((row["page"], norm_key(row["name"]), round(float(row["price_value"]), 2)))
    pred: set[tuple[str, str, float]] = set()
    for path in sorted((root / "site").glob("*.html")):
        page = "/" + path.name
        html = path.read_text(encoding="utf-8", errors="replace")
        ext = extract_page(html, f"http://127.0.0.1:8000{page}")
        for f in ext.prices():
            pred.add((page, norm_key(f.subject), round(float(f.value), 2)))
    pages: dict[str, Any] = {}
    for page in sorted({t[0] for t in truth} | {p[0] for p in pred}):
        pt = {x for x in pred if x[0] == page}
        tt = {x for x in truth if x[0] == page}
        pages[page] = {
            "name_price": prf(pt, tt),
            "price": prf({(a, c) for a, _, c in pt}, {(a, c) for a, _, c in tt}),
        }
    return {
        "name_price": prf(pred, truth),
        "price": prf({(a, c) for a, _, c in pred}, {(a, c) for a, _, c in truth}),
        "pages": pages,
        "misses": sorted(truth - pred),
        "false_positives": sorted(pred - truth),
    }


# -- demo world -------------------------------------------------------------------------------
def _render(urls: Iterable[str]) -> dict[str, str]:
    """Render pages in Chromium (Playwright); {} when no browser is available."""
    urls = list(urls)
    if not urls:
        return {}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {}
    out: dict[str, str] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page()
            for u in urls:
                try:
                    page.goto(u, wait_until="networkidle", timeout=15000)
                    out[u] = page.content()
                except Exception as exc:  # one failed page must not stop the evaluation
                    print(f"render failed for {u}: {exc}", file=sys.stderr)
            browser.close()
    except Exception as exc:
        print(f"browser unavailable: {exc}", file=sys.stderr)
    return out


def _site_pages(gt: dict[str, Any]) -> dict[str, list[str]]:
    """``ground_truth()["pages"]`` as {site: [absolute urls]} (a dict, or a list of records)."""
    pages = gt.get("pages") or {}
    if isinstance(pages, dict):
        return {str(k): [str(u) for u in v] for k, v in pages.items()}
    out: dict[str, list[str]] = defaultdict(list)
    for rec in pages:
        if isinstance(rec, dict):
            out[str(rec.get("site", ""))].append(str(rec.get("url")))
    return dict(out)


def extract_site(pages: dict[str, str]) -> dict[str, Any]:
    """Extract every page of one site the way the pipeline does: a first pass, then a second
    pass with the product names the first pass found by structured data or layout (so prices
    mentioned in prose, e.g. stale blog prices, are found as low-confidence text facts)."""
    first = {u: extract_page(html, u) for u, html in pages.items()}
    known = sorted(
        {
            f.subject
            for p in first.values()
            for f in p.facts
            if f.kind == "product" and f.method != "text"
        }
    )
    if not known:
        return first
    return {u: extract_page(html, u, known_products=known) for u, html in pages.items()}


def score_world(extractions: dict[str, dict[str, Any]], gt: dict[str, Any]) -> dict[str, Any]:
    """Score extractions ({site: {url: PageExtraction}}) against a demo-world ground truth.

    Prices: for each (site, product) the highest-confidence price fact over all the site's pages
    is kept; ``(site, name, price, currency)`` is compared. Features: distinct (site, product,
    feature). Ratings: the highest-confidence rating per (site, product), to one decimal.
    Reviews: distinct (site, product, rating). Stale claims: the resolved price must not be the
    stale blog price.
    """
    best: dict[tuple[str, str], Any] = {}
    best_rating: dict[tuple[str, str], Any] = {}
    feats: set[tuple[str, str, str]] = set()
    reviews: set[tuple[str, str, float]] = set()
    for site, pages in extractions.items():
        for ext in pages.values():
            for f in ext.facts:
                k = (site, norm_key(f.subject))
                if f.kind == "product" and f.attribute == "price":
                    if k not in best or f.confidence > best[k].confidence:
                        best[k] = f
                elif f.kind == "rating":
                    if k not in best_rating or f.confidence > best_rating[k].confidence:
                        best_rating[k] = f
                elif f.kind == "feature":
                    feats.add((site, norm_key(f.subject), norm_key(str(f.value))))
                elif f.kind == "review" and f.extra.get("rating") is not None:
                    reviews.add((site, norm_key(f.subject), float(f.extra["rating"])))
    products = gt.get("products", [])
    truth = {
        (p["site"], norm_key(p["name"]), round(float(p["price"]), 2), p.get("currency") or "")
        for p in products
    }
    pred = {(s, n, round(float(f.value), 2), f.currency or "") for (s, n), f in best.items()}
    per_site = {
        s: prf({x for x in pred if x[0] == s}, {x for x in truth if x[0] == s})
        for s in sorted({t[0] for t in truth})
    }
    feat_truth = {
        (p["site"], norm_key(p["name"]), norm_key(f))
        for p in products
        for f in p.get("features", [])
    }
    rating_truth = {
        (p["site"], norm_key(p["name"]), round(float(p["rating"]), 1))
        for p in products
        if p.get("rating") is not None
    }
    rating_pred = {(s, n, round(float(f.value), 1)) for (s, n), f in best_rating.items()}
    review_truth = {
        (r["site"], norm_key(r["product"]), float(r["rating"])) for r in gt.get("reviews", [])
    }
    stale = gt.get("stale_claims", [])
    stale_ok = sum(
        1
        for c in stale
        if (k := (c["site"], norm_key(c["product"]))) in best
        and abs(float(best[k].value) - float(c["current_price"])) < 0.005
    )
    return {
        "overall": prf(pred, truth),
        "per_site": per_site,
        "features": prf(feats, feat_truth),
        "ratings": prf(rating_pred, rating_truth),
        "reviews": prf(reviews, review_truth),
        "stale_claims_resolved": f"{stale_ok}/{len(stale)}",
        "misses": sorted(truth - pred),
        "false_positives": sorted(pred - truth),
    }


def evaluate_demo_world(render_js: bool = True) -> dict[str, Any] | None:
    """Score extraction on the running demo world, or None when it is not available.

    Every page of ``ground_truth()["pages"]`` is fetched over HTTP (httpx). Pages whose HTML
    needs JavaScript are rendered in Chromium when ``render_js`` (the real pipeline routes them
    to its browser); they are also listed, and the score without rendering is reported too.

    Args:
        render_js: render pages that need JavaScript with Playwright + /usr/bin/chromium.

    Returns:
        Scores (see :func:`score_world`), plus ``no_render`` scores and the JS page list.
    """
    try:
        from orchestration_project.demo_world import start_demo_world
    except ImportError:
        return None
    import httpx

    world = start_demo_world()
    try:
        gt = world.ground_truth()
        site_pages = _site_pages(gt)
        html: dict[str, dict[str, str]] = {}
        with httpx.Client(timeout=15.0, follow_redirects=True) as client:
            for site, urls in site_pages.items():
                html[site] = {}
                for u in urls:
                    try:
                        r = client.get(u)
                    except httpx.HTTPError as exc:
                        print(f"fetch failed for {u}: {exc}", file=sys.stderr)
                        continue
                    if r.status_code == 200 and "html" in r.headers.get("content-type", "html"):
                        html[site][u] = r.text
        plain = {site: extract_site(pages) for site, pages in html.items()}
        js_pages = sorted(
            u for pages in plain.values() for u, ext in pages.items() if ext.needs_javascript
        )
        rendered = _render(js_pages) if render_js else {}
        final_html = {
            site: {u: rendered.get(u, h) for u, h in pages.items()} for site, pages in html.items()
        }
        final = {site: extract_site(pages) for site, pages in final_html.items()}
        out = score_world(final, gt)
        out["no_render"] = score_world(plain, gt)["overall"]
        out["pages_fetched"] = sum(len(p) for p in html.values())
        out["js_pages"] = js_pages
        out["js_rendered"] = sorted(rendered)
        out["js_truth"] = [j.get("url") or j.get("path") for j in gt.get("js_only", [])]
        return out
    finally:
        for name in ("stop", "close", "shutdown"):
            fn = getattr(world, name, None)
            if callable(fn):
                fn()
                break


def _print_prf(label: str, m: dict[str, Any]) -> None:
    print(
        f"{label:<34} P={m['precision']:.3f} R={m['recall']:.3f} F1={m['f1']:.3f} "
        f"(tp={m['tp']}, predicted={m['predicted']}, truth={m['truth']})"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-demo", action="store_true", help="skip the demo world")
    ap.add_argument("--no-render", action="store_true", help="do not render JS pages")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args(argv)
    t0 = time.time()
    out: dict[str, Any] = {"pricelist_testingground": evaluate_pricelist()}
    if not args.no_demo:
        out["demo_world"] = evaluate_demo_world(render_js=not args.no_render)
    out["seconds"] = round(time.time() - t0, 2)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    pl = out["pricelist_testingground"]
    print(f"benchmarks: {benchmarks_dir()}")
    print("== pricelist_testingground (distinct (page, name, price) tuples) ==")
    _print_prf("name+price", pl["name_price"])
    _print_prf("price only", pl["price"])
    for page, m in pl["pages"].items():
        _print_prf(f"  {page} name+price", m["name_price"])
    for miss in pl["misses"]:
        print("  miss:", miss)
    for fp in pl["false_positives"]:
        print("  false positive:", fp)
    dw = out.get("demo_world")
    if dw is None and not args.no_demo:
        print("== demo world: not available (orchestration_project.demo_world missing) ==")
    elif dw:
        print("== demo world ((site, name, price, currency), best price per product) ==")
        _print_prf("prices (JS pages rendered)", dw["overall"])
        for s, m in dw["per_site"].items():
            _print_prf(f"  {s}", m)
        _print_prf("prices (plain HTTP only)", dw["no_render"])
        _print_prf("features", dw["features"])
        _print_prf("ratings", dw["ratings"])
        _print_prf("reviews (product, rating)", dw["reviews"])
        print(f"  stale blog prices resolved to the current price: {dw['stale_claims_resolved']}")
        print(
            f"  pages fetched: {dw['pages_fetched']}; need JS: {len(dw['js_pages'])} "
            f"({', '.join(dw['js_pages'])}); rendered: {len(dw['js_rendered'])}"
        )
        for miss in dw["misses"]:
            print("  miss:", miss)
        for fp in dw["false_positives"]:
            print("  false positive:", fp)
    print(f"({out['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
