"""The people-in-the-loop inbox: a small web app on loopback where approvers see their tasks
with the evidence and approve, reject or reassign them. Every decision goes through the
engine, so it is an event with who (the signed-in person), when (the engine's clock) and why
(the reason typed in).

Same style as the demo world's CRM: :class:`InboxApp` turns a request into a response and
knows nothing of sockets; :func:`start_inbox` serves it with the demo world's threading HTTP
server. Sign-in by name and password (``users``); a session cookie (HttpOnly, SameSite=Strict);
a CSRF token on every POST (the session's, as a hidden form field; the sign-in form's is a
double-submit cookie); every value written into a page is HTML-escaped.

=======  ================================  ====================================================
GET      ``/login``, POST ``/login``       sign in
POST     ``/logout``                       sign out
GET      ``/``                             my open tasks (assigned to me or my roles)
GET      ``/tasks/<task_id>``              one task: evidence, history, decision forms
POST     ``/tasks/<task_id>/decide``       ``outcome``, ``reason``
POST     ``/tasks/<task_id>/reassign``     ``to``, ``reason``
GET      ``/health``                       ``ok`` (no sign-in)
=======  ================================  ====================================================

Run it: ``python -m orchestration_project.business_processes.inbox --port 8740`` (the store
from ``--store`` or ``COORDINATION_DB_URL``, else ``<data>/coordination.db`` with ``<data>``
``ORCHESTRATION_DATA_DIR`` or the repository's ``.data``, as the platform's; people from
``PROCESS_INBOX_USERS=alice:secret,bob:secret``, else every person of the bundled processes'
roles with the password ``demo`` — loopback only).
"""

from __future__ import annotations

import argparse
import hmac
import html
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from orchestration_project.business_processes.engine import (
    NotAllowed,
    ProcessEngine,
    ProcessError,
    TaskClosed,
    UnknownInstance,
)
from orchestration_project.business_processes.projection import iso
from orchestration_project.business_processes.timeline import timeline_rows

__all__ = ["InboxApp", "InboxServer", "Request", "Response", "start_inbox"]

