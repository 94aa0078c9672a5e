"""The store of a competitor site: product search, price comparison, a cart and checkout, and a
contact form, served under ``/store`` on every site of the demo world.

Small and server-rendered like the rest of the world: plain HTML forms, a cart kept in a cookie,
server-side validation (the form comes back, HTTP 200, with an error summary in
``role="alert"`` and ``aria-invalid`` fields), a thank-you page, and an order confirmation with
an order number. Site QA journeys
(``orchestration_project.site_qa``) drive it through a real browser.

The store is not linked from the sites' own pages, so market-research crawls never reach it and
the world's ground truth is unchanged.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from orchestration_project.demo_world.common import HTML, esc, money
from orchestration_project.demo_world.data import Product, Site

QA_JOURNEYS_PATH = Path(__file__).with_name("qa_journeys.yaml")
"""The site QA journeys of the demo world (find a product, compare prices, the contact form,
checkout): the format is ``orchestration_project.site_qa.journeys``."""
PREFIX = "/store"
CART_COOKIE = "store_cart"
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
COUNTRIES = ("United States", "Canada", "United Kingdom", "Germany", "France")
TOPICS = ("Product question", "Order or delivery", "Something else")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass
class Reply:
    """What the store answers: status, body and extra headers (a redirect, a cookie)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = HTML


