"""The "outside" site: a review magazine competitor pages link to, but not part of the market."""

from __future__ import annotations

from orchestration_project.demo_world.common import HTML, TEXT

_PAGES = {
    "/": (
        "Climate Gadget Review",
        "<h1>Climate Gadget Review</h1><p>Independent reviews of home climate gadgets.</p>"
        '<p><a href="/guides/best-smart-thermostats">Best smart thermostats</a> · '
        '<a href="/deals">Deals</a></p>',
    ),
    "/guides/best-smart-thermostats": (
        "Best smart thermostats",
        "<h1>The best smart thermostats</h1><p>Our pick, the Acme Outside Thermostat, costs "
        "$99.00 and beats everything else.</p>",
    ),
    "/deals": (
        "Deals",
        "<h1>Deals</h1><p>Today only: Zephyr Breeze Thermostat for €149,00 at a partner "
        "store (not an official price).</p>",
    ),
}


def outside_routes() -> dict[str, tuple[str, bytes]]:
    """Static routes of the outside site."""
    routes: dict[str, tuple[str, bytes]] = {}
    for path, (title, body) in _PAGES.items():
        html = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body>{body}</body></html>"
        )
        routes[path] = (HTML, html.encode())
    routes["/robots.txt"] = (TEXT, b"User-agent: *\nDisallow:\n")
    return routes
