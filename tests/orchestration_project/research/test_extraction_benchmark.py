"""Regression floors of the extraction on the saved pricelist_testingground pages.

The figures are measured by ``benchmarks/extraction_eval.py`` (distinct (page, name, price)
tuples; see its docstring). Measured: precision 1.000, recall 1.000 for name+price and for price
alone on pricelist_testingground; 1.000/1.000 on the demo world for prices (22 products),
features, ratings and reviews. The floors sit slightly below, so a regression fails the test
without making it brittle.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BENCH = Path(
    os.environ.get("BENCHMARKS_DIR") or (REPO_ROOT / ".." / "shared" / "benchmarks")
).resolve()
PRICELIST = BENCH / "websites" / "pricelist_testingground"


def test_the_benchmark_data_is_there() -> None:
    # The shared benchmark folder sits beside the repository (CI has it too); set
    # BENCHMARKS_DIR when it lives elsewhere. Missing data is a failure, never a skip.
    assert (PRICELIST / "ground_truth" / "products.csv").exists(), f"no benchmark data in {BENCH}"


def _eval_module():
    spec = importlib.util.spec_from_file_location(
        "extraction_eval", REPO_ROOT / "benchmarks" / "extraction_eval.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pricelist_precision_and_recall_floors() -> None:
    res = _eval_module().evaluate_pricelist(BENCH)
    assert res["name_price"]["truth"] == 32
    assert res["name_price"]["precision"] >= 0.95, res["false_positives"]
    assert res["name_price"]["recall"] >= 0.95, res["misses"]
    assert res["price"]["precision"] >= 0.95
    assert res["price"]["recall"] >= 0.95


def test_pricelist_pages_are_server_rendered_and_ads_skipped() -> None:
    from orchestration_project.research.extraction import extract_page

    for path in sorted((PRICELIST / "site").glob("*.html")):
        page = extract_page(path.read_text(encoding="utf-8"), f"http://127.0.0.1:8000/{path.name}")
        assert not page.needs_javascript
        assert "ADVERTISEMENT" not in page.text
        assert all(f.method == "dom" for f in page.prices())


def test_amiibo_js_shells_need_javascript() -> None:
    from orchestration_project.research.extraction import needs_javascript

    pages = sorted((BENCH / "websites" / "amiibo_js" / "site" / "amiibo").glob("*.html"))[:20]
    assert len(pages) == 20
    assert all(needs_javascript(p.read_text(encoding="utf-8"))[0] for p in pages)


def test_demo_world_floors() -> None:
    """The bundled demo world over HTTP (no browser): measured P=R=1.000 for prices, features,
    ratings and reviews; every stale blog price loses to the current price."""
    res = _eval_module().evaluate_demo_world(render_js=False)
    assert res is not None
    assert res["overall"]["precision"] >= 0.95, res["false_positives"]
    assert res["overall"]["recall"] >= 0.95, res["misses"]
    for key in ("features", "ratings", "reviews"):
        assert res[key]["precision"] >= 0.9 and res[key]["recall"] >= 0.9, (key, res[key])
    done, total = res["stale_claims_resolved"].split("/")
    assert done == total
    assert len(res["js_pages"]) == len(res["js_truth"])
