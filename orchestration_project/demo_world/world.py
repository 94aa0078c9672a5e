"""Starting and stopping the demo world."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from orchestration_project.demo_world.common import SiteBundle
from orchestration_project.demo_world.data import SITES
from orchestration_project.demo_world.outside import outside_routes
from orchestration_project.demo_world.scenarios import DECAY, DEGRADE, Degradation, Ramp
from orchestration_project.demo_world.server import (
    BREAK_KINDS,
    DemoHTTPServer,
    SiteFaults,
    make_handler,
    start_server,
)
from orchestration_project.demo_world.sites import render_site
from orchestration_project.demo_world.storefront import Storefront
from orchestration_project.demo_world.truth import absolutize, load_ground_truth


class DemoWorld:
    """A running demo world: five competitor sites and one outside site on loopback."""

    def __init__(
        self,
        sites: dict[str, str],
        outside_url: str,
        servers: list[DemoHTTPServer],
        stop_event: threading.Event,
        faults: dict[str, SiteFaults] | None = None,
        handlers: dict[str, Any] | None = None,
        storefronts: dict[str, Storefront] | None = None,
    ) -> None:
        """Use :func:`start_demo_world` rather than constructing this directly."""
        self.faults: dict[str, SiteFaults] = faults or {}
        self.storefronts: dict[str, Storefront] = storefronts or {}
        self._handlers: dict[str, Any] = handlers or {}
        self._down: dict[str, DemoHTTPServer] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()
        self.sites: dict[str, str] = sites
        self.outside_url: str = outside_url
        self.seed_urls: list[str] = [url + "/" for url in sites.values()]
        self.allowed_hosts: list[str] = [url.split("://", 1)[1] for url in sites.values()]
        self._servers = servers
        self._stop_event = stop_event
        self._stopped = False

    def stop(self) -> None:
        """Shut down and close every server; the ports are free again when this returns."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        for timer in list(self._timers.values()):
            timer.cancel()
        for server in self._servers:
            if server in self._down.values():
                continue
            server.shutdown()
            server.server_close()
        for server in self._servers:
            server._demo_thread.join(timeout=2)  # type: ignore[attr-defined]

    close = stop

    def set_faults(
        self,
        slug: str,
        *,
        delay_s: float = 0.0,
        error_rate: float = 0.0,
        block_non_browsers: bool = False,
    ) -> None:
        """Make site ``slug`` slow, flaky or hostile to non-browser clients (fault injection)."""
        f = self.faults[slug]
        f.clear()
        f.delay_s, f.error_rate, f.block_non_browsers = delay_s, error_rate, block_non_browsers

    def break_page(self, slug: str, path: str, kind: str, *, seconds: float = 5.0) -> None:
        """Break one page of site ``slug`` on purpose (site QA tests), until :meth:`fix_page`,
        :meth:`clear_faults` or ``set_faults``.

        Args:
            slug: the site.
            path: the page's path (``/store/cart``, ``/products``…).
            kind: ``server_error`` (HTTP 500, GET and POST), ``slow`` (``seconds`` late),
                ``console_error`` (a script that throws), ``broken_link`` (a link to a page
                that does not exist) or ``remove_buttons`` (the page loses its buttons).
            seconds: the delay of a ``slow`` page.
        """
        if kind not in BREAK_KINDS:
            raise ValueError(f"unknown kind {kind!r}: one of {', '.join(BREAK_KINDS)}")
        self.faults[slug].broken[path.rstrip("/") or "/"] = (kind, float(seconds))

    def fix_page(self, slug: str, path: str) -> None:
        """Undo :meth:`break_page` for that page."""
        self.faults[slug].broken.pop(path.rstrip("/") or "/", None)

    def clear_faults(self) -> None:
        """Remove every site fault and bring every site that was taken down back up."""
        for f in self.faults.values():
            f.clear()
        for timer in list(self._timers.values()):
            timer.cancel()
        self._timers.clear()
        for slug in list(self._down):
            self.bring_up(slug)

    def degrade(
        self,
        slug: str,
        *,
        ramp_s: float,
        peak_delay_s: float = 1.5,
        peak_error_rate: float = 0.4,
    ) -> None:
        """Scenario ``degrade``: site ``slug`` answers slower and fails more often, linearly
        over ``ramp_s`` seconds, then goes down (connections refused) until :meth:`bring_up`.

        Args:
            slug: the site.
            ramp_s: how long the degradation lasts before the site goes down.
            peak_delay_s: extra latency reached at the end of the ramp.
            peak_error_rate: share of ``503`` answers reached at the end of the ramp.
        """
        self.faults[slug].degradation = Degradation(
            Ramp(ramp_s), peak_delay_s=peak_delay_s, peak_error_rate=peak_error_rate
        )
        self._schedule(slug, ramp_s, lambda: self.take_down(slug))

    def decay(self, slug: str, *, ramp_s: float) -> None:
        """Scenario ``decay``: site ``slug``'s pages lose a growing share of their prices and
        ratings over ``ramp_s`` seconds (all of them at the end, until :meth:`clear_faults` or
        ``set_faults``)."""
        self.faults[slug].decay = Ramp(ramp_s)

    def scenario(self, what: str, slug: str, **params: float) -> None:
        """Switch a named scenario on site ``slug``: ``down``, ``up``, ``block_bots``,
        ``degrade`` (``ramp_s``, ``peak_delay_s``, ``peak_error_rate``), ``decay``
        (``ramp_s``) or ``clear``."""
        if what == "down":
            self.take_down(slug)
        elif what == "up":
            self.bring_up(slug)
        elif what == "block_bots":
            self.set_faults(slug, block_non_browsers=True)
        elif what == DEGRADE:
            self.degrade(slug, **params)
        elif what == DECAY:
            self.decay(slug, **params)
        elif what == "clear":
            self.set_faults(slug)
        else:
            raise ValueError(f"unknown scenario {what!r}")

    def _schedule(self, slug: str, after_s: float, action: Any) -> None:
        old = self._timers.pop(slug, None)
        if old is not None:
            old.cancel()
        timer = threading.Timer(after_s, action)
        timer.daemon = True
        self._timers[slug] = timer
        timer.start()

    def take_down(self, slug: str) -> None:
        """Site ``slug`` goes down: its port is closed, so connections are refused."""
        with self._lock:
            if slug in self._down:
                return
            port = int(self.sites[slug].rsplit(":", 1)[1])
            server = next(s for s in self._servers if s.server_address[1] == port)
            server.shutdown()
            server.server_close()
            self._down[slug] = server

    def bring_up(self, slug: str) -> None:
        """Site ``slug`` comes back on the same port, healthy (a ``degrade`` ramp ends)."""
        timer = self._timers.pop(slug, None)
        if timer is not None:
            timer.cancel()
        if slug in self.faults:
            self.faults[slug].degradation = None
        with self._lock:
            old = self._down.pop(slug, None)
            if old is None:
                return
            host, port = old.server_address[:2]
            new = start_server(str(host), int(port), self._handlers[slug])
            self._servers[self._servers.index(old)] = new

    def is_down(self, slug: str) -> bool:
        """Whether ``slug`` was taken down."""
        return slug in self._down

    def ground_truth(self) -> dict[str, Any]:
        """The ground truth with absolute URLs (``site_url``/``url``) for this instance."""
        return absolutize(load_ground_truth(), self.sites, self.outside_url)

    def __enter__(self) -> DemoWorld:
        """Context manager entry: the world is already running."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the world."""
        self.stop()

    def __repr__(self) -> str:
        """Short description."""
        return f"DemoWorld(sites={self.sites!r}, outside_url={self.outside_url!r})"


