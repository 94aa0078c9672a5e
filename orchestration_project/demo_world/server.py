"""HTTP serving of the demo world: one ``ThreadingHTTPServer`` per site, in daemon threads."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from orchestration_project.demo_world.common import HTML, SiteBundle, esc, oversized_chunks
from orchestration_project.demo_world.data import Site
from orchestration_project.demo_world.scenarios import Degradation, Ramp, decay_html
from orchestration_project.demo_world.storefront import Reply, Storefront

BREAK_KINDS = ("server_error", "slow", "console_error", "broken_link", "remove_buttons")
"""How ``DemoWorld.break_page`` can break one page on purpose (site QA tests)."""
BROKEN_LINK_PATH = "/store/delivery-information"  # answers 404: nothing is served there
_BUTTON = re.compile(r"<button\b.*?</button>", re.S | re.I)

# each site pretends to run on a different stack
SERVER_HEADERS = {
    "nestwell": "cloudflare",
    "klimacraft": "Apache/2.4.57 (Debian)",
    "heatherly": "Microsoft-IIS/10.0",
    "ambiently": "Vercel",
    "zephyr": "nginx/1.24.0",
    "outside": "nginx",
}


@dataclass
class SiteFaults:
    """Faults a site is currently suffering (changed at run time by ``DemoWorld.set_faults``).

    Attributes:
        delay_s: extra latency before every answer (slow pages).
        error_rate: share of requests answered ``503 Service Unavailable``.
        block_non_browsers: answer ``503`` to clients that do not look like a browser (bot
            protection): the plain-HTTP route fails while the browser route still works.
        degradation: a ``degrade`` scenario: latency and errors ramping up (``scenarios``).
        decay: a ``decay`` scenario: the share of prices and ratings the pages have lost.
        broken: pages broken on purpose, by path: ``(kind, seconds)`` with a kind of
            :data:`BREAK_KINDS` (``DemoWorld.break_page``).
    """

    delay_s: float = 0.0
    error_rate: float = 0.0
    block_non_browsers: bool = False
    degradation: Degradation | None = None
    decay: Ramp | None = None
    broken: dict[str, tuple[str, float]] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7), repr=False)

    def clear(self) -> None:
        """No faults."""
        self.delay_s, self.error_rate, self.block_non_browsers = 0.0, 0.0, False
        self.degradation, self.decay = None, None
        self.broken.clear()

    def current_delay_s(self) -> float:
        """The latency added to every answer now (fixed delay plus a degradation's ramp)."""
        d = self.degradation
        return self.delay_s + (d.delay_s() if d is not None else 0.0)

    def current_error_rate(self) -> float:
        """The share of answers that are ``503`` now (fixed rate plus a degradation's ramp)."""
        d = self.degradation
        return min(1.0, self.error_rate + (d.error_rate() if d is not None else 0.0))

    def page(self, path: str, body: bytes) -> bytes:
        """An HTML page as served now: decayed by the share a ``decay`` scenario reached."""
        if self.decay is None:
            return body
        share = self.decay.progress()
        return decay_html(body.decode("utf-8"), share, salt=path).encode("utf-8")

    def breakage(self, path: str, body: bytes) -> bytes:
        """An HTML page as a page broken on purpose serves it: with a script that throws
        (``console_error``), a link to a page that does not exist (``broken_link``) or without
        its buttons (``remove_buttons``); other pages unchanged."""
        kind = self.broken.get(path, ("", 0.0))[0]
        if kind == "console_error":
            script = (
                "<script>throw new Error('demo world: this page was broken on purpose');"
                "</script></body>"
            )
            return body.replace(b"</body>", script.encode(), 1)
        if kind == "broken_link":
            link = f'<p><a href="{BROKEN_LINK_PATH}">Delivery information</a></p></body>'
            return body.replace(b"</body>", link.encode(), 1)
        if kind == "remove_buttons":
            return _BUTTON.sub("", body.decode("utf-8")).encode("utf-8")
        return body


class DemoHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server whose port can be reused as soon as it is closed."""

    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


def _not_found_page(site_name: str, path: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>404 Not Found</title></head>"
        f"<body><h1>Page not found</h1><p>Sorry, {esc(path)} does not exist on {esc(site_name)}."
        "</p><p><a href='/'>Home</a></p></body></html>"
    ).encode()


def _slow_page(site_name: str) -> bytes:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Live availability</title></head>"
        f"<body><h1>Live stock availability</h1><p>All {esc(site_name)} products are in stock."
        "</p></body></html>"
    ).encode()


def make_handler(
    name: str,
    bundle: SiteBundle,
    stop_event: threading.Event,
    slow_seconds: float,
    oversized_bytes: int,
    site: Site | None,
    faults: SiteFaults | None = None,
    storefront: Storefront | None = None,
) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving ``bundle``.

    Besides the site's pages every site answers two fault endpoints, used by fault injection:
    ``/__fault/status/<code>`` (that HTTP status) and ``/__fault/slow?seconds=N`` (a page that
    takes N seconds). ``faults`` adds site-wide latency, errors or bot blocking, and pages
    broken on purpose. ``storefront`` serves the ``/store`` pages (GET and POST).
    """
    faults = faults or SiteFaults()
    pages = {p: html.encode("utf-8") for p, html in bundle.normal.items()}
    brand = site.brand if site else "this site"

    class Handler(BaseHTTPRequestHandler):
        server_version = SERVER_HEADERS.get(name, "nginx")
        sys_version = ""
        protocol_version = "HTTP/1.0"
        timeout = 30

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Stay quiet."""

        def _send(self, status: int, ctype: str, body: bytes, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _route(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path or "/"
            if path.startswith("/__fault/"):
                self._fault(path, parse_qs(parts.query))
                return
            delay, error_rate = faults.current_delay_s(), faults.current_error_rate()
            if delay and stop_event.wait(delay):
                return
            kind, seconds = faults.broken.get(path.rstrip("/") or "/", ("", 0.0))
            if kind == "slow" and stop_event.wait(seconds):
                return
            if kind == "server_error":
                self._send(500, HTML, b"<html><body><h1>Internal Server Error</h1></body></html>")
                return
            agent = self.headers.get("User-Agent", "")
            if (error_rate and faults.rng.random() < error_rate) or (
                faults.block_non_browsers and "Mozilla" not in agent
            ):
                self._send(503, HTML, b"<html><body>Service Unavailable</body></html>")
                return
            if path != "/" and path.endswith("/") and path.rstrip("/") in pages:
                path = path.rstrip("/")
            if storefront is not None and storefront.handles(path):
                query = parse_qs(parts.query)
                self._reply(path, storefront.get(path, query, self._cookies()))
            elif path in pages:
                self._send(200, HTML, faults.breakage(path, faults.page(path, pages[path])))
            elif path in bundle.static:
                ctype, body = bundle.static[path]
                extra = {}
                if ctype == "application/pdf":
                    fname = path.rsplit("/", 1)[-1]
                    extra["Content-Disposition"] = f'inline; filename="{fname}"'
                self._send(200, ctype, body, extra)
            elif path in bundle.redirects:
                self._send(
                    302,
                    HTML,
                    b"<html><body>Moved</body></html>",
                    {"Location": bundle.redirects[path]},
                )
            elif path in bundle.slow:
                if stop_event.wait(slow_seconds):
                    self._send(503, HTML, b"<html><body>Shutting down</body></html>")
                else:
                    self._send(200, HTML, _slow_page(brand))
            elif path in bundle.oversized and site is not None:
                self._stream_oversized(site)
            else:
                self._send(404, HTML, _not_found_page(brand, path))

        def _cookies(self) -> dict[str, str]:
            jar: dict[str, str] = {}
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name:
                    jar[name] = value
            return jar

        def _reply(self, path: str, reply: Reply) -> None:
            body = reply.body
            if reply.content_type == HTML and reply.status < 300:
                body = faults.breakage(path.rstrip("/") or "/", body)
            self._send(reply.status, reply.content_type, body, reply.headers)

        def _post(self) -> None:
            path = urlsplit(self.path).path or "/"
            if storefront is None or not storefront.handles(path):
                self._send(405, HTML, b"<html><body>Method Not Allowed</body></html>")
                return
            kind, seconds = faults.broken.get(path.rstrip("/"), ("", 0.0))
            if kind == "slow" and stop_event.wait(seconds):
                return
            if kind == "server_error":
                self._send(500, HTML, b"<html><body><h1>Internal Server Error</h1></body></html>")
                return
            length = min(int(self.headers.get("Content-Length") or 0), 100_000)
            raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            form = parse_qs(raw, keep_blank_values=True)
            self._reply(path, storefront.post(path, form, self._cookies()))

        def _fault(self, path: str, query: dict[str, list[str]]) -> None:
            if path.startswith("/__fault/status/"):
                code = path.rsplit("/", 1)[-1]
                status = int(code) if code.isdigit() and 200 <= int(code) < 600 else 500
                self._send(status, HTML, f"<html><body>Fault {status}</body></html>".encode())
            elif path == "/__fault/slow":
                try:
                    seconds = min(float(query.get("seconds", ["5"])[0]), 120.0)
                except ValueError:
                    seconds = 5.0
                if not stop_event.wait(seconds):
                    self._send(200, HTML, _slow_page(brand))
            else:
                self._send(404, HTML, _not_found_page(brand, path))

        def _stream_oversized(self, site: Site) -> None:
            self.send_response(200)
            self.send_header("Content-Type", HTML)
            self.send_header("Content-Length", str(oversized_bytes))
            self.end_headers()
            if self.command == "HEAD":
                return
            for chunk in oversized_chunks(site, oversized_bytes):
                if stop_event.is_set():
                    return
                self.wfile.write(chunk)

        def _guarded(self) -> None:
            try:
                self._route()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            """Serve a GET."""
            self._guarded()

        def do_HEAD(self) -> None:  # noqa: N802
            """Serve a HEAD (headers only)."""
            self._guarded()

        def do_POST(self) -> None:  # noqa: N802
            """Take a store form (other paths: 405)."""
            try:
                self._post()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
                self.close_connection = True

    return Handler


def start_server(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> DemoHTTPServer:
    """Bind ``host:port`` (0 = ephemeral) and serve forever in a daemon thread."""
    server = DemoHTTPServer((host, port), handler)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"demo-world-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    server._demo_thread = thread  # type: ignore[attr-defined]
    return server
