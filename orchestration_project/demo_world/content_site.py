"""The company's own content site, in the demo world: it receives published content (a
webhook), serves each experiment's variants to visitors (GrowthBook-compatible deterministic
assignment), and records exposures and clicks on the call to action. SIMULATION: the visitors
are :func:`simulate_visitors`, with a known true click rate per strategy
(:data:`TRUE_CLICK_RATE`), so an experiment's analysis can be checked against the truth.

State (published variants, events) lives in a SQLite file, so every process that serves the
site (one per Dagster step under the multiprocess executor) sees the same content and events.

Routes::

    POST /publish                      JSON item → {"url": ...} (a webhook, as a CMS would take)
    GET  /c/<experiment>?uid=U         the variant U is assigned to (exposure recorded)
    GET  /c/<experiment>/click?uid=U   the call to action (conversion recorded)
    GET  /c/<experiment>/unsubscribe?uid=U   an unsubscribe (the guardrail metric)
    GET  /p/<experiment>               the default variant (the promoted strategy's), no tracking
    GET  /api/events?experiment=E      exposures and clicks as JSON
    GET  /healthz
"""

from __future__ import annotations

import html
import json
import random
import sqlite3
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ml.experiments.assignment import assign
from orchestration_project.common.net import port_open
from orchestration_project.demo_world.server import DemoHTTPServer, start_server

TRUE_CLICK_RATE = {"templated": 0.05, "market_facts": 0.07, "llm": 0.06}
"""SIMULATION: the true click-through rate of a visitor shown each strategy's content."""
TRUE_UNSUBSCRIBE_RATE = {"templated": 0.01, "market_facts": 0.01, "llm": 0.01}
"""SIMULATION: the true unsubscribe rate per strategy (the guardrail; no strategy harms it)."""
MAX_BODY = 1_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS variants (
  experiment TEXT NOT NULL, variant TEXT NOT NULL, strategy TEXT NOT NULL,
  title TEXT, body_html TEXT, published_at TEXT NOT NULL, is_default INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (experiment, variant));
CREATE TABLE IF NOT EXISTS events (
  experiment TEXT NOT NULL, uid TEXT NOT NULL, variant TEXT NOT NULL, kind TEXT NOT NULL,
  at TEXT NOT NULL, UNIQUE (experiment, uid, kind));
"""


class ContentStore:
    """The site's SQLite state (one connection per call: threads and processes share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; WAL, so readers never wait for writers)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def publish(self, item: dict[str, Any]) -> None:
        """Store (or replace) one variant of an experiment."""
        c = self._conn()
        c.execute(
            "INSERT OR REPLACE INTO variants VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                item["experiment"],
                item["variant"],
                item["strategy"],
                item.get("title", ""),
                item.get("html", ""),
                datetime.now(UTC).isoformat(),
                int(bool(item.get("default"))),
            ),
        )

    def default(self, experiment: str) -> tuple[str, str, str, str] | None:
        """The variant everyone outside the experiment sees (the promoted strategy's)."""
        c = self._conn()
        return c.execute(
            "SELECT variant, strategy, title, body_html FROM variants WHERE experiment = ? "
            "ORDER BY is_default DESC, variant LIMIT 1",
            (experiment,),
        ).fetchone()

    def variants(self, experiment: str) -> list[tuple[str, str, str, str]]:
        """``(variant, strategy, title, html)`` in variant order (the control first)."""
        c = self._conn()
        return c.execute(
            "SELECT variant, strategy, title, body_html FROM variants WHERE experiment = ? "
            "ORDER BY variant",
            (experiment,),
        ).fetchall()

    def record(self, experiment: str, uid: str, variant: str, kind: str) -> None:
        """An exposure or a click; a unit's repeat of the same kind counts once."""
        c = self._conn()
        c.execute(
            "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
            (experiment, uid, variant, kind, datetime.now(UTC).isoformat()),
        )

    def events(self, experiment: str) -> list[dict[str, Any]]:
        """Every event of ``experiment``."""
        c = self._conn()
        rows = c.execute(
            "SELECT uid, variant, kind, at FROM events WHERE experiment = ? ORDER BY at",
            (experiment,),
        ).fetchall()
        return [{"uid": u, "variant": v, "kind": k, "at": a} for u, v, k, a in rows]


def _page(variant: str, strategy: str, title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><title>{html.escape(title)}</title>"
        f'<meta name="variant" content="{html.escape(variant)}">'
        f'<meta name="strategy" content="{html.escape(strategy)}"></head>'
        f"<body>{body}</body></html>"
    ).encode()


