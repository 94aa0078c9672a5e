"""The :class:`BrowserFormFiller` resource: a browser agent that creates CRM accounts by filling
the CRM's onboarding form in Chromium, as a declarative form mapping
(:mod:`orchestration_project.customer_onboarding.mapping`) describes it.

How a batch runs: one Chromium (Debian's, found and launched like the crawler's
:class:`~resources.fetching.BrowserFetcher`, with its flags), ``contexts`` browser contexts
working in parallel (each signs in once and keeps one page), records handed out from a queue,
results returned in input order.

The URL policy: every request of every context goes through a :class:`PolicyProxy` on loopback
(one per context, so refusals are reported with the customer being filled) that checks it
against the same :class:`~resources.url_policy.UrlPolicy` as the crawler's ``BrowserFetcher``
and answers refused ones itself with a 403. Unlike route interception, the proxy sees every
redirect hop as its own request, the body of file uploads (Chromium hands intercepted multipart
bodies over without the file contents) and Chromium's own background requests, and it costs a
third less CPU per customer (measured in ``benchmarks/onboarding_throughput.py``).

For each customer: the CRM's lookup API first (an existing account is reported, never created
twice), then the wizard page by page. The agent knows where it is from the page's headings, so
it copes with whatever page the CRM shows next: the sign-in page when the session expired
(sign in again, the CRM keeps the draft), the same step with validation errors (read back and
reported), a 503 page or a lost connection (retried from the last page shown, after the lookup
again, since a submit whose confirmation was lost may have landed). Fields are found by
accessible label, or role and accessible name, in one round trip per page (``fill_mode
"batched"``), falling back to Playwright's locators, which wait for a control to appear, for
any control not found at once. Page text is data: headings are compared with the mapping's
literal texts and error messages are copied into the results, never followed as instructions.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import dagster as dg
import httpx
from pydantic import Field

from orchestration_project.agents.mcp_loop import WalkState, classify_page
from orchestration_project.customer_onboarding.mapping import (
    FieldMapping,
    FieldValue,
    FormMapping,
    LocatorSpec,
    OnboardingResult,
    PageMapping,
    RecordError,
    RecordValues,
    load_mapping,
    record_values,
)
from resources.fetching import BrowserFetcher
from resources.fetching.chromium import CHROMIUM_ARGS, INSTALL_HINT, BrowserNotAvailableError
from resources.fetching.common import BROWSER_USER_AGENT
from resources.url_policy import BlockedUrlError, UrlPolicy

__all__ = ["BrowserFormFiller", "PolicyProxy"]

MAX_SIGN_INS = 3  # per customer: a CRM that keeps expiring the session is a failure
MAX_VISITS = 3  # per page and customer: a page that never moves on is a failure

# -- scripts run in the page (they read and set controls; they never follow page text) -------

# What a control is called and which role it has, the way a screen reader (and Playwright's
# get_by_label / get_by_role) sees it: aria-labelledby, aria-label, <label>, <legend>.
_A11Y_JS = r"""
  const norm = (s) => (s || "").replace(/\s+/g, " ").trim();
  const implicitRole = (el) => {
    const tag = el.tagName, type = (el.getAttribute("type") || "text").toLowerCase();
    if (tag === "FIELDSET") return "group";
    if (tag === "SELECT") return el.multiple || el.size > 1 ? "listbox" : "combobox";
    if (tag === "TEXTAREA") return "textbox";
    if (tag === "OUTPUT") return "status";
    if (tag === "BUTTON") return "button";
    if (/^H[1-6]$/.test(tag)) return "heading";
    if (tag === "INPUT") {
      if (type === "radio" || type === "checkbox") return type;
      if (["button", "submit", "reset", "image"].includes(type)) return "button";
      if (type === "number") return "spinbutton";
      if (type === "search") return "searchbox";
      if (type === "hidden" || type === "file") return "";
      return "textbox";
    }
    return "";
  };
  const roleOf = (el) => (el.getAttribute("role") || "").split(" ")[0] || implicitRole(el);
  const nameOf = (el) => {
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      return norm(by.split(/\s+/).map((id) => document.getElementById(id))
        .filter(Boolean).map((n) => n.textContent).join(" "));
    }
    const aria = el.getAttribute("aria-label");
    if (aria) return norm(aria);
    if (el.labels && el.labels.length) return norm(Array.from(el.labels, (l) => l.textContent).join(" "));
    if (el.tagName === "FIELDSET") {
      const legend = el.querySelector(":scope > legend");
      return legend ? norm(legend.textContent) : "";
    }
    if (roleOf(el) === "button") return norm(el.tagName === "INPUT" ? el.value : el.textContent);
    return "";
  };
  const shown = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const same = (name, wanted, exact) =>
    exact ? name === norm(wanted) : name.toLowerCase().includes(norm(wanted).toLowerCase());
  // a control by label (a group's legend for radio and checkbox groups), else role + name,
  // else the CSS selector the mapping gives as a last resort
  const CONTROLS = "input:not([type=hidden]),select,textarea,output,[aria-label],[aria-labelledby]";
  const find = (f, groupRole) => {
    let found = [];
    if (f.label) {
      const pool = document.querySelectorAll(groupRole ? "fieldset,[role]" : CONTROLS);
      found = Array.from(pool).filter((el) => shown(el)
        && (!groupRole || roleOf(el) === groupRole) && same(nameOf(el), f.label, f.exact));
    }
    if (!found.length && f.role) {
      found = Array.from(document.querySelectorAll("*")).filter((el) => roleOf(el) === f.role
        && shown(el) && same(nameOf(el), f.name, f.exact));
    }
    if (!found.length && f.selector) {
      found = Array.from(document.querySelectorAll(f.selector)).filter(shown);
    }
    return found;
  };