def _see_other(location: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(
        303, b"<html><body>See other</body></html>", {"Location": location, **(headers or {})}
    )


class Storefront:
    """The ``/store`` pages of one site.

    Args:
        site: the competitor site whose products it sells.

    Attributes:
        orders: every order placed, by order number (customer, items, total).
        messages: every contact message received.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.orders: dict[str, dict[str, object]] = {}
        self.messages: list[dict[str, str]] = []
        self._seq = 0
        self._lock = threading.Lock()
        self._prefix = re.sub(r"[^A-Z]", "", site.brand.upper())[:2] or "OR"

    # -- dispatch -------------------------------------------------------------------------------

    @staticmethod
    def handles(path: str) -> bool:
        """Whether ``path`` is one of the store's pages."""
        return path == PREFIX or path.startswith(PREFIX + "/")

    def get(self, path: str, query: dict[str, list[str]], cookies: dict[str, str]) -> Reply:
        """Answer a GET (or HEAD) of a store page."""
        path = path.rstrip("/") or PREFIX
        cart = self._cart(cookies)
        if path == PREFIX:
            return self._shop(query.get("q", [""])[0], cart)
        if path == f"{PREFIX}/compare":
            return self._compare(query.get("p", []), cart)
        if path == f"{PREFIX}/cart":
            return self._cart_page(cart)
        if path == f"{PREFIX}/checkout":
            return self._checkout(cart, {}, {})
        if path.startswith(f"{PREFIX}/order/"):
            return self._order(path.rsplit("/", 1)[-1], cart)
        if path == f"{PREFIX}/contact":
            return self._contact(cart, {}, {})
        if path == f"{PREFIX}/contact/thanks":
            return self._thanks(cart)
        return self._page(404, "Page not found", "<h1>Page not found</h1>", cart)

    def post(self, path: str, form: dict[str, list[str]], cookies: dict[str, str]) -> Reply:
        """Answer a POST of a store form."""
        path = path.rstrip("/")
        cart = self._cart(cookies)
        one = {k: (v[0] if v else "").strip() for k, v in form.items()}
        if path == f"{PREFIX}/cart/add":
            product = self._product(one.get("product", ""))
            if product is None:
                return self._page(400, "Unknown product", "<h1>Unknown product</h1>", cart)
            cart[product.slug] = cart.get(product.slug, 0) + 1
            return _see_other(f"{PREFIX}/cart", {"Set-Cookie": self._cookie(cart)})
        if path == f"{PREFIX}/checkout":
            return self._place_order(cart, one)
        if path == f"{PREFIX}/contact":
            return self._send_message(cart, one)
        return self._page(405, "Method not allowed", "<h1>Method not allowed</h1>", cart)

    # -- the cart cookie -----------------------------------------------------------------------

    def _product(self, slug: str) -> Product | None:
        return next((p for p in self.site.products if p.slug == slug), None)

    def _cart(self, cookies: dict[str, str]) -> dict[str, int]:
        cart: dict[str, int] = {}
        for part in cookies.get(CART_COOKIE, "").split("."):
            slug, _, qty = part.partition("*")
            if self._product(slug) is not None and qty.isdigit() and 0 < int(qty) < 100:
                cart[slug] = int(qty)
        return cart

    @staticmethod
    def _cookie(cart: dict[str, int]) -> str:
        value = ".".join(f"{slug}*{qty}" for slug, qty in cart.items())
        return f"{CART_COOKIE}={value}; Path={PREFIX}; HttpOnly; SameSite=Lax"

    # -- pages -----------------------------------------------------------------------------------

    def price(self, amount: float, unit: str | None = None) -> str:
        """A price as the store shows it (``$229.00``, ``€229,00``, ``£9.00/mo``)."""
        sym = SYMBOLS.get(self.site.currency, self.site.currency + " ")
        text = (
            f"{sym}{money(amount, dec=',', thou='.')}"
            if self.site.currency == "EUR"
            else f"{sym}{money(amount)}"
        )
        return f"{text}/mo" if unit else text

    def _page(self, status: int, title: str, main: str, cart: dict[str, int]) -> Reply:
        brand = esc(self.site.brand)
        count = sum(cart.values())
        body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)} | {brand} store</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:auto}} .error{{color:#b00}}
label{{display:block;margin-top:.6em}}
.store-item{{border:1px solid #ddd;padding:.6em;margin:.4em 0}}
</style></head>
<body>
<header><a href="/">{brand}</a>
<nav aria-label="Store"><a href="{PREFIX}">Store</a> · <a href="{PREFIX}/cart">Cart ({count})</a>
 · <a href="{PREFIX}/contact">Contact us</a></nav></header>
<main>
{main}
</main>
<footer><p>{brand} store · prices include VAT where it applies</p></footer>
</body></html>
"""
        return Reply(status, body.encode("utf-8"))

    def _shop(self, q: str, cart: dict[str, int]) -> Reply:
        found = [p for p in self.site.products if q.casefold() in p.name.casefold()]
        items = "".join(
            f"""<li class="store-item"><h2>{esc(p.name)}</h2>
<p class="price">{self.price(p.price, p.unit)}</p><p>{esc(p.blurb)}</p>
<label><input type="checkbox" name="p" value="{esc(p.slug)}" form="compare-form">
 Compare {esc(p.name)}</label>
<form method="post" action="{PREFIX}/cart/add"><input type="hidden" name="product"
 value="{esc(p.slug)}"><button type="submit" aria-label="Add {esc(p.name)} to cart">Add to
 cart</button></form></li>"""
            for p in found
        )
        listing = (
            f'<ul class="store-list">{items}</ul>'
            if found
            else f"<p>No products match “{esc(q)}”.</p>"
        )
        said = f"<p>{len(found)} products match “{esc(q)}”.</p>" if q else ""
        main = f"""<h1>{esc(self.site.brand)} store</h1>
<form method="get" action="{PREFIX}" role="search"><label for="q">Search products</label>
<input id="q" name="q" type="search" value="{esc(q)}"><button type="submit">Search</button></form>
{said}{listing}
<form id="compare-form" method="get" action="{PREFIX}/compare">
<button type="submit">Compare prices</button></form>"""
        return self._page(200, "Store", main, cart)

    def _compare(self, slugs: list[str], cart: dict[str, int]) -> Reply:
        chosen = [p for p in (self._product(s) for s in dict.fromkeys(slugs)) if p is not None]
        if len(chosen) < 2:
            main = (
                '<h1>Compare prices</h1><div role="alert"><p>Choose at least two products to '
                f'compare.</p></div><p><a href="{PREFIX}">Back to the store</a></p>'
            )
            return self._page(200, "Compare prices", main, cart)
        rows = "".join(
            f"<tr><th scope='row'>{esc(p.name)}</th><td>{self.price(p.price, p.unit)}</td>"
            f"<td>{p.rating}/5</td></tr>"
            for p in chosen
        )
        cheapest = min(chosen, key=lambda p: p.price)
        main = f"""<h1>Compare prices</h1>
<table><caption>Price comparison</caption>
<thead><tr><th scope="col">Product</th><th scope="col">Price</th><th scope="col">Rating</th></tr>
</thead><tbody>{rows}</tbody></table>
<p>Lowest price: <strong>{esc(cheapest.name)}</strong></p>
<p><a href="{PREFIX}">Back to the store</a></p>"""
        return self._page(200, "Compare prices", main, cart)

    def _lines(self, cart: dict[str, int]) -> tuple[str, float]:
        rows, total = "", 0.0
        for slug, qty in cart.items():
            p = self._product(slug)
            if p is None:
                continue
            total += p.price * qty
            rows += (
                f"<tr><th scope='row'>{esc(p.name)}</th><td>{qty}</td>"
                f"<td>{self.price(p.price * qty)}</td></tr>"
            )
        table = (
            "<table><caption>Items</caption><thead><tr><th scope='col'>Product</th>"
            "<th scope='col'>Quantity</th><th scope='col'>Price</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p>Total: <strong>{self.price(total)}</strong></p>"
        )
        return table, total

    def _cart_page(self, cart: dict[str, int]) -> Reply:
        if not cart:
            main = f'<h1>Your cart</h1><p>Your cart is empty.</p><p><a href="{PREFIX}">Shop</a></p>'
            return self._page(200, "Your cart", main, cart)
        table, _ = self._lines(cart)
        main = f"""<h1>Your cart</h1>{table}
<p><a href="{PREFIX}/checkout">Checkout</a> · <a href="{PREFIX}">Continue shopping</a></p>"""
        return self._page(200, "Your cart", main, cart)

    @staticmethod
    def _field(
        key: str, label: str, values: dict[str, str], errors: dict[str, str], kind: str = "text"
    ) -> str:
        err = errors.get(key)
        described = f' aria-invalid="true" aria-describedby="{key}-error"' if err else ""
        msg = f'<p class="error" id="{key}-error">Error: {esc(err)}</p>' if err else ""
        value = esc(values.get(key, ""))
        if kind == "textarea":
            control = f'<textarea id="{key}" name="{key}" rows="4"{described}>{value}</textarea>'
        else:
            control = f'<input id="{key}" name="{key}" type="{kind}" value="{value}"{described}>'
        return f'<div><label for="{key}">{esc(label)}</label>{control}{msg}</div>'

    @staticmethod
    def _select(
        key: str, label: str, options: tuple[str, ...], values: dict[str, str], errors: dict
    ) -> str:
        err = errors.get(key)
        described = f' aria-invalid="true" aria-describedby="{key}-error"' if err else ""
        msg = f'<p class="error" id="{key}-error">Error: {esc(err)}</p>' if err else ""
        opts = '<option value="">Choose…</option>' + "".join(
            f"<option{' selected' if values.get(key) == o else ''}>{esc(o)}</option>"
            for o in options
        )
        return (
            f'<div><label for="{key}">{esc(label)}</label>'
            f'<select id="{key}" name="{key}"{described}>{opts}</select>{msg}</div>'
        )

    @staticmethod
    def _summary(errors: dict[str, str]) -> str:
        if not errors:
            return ""
        items = "".join(f"<li>{esc(m)}</li>" for m in errors.values())
        return f'<div role="alert"><h2>There is a problem</h2><ul>{items}</ul></div>'

    def _checkout(self, cart: dict[str, int], values: dict[str, str], errors: dict) -> Reply:
        if not cart:
            main = (
                "<h1>Checkout</h1><p>Your cart is empty.</p>"
                f'<p><a href="{PREFIX}">Back to the store</a></p>'
            )
            return self._page(200, "Checkout", main, cart)
        table, _ = self._lines(cart)
        f = self._field
        main = f"""<h1>Checkout</h1>{self._summary(errors)}{table}
<form method="post" action="{PREFIX}/checkout" novalidate>
{f("name", "Full name", values, errors)}
{f("email", "Email", values, errors, "email")}
{f("address", "Street address", values, errors)}
{f("city", "City", values, errors)}
{self._select("country", "Country", COUNTRIES, values, errors)}
{f("card", "Card number", values, errors)}
<button type="submit">Place order</button>
</form>"""
        return self._page(200, "Checkout", main, cart)

    def _place_order(self, cart: dict[str, int], form: dict[str, str]) -> Reply:
        if not cart:
            return _see_other(f"{PREFIX}/cart")
        errors: dict[str, str] = {}
        for key, label in (
            ("name", "Enter your full name"),
            ("address", "Enter your street address"),
            ("city", "Enter your city"),
        ):
            if not form.get(key):
                errors[key] = label
        if not _EMAIL.match(form.get("email", "")):
            errors["email"] = "Enter an email address like name@example.com"
        if form.get("country") not in COUNTRIES:
            errors["country"] = "Choose your country"
        digits = re.sub(r"[\s-]", "", form.get("card", ""))
        if not (digits.isdigit() and len(digits) == 16):
            errors["card"] = "Enter a 16-digit card number"
        if errors:
            return self._checkout(cart, form, errors)
        _, total = self._lines(cart)
        with self._lock:
            self._seq += 1
            number = f"{self._prefix}-{self._seq:06d}"
            self.orders[number] = {
                "name": form["name"],
                "email": form["email"],
                "items": dict(cart),
                "total": round(total, 2),
            }
        return _see_other(
            f"{PREFIX}/order/{quote(number)}",
            {"Set-Cookie": f"{CART_COOKIE}=; Path={PREFIX}; Max-Age=0"},
        )

    def _order(self, number: str, cart: dict[str, int]) -> Reply:
        order = self.orders.get(number)
        if order is None:
            return self._page(404, "Order not found", "<h1>Order not found</h1>", cart)
        main = f"""<h1>Order confirmed</h1>
<p>Thank you, {esc(order["name"])}. Your order number is <strong>{esc(number)}</strong>.</p>
<p>Total charged: {self.price(float(order["total"]))}</p>
<p>A confirmation was sent to {esc(order["email"])}.</p>
<p><a href="{PREFIX}">Back to the store</a></p>"""
        return self._page(200, "Order confirmed", main, cart)

    def _contact(self, cart: dict[str, int], values: dict[str, str], errors: dict) -> Reply:
        f = self._field
        main = f"""<h1>Contact us</h1>{self._summary(errors)}
<form method="post" action="{PREFIX}/contact" novalidate>
{f("name", "Your name", values, errors)}
{f("email", "Email", values, errors, "email")}
{self._select("topic", "Topic", TOPICS, values, errors)}
{f("message", "Message", values, errors, "textarea")}
<button type="submit">Send message</button>
</form>"""
        return self._page(200, "Contact us", main, cart)

    def _send_message(self, cart: dict[str, int], form: dict[str, str]) -> Reply:
        errors: dict[str, str] = {}
        if not form.get("name"):
            errors["name"] = "Enter your name"
        if not _EMAIL.match(form.get("email", "")):
            errors["email"] = "Enter an email address like name@example.com"
        if form.get("topic") not in TOPICS:
            errors["topic"] = "Choose a topic"
        if len(form.get("message", "")) < 10:
            errors["message"] = "Write a message of at least 10 characters"
        if errors:
            return self._contact(cart, form, errors)
        with self._lock:
            self.messages.append(
                {k: form.get(k, "") for k in ("name", "email", "topic", "message")}
            )
            ref = len(self.messages)
        return _see_other(f"{PREFIX}/contact/thanks?{urlencode({'ref': ref})}")

    def _thanks(self, cart: dict[str, int]) -> Reply:
        main = f"""<h1>Thank you for your message</h1>
<p>We answer within one working day.</p><p><a href="{PREFIX}">Back to the store</a></p>"""
        return self._page(200, "Thank you", main, cart)
