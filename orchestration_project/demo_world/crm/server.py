"""Serving the CRM over HTTP on loopback, and the handle a test or the demo holds.

The server is the demo world's ``ThreadingHTTPServer`` (one thread per request, so several
browser contexts work in parallel) with a handler that reads the request, asks
:class:`~orchestration_project.demo_world.crm.app.CrmApp` and writes its answer.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestration_project.demo_world.common import HTML
from orchestration_project.demo_world.crm import pages
from orchestration_project.demo_world.crm.app import CrmApp, CrmFaults, Request
from orchestration_project.demo_world.crm.catalogue import DEFAULT_MAX_UPLOAD_BYTES
from orchestration_project.demo_world.crm.store import CrmStore
from orchestration_project.demo_world.server import DemoHTTPServer, start_server

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "ledgerly-demo"
BODY_SLACK_BYTES = 1_000_000  # form fields and multipart framing on top of the contract
DRAIN_LIMIT_BYTES = 64_000_000  # an oversized body is read (and dropped) up to this, then cut


def make_crm_handler(app: CrmApp) -> type[BaseHTTPRequestHandler]:
    """A request handler class that serves ``app``."""
    max_body = app.max_upload_bytes + BODY_SLACK_BYTES

    class CrmHandler(BaseHTTPRequestHandler):
        server_version = "nginx/1.24.0"
        sys_version = ""
        protocol_version = "HTTP/1.0"
        timeout = 30

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Stay quiet."""

        def _send(self, status: int, ctype: str, body: bytes, headers: list[tuple[str, str]]):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _too_large(self, length: int) -> None:
            left = length
            while left > 0 and length <= DRAIN_LIMIT_BYTES:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
            page = pages.message_page(
                app.theme,
                "File too large",
                "The request is too large. Choose a smaller file and try again.",
            )
            self.close_connection = True
            self._send(413, HTML, page.encode("utf-8"), [("Connection", "close")])

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if length > max_body:
                self._too_large(length)
                return
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                resp = app.handle(Request(self.command, self.path, headers, body))
            except Exception:  # a bug answers 500, like any web app, and the server lives on
                page = pages.message_page(
                    app.theme, "Something went wrong", "An unexpected error occurred."
                )
                self._send(500, HTML, page.encode("utf-8"), [])
                return
            if resp.drop:  # the work is done, the answer never comes
                self.close_connection = True
                return
            self._send(resp.status, resp.content_type, resp.body, resp.headers)

        def _guarded(self) -> None:
            try:
                self._serve()
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802
            """Serve a GET."""
            self._guarded()

        def do_POST(self) -> None:  # noqa: N802
            """Serve a POST."""
            self._guarded()

    return CrmHandler