"""

_HEADINGS_JS = (
    "() => { "
    + _A11Y_JS
    + """
  return Array.from(document.querySelectorAll("h1,h2,h3,h4,h5,h6,[role=heading]"))
    .filter((h) => roleOf(h) === "heading").map((h) => norm(h.textContent));
}"""
)

# One round trip per page: find each control by label, or role + name (a CSS selector only as
# the fallback the mapping allows) and set it, firing the input and change events a person's
# typing would. Returns what it could not do; the caller falls back to Playwright's locators.
_FILL_JS = (
    "(fields) => { "
    + _A11Y_JS
    + r"""
  const setValue = (el, value) => {
    const proto = el.tagName === "SELECT" ? HTMLSelectElement.prototype
      : el.tagName === "TEXTAREA" ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
    Object.getOwnPropertyDescriptor(proto, "value").set.call(el, value);
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  };
  const boxes = (group, type) => Array.from(group.querySelectorAll(`input[type=${type}]`))
    .map((b) => [b, nameOf(b)]);
  const problems = [];
  fields.forEach((f, i) => {
    const found = find(f, { radio: "radiogroup", checkbox_group: "group" }[f.kind]);
    if (found.length !== 1) {
      problems.push({ index: i, kind: found.length ? "ambiguous" : "missing" });
      return;
    }
    const el = found[0];
    if (el.disabled || el.readOnly) { problems.push({ index: i, kind: "disabled" }); return; }
    const want = f.value;
    if (f.kind === "text" || f.kind === "date") {
      setValue(el, String(want));
    } else if (f.kind === "select") {
      const opts = Array.from(el.options || []).filter((o) => o.value);
      const text = (o) => norm(o.label || o.text);
      const w = String(want), lw = w.toLowerCase();
      const opt = opts.find((o) => o.value === w) || opts.find((o) => text(o) === w)
        || opts.find((o) => o.value.toLowerCase() === lw || text(o).toLowerCase() === lw);
      if (!opt) { problems.push({ index: i, kind: "option", offered: opts.map(text) }); return; }
      setValue(el, opt.value);
    } else if (f.kind === "radio") {
      const all = boxes(el, "radio");
      const hit = all.filter(([, n]) => same(n, String(want), f.optionExact));
      if (hit.length !== 1) { problems.push({ index: i, kind: "option", offered: all.map(([, n]) => n) }); return; }
      if (!hit[0][0].checked) hit[0][0].click();
    } else if (f.kind === "checkbox") {
      if (el.checked !== !!want) el.click();
    } else if (f.kind === "checkbox_group") {
      const all = boxes(el, "checkbox");
      const wanted = want.map(String);
      const missing = wanted.filter((w) => !all.some(([, n]) => same(n, w, f.optionExact)));
      if (missing.length) {
        problems.push({ index: i, kind: "option", missing, offered: all.map(([, n]) => n) });
        return;
      }
      for (const [b, n] of all) {
        const tick = wanted.some((w) => same(n, w, f.optionExact));
        if (b.checked !== tick) b.click();
      }
    } else {
      problems.push({ index: i, kind: "unsupported" });
    }
  });
  return problems;
}"""
)

# Press the button with this accessible name: a form's submit button submits its form (the
# browser's own submission, with this button as the submitter). False if there is none.
_PRESS_JS = (
    "(name) => { "
    + _A11Y_JS
    + r"""
  const found = find({ role: "button", name, exact: true });
  if (found.length !== 1 || found[0].disabled) return false;
  const b = found[0];
  if (b.form && (b.type || "").toLowerCase() === "submit") b.form.requestSubmit(b);
  else b.click();
  return true;
}"""
)

# The text of one element found by label or role + name (null if there is not exactly one).
_READ_JS = (
    "(spec) => { "
    + _A11Y_JS
    + r"""
  const found = find(spec);
  return found.length === 1 ? norm(found[0].textContent) : null;
}"""
)

# A whole page in one round trip: fill every control, then (only if all went well) press the
# page's button. Returns whether it pressed, and the problems that kept it from pressing.
_STEP_JS = (
    "(arg) => { const fill = "
    + _FILL_JS
    + "; const press = "
    + _PRESS_JS
    + """;
  const problems = arg.fields.length ? fill(arg.fields) : [];
  if (problems.length) return { pressed: false, problems };
  return { pressed: press(arg.button), problems: [] };
}"""
)

# The CRM's validation errors: the summary's items, and for each invalid control its label (or
# its group's legend) and the texts its aria-describedby points at.
_ERRORS_JS = (
    "([summaryRole, attr]) => { "
    + _A11Y_JS
    + r"""
  const summary = [];
  for (const box of document.querySelectorAll(`[role="${summaryRole}"]`)) {
    const items = box.querySelectorAll("li");
    if (items.length) items.forEach((li) => summary.push(norm(li.textContent)));
    else if (norm(box.textContent)) summary.push(norm(box.textContent));
  }
  const fields = [];
  const seen = new Set();
  for (const el of document.querySelectorAll('[aria-invalid="true"]')) {
    const group = el.closest("fieldset");
    const owner = group && group.getAttribute(attr) ? group : el;
    if (seen.has(owner)) continue;
    seen.add(owner);
    const texts = (owner.getAttribute(attr) || "").split(/\s+/).filter(Boolean)
      .map((id) => document.getElementById(id)).filter(Boolean).map((n) => norm(n.textContent));
    fields.push({ label: nameOf(owner), texts });
  }
  return { summary, fields };
}"""
)
_OPTIONS_JS = "el => Array.from(el.options || [], o => [o.value, (o.label || o.text).trim()])"
_CHECKBOXES_JS = """el => Array.from(el.querySelectorAll('input[type="checkbox"]'), b => [
  ((b.labels && b.labels.length ? b.labels[0].textContent : b.getAttribute("aria-label")) || "")
    .replace(/\\s+/g, " ").trim(), b.checked])"""


# -- what can go wrong with one customer -----------------------------------------------------


class CrmTransientError(Exception):
    """Worth another attempt: a 503, a dropped connection, a time-out.

    Attributes:
        unreachable: the CRM did not accept the connection at all (it is down).
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class _Rejected(Exception):
    """The CRM refused the values: its validation messages, per record field and overall."""

    def __init__(self, errors: list[str], field_errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors))
        self.errors, self.field_errors = errors, field_errors


class CrmFailedError(Exception):
    """This customer cannot be onboarded and retrying will not help."""


