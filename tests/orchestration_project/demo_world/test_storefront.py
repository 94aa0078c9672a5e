"""The demo world's store (``/store`` on every site) over real HTTP: search, price comparison,
cart, checkout with server-side validation and an order number, the contact form, pages broken
on purpose — and none of it reachable from the sites' own pages, so crawls are unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from orchestration_project.demo_world import DemoWorld, start_demo_world
from orchestration_project.demo_world.data import SITES
from orchestration_project.demo_world.sites import render_all

ORDER = {
    "name": "Dana Rivers",
    "email": "dana@example.com",
    "address": "12 Alder Street",
    "city": "Portland",
    "country": "United States",
    "card": "4242-4242-4242-4242",
}


@pytest.fixture(scope="module")
def world() -> Iterator[DemoWorld]:
    w = start_demo_world(slow_seconds=2)
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture
def shop(world: DemoWorld) -> Iterator[httpx.Client]:
    """A browser-like client (cookies kept, redirects followed) on Nestwell's store."""
    world.clear_faults()
    with httpx.Client(base_url=world.sites["nestwell"], follow_redirects=True) as c:
        yield c
    world.clear_faults()


def test_the_store_is_linked_from_no_page_of_any_site() -> None:
    for slug, bundle in render_all().items():
        for path, html in bundle.normal.items():
            assert not re.search(r"""href=["']/store""", html), (slug, path)


def test_search_and_compare_show_the_sites_own_products_and_prices(shop: httpx.Client) -> None:
    page = shop.get("/store", params={"q": "aura"}).text
    assert "2 products match “aura”." in page
    assert page.count('aria-label="Add ') == 2
    compare = shop.get("/store/compare", params=[("p", "aura-thermostat"), ("p", "room-sensor")])
    assert "<td>$229.00</td>" in compare.text and "<td>$39.00</td>" in compare.text
    assert "Lowest price: <strong>Nestwell Room Sensor</strong>" in compare.text
    assert "Choose at least two" in shop.get("/store/compare?p=room-sensor").text


def test_every_site_prices_its_store_in_its_own_currency(world: DemoWorld) -> None:
    prices = {s.slug: world.storefronts[s.slug].price(1299.0) for s in SITES}
    assert prices["nestwell"] == "$1,299.00"
    assert prices["zephyr"] == "€1.299,00"
    assert prices["heatherly"] == "£1,299.00"


def test_checkout_validates_on_the_server_then_confirms_with_an_order_number(
    world: DemoWorld, shop: httpx.Client
) -> None:
    assert "Your cart is empty" in shop.get("/store/checkout").text
    cart = shop.post("/store/cart/add", data={"product": "room-sensor"})
    assert cart.url.path == "/store/cart" and "Cart (1)" in cart.text
    refused = shop.post("/store/checkout", data={**ORDER, "email": "dana", "card": "42"})
    assert refused.status_code == 200  # the form again, with what is wrong
    assert '<div role="alert"><h2>There is a problem</h2>' in refused.text
    assert "Enter a 16-digit card number" in refused.text
    assert 'id="email" name="email" type="email" value="dana" aria-invalid="true"' in refused.text
    done = shop.post("/store/checkout", data=ORDER)
    number = done.url.path.rsplit("/", 1)[-1]
    assert re.fullmatch(r"NE-\d{6}", number) and "Order confirmed" in done.text
    assert world.storefronts["nestwell"].orders[number]["items"] == {"room-sensor": 1}
    assert "Cart (0)" in done.text  # the cart cookie is cleared


def test_the_contact_form_refuses_an_empty_message_and_thanks_a_complete_one(
    world: DemoWorld, shop: httpx.Client
) -> None:
    empty = shop.post("/store/contact", data={})
    assert "Write a message of at least 10 characters" in empty.text
    sent = shop.post(
        "/store/contact",
        data={
            "name": "Dana",
            "email": "d@example.com",
            "topic": "Something else",
            "message": "Hi" * 6,
        },
    )
    assert sent.url.path == "/store/contact/thanks" and "Thank you for your message" in sent.text
    assert world.storefronts["nestwell"].messages[-1]["topic"] == "Something else"


def test_pages_broken_on_purpose_and_repaired(world: DemoWorld, shop: httpx.Client) -> None:
    world.break_page("nestwell", "/store/cart", "server_error")
    assert shop.get("/store/cart").status_code == 500
    assert shop.post("/store/cart/add", data={"product": "room-sensor"}).status_code == 500
    world.break_page("nestwell", "/products", "console_error")  # a page of the site itself
    assert "throw new Error" in shop.get("/products").text
    world.break_page("nestwell", "/store", "remove_buttons")
    assert "<button" not in shop.get("/store").text
    world.break_page("nestwell", "/store/contact", "broken_link")
    assert 'href="/store/delivery-information"' in shop.get("/store/contact").text
    assert shop.get("/store/delivery-information").status_code == 404
    with pytest.raises(ValueError, match="unknown kind"):
        world.break_page("nestwell", "/", "typo")

    world.fix_page("nestwell", "/store/cart")
    assert shop.get("/store/cart").status_code == 200
    world.clear_faults()
    assert "throw new Error" not in shop.get("/products").text
    assert "<button" in shop.get("/store").text
    assert shop.post("/products").status_code == 405  # only the store takes forms
