"""The final-table benchmark (``benchmarks/realsites_eval.py``): its arithmetic on small
synthetic tables, and a real run on the smallest realsite and on pricelist_testingground.

The figures themselves are being worked on; these tests assert behaviour, not targets.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "realsites_eval", REPO_ROOT / "benchmarks" / "realsites_eval.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("realsites_eval", mod)
    spec.loader.exec_module(mod)
    return mod


ev = _load()


def _truth() -> list[Any]:
    T = ev.TruthProduct
    return ev.merge_truth(
        [
            T("", "Acme Widget Pro 2000", [(100.0, "EUR")], "fixed", rating=4.5, review_count=2),
            T("", "Acme Widget", [(50.0, "EUR")], "fixed"),
            T("", "Acme Cloud Plan", [], "from"),
            T("", "Acme Gadget", [], None),
        ]
    )


def _perfect() -> list[dict[str, Any]]:
    return [
        {"site": "", "product": "Acme Widget Pro 2000", "price": 100.0, "currency": "EUR",
         "rating": 4.5, "reviews": 2},
        {"site": "", "product": "Acme Widget", "price": 50.0, "currency": "EUR"},
        {"site": "", "product": "Acme Cloud Plan", "price_kind": "from"},
        {"site": "", "product": "Acme Gadget"},
    ]  # fmt: skip


def test_a_perfect_table_scores_one() -> None:
    s = ev.score_table(_truth(), _perfect(), kind_column="price_kind")
    assert s["products"]["f1"] == 1.0
    assert s["product_price"]["f1"] == 1.0
    assert s["ratings"] == {"right": 1, "of": 1}
    assert s["reviews"] == {"right": 1, "of": 1}
    assert s["unpriced_kept"] == {"right": 1, "of": 1}
    assert s["ratings_invented"] == 0


def test_a_truncated_name_is_a_miss_and_an_extra() -> None:
    rows = _perfect()
    rows[0]["product"] = "Acme Widget Pro 20…"
    s = ev.score_table(_truth(), rows, kind_column="price_kind")
    assert s["products"]["tp"] == 3
    assert s["products"]["precision"] == 0.75 and s["products"]["recall"] == 0.75
    assert s["missing"] == ["Acme Widget Pro 2000"]
    assert s["extra"] == ["Acme Widget Pro 20…"]
    assert s["ratings"]["right"] == 0  # its rating is lost with it


def test_names_are_exact_up_to_nfc_and_whitespace_with_a_case_insensitive_side_figure() -> None:
    rows = _perfect()
    rows[0]["product"] = "  Acme   Widget\u00a0Pro 2000 "  # whitespace only: same name
    rows[1]["product"] = "ACME WIDGET"  # case: a miss in the headline, a hit case-insensitively
    exact = ev.score_table(_truth(), rows, kind_column="price_kind")
    ci = ev.score_table(_truth(), rows, kind_column="price_kind", casefold=True)
    assert exact["products"]["tp"] == 3
    assert ci["products"]["tp"] == 4
    decomposed = "Cafe\u0301"  # NFD "Café" equals NFC "Café"
    assert ev.norm_name(decomposed) == ev.norm_name("Caf\u00e9")


def test_prices_need_the_amount_within_half_a_percent_and_the_same_currency() -> None:
    t = ev.TruthProduct("", "X", [(100.0, "EUR")], "fixed")
    assert ev.price_matches(t, {"price": 100.4, "currency": "EUR"}, None)
    assert not ev.price_matches(t, {"price": 100.6, "currency": "EUR"}, None)
    assert not ev.price_matches(t, {"price": 100.0, "currency": "USD"}, None)
    assert not ev.price_matches(t, {"price": None, "currency": "EUR"}, None)
    several = ev.TruthProduct("", "X", [(385.72, "USD"), (419.9, "USD")], "fixed")
    assert ev.price_matches(several, {"price": 419.9, "currency": "USD"}, None)


def test_a_non_fixed_price_kind_is_a_price_miss_without_a_kind_column() -> None:
    rows = [r for r in _perfect() if "price_kind" not in r]
    rows.append({"site": "", "product": "Acme Cloud Plan", "price": 9.0, "currency": "EUR"})
    s = ev.score_table(_truth(), rows, kind_column=None)
    assert s["products"]["f1"] == 1.0
    # Two fixed prices and the unpriced product (no price on either side) match; the "from"
    # plan cannot be checked without a price-kind column.
    assert s["product_price"]["tp"] == 3
    assert s["non_fixed_truth"] == 1


def test_ratings_within_five_hundredths_and_invented_ratings_are_counted() -> None:
    rows = _perfect()
    rows[0]["rating"] = 4.56
    rows[1]["rating"] = 3.0  # the truth has none
    s = ev.score_table(_truth(), rows, kind_column="price_kind")
    assert s["ratings"]["right"] == 0
    assert s["ratings_invented"] == 1
    rows[0]["rating"] = 4.54
    assert ev.score_table(_truth(), rows, kind_column="price_kind")["ratings"]["right"] == 1


def test_a_price_invented_for_an_unpriced_product_is_a_price_miss() -> None:
    rows = _perfect()
    rows[3]["price"], rows[3]["currency"] = 10.0, "EUR"
    s = ev.score_table(_truth(), rows, kind_column="price_kind")
    assert s["product_price"]["tp"] == 3
    assert s["unpriced_kept"] == {"right": 1, "of": 1}


def test_an_empty_table_scores_zero_and_keeps_nothing() -> None:
    s = ev.score_table(_truth(), [])
    assert s["products"]["f1"] == 0.0 and s["product_price"]["f1"] == 0.0
    assert s["unpriced_kept"] == {"right": 0, "of": 1}


def test_the_pricelist_truth_is_its_distinct_products() -> None:
    sites = {s.slug: s for s in ev.discover_sites()}
    truth = ev.pricelist_truth(sites[ev.PRICELIST_SLUG].truth_dir)
    names = [t.name for t in truth]
    assert len(names) == len(set(names)) == 10
    acer = next(t for t in truth if t.name.startswith("Acer Aspire AS5750Z"))
    assert sorted(acer.prices) == [(385.72, "USD"), (419.9, "USD")]


def _smallest_realsite() -> Any:
    unseen = [s for s in ev.discover_sites() if s.label == ev.UNSEEN]
    assert unseen, "no benchmarks/realsites/<slug>/ with site/ and ground_truth/products.json"
    return min(unseen, key=lambda s: s.site_bytes)


@pytest.mark.browser
@pytest.mark.slow
def test_a_real_run_gives_a_row_per_site() -> None:
    sites = [s for s in ev.discover_sites() if s.slug == ev.PRICELIST_SLUG]
    sites.append(_smallest_realsite())
    results = [ev.evaluate_site(s) for s in sites]
    assert [r.slug for r in results] == [s.slug for s in sites]
    for r in results:
        assert r.error is None, r.error
        assert r.exact["products"]["truth"] > 0
        assert 0.0 <= r.exact["products"]["f1"] <= r.casefold["products"]["f1"] <= 1.0
        assert 0.0 <= r.exact["product_price"]["f1"] <= 1.0
        assert r.seconds > 0
        assert "product" in r.matrix_columns and "price" in r.matrix_columns
    text = ev.report(results)
    assert all(s.slug in text for s in sites)
    assert "median (seen while building)" in text and "median (unseen)" in text