class _NotPressed(Exception):
    """The one-round-trip step did not press its button (a control was not found at once)."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} control(s) not set")
        self.problems = problems


class CrmFatalError(Exception):
    """No customer can be onboarded (refused sign-in or API token, a mapping that does not
    match the CRM's pages)."""


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


def _network_reason(text: str) -> tuple[str, bool]:
    """A readable reason for a transport error, and whether it means "the CRM is down"."""
    low = text.lower()
    if "refused" in low:
        return "connection refused", True
    if "timeout" in low or "timed out" in low:
        return "no answer in time", False
    if any(w in low for w in ("hang up", "reset", "closed", "empty_response", "empty reply")):
        return "the connection closed without an answer", False
    if "not resolve" in low or "getaddrinfo" in low or "name_not_resolved" in low:
        return "the host name does not resolve", True
    return text[:200], False


def _connect_reason(exc: BaseException) -> str:
    """Why a connection to the server could not be opened, in words."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    return _network_reason(_first_line(exc))[0]


def _dig(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data


def _norm(text: str) -> str:
    return " ".join(text.split())


# -- the URL policy, as a forward proxy ---------------------------------------------------------

_HOP_BY_HOP = {
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
}
POLICY_HEADER = "X-Url-Policy"  # on the proxy's own refusals (upstream copies are removed)
ERROR_HEADER = "X-Proxy-Error"  # on the proxy's own 502/504 answers


class PolicyProxy:
    """A forward HTTP proxy on loopback that lets a browser reach only what a URL policy allows.

    Chromium sends every request through it, redirect hops and its own background requests
    included (``https`` as ``CONNECT host:port`` tunnels, checked by host and port). Refused
    requests are answered ``403`` with the header ``X-Url-Policy: <reason>``; a server that
    cannot be reached, or closes the connection without answering, with ``502`` (``504`` on
    time-out) and ``X-Proxy-Error: <reason>``. Every request is checked on its own, also on a
    kept-alive browser connection, and gets its own connection to the server. ``/favicon.ico``
    is answered here (a cacheable 404): Chromium would fetch it after every page.

    Args:
        verdict: coroutine function that returns the policy's refusal of a URL (None: allowed).
        timeout_s: time allowed to connect upstream and for the answer's first bytes.
        on_refused: called with each refusal (the reason, a sentence).
    """

    def __init__(
        self,
        verdict: Callable[[str], Awaitable[str | None]],
        *,
        timeout_s: float,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._verdict, self.timeout_s = verdict, timeout_s
        self._on_refused = on_refused or (lambda reason: None)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = ""
        self.refused: list[str] = []

    async def start(self) -> str:
        """Listen on a free loopback port; returns the proxy URL (``http://127.0.0.1:port``)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 16)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self.url

    async def close(self) -> None:
        """Stop listening and cut open connections."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _refuse(self, reason: str) -> None:
        self.refused.append(reason)
        self._on_refused(reason)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await self._one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except (asyncio.CancelledError, TimeoutError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _answer(
        writer: asyncio.StreamWriter, status: int, title: str, reason: str, header: str
    ) -> None:
        body = (
            f"<!DOCTYPE html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(reason)}</p>"
        ).encode()
        safe = re.sub(r"[\r\n]+", " ", reason)[:500]
        phrase = {403: "Forbidden", 400: "Bad Request", 502: "Bad Gateway", 504: "Gateway Timeout"}
        writer.write(
            f"HTTP/1.1 {status} {phrase.get(status, 'Error')}\r\n"
            f"Content-Type: text/html; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            f"{header}: {safe}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n".encode(
                "latin-1", "replace"
            )
            + body
        )
        await writer.drain()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve a client connection: request after request (each one checked) while both
        sides allow keeping it open."""
        first = True
        while True:
            try:
                head = await asyncio.wait_for(
                    reader.readuntil(b"\r\n\r\n"), self.timeout_s * 3 if first else 60
                )
            except (asyncio.IncompleteReadError, TimeoutError):
                return  # the client closed (or left) an idle connection
            first = False
            if not await self._request(head, reader, writer):
                return

    async def _request(
        self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """One request; returns whether the client connection may carry another."""
        line, *lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, version = line.split(" ", 2)
        except ValueError:
            await self._answer(writer, 400, "Bad request", "malformed request line", ERROR_HEADER)
            return False
        if method.upper() == "CONNECT":
            await self._tunnel(target, reader, writer)
            return False
        parts = urlsplit(target)
        if parts.scheme.lower() != "http" or not parts.hostname:
            await self._answer(writer, 400, "Bad request", "not a proxy request", ERROR_HEADER)
            return False
        refusal = await self._verdict(target)
        if refusal:
            self._refuse(refusal)
            await self._answer(writer, 403, "Refused by the URL policy", refusal, POLICY_HEADER)
            return False
        if parts.path == "/favicon.ico":
            # Chromium fetches a favicon after every page; an agent has no use for it. A
            # cacheable 404 from here spares the server, and the browser asks only once.
            writer.write(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                b"Cache-Control: max-age=86400\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return False
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, parts.port or 80), self.timeout_s
            )
        except (OSError, TimeoutError) as exc:
            reason = _connect_reason(exc)
            await self._answer(writer, 502, "The server cannot be reached", reason, ERROR_HEADER)
            return False
        try:
            return await self._forward(
                method, parts, version, lines, reader, writer, up_reader, up_writer
            )
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()

    async def _forward(
        self,
        method: str,
        parts: Any,
        version: str,
        lines: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> bool:
        """Send the request upstream (origin-form, ``Connection: close``) and relay the answer.

        Returns:
            Whether the client connection may carry another request: the request body was
            read to its end and the answer had a known length.
        """
        kept, length, chunked = [], 0, False
        reuse = version.upper() == "HTTP/1.1"
        for header in lines:
            name, _, value = header.partition(":")
            key = name.strip().lower()
            if key in ("connection", "proxy-connection") and "close" in value.lower():
                reuse = False
            if not header or key in _HOP_BY_HOP:
                continue
            if key == "content-length":
                length = int(value.strip() or 0)
            if key == "transfer-encoding" and "chunked" in value.lower():
                chunked, reuse = True, False
            kept.append(header)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        up_writer.write(
            f"{method} {path} HTTP/1.1\r\n".encode("latin-1")
            + "".join(f"{h}\r\n" for h in [*kept, "Connection: close"]).encode("latin-1")
            + b"\r\n"
        )
        body = asyncio.create_task(self._copy(reader, up_writer, None if chunked else length))
        try:
            try:
                head = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"), self.timeout_s)
            except asyncio.IncompleteReadError:
                reason = "the connection closed without an answer"
                await self._answer(writer, 502, "No answer", reason, ERROR_HEADER)
                return False
            except TimeoutError:
                reason = f"no answer within {self.timeout_s:g} s"
                await self._answer(writer, 504, "No answer", reason, ERROR_HEADER)
                return False
            status_line, *resp_lines = head.decode("latin-1").split("\r\n")
            _, _, rest = status_line.partition(" ")
            status = int(rest[:3]) if rest[:3].isdigit() else 0
            out, size = [f"HTTP/1.1 {rest}"], None
            for header in resp_lines:
                key, _, value = header.partition(":")
                key = key.strip().lower()
                if key == "content-length" and value.strip().isdigit():
                    size = int(value.strip())
                if key == "transfer-encoding":
                    size = None if "chunked" in value.lower() else size
                if (
                    header
                    and key not in _HOP_BY_HOP
                    and key not in ("x-url-policy", "x-proxy-error")
                ):
                    out.append(header)
            if method.upper() == "HEAD" or status in (204, 304) or 100 <= status < 200:
                size = 0
            reuse = reuse and size is not None
            out.append("Connection: keep-alive" if reuse else "Connection: close")
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
            relayed = await asyncio.wait_for(
                self._copy(up_reader, writer, size), self.timeout_s * 6
            )
            if size is not None and relayed < size:
                return False  # cut short: the client must see the connection end
            # the next request starts after this one's body: reuse only if it was all read
            return reuse and body.done() and not body.cancelled() and body.exception() is None
        finally:
            if not body.done():
                body.cancel()
            with contextlib.suppress(BaseException):
                await body

    @staticmethod
    async def _copy(
        src: asyncio.StreamReader, dst: asyncio.StreamWriter, length: int | None
    ) -> int:
        """Copy ``length`` bytes (None: until EOF) from ``src`` to ``dst``; returns how many."""
        left, copied = length, 0
        while left is None or left > 0:
            chunk = await src.read(65536 if left is None else min(65536, left))
            if not chunk:
                break
            dst.write(chunk)
            await dst.drain()
            copied += len(chunk)
            if left is not None:
                left -= len(chunk)
        if length is None:
            with contextlib.suppress(Exception):
                if dst.can_write_eof():
                    dst.write_eof()
        return copied

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port_text = target.rpartition(":")
        host = host.strip("[]")
        try:
            port = int(port_text)
        except ValueError:
            await self._answer(writer, 400, "Bad request", "CONNECT needs host:port", ERROR_HEADER)
            return
        where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        refusal = await self._verdict(f"{'http' if port == 80 else 'https'}://{where}/")
        if refusal:
            self._refuse(refusal)
            await self._answer(writer, 403, "Refused by the URL policy", refusal, POLICY_HEADER)
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.timeout_s
            )
        except (OSError, TimeoutError) as exc:
            reason = _connect_reason(exc)
            await self._answer(writer, 502, "The server cannot be reached", reason, ERROR_HEADER)
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        try:
            await asyncio.gather(
                self._copy(reader, up_writer, None), self._copy(up_reader, writer, None)
            )
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()


# -- the batch ---------------------------------------------------------------------------------


@dataclass
class _CustomerState(WalkState):
    """What one customer's attempts share (the MCP route's walk state, and the key)."""

    key: str = ""


class CrmBatch:
    """What the workers of one ``onboard`` call share: settings, the URL policy's verdicts, the
    lookup client, and whether the CRM is down or the batch cannot go on at all."""

    def __init__(self, cfg: BrowserFormFiller, mapping: FormMapping, policy: UrlPolicy) -> None:
        self.cfg, self.mapping, self.policy = cfg, mapping, policy
        self.base = cfg.crm_url.rstrip("/")
        self.timeout_ms = cfg.timeout_s * 1000
        self.browser: Any = None
        self.http: httpx.AsyncClient | None = None
        self.down: str | None = None  # why the CRM is considered down (the circuit is open)
        self.fatal: str | None = None
        self.background_refusals: list[str] = []  # Chromium's own requests, refused
        self._verdicts: dict[tuple[str, str, int | None], str | None] = {}

    async def with_retries(
        self,
        key: str,
        res: OnboardingResult,
        state: Any,
        attempt: Callable[[], Awaitable[tuple[str, str | None]]],
        *,
        transient: tuple[type[BaseException], ...] = (),
    ) -> None:
        """One customer by either route: the CRM's lookup before every attempt (an account
        that exists is never created twice, also when a confirmation was lost), ``attempt()``
        (the route's walk through the wizard, returning ``(kind, account_id)``), and retries
        with backoff on transient errors (``CrmTransientError`` and ``transient``). After the
        last attempt the reason is in ``res.errors``; a CRM that cannot be reached is marked
        down, so the batch's next customers are tried once. Other errors reach the caller.

        Args:
            key: the customer's external reference.
            res: the result to fill in (status, account id, attempts, errors).
            state: the route's per-customer state (``submitted``, ``notes``).
            attempt: one walk through the wizard.
            transient: the route's own errors worth another attempt.
        """
        cfg = self.cfg
        probing = self.down is not None  # the CRM was found down: one try tells if it is back
        attempts = 1 if probing else cfg.max_attempts
        while True:
            res.attempts += 1
            submitted_before = state.submitted
            try:
                if self.fatal:
                    raise CrmFatalError(self.fatal)
                found = await self.lookup(key)
                self.down, probing, attempts = None, False, cfg.max_attempts  # it answers
                if found:
                    res.account_id = found
                    res.status = "created" if submitted_before else "exists"
                    if submitted_before:
                        state.notes.append(
                            "the confirmation was lost; the lookup found the account"
                        )
                    return
                kind, account_id = await attempt()
                res.account_id = account_id
                res.status = "created" if kind == "created" or submitted_before else "exists"
                return
            except (CrmTransientError, *transient) as exc:
                if res.attempts >= attempts:
                    if getattr(exc, "unreachable", False):
                        self.down = str(exc)
                    what = f"{res.attempts} attempts" if res.attempts > 1 else "1 attempt"
                    prefix = "not attempted: " if probing else ""
                    res.errors.append(f"{prefix}{exc} (after {what})")
                    if state.submitted:
                        res.errors.append(
                            "the final submit was sent before this failure: the account may "
                            "exist (a re-run looks it up before filling again)"
                        )
                    return
                state.notes.append(f"attempt {res.attempts}: {exc}; retried")
                backoff = cfg.backoff_s * 2 ** (res.attempts - 1)
                await asyncio.sleep(min(5.0, backoff * (1 + random.random() / 2)))

    def url(self, path: str) -> str:
        """An absolute URL on the CRM."""
        return urljoin(self.base + "/", path.lstrip("/")) if path else self.base + "/"

    async def verdict(self, url: str) -> str | None:
        """The URL policy's refusal of ``url`` as a sentence (None: allowed); cached per scheme,
        host and port, name resolution off the event loop."""
        try:
            parts = urlsplit(url)
            key: tuple[str, str, int | None] | None = (
                parts.scheme.lower(),
                (parts.hostname or "").lower(),
                parts.port,
            )
        except ValueError:
            key = None
        if key is not None and key in self._verdicts:
            reason = self._verdicts[key]
        else:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.policy.check, url)
                reason = None
            except BlockedUrlError as exc:
                reason = exc.reason
            if key is not None:
                self._verdicts[key] = reason
        return None if reason is None else str(BlockedUrlError(url, reason))

    async def lookup(self, key: str) -> str | None:
        """The account id the CRM holds for ``key``, or None.

        Raises:
            CrmTransientError: the CRM is unreachable, slow, or answered 5xx/429.
            CrmFatalError: the API token is refused.
            CrmFailedError: the URL is refused by the policy, or an answer that makes no sense.
        """
        lk = self.mapping.lookup
        url = self.url(lk.path)
        refusal = await self.verdict(url)
        if refusal:
            raise CrmFatalError(refusal)
        assert self.http is not None
        try:
            resp = await self.http.get(
                url,
                params={lk.param: key},
                headers={"Authorization": f"Bearer {self.cfg.api_token}"},
            )
        except httpx.TimeoutException:
            raise CrmTransientError(
                f"the CRM's lookup API did not answer within {self.cfg.timeout_s:g} s"
            ) from None
        except httpx.ConnectError as exc:
            cause: BaseException | None = exc
            for _ in range(8):  # anyio hides the refusal a few causes down
                if cause is None or isinstance(cause, ConnectionRefusedError):
                    break
                cause = cause.__cause__ or cause.__context__
            refused = isinstance(cause, ConnectionRefusedError)
            reason = "connection refused" if refused else "cannot connect"
            raise CrmTransientError(
                f"cannot reach the CRM at {self.base} ({reason})", unreachable=True
            ) from None
        except httpx.TransportError as exc:
            reason, down = _network_reason(_first_line(exc))
            raise CrmTransientError(
                f"cannot reach the CRM at {self.base} ({reason})", unreachable=down
            ) from None
        if resp.status_code == 404:
            return None
        if resp.status_code in (401, 403):
            raise CrmFatalError(
                f"the CRM's lookup API refused the API token (HTTP {resp.status_code})"
            )
        if resp.status_code == 429 or resp.status_code >= 500:
            raise CrmTransientError(f"the CRM's lookup API answered HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise CrmFailedError(f"the CRM's lookup API answered HTTP {resp.status_code}")
        try:
            found = _dig(resp.json(), lk.account_id)
        except ValueError:
            raise CrmFailedError(
                "the CRM's lookup API answered something that is not JSON"
            ) from None
        if not isinstance(found, str) or not re.fullmatch(
            self.mapping.confirmation.account_id_pattern, found
        ):
            raise CrmFailedError(
                f"the lookup API's account id {str(found)[:40]!r} is not an account id"
            )
        return found


# -- one browser context -------------------------------------------------------------------------


class _Worker:
    """One browser context (behind its own policy proxy) with one page, signing in once and
    onboarding customer after customer from the queue."""

    def __init__(self, batch: CrmBatch, number: int) -> None:
        self.b, self.number = batch, number
        self.m = batch.mapping
        self.proxy: PolicyProxy | None = None
        self.context: Any = None
        self.page: Any = None
        self.nav_status: int | None = None
        self.blocked: list[str] = []
        self.maybe_start = False  # the page on show may carry the start button
        self.signed_in = False  # this context has signed in before (a sign-in page = expiry)

    # -- browser plumbing --------------------------------------------------------------------

    async def open(self) -> None:
        """A fresh context (no cookies of other workers), all its traffic through its proxy."""
        await self.close()
        cfg = self.b.cfg
        self.proxy = PolicyProxy(
            self.b.verdict, timeout_s=cfg.timeout_s, on_refused=self.blocked.append
        )
        await self.proxy.start()
        self.context = await self.b.browser.new_context(
            proxy={"server": self.proxy.url},
            user_agent=cfg.user_agent,
            service_workers="block",
            accept_downloads=False,
            viewport={"width": 1024, "height": 768},
        )
        self.context.on("page", self._on_page)
        self.page = await self.context.new_page()
        self.page.set_default_timeout(self.b.timeout_ms)
        self.page.set_default_navigation_timeout(self.b.timeout_ms)
        self.maybe_start = self.signed_in = False

    async def close(self) -> None:
        """Close the context (and its page) and its proxy."""
        context, self.context, self.page = self.context, None, None
        if context is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), 15)
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            await proxy.close()

    async def _on_page(self, page: Any) -> None:
        """Close pop-ups that pages open: they are not part of the form."""
        with contextlib.suppress(Exception):
            if await page.opener() is not None:
                await page.close()

    async def _go(self, action: Callable[[], Awaitable[Any]]) -> None:
        """Run an action that loads a page (a ``goto`` or a button press) and check the answer
        (Chromium follows redirects itself; the proxy checks each hop).

        Raises:
            CrmTransientError: the CRM did not answer, refused the connection or dropped it.
            CrmFailedError: the page (or a redirect hop) is refused by the URL policy.
        """
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeoutError

        refused_before = len(self.blocked)
        self.nav_status = None
        try:
            response = await action()
        except PlaywrightTimeoutError:
            raise CrmTransientError(
                f"the CRM did not answer within {self.b.cfg.timeout_s:g} s"
            ) from None
        except PlaywrightError as exc:
            if len(self.blocked) > refused_before:
                raise CrmFailedError(self.blocked[-1]) from None
            reason, down = _network_reason(_first_line(exc))
            raise CrmTransientError(
                f"the browser could not load the page: {reason}", unreachable=down
            ) from None
        if response is None:
            return
        refused = response.headers.get(POLICY_HEADER.lower())
        if refused:
            raise CrmFailedError(refused)
        error = response.headers.get(ERROR_HEADER.lower())
        if error:
            reason, down = _network_reason(error)
            raise CrmTransientError(f"the CRM at {self.b.base}: {reason}", unreachable=down)
        self.nav_status = response.status

    async def _goto(self, url: str) -> None:
        await self._go(lambda: self.page.goto(url, wait_until="domcontentloaded"))

    async def _press(self, name: str) -> None:
        """Press the button ``name`` and wait for the page it loads: in ``batched`` mode found by
        role and name and pressed in one round trip, else (or if not found at once) clicked
        with Playwright, which waits for the button."""
        batched = self.b.cfg.fill_mode == "batched"

        async def press() -> Any:
            async with self.page.expect_navigation(wait_until="domcontentloaded") as nav:
                if not (batched and await self.page.evaluate(_PRESS_JS, name)):
                    await self.page.get_by_role("button", name=name, exact=True).click()
            return await nav.value

        await self._go(press)

    async def _has_button(self, name: str) -> bool:
        if self.b.cfg.fill_mode == "batched":
            spec = {"role": "button", "name": name, "exact": True}
            return await self.page.evaluate(_READ_JS, spec) is not None
        button = self.page.get_by_role("button", name=name, exact=True)
        return bool(await button.count())

    # -- reading the page (as data) ---------------------------------------------------------

    async def _where(self) -> tuple[str, Any]:
        """Which page is on show, from its headings: ``("page", PageMapping)``, ``("login",)``,
        ``("created",)``, ``("exists",)``, ``("start",)``, ``("unavailable", text)`` or
        ``("unknown", headings)``."""
        heads = await self.page.evaluate(_HEADINGS_JS)
        return classify_page(self.m, heads, self.nav_status or 200)

    async def _alert_text(self) -> str:
        with contextlib.suppress(Exception):
            found = await self.page.evaluate(_ERRORS_JS, [self.m.errors.summary_role, "-"])
            return _norm(" ".join(found["summary"]))[:300]
        return ""

    async def _errors(self) -> tuple[list[str], dict[str, str]]:
        """The CRM's validation messages on the page: overall and per record field."""
        e = self.m.errors
        found = await self.page.evaluate(_ERRORS_JS, [e.summary_role, e.field_attribute])
        summary: list[str] = [s for s in found["summary"] if s]
        field_errors: dict[str, str] = {}
        covered: set[str] = set()
        for item in found["fields"]:
            texts = [t for t in item["texts"] if t]
            message = next(
                (s for s in summary for t in texts if s and s in t),
                next((t for t in texts if t.lower().startswith("error")), " ".join(texts)),
            )
            message = re.sub(r"^error:\s*", "", message, flags=re.IGNORECASE)
            covered.add(message)
            f = self.m.field_for_label(item["label"])
            field_errors[f.key if f else item["label"] or "?"] = message
        errors = [f"{k}: {v}" for k, v in field_errors.items()]
        errors += [s for s in summary if s not in covered and s != "There is a problem"]
        return errors, field_errors

    async def _account_id(self) -> str:
        conf, spec = self.m.confirmation, self.m.confirmation.account_id
        text = None
        if self.b.cfg.fill_mode == "batched":
            text = await self.page.evaluate(_READ_JS, spec.model_dump())
        if text is None:
            text = _norm(await self._locate(spec).inner_text())
        if not re.fullmatch(conf.account_id_pattern, text):
            raise CrmFailedError(
                f"the confirmation shows {text[:40]!r}, which is not an account id"
            )
        return text

    # -- filling -------------------------------------------------------------------------------

    def _locate(self, spec: LocatorSpec, group_role: str | None = None) -> Any:
        """The control: by label first, role + name, then the CSS selector as a fallback."""
        page, found = self.page, []
        if spec.label:
            found.append(
                page.get_by_role(group_role, name=spec.label, exact=spec.exact)
                if group_role
                else page.get_by_label(spec.label, exact=spec.exact)
            )
        if spec.role:
            found.append(page.get_by_role(spec.role, name=spec.name, exact=spec.exact))
        if spec.selector:
            found.append(page.locator(spec.selector))
        loc = found[0]
        for other in found[1:]:
            loc = loc.or_(other)
        return loc.first if len(found) > 1 else loc

    async def _fill_and_press(
        self, page: PageMapping, values: list[FieldValue], cs: _CustomerState
    ) -> None:
        """Put every value of a page in its control and press the page's button.

        ``batched``: files first (Playwright sets them), then one round trip that fills every
        other control and presses the button; whatever it could not find at once is filled
        with Playwright's locators (they wait for a control to appear) and the button pressed
        after. ``locators``: one Playwright action per control, then a click.

        Raises:
            _Rejected: a select, radio or checkbox group does not offer the value.
            CrmFatalError: a control of the mapping is not on the page (the mapping does not match).
        """
        final = page is self.m.final_page
        if self.b.cfg.fill_mode != "batched" or self.b.cfg.screenshot_steps:
            for fv in values:
                await self._fill_one(page, fv)
            if self.b.cfg.screenshot_steps:  # the page as the agent filled it, before pressing
                await self._screenshot(cs.key, f"filled-{page.name}", full_page=True)
            cs.submitted = cs.submitted or final
            await self._press(page.submit)
            return
        quick = [fv for fv in values if fv.field.kind != "file"]
        for fv in values:
            if fv.field.kind == "file":
                await self._fill_one(page, fv)
        specs = [
            {
                "label": fv.field.label,
                "role": fv.field.role,
                "name": fv.field.name,
                "selector": fv.field.selector,
                "exact": fv.field.exact,
                "optionExact": fv.field.option_exact,
                "kind": fv.field.kind,
                "value": fv.value,
            }
            for fv in quick
        ]
        submitted = cs.submitted
        cs.submitted = submitted or final

        async def step() -> Any:
            async with self.page.expect_navigation(wait_until="domcontentloaded") as nav:
                done = await self.page.evaluate(_STEP_JS, {"fields": specs, "button": page.submit})
                if not done["pressed"]:
                    raise _NotPressed(done["problems"])
            return await nav.value

        try:
            await self._go(step)
            return
        except _NotPressed as exc:
            cs.submitted = submitted
            problems = exc.problems
        for problem in problems:
            if problem["kind"] == "option":
                fv = quick[problem["index"]]
                offered = ", ".join(problem.get("offered") or [])[:200]
                what = problem.get("missing") or fv.value
                raise _Rejected(
                    [f"{fv.field.key}: the form does not offer {what!r} (it offers: {offered})"],
                    {fv.field.key: f"the form does not offer {what!r}"},
                )
        for problem in problems:
            await self._fill_one(page, quick[problem["index"]])
        cs.submitted = cs.submitted or final
        await self._press(page.submit)

    async def _fill_one(self, page: PageMapping, fv: FieldValue) -> None:
        """One control, with Playwright's locators (they wait for it to appear)."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeoutError

        f, value = fv.field, fv.value
        loc = self._locate(f, {"radio": "radiogroup", "checkbox_group": "group"}.get(f.kind))
        try:
            if f.kind in ("text", "date"):
                await loc.fill(str(value))
            elif f.kind == "select":
                options = await loc.evaluate(_OPTIONS_JS)
                await loc.select_option(value=self._option(f.key, str(value), options))
            elif f.kind == "radio":
                await loc.get_by_role("radio", name=str(value), exact=f.option_exact).check()
            elif f.kind == "checkbox":
                await loc.set_checked(bool(value))
            elif f.kind == "checkbox_group":
                await self._checkboxes(loc, f, list(value))  # type: ignore[arg-type]
            elif f.kind == "file":
                await loc.set_input_files(str(value))
        except PlaywrightTimeoutError:
            if await loc.count() == 0:
                raise CrmFatalError(
                    f"the mapping does not match the CRM: no control with {f.describe()} on "
                    f"the page {page.name!r}"
                ) from None
            raise _Rejected(
                [f"{f.key}: the form does not offer {value!r} for {f.describe()}"],
                {f.key: f"the form does not offer {value!r}"},
            ) from None
        except PlaywrightError as exc:
            if "strict mode violation" in str(exc):
                raise CrmFatalError(
                    f"the mapping is ambiguous: several controls match {f.describe()} on the "
                    f"page {page.name!r}"
                ) from None
            raise

    @staticmethod
    def _option(key: str, value: str, options: list[list[str]]) -> str:
        """The option value of a select for ``value`` (an option's value or visible text)."""
        for pick in (
            lambda v, t: v == value,
            lambda v, t: t == value,
            lambda v, t: value.casefold() in (v.casefold(), t.casefold()),
        ):
            for v, t in options:
                if v and pick(v, t):
                    return v
        offered = ", ".join(t for v, t in options if v)[:200]
        raise _Rejected(
            [f"{key}: the form does not offer {value!r} (it offers: {offered})"],
            {key: f"the form does not offer {value!r}"},
        )

    async def _checkboxes(self, group: Any, f: FieldMapping, wanted: list[str]) -> None:
        """Tick exactly the ``wanted`` boxes of a group (the others are cleared)."""
        state = await group.evaluate(_CHECKBOXES_JS)

        def matches(label: str, want: str) -> bool:
            return label == want if f.option_exact else want.casefold() in label.casefold()

        missing = [w for w in wanted if not any(matches(label, w) for label, _ in state)]
        if missing:
            what = ", ".join(map(repr, missing))
            raise _Rejected(
                [f"{f.key}: the form does not offer {what}"],
                {f.key: f"the form does not offer {what}"},
            )
        for label, checked in state:
            tick = any(matches(label, w) for w in wanted)
            if tick != checked:
                await group.get_by_role("checkbox", name=label, exact=True).set_checked(tick)

    # -- the wizard ------------------------------------------------------------------------------

    async def _sign_in(self) -> None:
        """Sign in on the sign-in page on show (its form knows where to go next).

        Raises:
            CrmFatalError: the CRM refused the username or password.
            CrmTransientError: the sign-in was answered with an error page.
        """
        login, cfg = self.m.login, self.b.cfg
        await self.page.get_by_label(login.username_label).fill(cfg.username)
        await self.page.get_by_label(login.password_label).fill(cfg.password)
        await self._press(login.submit)
        kind, info = await self._where()
        if kind == "unavailable":
            raise CrmTransientError(f"the CRM is unavailable ({info})")
        if kind == "login":
            said = await self._alert_text()
            raise CrmFatalError(
                f"the CRM refused the sign-in as {cfg.username!r}: {said or 'no reason'}"
            )

    async def _begin(self, cs: _CustomerState) -> None:
        """Open the page to continue from: the last wizard page of an earlier attempt, or a new
        customer (the start button, if the page on show has it; else the start page)."""
        if cs.resume_url:
            await self._goto(cs.resume_url)
            return
        start = self.m.start
        if self.maybe_start and await self._has_button(start.button):
            await self._press(start.button)
            return
        await self._goto(self.b.url(start.path))

    async def _attempt(self, rv: RecordValues, cs: _CustomerState) -> tuple[str, str]:
        """Walk the wizard once, from wherever :meth:`_begin` lands.

        Returns:
            ``("created" | "exists", account id)`` as the confirmation page says.
        """
        m = self.m
        self.maybe_start = False
        await self._begin(cs)
        visits: Counter[str] = Counter()
        pressed: PageMapping | None = None
        for _ in range(len(m.pages) * (MAX_VISITS + 1) + 2 * MAX_SIGN_INS + 4):
            kind, info = await self._where()
            if kind == "unavailable":
                raise CrmTransientError(f"the CRM is unavailable ({info})")
            if kind == "login":
                cs.sign_ins += 1
                if cs.sign_ins > MAX_SIGN_INS:
                    raise CrmTransientError("the CRM kept ending the session (signed in too often)")
                if self.signed_in:
                    cs.notes.append("signed in again: the CRM's session had expired")
                await self._sign_in()
                self.signed_in = True
                pressed = None
                continue
            if kind == "start":
                await self._press(m.start.button)
                continue
            if kind in ("created", "exists"):
                self.maybe_start = True
                return kind, await self._account_id()
            if kind == "page":
                page: PageMapping = info
                if page is pressed:
                    errors, field_errors = await self._errors()
                    if errors:
                        raise _Rejected(errors, field_errors)
                visits[page.name] += 1
                if visits[page.name] > MAX_VISITS:
                    raise CrmFailedError(
                        f"the page {page.heading!r} did not move on after pressing {page.submit!r}"
                    )
                cs.resume_url = self.page.url
                pressed = page
                await self._fill_and_press(page, rv.pages.get(page.name, []), cs)
                continue
            said = await self._alert_text()
            raise CrmFailedError(
                f"unexpected page (HTTP {self.nav_status}, headings {info[:3]})"
                + (f": {said}" if said else "")
            )
        raise CrmFailedError("the wizard did not finish")

    async def _screenshot(self, key: str, status: str, *, full_page: bool = False) -> str | None:
        folder = self.b.cfg.screenshot_dir
        if not folder or self.page is None:
            return None
        path = Path(folder) / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', key)[:80]}-{status}.png"
        with contextlib.suppress(Exception):
            path.parent.mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(path), full_page=full_page)
            return str(path)
        return None

    async def onboard(self, rv: RecordValues) -> OnboardingResult:
        """One customer, with retries; never raises."""
        res = OnboardingResult(external_ref=rv.key, status="failed")
        cs = _CustomerState(key=rv.key)
        started = time.perf_counter()
        self.blocked.clear()
        on_page = False

        async def attempt() -> tuple[str, str | None]:
            nonlocal on_page
            if self.page is None or self.page.is_closed():
                await self.open()
            on_page = True
            return await self._attempt(rv, cs)

        try:
            await self.b.with_retries(rv.key, res, cs, attempt)
        except _Rejected as exc:
            res.status, res.errors, res.field_errors = "rejected", exc.errors, exc.field_errors
        except CrmFailedError as exc:
            res.errors.append(str(exc))
        except CrmFatalError as exc:
            self.b.fatal = self.b.fatal or str(exc)
            res.errors.append(str(exc))
        except Exception as exc:  # a crashed browser, a bug: this customer fails, not the batch
            res.errors.append(f"unexpected error: {type(exc).__name__}: {_first_line(exc)}")
            await self.close()
        res.duration_s = time.perf_counter() - started
        res.notes = cs.notes
        res.blocked_requests = list(dict.fromkeys(self.blocked))
        if on_page and self.page is not None:
            res.screenshot = await self._screenshot(rv.key, res.status)
        return res

    async def work(
        self,
        queue: asyncio.Queue[tuple[int, RecordValues]],
        results: list[OnboardingResult | None],
    ) -> None:
        """Onboard customers from the queue until it is empty."""
        try:
            while True:
                try:
                    index, rv = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                results[index] = await self.onboard(rv)
        finally:
            await self.close()