SESSION_COOKIE = "inbox_session"
LOGIN_COOKIE = "inbox_login_csrf"
HTML_TYPE = "text/html; charset=utf-8"
MAX_BODY = 64_000

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;background:#f5f6f8;color:#222}
header{background:#23395b;color:#fff;padding:.6em 1.2em;display:flex;justify-content:space-between}
header a{color:#fff} main{padding:1em 1.5em;max-width:1100px}
table{border-collapse:collapse;background:#fff;margin:.5em 0}
td,th{border:1px solid #d8dce3;padding:.35em .7em;text-align:left;vertical-align:top}
.flash{background:#e3f4e8;border:1px solid #5aa469;padding:.5em 1em}
.error{background:#fbe7e7;border:1px solid #c0392b;padding:.5em 1em}
.overdue{color:#c0392b;font-weight:bold} form.inline{display:inline}
textarea{width:28em;height:3.5em} button{margin:.3em .4em .3em 0;padding:.35em 1em}
"""


def esc(value: Any) -> str:
    """HTML-escape ``value`` (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


@dataclass(frozen=True)
class Request:
    """An HTTP request: method, path (with query), lower-cased headers, body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""

    def cookie(self, name: str) -> str:
        """The value of cookie ``name``, or ``""``."""
        try:
            jar = SimpleCookie(self.headers.get("cookie", ""))
        except CookieError:
            return ""
        morsel = jar.get(name)
        return morsel.value if morsel is not None else ""

    def form(self) -> dict[str, str]:
        """The url-encoded form fields (first value of each)."""
        fields = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[0] for k, v in fields.items()}


@dataclass
class Response:
    """An HTTP response."""

    status: int
    body: bytes
    content_type: str = HTML_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Session:
    user: str
    csrf: str


def _page(title: str, body: str, user: str | None = None, csrf: str = "") -> bytes:
    who = ""
    if user:
        who = (
            f"<span>Signed in as <b>{esc(user)}</b> "
            f"<form class='inline' method='post' action='/logout'>"
            f"<input type='hidden' name='csrf_token' value='{esc(csrf)}'>"
            "<button type='submit'>Sign out</button></form></span>"
        )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><a href='/'>Process inbox</a>{who}</header><main>{body}</main></body></html>"
    ).encode()


def _redirect(location: str, *headers: tuple[str, str]) -> Response:
    return Response(303, b"", headers=[("Location", location), *headers])


class InboxApp:
    """The inbox over a process engine.

    Args:
        engine: the engine (its store and definitions).
        users: name -> password of the people who may sign in.
    """

    def __init__(self, engine: ProcessEngine, users: Mapping[str, str]) -> None:
        """Keep the engine and the people; no sessions yet."""
        self.engine = engine
        self.users = dict(users)
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    # -- routing --------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """Answer one request."""
        url = urlsplit(req.path)
        path = url.path
        if path == "/health":
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if path == "/login":
            return self._login(req) if req.method == "POST" else self._login_form(req)
        with self._lock:
            session = self._sessions.get(req.cookie(SESSION_COOKIE))
        if session is None:
            if req.method == "GET":
                return _redirect("/login?next=" + quote(req.path, safe=""))
            return Response(401, _page("Signed out", "<p class='error'>Sign in again.</p>"))
        if req.method == "POST":
            if not hmac.compare_digest(req.form().get("csrf_token", ""), session.csrf):
                body = "<p class='error'>Security check failed: reload the page and try again.</p>"
                return Response(
                    403, _page("Security check failed", body, session.user, session.csrf)
                )
            if path == "/logout":
                with self._lock:
                    self._sessions.pop(req.cookie(SESSION_COOKIE), None)
                return _redirect(
                    "/login",
                    (
                        "Set-Cookie",
                        f"{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
                    ),
                )
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "tasks" and parts[2] in ("decide", "reassign"):
                return self._act(session, unquote(parts[1]), parts[2], req.form())
            return Response(
                404, _page("Not found", "<p>No such action.</p>", session.user, session.csrf)
            )
        if path == "/":
            return self._list(session, parse_qs(url.query))
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "tasks":
            return self._task(session, unquote(parts[1]), parse_qs(url.query))
        return Response(404, _page("Not found", "<p>No such page.</p>", session.user, session.csrf))

    # -- sign-in --------------------------------------------------------------------------------

    def _login_form(self, req: Request, error: str = "", status: int = 200) -> Response:
        token = req.cookie(LOGIN_COOKIE) or secrets.token_urlsafe(18)
        nxt = parse_qs(urlsplit(req.path).query).get("next", ["/"])[0]
        if req.method == "POST":
            nxt = req.form().get("next", "/")
        msg = f"<p class='error'>{esc(error)}</p>" if error else ""
        body = (
            f"<h1>Sign in</h1>{msg}<form method='post' action='/login'>"
            f"<input type='hidden' name='csrf_token' value='{esc(token)}'>"
            f"<input type='hidden' name='next' value='{esc(nxt)}'>"
            "<p><label for='user'>Name</label><br><input id='user' name='user'></p>"
            "<p><label for='password'>Password</label><br>"
            "<input id='password' name='password' type='password'></p>"
            "<button type='submit'>Sign in</button></form>"
        )
        cookie = ("Set-Cookie", f"{LOGIN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
        return Response(status, _page("Sign in", body), headers=[cookie])

    def _login(self, req: Request) -> Response:
        form = req.form()
        expected = req.cookie(LOGIN_COOKIE)
        if not expected or not hmac.compare_digest(form.get("csrf_token", ""), expected):
            return self._login_form(req, "Security check failed: try again.", 403)
        user = form.get("user", "").strip()
        known = self.users.get(user)
        if known is None or not hmac.compare_digest(form.get("password", ""), known):
            return self._login_form(req, "Unknown name or wrong password.", 401)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[token] = _Session(user, secrets.token_urlsafe(24))
        nxt = form.get("next", "/")
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/"
        return _redirect(
            nxt, ("Set-Cookie", f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
        )

    # -- pages ----------------------------------------------------------------------------------

    def _list(self, s: _Session, query: Mapping[str, list[str]]) -> Response:
        tasks = self.engine.tasks_for(s.user)
        now = iso(self.engine.clock())
        flash = query.get("done", [""])[0]
        rows = []
        for t in tasks:
            state = self.engine.events.state(t["instance_id"]) or {"data": {}}
            data = state["data"]
            late = t["due_at"] is not None and t["due_at"] < now
            amount = (
                f"{data['amount']:,.2f} {esc(data.get('currency', ''))}"
                if isinstance(data.get("amount"), int | float)
                else ""
            )
            rows.append(
                f"<tr data-task='{esc(t['task_id'])}'>"
                f"<td><a href='/tasks/{quote(t['task_id'])}'>{esc(t['title'])}</a></td>"
                f"<td>{esc(t['instance_id'])}</td><td>{amount}</td>"
                f"<td>{esc(t['assignee'])}</td>"
                f"<td class='{'overdue' if late else ''}'>{esc(t['due_at'] or '')}"
                f"{' (overdue)' if late else ''}</td><td>{esc(t['escalation_level'])}</td></tr>"
            )
        table = (
            "<table id='tasks'><tr><th>Task</th><th>Instance</th><th>Amount</th>"
            "<th>Assigned to</th><th>Due</th><th>Escalation</th></tr>" + "".join(rows) + "</table>"
            if rows
            else "<p id='empty'>No open tasks for you.</p>"
        )
        note = f"<p class='flash'>{esc(flash)}</p>" if flash else ""
        body = f"<h1>My tasks ({len(tasks)})</h1>{note}{table}"
        return Response(200, _page("My tasks", body, s.user, s.csrf))

    def _task(self, s: _Session, task_id: str, query: Mapping[str, list[str]]) -> Response:
        task = self.engine.events.task(task_id)
        if task is None:
            return Response(404, _page("Not found", "<p>No such task.</p>", s.user, s.csrf))
        state = self.engine.events.state(task["instance_id"])
        assert state is not None
        d = self.engine.definition(task["process"])
        step = d.step(task["step"])
        data = state["data"]
        first = [k for k in step.evidence if k in data]
        keys = first + sorted(k for k in data if k not in first)
        evidence = "".join(
            f"<tr><th>{esc(k)}</th><td data-field='{esc(k)}'>{esc(data[k])}</td></tr>" for k in keys
        )
        history = "".join(
            f"<tr><td>{esc(r['at'])}</td><td>{esc(r['actor'])}</td><td>{esc(r['what'])}</td></tr>"
            for r in timeline_rows(self.engine.events.events(task["instance_id"]))
        )
        error = query.get("error", [""])[0]
        parts = [
            f"<h1>{esc(task['title'])}</h1>",
            f"<p class='error'>{esc(error)}</p>" if error else "",
            f"<p>Instance <b>{esc(task['instance_id'])}</b> ({esc(d.name)}), assigned to "
            f"<b id='assignee'>{esc(task['assignee'])}</b>, due {esc(task['due_at'] or 'n/a')}, "
            f"status <b id='status'>{esc(task['status'])}</b></p>",
            f"<h2>Evidence</h2><table id='evidence'>{evidence}</table>",
        ]
        may = d.may_act(s.user, task["assignee"])
        if task["status"] == "open" and may:
            buttons = "".join(
                f"<button type='submit' name='outcome' value='{esc(o)}'>{esc(o.capitalize())}"
                "</button>"
                for o in step.outcomes
            )
            options = "".join(
                f"<option value='{esc(x)}'>{esc(x)}</option>"
                for x in sorted(set(d.roles) | {p for m in d.roles.values() for p in m})
                if x != task["assignee"]
            )
            parts.append(
                f"<h2>Decide</h2><form id='decide' method='post' "
                f"action='/tasks/{quote(task_id)}/decide'>"
                f"<input type='hidden' name='csrf_token' value='{esc(s.csrf)}'>"
                "<p><label for='reason'>Reason</label><br>"
                f"<textarea id='reason' name='reason'></textarea></p>{buttons}</form>"
                f"<h2>Reassign</h2><form id='reassign' method='post' "
                f"action='/tasks/{quote(task_id)}/reassign'>"
                f"<input type='hidden' name='csrf_token' value='{esc(s.csrf)}'>"
                f"<p><label for='to'>To</label> <select id='to' name='to'>{options}</select></p>"
                "<p><label for='reassign_reason'>Reason</label><br>"
                "<textarea id='reassign_reason' name='reason'></textarea></p>"
                "<button type='submit'>Reassign</button></form>"
            )
        elif task["status"] == "open":
            parts.append(f"<p>Assigned to {esc(task['assignee'])}: you may not decide it.</p>")
        else:
            parts.append(
                f"<p>Decided <b>{esc(task['outcome'])}</b> by {esc(task['decided_by'])} at "
                f"{esc(task['decided_at'])}.</p>"
            )
        parts.append(f"<h2>History</h2><table id='history'>{history}</table>")
        return Response(200, _page(task["title"], "".join(parts), s.user, s.csrf))

    def _act(self, s: _Session, task_id: str, action: str, form: Mapping[str, str]) -> Response:
        reason = form.get("reason", "").strip()[:2000]
        try:
            if action == "decide":
                outcome = form.get("outcome", "")
                state = self.engine.decide(task_id, outcome, by=s.user, reason=reason)
                msg = f"{outcome} recorded for {state['instance_id']}"
            else:
                to = form.get("to", "")
                state = self.engine.reassign(task_id, to, by=s.user, reason=reason)
                msg = f"{state['instance_id']} reassigned to {to}"
        except UnknownInstance:
            return Response(404, _page("Not found", "<p>No such task.</p>", s.user, s.csrf))
        except (NotAllowed, TaskClosed, ProcessError) as exc:
            status = (
                403 if isinstance(exc, NotAllowed) else 409 if isinstance(exc, TaskClosed) else 400
            )
            body = (
                f"<p class='error' id='problem'>{esc(exc)}</p>"
                f"<p><a href='/tasks/{quote(task_id)}'>Back to the task</a></p>"
            )
            return Response(status, _page("Not done", body, s.user, s.csrf))
        return _redirect("/?done=" + quote(msg))


def make_handler(app: InboxApp) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving ``app``."""

    class InboxHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"
        timeout = 30

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Stay quiet."""

        def _serve(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY:
                self.send_response(413)
                self.end_headers()
                return
            body = self.rfile.read(length) if length > 0 else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                resp = app.handle(Request(self.command, self.path, headers, body))
            except Exception:  # a bug answers 500 and the server lives on
                resp = Response(500, _page("Error", "<p>Something went wrong.</p>"))
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(resp.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header(
                "Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'"
            )
            for name, value in resp.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(resp.body)

        def do_GET(self) -> None:  # noqa: N802
            """Serve a GET."""
            self._serve()

        def do_POST(self) -> None:  # noqa: N802
            """Serve a POST."""
            self._serve()

    return InboxHandler


class InboxServer:
    """A running inbox: its URL and app; ``stop()`` frees the port."""

    def __init__(self, app: InboxApp, server: Any) -> None:
        """Use :func:`start_inbox`."""
        self.app = app
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> InboxServer:
        """The inbox is already running."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop it."""
        self.stop()


def start_inbox(
    engine: ProcessEngine, users: Mapping[str, str], *, host: str = "127.0.0.1", port: int = 0
) -> InboxServer:
    """Serve the inbox for ``engine`` on ``host:port`` (0: any free port) in a daemon thread."""
    from orchestration_project.demo_world.server import start_server

    app = InboxApp(engine, users)
    return InboxServer(app, start_server(host, port, make_handler(app)))


def _users_from_env(engine: ProcessEngine) -> dict[str, str]:
    raw = os.environ.get("PROCESS_INBOX_USERS", "")
    if raw:
        return dict(item.split(":", 1) for item in raw.split(",") if ":" in item)
    people = {p for d in engine.definitions.values() for m in d.roles.values() for p in m}
    return dict.fromkeys(sorted(people), "demo")


def main(argv: list[str] | None = None) -> None:
    """Serve the inbox until Ctrl-C."""
    import time

    from orchestration_project.agents.coordination.store import CoordinationStore
    from orchestration_project.business_processes.definition import bundled_processes
    from orchestration_project.business_processes.events import EventStore

    repo = Path(__file__).resolve().parents[2]
    data = Path(os.environ.get("ORCHESTRATION_DATA_DIR") or repo / ".data").resolve()
    default = os.environ.get("COORDINATION_DB_URL") or f"sqlite:///{data / 'coordination.db'}"
    parser = argparse.ArgumentParser(description="The process inbox (loopback).")
    parser.add_argument("--store", default=default)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PROCESS_INBOX_PORT", "8740"))
    )
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1") and not os.environ.get(
        "PROCESS_INBOX_USERS"
    ):
        parser.error("beyond loopback, set PROCESS_INBOX_USERS (the demo passwords are public)")
    engine = ProcessEngine(EventStore(CoordinationStore(args.store)), bundled_processes())
    server = start_inbox(engine, _users_from_env(engine), host=args.host, port=args.port)
    print(f"process inbox on {server.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
