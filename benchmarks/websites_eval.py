"""The crawler and extraction on real saved websites they were not built for.

* ``pricelist_testingground``: products and prices precision/recall of the generic extraction
  (``benchmarks/extraction_eval.py`` does the scoring; no site-specific code anywhere).
* ``amiibo_js``: 939 pages whose content and links exist only after JavaScript. The site is
  served on loopback (every request to another host is refused by the URL policy) and crawled
  from ``/amiibo/`` by HTTP only and by the routed fetch; prints pages discovered, pages/s and
  the routes used.

    uv run python benchmarks/websites_eval.py [--max-pages 1000]

The data is read in place from ``$BENCHMARKS_DIR`` (default ``../shared/benchmarks``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from extraction_eval import benchmarks_dir, evaluate_pricelist, serve_folder  # noqa: E402

from orchestration_project.agents.coordination import CoordinationStore  # noqa: E402
from orchestration_project.agents.routing import ROUTE_HTTP, FixedRouter, RuleRouter  # noqa: E402
from orchestration_project.agents.runtime import ActionRecorder  # noqa: E402
from orchestration_project.research.crawler import crawled_pages, run_crawl  # noqa: E402
from resources.fetching import BrowserFetcher, HttpFetcher  # noqa: E402


def truth_urls() -> set[str]:
    """The record pages of amiibo_js, site-relative."""
    gt = benchmarks_dir() / "websites" / "amiibo_js" / "ground_truth" / "amiibo.csv"
    with open(gt, newline="", encoding="utf-8") as fh:
        return {row["url"] for row in csv.DictReader(fh)}


def crawl_amiibo(max_pages: int) -> dict[str, dict[str, float]]:
    site = benchmarks_dir() / "websites" / "amiibo_js" / "site"
    truth = truth_urls()
    out = {}
    with serve_folder(site) as host:
        http = HttpFetcher(
            allowed_domains=[host], allow_private_hosts=["127.0.0.1"], max_concurrency=8
        )
        browser = BrowserFetcher(
            allowed_domains=[host],
            allow_private_hosts=["127.0.0.1"],
            max_concurrency=6,
            settle_ms=300,
        )
        for name, router in [("http-only", FixedRouter(ROUTE_HTTP)), ("routed", RuleRouter())]:
            with tempfile.TemporaryDirectory() as d:
                store = CoordinationStore(f"sqlite:///{d}/c.db")
                t0 = time.perf_counter()
                run_crawl(
                    crawl_id=name,
                    seeds=[f"http://{host}/amiibo/"],
                    topic="amiibo",
                    store=store,
                    http=http,
                    browser=browser,
                    router=router,
                    recorder=ActionRecorder(),
                    max_pages=max_pages,
                    max_depth=10_000,
                    batch_size=24,
                )
                wall = time.perf_counter() - t0
                df = crawled_pages(store, name)
                ok = df[df["outcome"] == "ok"]
                found = {u.split(host, 1)[1] for u in ok["url"]}
                out[name] = {
                    "pages_ok": len(ok),
                    "record_pages": len(found & truth),
                    "seconds": wall,
                    "pages_per_s": len(ok) / wall,
                    "routes": ok["route"].value_counts().to_dict(),
                }
                print(f"  {name}: {len(ok)} pages in {wall:.1f} s", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-pages", type=int, default=1000)
    args = parser.parse_args()
    print("pricelist_testingground (generic extraction, no site-specific code):")
    pl = evaluate_pricelist()
    for key, m in pl.items():
        if isinstance(m, dict) and "precision" in m:
            print(
                f"  {key:<28} precision {m['precision']:.3f}  recall {m['recall']:.3f}  "
                f"(tp {m.get('tp')}, predicted {m.get('predicted')}, truth {m.get('truth')})"
            )
    print("amiibo_js (939 JavaScript-only pages; crawl from /amiibo/):", flush=True)
    res = crawl_amiibo(args.max_pages)
    for name, r in res.items():
        print(
            f"  {name:<10} pages discovered {r['pages_ok']:4d} "
            f"(ground-truth record pages {r['record_pages']}/939)"
            f"  {r['pages_per_s']:5.1f} pages/s  {r['seconds']:6.1f} s  routes {r['routes']}"
        )
    print("  ground truth: 939 record pages, all reachable from /amiibo/ (crawl_stats.json)")


if __name__ == "__main__":
    main()
