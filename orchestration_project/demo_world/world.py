"""Starting and stopping the demo world."""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from orchestration_project.demo_world.common import SiteBundle
from orchestration_project.demo_world.data import SITES
from orchestration_project.demo_world.outside import outside_routes
from orchestration_project.demo_world.server import DemoHTTPServer, make_handler, start_server
from orchestration_project.demo_world.sites import render_site
from orchestration_project.demo_world.truth import absolutize, load_ground_truth


class DemoWorld:
    """A running demo world: five competitor sites and one outside site on loopback."""

    def __init__(
        self,
        sites: dict[str, str],
        outside_url: str,
        servers: list[DemoHTTPServer],
        stop_event: threading.Event,
    ) -> None:
        """Use :func:`start_demo_world` rather than constructing this directly."""
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
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for server in self._servers:
            server._demo_thread.join(timeout=2)  # type: ignore[attr-defined]

    close = stop

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
        for i, site in enumerate(SITES):
            bundle = render_site(site, outside_url)
            handler = make_handler(
                site.slug, bundle, stop_event, slow_seconds, oversized_bytes, site
            )
            srv = start_server(host, port(i), handler)
            servers.insert(len(servers) - 1, srv)  # competitors first, outside last
            by_slug[site.slug] = f"http://{host}:{srv.server_address[1]}"
    except BaseException:
        stop_event.set()
        for srv in servers:
            srv.shutdown()
            srv.server_close()
        raise
    return DemoWorld(by_slug, outside_url, servers, stop_event)