def start_demo_world(
    host: str = "127.0.0.1",
    base_port: int = 0,
    *,
    slow_seconds: float = 15.0,
    oversized_bytes: int = 6_000_000,
) -> DemoWorld:
    """Serve the five competitor sites and the outside site.

    Args:
        host: address to bind (loopback by default).
        base_port: 0 for ephemeral ports; otherwise competitor ``i`` listens on
            ``base_port + i`` and the outside site on ``base_port + 5``.
        slow_seconds: how long the slow page sleeps before answering.
        oversized_bytes: size of the oversized HTML page.

    Returns:
        The running world (also a context manager that stops it).
    """
    stop_event = threading.Event()
    servers: list[DemoHTTPServer] = []

    def port(i: int) -> int:
        return 0 if base_port == 0 else base_port + i

    try:
        outside = start_server(
            host,
            port(len(SITES)),
            make_handler(
                "outside",
                SiteBundle(normal={}, static=outside_routes()),
                stop_event,
                slow_seconds,
                oversized_bytes,
                None,
            ),
        )
        servers.append(outside)
        outside_url = f"http://{host}:{outside.server_address[1]}"
        by_slug: dict[str, str] = {}
        faults: dict[str, SiteFaults] = {}
        handlers: dict[str, Any] = {}
        storefronts: dict[str, Storefront] = {}
        for i, site in enumerate(SITES):
            bundle = render_site(site, outside_url)
            faults[site.slug] = SiteFaults()
            storefronts[site.slug] = Storefront(site)
            handler = make_handler(
                site.slug,
                bundle,
                stop_event,
                slow_seconds,
                oversized_bytes,
                site,
                faults[site.slug],
                storefronts[site.slug],
            )
            handlers[site.slug] = handler
            srv = start_server(host, port(i), handler)
            servers.insert(len(servers) - 1, srv)  # competitors first, outside last
            by_slug[site.slug] = f"http://{host}:{srv.server_address[1]}"
    except BaseException:
        stop_event.set()
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        raise
    return DemoWorld(by_slug, outside_url, servers, stop_event, faults, handlers, storefronts)