class CrmServer:
    """A running CRM: its URL, credentials and database, and the switches of its faults.

    Attributes:
        url: ``http://host:port`` (no trailing slash).
        db_path: the SQLite file.
        username, password: the admin sign-in.
        api_token: the bearer token of ``/api`` and ``/__admin``.
        app: the application (its ``store`` reads the database directly).
    """

    def __init__(
        self,
        app: CrmApp,
        server: DemoHTTPServer,
        stop_event: threading.Event,
        handler: type[BaseHTTPRequestHandler],
        *,
        username: str,
        password: str,
        temp_dir: Path | None = None,
    ) -> None:
        """Use :func:`start_crm` rather than constructing this directly."""
        self.app = app
        self._server: DemoHTTPServer | None = server
        self._handler_class = handler  # for bring_up
        self._stop_event = stop_event
        self._temp_dir = temp_dir
        self._lock = threading.Lock()
        host, port = server.server_address[:2]
        self.host, self.port = str(host), int(port)
        self.url = f"http://{self.host}:{self.port}"
        self.db_path = app.store.path
        self.username, self.password = username, password
        self.api_token = app.api_token

    # -- faults -------------------------------------------------------------------------------

    @property
    def faults(self) -> CrmFaults:
        """The faults in force."""
        return self.app.faults

    def set_faults(self, **options: Any) -> CrmFaults:
        """Replace the faults (options not given return to their defaults); see
        :class:`~orchestration_project.demo_world.crm.app.CrmFaults` for the options."""
        return self.app.set_faults(**options)

    def clear_faults(self) -> None:
        """No faults, and the CRM up again if it was taken down."""
        self.app.set_faults()
        self.bring_up()

    def expire_sessions(self) -> int:
        """Expire every signed-in session now ("the login expired"); returns how many."""
        return self.app.store.expire_sessions()

    def take_down(self) -> None:
        """The CRM goes down: its port is closed, connections are refused. Data is kept."""
        with self._lock:
            if self._server is None:
                return
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bring_up(self) -> None:
        """The CRM comes back on the same port, with the same database."""
        with self._lock:
            if self._server is not None or self._stop_event.is_set():
                return
            self._server = start_server(self.host, self.port, self._handler_class)

    @property
    def is_down(self) -> bool:
        """Whether the CRM was taken down (or stopped)."""
        return self._server is None

    # -- reading the database ----------------------------------------------------------------

    def account(
        self, *, external_ref: str | None = None, email: str | None = None
    ) -> dict[str, Any] | None:
        """The account with this external reference or e-mail address, read from the CRM's
        database (what ``GET /api/accounts?…`` answers), or None."""
        return self.app.store.account(external_ref=external_ref, email=email)

    def count_accounts(self, *, external_ref: str | None = None) -> int:
        """How many accounts the database holds (with ``external_ref``, if given)."""
        return self.app.store.count_accounts(external_ref=external_ref)

    # -- life cycle ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving (waits end early); the port is free when this returns. A temporary
        database (no ``db_path`` given) is deleted."""
        self._stop_event.set()
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server._demo_thread.join(timeout=2)  # type: ignore[attr-defined]
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    close = stop

    def __enter__(self) -> CrmServer:
        """Context manager entry: the CRM is already running."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the CRM."""
        self.stop()

    def __repr__(self) -> str:
        """Short description."""
        return f"CrmServer(url={self.url!r}, db_path={str(self.db_path)!r})"


def start_crm(
    host: str = "127.0.0.1",
    port: int = 0,
    db_path: str | Path | None = None,
    *,
    username: str = DEFAULT_USERNAME,
    password: str = DEFAULT_PASSWORD,
    api_token: str | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    seed_demo_accounts: bool = True,
    **faults: Any,
) -> CrmServer:
    """Serve the CRM on ``host:port`` over the SQLite database ``db_path``.

    Args:
        host: address to bind (loopback by default).
        port: 0 for an ephemeral port.
        db_path: the database file (created if missing, kept otherwise); None for a temporary
            one deleted by ``stop()``.
        username: the admin sign-in.
        password: its password.
        api_token: the bearer token of the JSON API and admin routes; random if None.
        max_upload_bytes: the largest contract PDF accepted.
        seed_demo_accounts: start with a few existing customers (``catalogue.SEEDED_ACCOUNTS``).
        **faults: initial faults, the fields of
            :class:`~orchestration_project.demo_world.crm.app.CrmFaults` (``error_rate``,
            ``seed``, ``delay_s``, ``session_max_requests``, ``session_ttl_s``, ``redesign``,
            ``submit_delay_s``, ``lost_confirmation_rate``).

    Returns:
        The running CRM (also a context manager that stops it).

    Raises:
        TypeError: an unknown fault option. OSError: the port cannot be bound.
    """
    temp_dir = None
    if db_path is None:
        temp_dir = Path(tempfile.mkdtemp(prefix="crm-"))
        db_path = temp_dir / "crm.sqlite"
    stop_event = threading.Event()
    store = CrmStore(
        db_path, username=username, password=password, seed_demo_accounts=seed_demo_accounts
    )
    app = CrmApp(
        store,
        api_token=api_token or secrets.token_urlsafe(24),
        faults=CrmFaults(**faults),
        max_upload_bytes=max_upload_bytes,
        stop_event=stop_event,
    )
    handler = make_crm_handler(app)
    try:
        server = start_server(host, port, handler)
    except BaseException:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return CrmServer(
        app, server, stop_event, handler, username=username, password=password, temp_dir=temp_dir
    )
