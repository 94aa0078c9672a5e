"""The FINAL product table, per site: what ``competitor_matrix`` (and so the report) shows.

Why: page-level extraction (``benchmarks/extraction_eval.py``) can look perfect while the table
the matrix and the report are built from is not (issue 12: F1 0.45 on exact names on an unseen
shop). This benchmark measures that table, on the path production runs take.

How, for each evaluation site:

1. The site is served on 127.0.0.1 by a ``ThreadingHTTPServer`` (read in place, never copied).
   The demo world is started on free loopback ports instead.
2. The REAL market-research assets (``market_research_assets``: research_sources → … →
   competitor_matrix → market_report) are materialised in-process with ``dg.materialize`` on a
   temporary Dagster instance, through the real resources (``local_resources``: a temporary
   DuckDB warehouse and SQLite coordination store, the offline language engine) with the HTTP
   and browser fetchers allowed on the served host only (plus loopback as a private host), so
   every other request is refused by the URL policy. The market sources are
   ``ConfiguredSources`` with the site's start page as the only seed (production's resource);
   the demo world runs with its own ``DemoWorldSources``. Crawl budgets are the job defaults.
3. ``market_research.competitor_matrix`` is read back from the warehouse and scored against
   the ground truth.

Sites (discovered at run time):

* ``demo_world`` (seen while building): ``orchestration_project/demo_world`` truth, 5 sites;
  a product is keyed by (site, name).
* ``pricelist_testingground`` (seen while building): ``$BENCHMARKS_DIR/websites/…``, start
  ``/prices1.html``. ``products.csv`` has 32 rows: the Case-1 listing of five pages, in which
  the same laptops recur page after page (each page also repeats them in a second layout,
  Case 2, which PROVENANCE says matches Case 1 and is not in the csv). The product set is the
  DISTINCT names (10); a product's price is right when it equals any price the truth lists
  for that name (one laptop is listed at two prices).
* every ``benchmarks/realsites/<slug>/`` with ``site/`` and ``ground_truth/products.json``
  (unseen): start page ``index.html`` (served as ``/``), else the first ``*.html``.

Scores per site (names compared EXACTLY after Unicode NFC and whitespace collapsing; a
case-insensitive figure, ``casefold()`` on top, is printed beside the headline):

* products: precision / recall / F1 of distinct (site, name) keys;
* product+price F1: a predicted key counts only if its name matches and its price matches:
  amount within 0.5 % and same currency. Truth products whose price kind is not ``fixed``
  match on kind; the matrix has no price-kind column today, so they count as a price miss
  (the output says so when it happens); a truth product without a price matches a row
  without a price;
* ratings right: truth products with a rating whose matrix row has a rating within 0.05
  (0–5 scale), over the truth products with a rating;
* reviews right: truth products that have reviews whose matrix row has the same review count
  (the matrix only has a count column, ``reviews``; if a ``review_texts`` column appears, the
  first 40 characters of each text are compared instead), over those products;
* unpriced kept: truth products without a price that are present in the table;
* invented ratings (side figure): found products that carry a rating the truth does not have.

Medians over sites (and over seen / unseen) and wall seconds per site (the whole
materialisation; the first site of a process also pays the imports and warm-up) are printed.

    uv run python benchmarks/realsites_eval.py [--site SLUG]... [--json [PATH]] [--details]
        [--realsites DIR]

The shared data is read from ``$BENCHMARKS_DIR`` (default ``../shared/benchmarks``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from extraction_eval import benchmarks_dir, prf_counts, serve_folder  # noqa: E402

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "yes")

REALSITES_DIR = ROOT / "benchmarks" / "realsites"
SEEN = "seen while building"
UNSEEN = "unseen"
DEMO_SLUG = "demo_world"
PRICELIST_SLUG = "pricelist_testingground"
# A neutral topic for the served sites (the topic only ranks links; a production user sets it).
SERVED_TOPIC = "products, prices, ratings and reviews"
PRICE_TOLERANCE = 0.005  # relative
RATING_TOLERANCE = 0.05  # absolute, 0-5 scale
REVIEW_PREFIX = 40
KIND_COLUMNS = ("price_kind", "kind")  # a price-kind column of the matrix, if it ever has one
UNPRICED_KINDS = ("", "none", "unpriced")  # price kinds that mean "no price"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


# -- names ---------------------------------------------------------------------------------------
def norm_name(name: Any) -> str:
    """Unicode NFC and whitespace collapsing only: the EXACT name used in the headline."""
    return " ".join(unicodedata.normalize("NFC", str(name)).split())


def ci_name(name: Any) -> str:
    """The case-insensitive key (``casefold`` of :func:`norm_name`)."""
    return norm_name(name).casefold()


# -- ground truth --------------------------------------------------------------------------------
@dataclass
class TruthProduct:
    """One distinct product of the ground truth.

    Attributes:
        site: the site key ("" for a one-site evaluation; the demo world's slug otherwise).
        name: the full product name.
        prices: accepted (amount, currency) pairs (several when the truth lists several).
        price_kind: ``fixed`` or another kind (``from``, ``free``, …); None when unpriced.
        rating: 0–5 rating, None when the page gives none.
        review_count: number of reviews the truth lists, None when it lists none.
        review_texts: the review texts (may be empty strings).
    """

    site: str
    name: str
    prices: list[tuple[float, str]] = field(default_factory=list)
    price_kind: str | None = None
    rating: float | None = None
    review_count: int | None = None
    review_texts: list[str] = field(default_factory=list)

    @property
    def unpriced(self) -> bool:
        """The truth gives no price amount."""
        return not self.prices and (self.price_kind or "") in UNPRICED_KINDS


def merge_truth(products: Iterable[TruthProduct]) -> list[TruthProduct]:
    """One product per (site, exact name): prices are merged, the first rating/reviews kept."""
    out: dict[tuple[str, str], TruthProduct] = {}
    for p in products:
        key = (p.site, norm_name(p.name))
        if key not in out:
            out[key] = TruthProduct(site=p.site, name=norm_name(p.name))
        t = out[key]
        for pr in p.prices:
            if pr not in t.prices:
                t.prices.append(pr)
        t.price_kind = t.price_kind or p.price_kind
        t.rating = t.rating if t.rating is not None else p.rating
        if t.review_count is None:
            t.review_count, t.review_texts = p.review_count, list(p.review_texts)
    return list(out.values())


def pricelist_truth(folder: Path) -> list[TruthProduct]:
    """The distinct products of ``pricelist_testingground`` (see the module docstring)."""
    with open(folder / "ground_truth" / "products.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return merge_truth(
        TruthProduct(
            site="",
            name=r["name"],
            prices=[(float(r["price_value"]), "USD" if r["price"].startswith("$") else "?")],
            price_kind="fixed",
        )
        for r in rows
    )


def realsite_truth(folder: Path) -> list[TruthProduct]:
    """The products of ``benchmarks/realsites/<slug>/ground_truth/products.json``."""
    data = json.loads((folder / "ground_truth" / "products.json").read_text(encoding="utf-8"))
    out = []
    for p in data:
        price = p.get("price") or {}
        amount = price.get("amount")
        reviews = p.get("reviews")
        out.append(
            TruthProduct(
                site="",
                name=p["name"],
                prices=[(float(amount), str(price.get("currency") or "").upper())]
                if amount is not None
                else [],
                price_kind=price.get("kind") if price else None,
                rating=float(p["rating"]) if p.get("rating") is not None else None,
                review_count=len(reviews) if reviews else None,
                review_texts=[str(r.get("text") or "") for r in reviews] if reviews else [],
            )
        )
    return merge_truth(out)


def demo_truth(gt: dict[str, Any]) -> list[TruthProduct]:
    """The demo world's products keyed by site slug; review counts from its review list."""
    reviews: dict[tuple[str, str], int] = defaultdict(int)
    for r in gt["reviews"]:
        reviews[(r["site"], norm_name(r["product"]))] += 1
    out = []
    for p in gt["products"]:
        key = (p["site"], norm_name(p["name"]))
        out.append(
            TruthProduct(
                site=p["site"],
                name=p["name"],
                prices=[(float(p["price"]), str(p["currency"]).upper())]
                if p.get("price") is not None
                else [],
                price_kind="fixed" if p.get("price") is not None else None,
                rating=float(p["rating"]) if p.get("rating") is not None else None,
                review_count=reviews.get(key) or None,
            )
        )
    return merge_truth(out)


# -- scoring -------------------------------------------------------------------------------------
def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # NaN -> None


def price_matches(t: TruthProduct, row: dict[str, Any], kind_column: str | None) -> bool:
    """Whether a matrix row's price is the truth's (see the module docstring); for a product
    the truth gives no price, whether the row has no price either."""
    if t.unpriced:
        kind = str(row.get(kind_column) or "").lower() if kind_column else ""
        return _num(row.get("price")) is None and kind in UNPRICED_KINDS
    if t.price_kind not in (None, "fixed"):
        if kind_column is None:
            return False  # no price kind in the matrix: a miss, reported as such
        return str(row.get(kind_column) or "").lower() == t.price_kind.lower()
    amount = _num(row.get("price"))
    currency = str(row.get("currency") or "").upper()
    if amount is None:
        return False
    for a, c in t.prices:
        if c == currency and abs(amount - a) <= PRICE_TOLERANCE * abs(a) + 1e-9:
            return True
    return False


def _review_texts(row: dict[str, Any]) -> list[str] | None:
    raw = row.get("review_texts")
    if raw is None:
        return None
    texts = json.loads(raw) if isinstance(raw, str) else list(raw)
    return [norm_name(x)[:REVIEW_PREFIX] for x in texts]


def score_table(
    truth: Sequence[TruthProduct],
    rows: Sequence[dict[str, Any]],
    *,
    casefold: bool = False,
    kind_column: str | None = None,
) -> dict[str, Any]:
    """Score a final product table against the truth.

    Args:
        truth: distinct truth products (see :func:`merge_truth`).
        rows: the table's rows: ``site`` (already mapped to the truth's site key),
            ``product``, ``price``, ``currency``, ``rating``, ``reviews`` (and optionally a
            price-kind column and ``review_texts``).
        casefold: compare names case-insensitively (the side figure).
        kind_column: the table's price-kind column, None when it has none.

    Returns:
        ``products`` and ``product_price`` (P/R/F1 dicts), ``ratings``, ``reviews`` and
        ``unpriced_kept`` (``{"right": k, "of": n}``), ``ratings_invented`` (found products
        with a rating in the table where the truth has none), ``rows``, ``non_fixed_truth`` and
        ``missing`` / ``extra`` / ``price_misses`` / ``rating_misses`` / ``review_misses``
        lists (for reading, not scoring).
    """
    key_of: Callable[[Any], str] = ci_name if casefold else norm_name
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_key[(str(r.get("site") or ""), key_of(r.get("product")))].append(r)
    tkeys = {(t.site, key_of(t.name)): t for t in truth}
    found = [k for k in tkeys if k in by_key]
    products = prf_counts(len(found), len(by_key), len(tkeys))
    priced_tp = sum(
        1 for k in found if any(price_matches(tkeys[k], r, kind_column) for r in by_key[k])
    )
    rated = [k for k, t in tkeys.items() if t.rating is not None]
    ratings_ok = 0
    for k in rated:
        vals = [_num(r.get("rating")) for r in by_key.get(k, [])]
        target = tkeys[k].rating or 0.0
        ratings_ok += any(v is not None and abs(v - target) <= RATING_TOLERANCE for v in vals)
    reviewed = [k for k, t in tkeys.items() if t.review_count]
    reviews_ok = 0
    for k in reviewed:
        t = tkeys[k]
        for r in by_key.get(k, []):
            texts = _review_texts(r)
            if texts is not None:
                want = sorted(norm_name(x)[:REVIEW_PREFIX] for x in t.review_texts)
                ok = sorted(texts) == want
            else:
                ok = _num(r.get("reviews")) == t.review_count
            if ok:
                reviews_ok += 1
                break
    spurious = sum(
        1
        for k in found
        if tkeys[k].rating is None and any(_num(r.get("rating")) is not None for r in by_key[k])
    )
    unpriced = [k for k, t in tkeys.items() if t.unpriced]
    return {
        "products": products,
        "product_price": prf_counts(priced_tp, len(by_key), len(tkeys)),
        "ratings": {"right": ratings_ok, "of": len(rated)},
        "ratings_invented": spurious,
        "reviews": {"right": reviews_ok, "of": len(reviewed)},
        "unpriced_kept": {"right": sum(1 for k in unpriced if k in by_key), "of": len(unpriced)},
        "rows": len(rows),
        "non_fixed_truth": sum(
            1 for t in truth if not t.unpriced and t.price_kind not in (None, "fixed")
        ),
        "missing": sorted(tkeys[k].name for k in tkeys if k not in by_key),
        "rating_misses": sorted(
            f"{tkeys[k].name}: table {[r.get('rating') for r in by_key[k]]} truth {tkeys[k].rating}"
            for k in found
            if tkeys[k].rating is not None
            and not any(
                (v := _num(r.get("rating"))) is not None
                and abs(v - (tkeys[k].rating or 0.0)) <= RATING_TOLERANCE
                for r in by_key[k]
            )
        ),
        "review_misses": sorted(
            f"{tkeys[k].name}: table {[r.get('reviews') for r in by_key[k]]}"
            f" truth {tkeys[k].review_count}"
            for k in found
            if tkeys[k].review_count
            and not any(_num(r.get("reviews")) == tkeys[k].review_count for r in by_key[k])
        ),
        "price_misses": sorted(
            f"{tkeys[k].name}: table {[(r.get('price'), r.get('currency')) for r in by_key[k]]}"
            f" truth {tkeys[k].prices or tkeys[k].price_kind}"
            for k in found
            if not any(price_matches(tkeys[k], r, kind_column) for r in by_key[k])
        ),
        "extra": sorted({str(by_key[k][0].get("product")) for k in by_key if k not in tkeys}),
    }


def matrix_rows(matrix: Any, site_key: Callable[[str], str]) -> tuple[list[dict], str | None]:
    """The matrix as row dicts with ``site`` mapped to the truth's keys, and its kind column."""
    if matrix is None or len(matrix) == 0:
        return [], None
    kind_column = next((c for c in KIND_COLUMNS if c in matrix.columns), None)
    rows = matrix.to_dict("records")
    for r in rows:
        r["site"] = site_key(str(r.get("site") or ""))
    return rows, kind_column


# -- serving and running -------------------------------------------------------------------------
@dataclass
class JobRun:
    """What one materialisation of the market-research assets produced."""

    matrix: Any  # pandas DataFrame or None
    seconds: float
    success: bool
    failed_steps: list[str]
    failed_checks: list[str]
    error: str | None = None


def run_market_research(resources: dict[str, Any]) -> JobRun:
    """Materialise every market-research asset in-process over ``resources`` (one run over
    every site partition, as the job's schedule does) and read ``competitor_matrix`` back."""
    import dagster as dg

    from assets.market_research import all_sites_tags, register_sites, source_sites
    from assets.market_research.assets import market_research_assets

    t0 = time.perf_counter()
    failed_steps: list[str] = []
    failed_checks: list[str] = []
    success, error = False, None
    with dg.instance_for_test() as instance:
        try:
            sites = register_sites(instance, source_sites(resources["market_sources"]))
            result = dg.materialize(
                market_research_assets,
                resources=resources,
                instance=instance,
                run_config=QUIET,
                tags=all_sites_tags(sites),
                raise_on_error=False,
            )
            success = result.success
            failed_steps = sorted(result.get_failed_step_keys())
            from orchestration_project.operations.failures import root_error

            for ev in result.all_events:
                if ev.event_type == dg.DagsterEventType.STEP_FAILURE:
                    err = root_error(ev.step_failure_data.error)
                    print(f"  step {ev.step_key} failed: {err.cls_name}: {err.message[:400]}")
            failed_checks = sorted(
                c.check_name for c in result.get_asset_check_evaluations() if not c.passed
            )
        except Exception as exc:  # noqa: BLE001 — a broken site must not stop the benchmark
            error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
    seconds = time.perf_counter() - t0
    wh = resources["warehouse"]
    matrix = None
    if wh.table_exists("competitor_matrix", schema="market_research"):
        matrix = wh.read_table("competitor_matrix", schema="market_research")
    return JobRun(matrix, seconds, success, failed_steps, failed_checks, error)


def served_resources(data: Path, host: str, seed: str, topic: str) -> dict[str, Any]:
    """The local (production-shaped) resources, with the seed and allow-list of one site."""
    from resources.environment import local_resources
    from resources.fetching import BrowserFetcher, HttpFetcher
    from resources.sources import ConfiguredSources

    resources = local_resources(data=data)
    loopback = ["127.0.0.1"]
    resources["market_sources"] = ConfiguredSources(market_topic=topic, seeds=[seed])
    resources["http"] = HttpFetcher(allowed_domains=[host], allow_private_hosts=loopback)
    resources["browser"] = BrowserFetcher(allowed_domains=[host], allow_private_hosts=loopback)
    return resources


# -- evaluation sites ----------------------------------------------------------------------------
@dataclass
class EvalSite:
    """One evaluation site: how to serve it and its ground truth."""

    slug: str
    label: str  # SEEN or UNSEEN
    folder: Path | None  # the served folder; None for the demo world
    start_path: str = "/"
    truth_dir: Path | None = None
    site_bytes: int = 0


def _start_path(site: Path) -> str:
    if (site / "index.html").exists():
        return "/"
    pages = sorted(p.name for p in site.glob("*.html"))
    return "/" + pages[0] if pages else "/"


def discover_sites(bench: Path | None = None, realsites: Path | None = None) -> list[EvalSite]:
    """Every evaluation site available now: demo world, pricelist, each complete realsite
    (of ``realsites``, default ``benchmarks/realsites``)."""
    bench = bench or benchmarks_dir()
    realsites = realsites or REALSITES_DIR
    out = [EvalSite(DEMO_SLUG, SEEN, None)]
    pl = bench / "websites" / PRICELIST_SLUG
    if (pl / "site").is_dir():
        out.append(EvalSite(PRICELIST_SLUG, SEEN, pl / "site", "/prices1.html", pl))
    if realsites.is_dir():
        for d in sorted(realsites.iterdir()):
            if (d / "site").is_dir() and (d / "ground_truth" / "products.json").is_file():
                size = sum(f.stat().st_size for f in (d / "site").rglob("*") if f.is_file())
                out.append(EvalSite(d.name, UNSEEN, d / "site", _start_path(d / "site"), d, size))
    return out


@dataclass
class SiteResult:
    """The scores of one site."""

    slug: str
    label: str
    exact: dict[str, Any]
    casefold: dict[str, Any]
    seconds: float
    success: bool
    failed_steps: list[str]
    failed_checks: list[str]
    kind_column: str | None
    matrix_columns: list[str]
    error: str | None = None


def evaluate_site(site: EvalSite) -> SiteResult:
    """Serve ``site``, run the real assets on it and score the final table."""
    with tempfile.TemporaryDirectory(prefix=f"realsites_{site.slug}_") as d:
        data = Path(d)
        if site.folder is None:
            from orchestration_project.demo_world import start_demo_world
            from resources.environment import local_resources
            from tests.conftest import free_base_port

            base = free_base_port()
            world = start_demo_world("127.0.0.1", base, slow_seconds=6.0)
            try:
                run = run_market_research(local_resources(data=data, demo_base_port=base))
                truth = demo_truth(world.ground_truth())
                slugs = {url: slug for slug, url in world.sites.items()}
            finally:
                world.stop()

            def site_key(s: str) -> str:
                return slugs.get(s.rstrip("/"), s)
        else:
            assert site.truth_dir is not None
            if site.slug == PRICELIST_SLUG:
                truth = pricelist_truth(site.truth_dir)
            else:
                truth = realsite_truth(site.truth_dir)
            with serve_folder(site.folder) as host:
                seed = f"http://{host}{site.start_path}"
                run = run_market_research(served_resources(data, host, seed, SERVED_TOPIC))

            def site_key(s: str) -> str:
                return ""

    rows, kind_column = matrix_rows(run.matrix, site_key)
    cols = [str(c) for c in run.matrix.columns] if run.matrix is not None else []
    return SiteResult(
        slug=site.slug,
        label=site.label,
        exact=score_table(truth, rows, kind_column=kind_column),
        casefold=score_table(truth, rows, casefold=True, kind_column=kind_column),
        seconds=round(run.seconds, 1),
        success=run.success,
        failed_steps=run.failed_steps,
        failed_checks=run.failed_checks,
        kind_column=kind_column,
        matrix_columns=[c for c in cols if not c.startswith("feature:")],
        error=run.error,
    )


# -- output --------------------------------------------------------------------------------------
def _ratio(d: dict[str, int]) -> float | None:
    return d["right"] / d["of"] if d["of"] else None


def _frac(d: dict[str, int]) -> str:
    return f"{d['right']}/{d['of']}" if d["of"] else "n/a"


def medians(results: Sequence[SiteResult]) -> dict[str, float | None]:
    """Medians over sites of the F1s and of the defined ratios."""

    def med(values: Iterable[float | None]) -> float | None:
        vals = [v for v in values if v is not None]
        return round(statistics.median(vals), 4) if vals else None

    return {
        "products_f1": med(r.exact["products"]["f1"] for r in results),
        "products_f1_ci": med(r.casefold["products"]["f1"] for r in results),
        "product_price_f1": med(r.exact["product_price"]["f1"] for r in results),
        "product_price_f1_ci": med(r.casefold["product_price"]["f1"] for r in results),
        "ratings": med(_ratio(r.exact["ratings"]) for r in results),
        "reviews": med(_ratio(r.exact["reviews"]) for r in results),
        "unpriced_kept": med(_ratio(r.exact["unpriced_kept"]) for r in results),
        "seconds": med(r.seconds for r in results),
    }


LABELS = {
    "price_misses": "price miss",
    "rating_misses": "rating miss",
    "review_misses": "review miss",
}
HEADER = (
    f"{'site':<27} {'kind':<20} {'P':>5} {'R':>5} {'F1':>5} {'F1ci':>5} | "
    f"{'+price':>6} {'ci':>5} | {'ratings':>7} {'invent':>6} {'reviews':>7} {'unpriced':>8} | "
    f"{'rows':>4} {'truth':>5} {'sec':>6}"
)


def format_row(r: SiteResult) -> str:
    """One line of the per-site table."""
    e, c = r.exact, r.casefold
    p = e["products"]
    return (
        f"{r.slug:<27} {r.label:<20} {p['precision']:5.2f} {p['recall']:5.2f} {p['f1']:5.2f} "
        f"{c['products']['f1']:5.2f} | {e['product_price']['f1']:6.2f} "
        f"{c['product_price']['f1']:5.2f} | {_frac(e['ratings']):>7} {e['ratings_invented']:6d} "
        f"{_frac(e['reviews']):>7} "
        f"{_frac(e['unpriced_kept']):>8} | {e['rows']:4d} {p['truth']:5d} {r.seconds:6.1f}"
    )


def format_medians(name: str, m: dict[str, float | None]) -> str:
    """One line of medians."""

    def f(v: float | None, w: int) -> str:
        return f"{v:{w}.2f}" if v is not None else f"{'n/a':>{w}}"

    return (
        f"{name:<27} {'':<20} {'':>5} {'':>5} {f(m['products_f1'], 5)} "
        f"{f(m['products_f1_ci'], 5)} | {f(m['product_price_f1'], 6)} "
        f"{f(m['product_price_f1_ci'], 5)} | {f(m['ratings'], 7)} {'':>6} {f(m['reviews'], 7)} "
        f"{f(m['unpriced_kept'], 8)} | {'':>4} {'':>5} {f(m['seconds'], 6)}"
    )


def report(results: Sequence[SiteResult], *, details: bool = False) -> str:
    """The printed table, medians and notes."""
    lines = [
        "Final product table (competitor_matrix) per site. Names EXACT (NFC + whitespace); "
        "F1ci/ci = case-insensitive.",
        HEADER,
        "-" * len(HEADER),
    ]
    lines += [format_row(r) for r in results]
    lines.append("-" * len(HEADER))
    lines.append(format_medians("median (all sites)", medians(results)))
    for label in (SEEN, UNSEEN):
        group = [r for r in results if r.label == label]
        if group:
            lines.append(format_medians(f"median ({label})", medians(group)))
    notes = []
    for r in results:
        if r.error or not r.success or r.failed_checks:
            notes.append(
                f"{r.slug}: run success={r.success}; failed steps {r.failed_steps or '-'}; "
                f"failed checks {r.failed_checks or '-'}"
                + (f"; error {r.error}" if r.error else "")
            )
        nf = r.exact["non_fixed_truth"]
        if nf and r.kind_column is None:
            notes.append(
                f"{r.slug}: {nf} truth products have a non-fixed price kind and the matrix has "
                "no price-kind column: counted as price misses"
            )
        if details:
            notes.append(f"{r.slug}: matrix columns {r.matrix_columns}")
            notes.append(f"{r.slug}: missing (exact) {r.exact['missing']}")
            notes.append(f"{r.slug}: extra (exact) {r.exact['extra']}")
            for what, label in LABELS.items():
                for miss in r.exact[what]:
                    notes.append(f"{r.slug}: {label} {miss}")
    if any(r.exact["reviews"]["of"] for r in results):
        notes.append(
            "reviews: the matrix has a review COUNT column only (`reviews`, texts with a "
            "sentiment); texts cannot be compared from the final table"
        )
    if notes:
        lines.append("")
        lines += ["note: " + n for n in notes]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", action="append", default=[], help="slug (repeatable)")
    parser.add_argument(
        "--json", nargs="?", const="-", metavar="PATH", help="dump the results as JSON (to PATH)"
    )
    parser.add_argument("--details", action="store_true", help="print missed and extra names")
    parser.add_argument(
        "--realsites",
        type=Path,
        default=None,
        help="folder of saved sites (default benchmarks/realsites; e.g. a held-out set)",
    )
    args = parser.parse_args(argv)
    sites = discover_sites(realsites=args.realsites)
    if args.site:
        unknown = set(args.site) - {s.slug for s in sites}
        if unknown:
            raise SystemExit(f"unknown site(s) {sorted(unknown)}; have {[s.slug for s in sites]}")
        sites = [s for s in sites if s.slug in args.site]
    results = []
    for s in sites:
        print(f"running {s.slug} ({s.label}) ...", flush=True)
        results.append(evaluate_site(s))
        print("  " + format_row(results[-1]), flush=True)
    print()
    print(report(results, details=args.details))
    if args.json:
        payload = {
            "sites": [asdict(r) for r in results],
            "medians": medians(results),
            "medians_seen": medians([r for r in results if r.label == SEEN]),
            "medians_unseen": medians([r for r in results if r.label == UNSEEN]),
        }
        text = json.dumps(payload, indent=2, ensure_ascii=False, default=str)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