# -- the resource ------------------------------------------------------------------------------


class BrowserFormFiller(dg.ConfigurableResource):
    """A browser agent that creates CRM accounts by filling the CRM's onboarding form in
    Chromium, as a YAML form mapping describes it (no CRM-specific code).

    ``onboard(records, mapping)`` returns one ``OnboardingResult`` per record, in input order:
    ``created``, ``exists`` (the CRM's lookup API or confirmation found the account: never a
    second one), ``rejected`` (the CRM's validation messages, per record field), ``failed``
    (after ``max_attempts`` for transient failures: 503 pages, dropped connections, time-outs;
    a CRM that is down fails the remaining customers at once, with the reason) or ``skipped``
    (the record does not fit the mapping, or repeats an earlier record's key). Records run in
    parallel over ``contexts`` browser contexts, each signed in once; an expired session is
    renewed by signing in again. Every request the pages make is checked against the same URL
    policy as the crawler's ``BrowserFetcher``; refused requests are aborted and listed.
    """

    crm_url: str = Field(description="The CRM's base URL (http://host:port).")
    username: str = Field(description="The CRM sign-in (an EnvVar in production).")
    password: str = Field(description="Its password (an EnvVar in production).")
    api_token: str = Field(description="Bearer token of the CRM's lookup API (an EnvVar).")
    allowed_domains: list[str] = Field(
        default=[], description="host, *.domain or host:port entries; empty: any public host."
    )
    allow_private_hosts: list[str] = Field(
        default=[], description="Private/loopback hosts allowed anyway (local development)."
    )
    contexts: int = Field(default=3, ge=1, le=16, description="Browser contexts in parallel.")
    timeout_s: float = Field(default=10.0, gt=0, description="Time allowed per page or action.")
    max_attempts: int = Field(default=3, ge=1, description="Tries per customer (transient).")
    backoff_s: float = Field(default=0.2, ge=0, description="First wait before a retry (x2).")
    chromium_path: str | None = Field(default=None, description="Chromium; None: find it.")
    headless: bool = Field(default=True, description="Run Chromium without a window.")
    fill_mode: Literal["batched", "locators"] = Field(
        default="batched",
        description="batched: each page's controls found and set in one round trip (Playwright "
        "locators for what it misses); locators: one Playwright locator action per control.",
    )
    user_agent: str = Field(default=BROWSER_USER_AGENT, description="User-Agent header sent.")
    screenshot_dir: str | None = Field(
        default=None, description="Folder for a screenshot of each customer's last page."
    )
    screenshot_steps: bool = Field(
        default=False,
        description="Also a screenshot of every wizard page once filled, before its button is "
        "pressed (in screenshot_dir; fills control by control, as fill_mode=locators does).",
    )

    def browser_settings(self) -> BrowserFetcher:
        """The crawler's browser settings with this resource's policy and Chromium: the filler
        is held to exactly the rules of ``BrowserFetcher``.

        Returns:
            A ``BrowserFetcher`` (not started) whose ``policy()`` and ``executable()`` apply.
        """
        return BrowserFetcher(
            executable_path=self.chromium_path,
            allowed_domains=list(self.allowed_domains),
            allow_private_hosts=list(self.allow_private_hosts),
            timeout_s=self.timeout_s,
            user_agent=self.user_agent,
        )

    def policy(self) -> UrlPolicy:
        """The URL policy every request is checked against.

        Returns:
            The same ``UrlPolicy`` a ``BrowserFetcher`` with these allow-lists uses.
        """
        return self.browser_settings().policy()

    def onboard(
        self, records: list[dict[str, Any]], mapping: FormMapping | str | Path
    ) -> list[OnboardingResult]:
        """Create an account for every record that has none yet.

        Args:
            records: customers in the record schema of
                :mod:`orchestration_project.customer_onboarding.mapping`.
            mapping: the CRM's form mapping, or a path / packaged name (``"demo_crm"``).

        Returns:
            One result per record, in the order of ``records``; never fewer.

        Raises:
            MappingError: ``mapping`` names a file that is not a valid mapping.
            BrowserNotAvailableError: Chromium cannot be found or started.
        """
        if not isinstance(mapping, FormMapping):
            mapping = load_mapping(mapping)
        results: list[OnboardingResult | None] = [None] * len(records)
        todo: list[tuple[int, RecordValues]] = []
        first_of: dict[str, int] = {}
        for i, record in enumerate(records):
            key = str(record.get(mapping.key) or "").strip() if isinstance(record, dict) else ""
            try:
                if not isinstance(record, dict):
                    raise RecordError({"": f"a record is a mapping, not {type(record).__name__}"})
                rv = record_values(record, mapping)
            except RecordError as exc:
                errors = [f"{k}: {v}" if k else v for k, v in exc.problems.items()]
                results[i] = OnboardingResult(key, "skipped", errors=errors)
                continue
            if rv.key in first_of:
                results[i] = OnboardingResult(
                    rv.key,
                    "skipped",
                    errors=[
                        f"{mapping.key} {rv.key!r} repeats record {first_of[rv.key]} of this "
                        "batch: onboarded once"
                    ],
                )
                continue
            first_of[rv.key] = i
            todo.append((i, rv))
        if todo:
            with ThreadPoolExecutor(1, thread_name_prefix="form-filler") as pool:
                pool.submit(asyncio.run, self._run(todo, results, mapping)).result()
        return [
            r if r is not None else OnboardingResult(records[i].get(mapping.key, ""), "failed")
            for i, r in enumerate(results)
        ]

    async def _run(
        self,
        todo: list[tuple[int, RecordValues]],
        results: list[OnboardingResult | None],
        mapping: FormMapping,
    ) -> None:
        from playwright.async_api import async_playwright

        settings = self.browser_settings()
        batch = CrmBatch(self, mapping, settings.policy())
        refusal = await batch.verdict(batch.url(mapping.start.path))
        if refusal:
            for i, rv in todo:
                results[i] = OnboardingResult(rv.key, "failed", errors=[refusal])
            return
        exe = settings.executable()
        # Chromium's own requests (component updates, sign-in probes) meet the policy here
        browser_proxy = PolicyProxy(
            batch.verdict, timeout_s=self.timeout_s, on_refused=batch.background_refusals.append
        )
        await browser_proxy.start()
        # Measured on two cores (benchmarks/onboarding_throughput.py): without a renderer
        # limit Chromium starts new renderer processes as the wizard's pages come and go, a
        # third of the CPU per customer.
        args = [*CHROMIUM_ARGS, f"--renderer-process-limit={max(2, self.contexts)}"]
        # Chromium asks Google about every form it sees (autofill); a closed loopback port
        # instead keeps that traffic from even reaching the policy
        args.append("--autofill-server-url=http://127.0.0.1:1/")
        try:
            async with async_playwright() as pw:
                try:
                    batch.browser = await pw.chromium.launch(
                        executable_path=exe,
                        headless=self.headless,
                        args=args,
                        proxy={"server": browser_proxy.url},
                    )
                except Exception as exc:
                    raise BrowserNotAvailableError(
                        f"Chromium could not be started ({exe}): {_first_line(exc)}; {INSTALL_HINT}"
                    ) from exc
                try:
                    limits = httpx.Limits(max_connections=max(4, self.contexts * 2))
                    async with httpx.AsyncClient(
                        timeout=self.timeout_s, follow_redirects=False, limits=limits
                    ) as http:
                        batch.http = http
                        queue: asyncio.Queue[tuple[int, RecordValues]] = asyncio.Queue()
                        for item in todo:
                            queue.put_nowait(item)
                        n = min(self.contexts, len(todo))
                        workers = [_Worker(batch, k) for k in range(n)]
                        await asyncio.gather(*(w.work(queue, results) for w in workers))
                finally:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(batch.browser.close(), 30)
        finally:
            await browser_proxy.close()
        for i, rv in todo:  # nothing is lost, whatever happened
            if results[i] is None:
                results[i] = OnboardingResult(rv.key, "failed", errors=["not processed"])