def _handler(store: ContentStore) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "content-site"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj).encode())

        def do_POST(self) -> None:  # noqa: N802
            if urlsplit(self.path).path != "/publish":
                return self._json(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self._json(413, {"error": f"body over {MAX_BODY} bytes"})
            try:
                item = json.loads(self.rfile.read(length) or b"{}")
                missing = [k for k in ("experiment", "variant", "strategy") if not item.get(k)]
                if missing:
                    return self._json(422, {"error": f"missing {', '.join(missing)}"})
            except (json.JSONDecodeError, AttributeError):
                return self._json(400, {"error": "the body is not a JSON object"})
            store.publish(item)
            host, port = self.server.server_address[:2]
            url = f"http://{host}:{port}/c/{item['experiment']}?variant={item['variant']}"
            return self._json(201, {"url": url})

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            segments = [s for s in parts.path.split("/") if s]
            if parts.path == "/healthz":
                return self._json(200, {"ok": True})
            if parts.path == "/api/events" and query.get("experiment"):
                return self._json(200, store.events(query["experiment"]))
            if len(segments) == 2 and segments[0] == "p":
                row = store.default(segments[1])
                if row is None:
                    return self._json(404, {"error": "no such content"})
                return self._send(200, _page(*row), "text/html; charset=utf-8")
            if len(segments) >= 2 and segments[0] == "c":
                experiment, uid = segments[1], query.get("uid", "")
                variants = store.variants(experiment)
                if not variants or not uid:
                    return self._json(404, {"error": "no such experiment, or no uid"})
                arm = assign(uid, experiment, [1 / len(variants)] * len(variants))
                if arm is None:
                    return self._json(404, {"error": "not enrolled"})
                variant, strategy, title, body = variants[arm]
                kind = segments[2] if segments[2:] in (["click"], ["unsubscribe"]) else "exposure"
                store.record(experiment, uid, variant, kind)
                return self._send(
                    200, _page(variant, strategy, title, body), "text/html; charset=utf-8"
                )
            return self._json(404, {"error": "not found"})

    return Handler


_SITES: dict[tuple[str, int], DemoHTTPServer] = {}
_LOCK = threading.Lock()


def start_content_site(host: str, port: int, db_path: Path) -> DemoHTTPServer:
    """Serve the content site on ``host:port`` (0: any free port) in a daemon thread."""
    return start_server(host, port, _handler(ContentStore(db_path)))


def ensure_content_site(host: str, port: int, db_path: Path) -> str:
    """The site's URL; served by this process if nothing listens on ``host:port`` yet."""
    with _LOCK:
        if (host, port) not in _SITES and not port_open(host, port):
            _SITES[(host, port)] = start_content_site(host, port, db_path)
    return f"http://{host}:{port}"


def simulate_visitors(
    url: str,
    experiment: str,
    uids: Sequence[str],
    *,
    seed: int = 0,
    rates: dict[str, float] | None = None,
    unsubscribe_rates: dict[str, float] | None = None,
    workers: int = 8,
) -> int:
    """SIMULATION: each visitor opens the experiment's page and clicks the call to action with
    the true click rate of the strategy it was shown. Returns the number of clicks.

    Real HTTP requests to the site; a visitor's decision is drawn from a generator seeded by
    ``seed`` and its uid, so a rerun makes the same decisions.
    """
    import httpx

    rates = rates or TRUE_CLICK_RATE
    unsubscribe_rates = unsubscribe_rates or TRUE_UNSUBSCRIBE_RATE

    def visit(client: httpx.Client, uid: str) -> int:
        page = client.get(f"{url}/c/{experiment}", params={"uid": uid})
        if page.status_code != 200:
            return 0
        marker = 'name="strategy" content="'
        start = page.text.find(marker) + len(marker)
        strategy = page.text[start : page.text.find('"', start)]
        rng = random.Random(f"{seed}:{uid}")
        clicked = rng.random() < rates.get(strategy, 0.0)
        if clicked:
            client.get(f"{url}/c/{experiment}/click", params={"uid": uid})
        if rng.random() < unsubscribe_rates.get(strategy, 0.0):
            client.get(f"{url}/c/{experiment}/unsubscribe", params={"uid": uid})
        return int(clicked)

    with httpx.Client(timeout=10.0) as client, ThreadPoolExecutor(workers) as pool:
        return sum(pool.map(lambda u: visit(client, u), uids))


__all__ = [
    "TRUE_CLICK_RATE",
    "TRUE_UNSUBSCRIBE_RATE",
    "ContentStore",
    "ensure_content_site",
    "simulate_visitors",
    "start_content_site",
]
