"""Accessibility-tree changes on real snapshot text (the Playwright MCP server's YAML of the
demo world's store): refs, counts, prices and order numbers are not changes; lost controls are."""

from __future__ import annotations

import httpx

from orchestration_project.site_qa.a11y import diff_snapshots, mask_volatile, normalise_snapshot
from tests.orchestration_project.site_qa.conftest import Qa

ORDER = {
    "name": "Dana Rivers",
    "email": "dana@example.com",
    "address": "12 Alder Street",
    "city": "Portland",
    "country": "United States",
    "card": "4242 4242 4242 4242",
}


def test_masking_replaces_every_number_and_collapses_white_space() -> None:
    assert mask_volatile("Total:  $1,299.00 for 2 items, order NE-000123") == (
        "Total: $# for # items, order NE-#"
    )


def test_refs_counts_and_totals_are_not_changes(healthy: Qa) -> None:
    base = healthy.world.sites["nestwell"]
    healthy.snapshot_of(f"{base}/store")
    healthy.click("button", "Add Nestwell Room Sensor to cart")
    one = healthy.snapshot_of(f"{base}/store/cart")
    healthy.snapshot_of(f"{base}/store")
    healthy.click("button", "Add Nestwell Room Sensor to cart")
    two = healthy.snapshot_of(f"{base}/store/cart")

    assert one != two  # other refs, "Cart (1)" / "Cart (2)", other quantities and totals
    assert "[ref=" in one and 'link "Cart (1)"' in one and 'link "Cart (2)"' in two
    lines = normalise_snapshot(one)
    assert lines == normalise_snapshot(two)
    assert not diff_snapshots(normalise_snapshot(one), normalise_snapshot(two)).changed
    assert '    link "Cart (#)"' in lines  # banner > navigation > link
    assert '  heading "Your cart" [level=1]' in lines  # main > heading
    assert not any("ref=" in x or "cursor" in x or "/url" in x for x in lines)


def test_two_order_confirmations_have_the_same_tree(healthy: Qa) -> None:
    base = healthy.world.sites["nestwell"]
    urls = []
    for _ in range(2):
        with httpx.Client(base_url=base, follow_redirects=True) as client:
            client.post("/store/cart/add", data={"product": "aura-thermostat"})
            urls.append(str(client.post("/store/checkout", data=ORDER).url))
    assert urls[0] != urls[1]  # two order numbers
    first, second = (healthy.snapshot_of(u) for u in urls)
    assert first != second
    assert normalise_snapshot(first) == normalise_snapshot(second)


def test_a_page_that_lost_its_buttons_shows_exactly_the_lost_controls(healthy: Qa) -> None:
    store = healthy.world.sites["nestwell"] + "/store"
    good = normalise_snapshot(healthy.snapshot_of(store))
    healthy.world.break_page("nestwell", "/store", "remove_buttons")
    broken = normalise_snapshot(healthy.snapshot_of(store))

    diff = diff_snapshots(good, broken)
    assert diff.added == []
    removed = [x.strip() for x in diff.removed]
    assert removed[0] == 'button "Search"' and removed[-1] == 'button "Compare prices"'
    assert sorted(removed[1:-1]) == sorted(
        f'button "Add {name} to cart"'
        for name in (
            "Nestwell Aura Thermostat",
            "Nestwell Aura Thermostat Lite",
            "Nestwell Room Sensor",
            "Nestwell Climate Hub Pro Kit",
            "Nestwell Premium Monitoring",
        )
    )
    assert diff.summary(max_lines=2) == (
        '+0 -7: - button "Search"; - button "Add Nestwell Aura Thermostat to cart"; … 5 more'
    )
