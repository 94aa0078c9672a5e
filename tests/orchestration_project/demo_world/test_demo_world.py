"""Tests of the bundled demo world, over real HTTP on loopback."""

from __future__ import annotations

import html
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from orchestration_project.demo_world import (
    GROUND_TRUTH_PATH,
    DemoWorld,
    load_ground_truth,
    start_demo_world,
)
from orchestration_project.demo_world.truth import build_ground_truth, dumps_ground_truth

OVERSIZED = 300_000


@pytest.fixture(scope="module")
def world() -> Iterator[DemoWorld]:
    """One running world for the module."""
    w = start_demo_world(slow_seconds=2, oversized_bytes=OVERSIZED)
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """A plain HTTP client that does not follow redirects."""
    with httpx.Client(timeout=5.0, follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def gt(world: DemoWorld) -> dict:
    """Ground truth with absolute URLs."""
    return world.ground_truth()


def _hostile(gt: dict, kind: str) -> list[dict]:
    return [h for h in gt["hostile"] if h["kind"] == kind]


def test_committed_ground_truth_is_current() -> None:
    """ground_truth.json equals what the page data generates."""
    assert GROUND_TRUTH_PATH.read_text(encoding="utf-8") == dumps_ground_truth(build_ground_truth())
    assert load_ground_truth() == build_ground_truth()


def test_public_shape(world: DemoWorld, gt: dict) -> None:
    """Five sites, seeds, allow-list, outside site not allowed."""
    assert len(world.sites) == 5
    assert world.seed_urls == [u + "/" for u in world.sites.values()]
    assert len(set(world.allowed_hosts)) == 5
    assert world.outside_url.split("://")[1] not in world.allowed_hosts
    assert gt["market"] == "smart thermostats and home climate devices"
    assert {s["slug"] for s in gt["sites"]} == set(world.sites)
    assert all(s["url"] == world.sites[s["slug"]] + s["path"] for s in gt["sites"])
    assert {s["currency"] for s in gt["sites"]} >= {"USD", "EUR", "GBP"}
    assert all(p["site_url"] == world.sites[p["site"]] for p in gt["products"])
    for slug in world.sites:
        assert 3 <= sum(p["site"] == slug for p in gt["products"]) <= 5
    assert any(p["unit"] == "month" for p in gt["products"])
    sentiments = {r["sentiment"] for r in gt["reviews"]}
    assert sentiments == {"positive", "negative", "mixed"}


def test_all_pages_are_html(world: DemoWorld, gt: dict, client: httpx.Client) -> None:
    """Every normal page answers 200 text/html; at least 12 per site, 60 in all."""
    total = 0
    for slug, urls in gt["pages"].items():
        assert len(urls) >= 12, slug
        for url in urls:
            r = client.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-type"].startswith("text/html"), url
            total += 1
    assert total == gt["page_count"] >= 60


def test_product_pages(gt: dict, client: httpx.Client) -> None:
    """Each product page contains the exact product name; names are unique per site."""
    seen: set[tuple[str, str]] = set()
    for p in gt["products"]:
        assert (p["site"], p["name"]) not in seen
        seen.add((p["site"], p["name"]))
        r = client.get(p["url"])
        assert r.status_code == 200
        assert p["name"] in r.text
        assert p["url"] in gt["pages"][p["site"]]


def test_templates_differ(gt: dict, client: httpx.Client) -> None:
    """JSON-LD on some product pages, microdata on others, nothing structured on others."""
    kinds = {}
    for p in gt["products"]:
        html = client.get(p["url"]).text
        kinds.setdefault(p["site"], set()).add(
            "jsonld"
            if "application/ld+json" in html
            else "microdata"
            if "itemscope" in html
            else "none"
        )
    flat = set().union(*kinds.values())
    assert flat == {"jsonld", "microdata", "none"}
    assert kinds["heatherly"] == {"none"}


def test_reviews_and_aggregate_ratings(gt: dict, client: httpx.Client) -> None:
    """Every review is on its declared page; each site's first review page shows aggregates."""
    pages: dict[str, str] = {}
    for r in gt["reviews"]:
        if r["url"] not in pages:
            resp = client.get(r["url"])
            assert resp.status_code == 200 and r["url"] in gt["pages"][r["site"]]
            pages[r["url"]] = html.unescape(resp.text)
        text = pages[r["url"]]
        assert r["product"] in text and r["author"] in text, r
        assert 1 <= r["rating"] <= 5
    assert len({r["url"] for r in gt["reviews"] if r["site"] == "nestwell"}) == 2
    for s in gt["sites"]:
        first = min((r["url"] for r in gt["reviews"] if r["site"] == s["slug"]), key=len)
        text = pages[first]
        for p in gt["products"]:
            if p["site"] == s["slug"]:
                count = p["review_count"]
                assert str(count) in text or f"{count:,}" in text, (first, p["name"])
                rating = f"{p['rating']}"
                assert rating in text or rating.replace(".", ",") in text, (first, p["name"])


def test_site_images_resolve(gt: dict, client: httpx.Client) -> None:
    """Same-site images referenced by the pages exist; only external hosts fail offline."""
    checked = 0
    for urls in gt["pages"].values():
        for url in urls[:: max(1, len(urls) // 6)]:
            for src in re.findall(r'<img[^>]*\ssrc="(/[^"]*)"', client.get(url).text):
                r = client.get(url.split("/", 3)[0] + "//" + url.split("/", 3)[2] + src)
                assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
                checked += 1
    assert checked


def test_not_found(gt: dict, client: httpx.Client) -> None:
    """The dead link returns 404 and is linked from a normal page."""
    (h,) = _hostile(gt, "missing_page")
    assert client.get(h["url"]).status_code == 404
    linker = h["site_url"] + h["linked_from"]
    assert h["path"] in client.get(linker).text


def test_redirect_loop(gt: dict, client: httpx.Client) -> None:
    """/a -> /b -> /a with 302s, and a following client gives up."""
    (h,) = _hostile(gt, "redirect_loop")
    r = client.get(h["url"])
    assert r.status_code == 302 and r.headers["location"] == h["redirects_to"]
    r2 = client.get(h["site_url"] + h["redirects_to"])
    assert r2.status_code == 302 and r2.headers["location"] == h["path"]
    with (
        httpx.Client(follow_redirects=True, max_redirects=5, timeout=5) as c,
        pytest.raises(httpx.TooManyRedirects),
    ):
        c.get(h["url"])


def test_slow_page_times_out_without_blocking(gt: dict, client: httpx.Client) -> None:
    """A 0.5 s client gives up on the slow page; other pages answer meanwhile."""
    (h,) = _hostile(gt, "slow_page")
    t0 = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        httpx.get(h["url"], timeout=0.5)
    assert time.monotonic() - t0 < 1.5
    t1 = time.monotonic()
    assert client.get(h["site_url"] + "/").status_code == 200
    assert time.monotonic() - t1 < 0.5


def test_oversized(gt: dict) -> None:
    """The oversized page streams exactly oversized_bytes of HTML."""
    (h,) = _hostile(gt, "oversized_page")
    with httpx.stream("GET", h["url"], timeout=5) as r:
        assert r.status_code == 200
        assert int(r.headers["content-length"]) == OVERSIZED
        size = sum(len(chunk) for chunk in r.iter_bytes())
    assert size == OVERSIZED


def test_pdf(gt: dict, client: httpx.Client) -> None:
    """The brochures are small PDFs."""
    hs = _hostile(gt, "pdf_download")
    assert hs
    for h in hs:
        r = client.get(h["url"])
        assert r.headers["content-type"] == "application/pdf"
        assert r.content.startswith(b"%PDF") and 1000 < len(r.content) < 50_000


def test_injection_is_not_a_product(gt: dict, client: httpx.Client) -> None:
    """The injection page says what it says, and is not in the products nor the pages."""
    (h,) = _hostile(gt, "prompt_injection")
    text = client.get(h["url"]).text
    assert "Ignore all previous instructions" in text
    assert "Nestwell Thermo costs $1" in text
    assert "Nestwell Thermo" not in {p["name"] for p in gt["products"]}
    assert h["url"] not in gt["pages"][h["site"]]
    assert h["path"] in client.get(h["site_url"] + h["linked_from"]).text


def test_robots(gt: dict, client: httpx.Client) -> None:
    """robots.txt everywhere; the disallowed page is linked from a normal page."""
    for s in gt["sites"]:
        r = client.get(s["site_url"] + "/robots.txt")
        assert r.status_code == 200 and "User-agent: *" in r.text
    (h,) = _hostile(gt, "robots_disallowed")
    robots = client.get(h["site_url"] + "/robots.txt").text
    disallowed = re.findall(r"^Disallow: (\S+)", robots, re.M)
    assert any(h["path"].startswith(d) for d in disallowed)
    assert client.get(h["url"]).status_code == 200
    assert h["path"] in client.get(h["site_url"] + h["linked_from"]).text
    for urls in gt["pages"].values():
        for url in urls:
            assert not url.split("/", 3)[3].startswith("intern/")


def test_odd_links_present(gt: dict, client: httpx.Client) -> None:
    """Blocked schemes, the metadata address and outside links all appear on normal pages."""
    expected = {h["expected"] for h in gt["hostile"]}
    assert {
        "not_found",
        "redirect_loop",
        "timeout",
        "too_large",
        "non_html",
        "injection",
        "robots_disallowed",
        "blocked_scheme",
        "blocked_address",
        "outside_allow_list",
    } <= expected
    for h in gt["hostile"]:
        page = client.get(h["site_url"] + h["linked_from"])
        assert page.status_code == 200
        href = h["path"] if h["target"] == "site" else h["url"]
        assert '="' + html.escape(href, quote=True) + '"' in page.text, h
    schemes = {h["path"].split(":")[0] for h in gt["hostile"] if h["expected"] == "blocked_scheme"}
    assert schemes == {"mailto", "tel", "javascript", "file"}


def test_js_only(gt: dict, client: httpx.Client) -> None:
    """JS-rendered pricing hides prices from raw HTML; the JSON API has them."""
    kinds = {j["what"] for j in gt["js_only"]}
    assert kinds == {"prices", "links"}
    for j in gt["js_only"]:
        html = client.get(j["url"]).text
        assert "<script>" in html
        prods = [p for p in gt["products"] if p["site"] == j["site"]]
        if j["what"] == "prices":
            api = client.get(j["site_url"] + "/api/prices.json").text
            for p in prods:
                whole = f"{int(p['price'])}"
                assert f"{whole}." not in html and f"{whole}," not in html
                assert whole in api
        else:
            for p in prods:
                assert p["path"] not in html
    # on the JS-links site, no raw HTML page links to product pages
    links_site = next(j["site"] for j in gt["js_only"] if j["what"] == "links")
    prod_paths = [p["path"] for p in gt["products"] if p["site"] == links_site]
    for url in gt["pages"][links_site]:
        html = client.get(url).text
        for path in prod_paths:
            assert f'href="{path}"' not in html, (url, path)


def test_stale_claims(gt: dict, client: httpx.Client) -> None:
    """Each stale price appears in its blog post; the product page shows another price."""
    assert gt["stale_claims"]
    for c in gt["stale_claims"]:
        text = client.get(c["url"]).text
        assert c["product"] in text
        whole = str(int(c["stale_price"]))
        assert whole in text
        product = next(
            p for p in gt["products"] if p["site"] == c["site"] and p["name"] == c["product"]
        )
        assert product["price"] != c["stale_price"]
        assert str(int(product["price"])) in client.get(product["url"]).text


def test_outside_site(world: DemoWorld, client: httpx.Client) -> None:
    """The outside site serves pages too (it is simply not on the allow-list)."""
    assert client.get(world.outside_url + "/").status_code == 200


def test_module_serves_until_sigterm() -> None:
    """``python -m orchestration_project.demo_world`` prints the URLs and stops on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestration_project.demo_world", "--base-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        urls = [proc.stdout.readline().split(": ", 1)[1].split()[0] for _ in range(6)]
        assert httpx.get(urls[0], timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _can_bind(port: int) -> bool:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
        return True
    except OSError:
        return False
    finally:
        s.close()


def _free_base() -> int:
    for base in range(41_700, 60_000, 97):
        if all(_can_bind(base + i) for i in range(6)):
            return base
    raise RuntimeError("no six consecutive free ports")


def test_stop_frees_ports() -> None:
    """After stop() every port can be bound again; fixed base ports work too."""
    w = start_demo_world(slow_seconds=5, oversized_bytes=OVERSIZED)
    ports = [int(u.rsplit(":", 1)[1]) for u in [*w.sites.values(), w.outside_url]]
    assert len(set(ports)) == 6
    slow = next(h for h in w.ground_truth()["hostile"] if h["kind"] == "slow_page")
    with pytest.raises(httpx.TimeoutException):
        httpx.get(slow["url"], timeout=0.2)
    t0 = time.monotonic()
    w.stop()
    assert time.monotonic() - t0 < 3
    for port in ports:
        assert _can_bind(port), port
    base = _free_base()
    with start_demo_world(base_port=base) as w2:
        assert list(w2.sites.values())[0].endswith(f":{base}")
        assert w2.outside_url.endswith(f":{base + 5}")
        assert httpx.get(w2.seed_urls[0]).status_code == 200
    assert _can_bind(base)
