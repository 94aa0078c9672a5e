"""The CRM web application: routing, sign-in, sessions, CSRF, the wizard, the JSON API, faults.

:class:`CrmApp` turns a :class:`Request` into a :class:`Response` and knows nothing of sockets
(``server.py`` does the HTTP). Routes:

=======  ====================================  =================================================
GET      ``/login``                            sign-in form (``?expired=1`` says the session
                                               expired, ``?next=`` where to go afterwards)
POST     ``/login``                            sign in (CSRF: a double-submit cookie)
POST     ``/logout``                           sign out
GET      ``/`` , ``/accounts?q=``              account list and search
GET      ``/accounts/<ACC-id>``                one account; ``…/contract.pdf`` its contract
POST     ``/onboarding``                       start a new customer (a draft) -> step 1
GET/POST ``/onboarding/<draft>/<step>``        steps ``company``, ``contact``, ``plan``,
                                               ``contract``; POST ``review`` submits
GET      ``/onboarding/<draft>/done``          confirmation with the account id
GET      ``/api/accounts?external_ref=|email=|account_id=``  the account as JSON, or 404;
                                               without a filter, all accounts (``?q=``)
GET      ``/api/accounts/<ACC-id>``            the account as JSON, or 404
GET      ``/api/health``                       ``{"status": "ok"}`` (no sign-in)
GET/POST ``/__admin/faults``                   read / replace the faults (JSON)
POST     ``/__admin/sessions/expire``          expire every session now
=======  ====================================  =================================================

The API takes the admin token (``Authorization: Bearer …``) or a signed-in session cookie; the
``/__admin`` routes take the token only. Every other page needs a session; every POST needs the
session's CSRF token (the ``csrf_token`` form field or an ``X-CSRF-Token`` header).
"""

from __future__ import annotations

import json
import random
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from orchestration_project.demo_world.common import HTML, JSON
from orchestration_project.demo_world.crm import pages
from orchestration_project.demo_world.crm.catalogue import (
    DEFAULT_MAX_UPLOAD_BYTES,
    STEP_BY_SLUG,
    STEP_SLUGS,
    STEPS,
)
from orchestration_project.demo_world.crm.forms import (
    FormData,
    form_from_values,
    parse_form,
    recheck_draft,
    validate_step,
)
from orchestration_project.demo_world.crm.pages import Viewer, theme_for
from orchestration_project.demo_world.crm.store import CrmStore, Draft, DuplicateAccountError
from orchestration_project.demo_world.crm.style import STYLESHEETS

SESSION_COOKIE = "crm_session"
LOGIN_CSRF_COOKIE = "crm_login_csrf"
EXPIRED_MESSAGE = "Your session has expired. Please sign in again."
BAD_LOGIN_MESSAGE = "Incorrect username or password."
CSRF_MESSAGE = (
    "The form's security token is missing or invalid. Go back, reload the page and try again."
)
UNAVAILABLE_MESSAGE = "The CRM is temporarily unavailable. Please try again in a moment."
SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy", "default-src 'self'; form-action 'self'"),
)
_DRAFT_PATH = re.compile(r"^/onboarding/([0-9a-f]{16})(?:/([a-z]+))?/?$")
_ACCOUNT_PATH = re.compile(r"^/accounts/(ACC-\d{6})(/contract\.pdf)?/?$")
_API_ACCOUNT_PATH = re.compile(r"^/api/accounts/(ACC-\d{6})/?$")


@dataclass
class CrmFaults:
    """What is currently wrong with the CRM (set at start, or later by ``set_faults``).

    Attributes:
        delay_s: latency added before every answer.
        error_rate: share of form POSTs (sign-in included) answered ``503 Service Unavailable``
            before anything is done: a transient failure, safe to retry.
        seed: seeds the draws of ``error_rate`` and ``lost_confirmation_rate``, so a sequence
            of requests meets the same failures every time.
        session_max_requests: a session expires once it has served this many requests (its
            next request is sent to the sign-in page): "the login expired mid-batch".
        session_ttl_s: a session expires after this many idle seconds.
        redesign: serve the redesigned pages (other ids, classes, field names and order; the
            same labels and button names).
        submit_delay_s: the final submit waits this long between its duplicate check and the
            insert: a slow back end, and a wide window for racing submits or for a client that
            gives up (or is killed) before the confirmation arrives.
        lost_confirmation_rate: share of account-creating submits whose answer never comes:
            the account is committed, then the connection is closed without a response.
    """

    delay_s: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    session_max_requests: int | None = None
    session_ttl_s: float | None = None
    redesign: bool = False
    submit_delay_s: float = 0.0
    lost_confirmation_rate: float = 0.0

    def __post_init__(self) -> None:
        """Check the ranges."""
        for name in ("error_rate", "lost_confirmation_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.delay_s < 0 or self.submit_delay_s < 0:
            raise ValueError("delays cannot be negative")
        if self.session_max_requests is not None and self.session_max_requests < 1:
            raise ValueError("session_max_requests must be at least 1")

    def as_dict(self) -> dict[str, Any]:
        """The faults as JSON-ready values."""
        return asdict(self)


FAULT_NAMES = frozenset(f.name for f in fields(CrmFaults))


@dataclass
class Request:
    """An HTTP request as the application sees it."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    @property
    def path(self) -> str:
        """The path, without the query."""
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        """The query string's parameters."""
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def arg(self, name: str) -> str:
        """The first query parameter ``name``, or ``""``."""
        return (self.query.get(name) or [""])[0]

    def cookie(self, name: str) -> str:
        """The value of cookie ``name``, or ``""``."""
        try:
            jar = SimpleCookie(self.headers.get("cookie", ""))
        except CookieError:
            return ""
        morsel = jar.get(name)
        return morsel.value if morsel is not None else ""

    def form(self) -> FormData:
        """The posted form (url-encoded or multipart); empty if it cannot be read."""
        try:
            return parse_form(self.body, self.headers.get("content-type", ""))
        except ValueError:
            return FormData()


@dataclass
class Response:
    """What to answer; ``drop`` closes the connection without answering at all."""

    status: int
    body: bytes = b""
    content_type: str = HTML
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


def _html(status: int, page: str, *headers: tuple[str, str]) -> Response:
    return Response(status, page.encode("utf-8"), HTML, [*SECURITY_HEADERS, *headers])


def _json(status: int, obj: object) -> Response:
    return Response(status, json.dumps(obj).encode("utf-8"), JSON, [("Cache-Control", "no-store")])


def _redirect(location: str, *headers: tuple[str, str]) -> Response:
    return Response(303, b"", HTML, [("Location", location), *SECURITY_HEADERS, *headers])


def _session_cookie(token: str, *, max_age: int | None = None) -> tuple[str, str]:
    age = f"; Max-Age={max_age}" if max_age is not None else ""
    return ("Set-Cookie", f"{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{age}")


def same_secret(sent: str, expected: str) -> bool:
    """Constant-time comparison of a sent token with the expected one (any characters)."""
    return bool(sent) and secrets.compare_digest(sent.encode(), expected.encode())


def safe_next(target: str) -> str:
    """``target`` if it is a path on this site (not the sign-in page), else ``/accounts``."""
    if (
        target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not target.startswith("/login")
    ):
        return target
    return "/accounts"


class CrmApp:
    """The CRM application over a :class:`CrmStore`."""

    def __init__(
        self,
        store: CrmStore,
        *,
        api_token: str,
        faults: CrmFaults | None = None,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        stop_event: threading.Event | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        """Serve ``store``.

        Args:
            store: the database.
            api_token: the bearer token of the JSON API and the admin routes.
            faults: the faults to start with (none by default).
            max_upload_bytes: the largest contract accepted.
            stop_event: set when the server stops (ends any injected wait early).
            today: the current date (a start date must not be before it).
        """
        self.store = store
        self.api_token = api_token
        self.max_upload_bytes = max_upload_bytes
        self._stop = stop_event or threading.Event()
        self._today = today
        self._lock = threading.Lock()
        self.faults = CrmFaults()
        self._error_rng = random.Random(0)
        self._lost_rng = random.Random(1)
        self.set_faults(**(faults.as_dict() if faults else {}))

    # -- faults -----------------------------------------------------------------------------

    def set_faults(self, **options: Any) -> CrmFaults:
        """Replace the faults: every option not given goes back to its default, and the random
        draws restart from ``seed``.

        Raises:
            TypeError: an unknown option. ValueError: a value out of range.
        """
        unknown = set(options) - FAULT_NAMES
        if unknown:
            raise TypeError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        new = CrmFaults(**options)
        with self._lock:
            self.faults = new
            self._error_rng = random.Random(new.seed)
            self._lost_rng = random.Random(new.seed + 1)
        return new

    def _draw(self, rng: random.Random, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._lock:
            return rng.random() < rate

    @property
    def theme(self) -> pages.Theme:
        """The design served now."""
        return theme_for(self.faults.redesign)

    # -- dispatch -----------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        """Answer one request."""
        path = req.path
        if path.startswith("/__admin/"):
            return self._admin(req)
        if self.faults.delay_s and self._stop.wait(self.faults.delay_s):
            return _html(503, pages.message_page(self.theme, "Shutting down", UNAVAILABLE_MESSAGE))
        if req.method == "GET" and path.startswith("/static/"):
            return self._static(path)
        if path == "/favicon.ico":
            return Response(204)
        if path == "/api/health":
            return _json(200, {"status": "ok"})
        if req.method == "POST" and self._draw(self._error_rng, self.faults.error_rate):
            page = pages.message_page(
                self.theme, "Service temporarily unavailable", UNAVAILABLE_MESSAGE
            )
            return _html(503, page, ("Retry-After", "1"))
        if path.startswith("/api/"):
            return self._api(req)
        if path == "/login":
            return self._login(req) if req.method == "POST" else self._login_form(req)
        if req.method not in ("GET", "POST"):
            return _html(405, pages.message_page(self.theme, "Method not allowed", req.method))
        session = None
        token = req.cookie(SESSION_COOKIE)
        if token:
            _, session = self.store.touch_session(
                token,
                max_requests=self.faults.session_max_requests,
                ttl_s=self.faults.session_ttl_s,
            )
        if session is None:
            return self._to_login(req, expired=bool(token))
        viewer = Viewer(session.username, session.csrf_token)
        if req.method == "POST":
            form = req.form()
            sent = form.get("csrf_token") or req.headers.get("x-csrf-token", "")
            if not same_secret(sent, session.csrf_token):
                page = pages.message_page(self.theme, "Security check failed", CSRF_MESSAGE, viewer)
                return _html(403, page)
            return self._post(req, form, session.user_id, viewer, token)
        return self._get(req, session.user_id, viewer)

    def _to_login(self, req: Request, *, expired: bool) -> Response:
        """Send a request without a valid session to the sign-in page (and back afterwards)."""
        path = req.path
        if req.method == "POST":
            match = _DRAFT_PATH.match(path)
            path = path if match and match.group(2) else "/accounts"
        target = "/login?next=" + quote(path if req.method == "POST" else req.target, safe="")
        if expired:
            target += "&expired=1"
        # the cookie is spent: drop it, so the sign-in page does not see it again
        return _redirect(target, _session_cookie("", max_age=0))

    # -- sign-in ------------------------------------------------------------------------------

    def _login_form(
        self, req: Request, *, status: int = 200, error: str = "", username: str = ""
    ) -> Response:
        token = req.cookie(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(18)
        if not error and req.arg("expired"):
            error = EXPIRED_MESSAGE
        notice = "You have signed out." if req.arg("signed_out") else ""
        page = pages.login_page(
            self.theme,
            csrf=token,
            next_path=safe_next(req.arg("next") or req.form().get("next")),
            username=username,
            error=error,
            notice=notice,
        )
        cookie = ("Set-Cookie", f"{LOGIN_CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax")
        return _html(status, page, cookie)

    def _login(self, req: Request) -> Response:
        form = req.form()
        sent, expected = form.get("csrf_token"), req.cookie(LOGIN_CSRF_COOKIE)
        if not expected or not same_secret(sent, expected):
            page = pages.message_page(
                self.theme,
                "Security check failed",
                "Your sign-in form has expired. Reload the page and sign in again.",
                link='<a href="/login">Sign in</a>',
            )
            return _html(403, page)
        username = form.get("username")
        password = (form.getlist("password") or [""])[0]  # as typed: not stripped
        user_id = self.store.check_login(username, password)
        if user_id is None:
            return self._login_form(req, status=401, error=BAD_LOGIN_MESSAGE, username=username)
        token = self.store.create_session(user_id)
        return _redirect(safe_next(form.get("next")), _session_cookie(token))

    # -- pages --------------------------------------------------------------------------------

    def _get(self, req: Request, user_id: int, viewer: Viewer) -> Response:
        path, t = req.path, self.theme
        if path == "/":
            return _redirect("/accounts")
        if path in ("/accounts", "/accounts/"):
            query = req.arg("q")
            return _html(200, pages.accounts_page(t, viewer, self.store.accounts(query), query))
        match = _ACCOUNT_PATH.match(path)
        if match:
            account = self.store.account(account_id=match.group(1))
            if account is None:
                return self._not_found(viewer)
            if match.group(2):
                contract = self.store.contract_of(account["account_id"])
                if contract is None:
                    return self._not_found(viewer)
                disposition = f'inline; filename="{contract.name.replace(chr(34), "")}"'
                return Response(
                    200, contract.content, "application/pdf", [("Content-Disposition", disposition)]
                )
            return _html(200, pages.account_page(t, viewer, account))
        match = _DRAFT_PATH.match(path)
        if match:
            draft = self.store.draft(match.group(1), user_id)
            if draft is None:
                return self._not_found(viewer)
            return self._wizard_get(draft, match.group(2), viewer)
        return self._not_found(viewer)

    def _not_found(self, viewer: Viewer) -> Response:
        page = pages.message_page(
            self.theme,
            "Page not found",
            "There is nothing at this address.",
            viewer,
            link='<a href="/accounts">Go to the accounts</a>',
        )
        return _html(404, page)

    def _post(
        self, req: Request, form: FormData, user_id: int, viewer: Viewer, token: str
    ) -> Response:
        path = req.path
        if path == "/logout":
            self.store.end_session(token)
            return _redirect("/login?signed_out=1", _session_cookie("", max_age=0))
        if path in ("/onboarding", "/onboarding/"):
            draft_id = self.store.create_draft(user_id)
            return _redirect(f"/onboarding/{draft_id}/{STEP_SLUGS[0]}")
        match = _DRAFT_PATH.match(path)
        if match and match.group(2) in STEP_BY_SLUG:
            draft = self.store.draft(match.group(1), user_id)
            if draft is None:
                return self._not_found(viewer)
            if draft.status == "submitted":
                return _redirect(f"/onboarding/{draft.draft_id}/done")
            if match.group(2) == "review":
                return self._submit(draft, viewer)
            return self._wizard_post(draft, match.group(2), form, viewer)
        return self._not_found(viewer)

    # -- the wizard ---------------------------------------------------------------------------

    def _reachable(self, draft: Draft) -> int:
        """The index of the furthest step the draft may show: the first incomplete one."""
        failed = recheck_draft(
            draft.data,
            has_contract=draft.contract_sha256 is not None,
            today=self._today(),
            max_upload_bytes=self.max_upload_bytes,
        )
        for i, slug in enumerate(STEP_SLUGS):
            if slug in failed:
                return i
        return len(STEPS) - 1

    def _context(self, draft: Draft) -> dict[str, Any]:
        contract = (
            (draft.contract_name, draft.contract_size)
            if draft.contract_sha256 is not None
            else None
        )
        return {
            "today": self._today(),
            "max_upload_bytes": self.max_upload_bytes,
            "seats": draft.data.get("seats"),
            "contract": contract,
        }

    def _wizard_get(self, draft: Draft, slug: str | None, viewer: Viewer) -> Response:
        base = f"/onboarding/{draft.draft_id}"
        if draft.status == "submitted":
            if slug != "done":
                return _redirect(f"{base}/done")
            account = self.store.account(account_id=draft.account_id)
            if account is None:
                return self._not_found(viewer)
            page = pages.done_page(self.theme, viewer, account=account, outcome=draft.outcome or "")
            return _html(200, page)
        reachable = self._reachable(draft)
        if slug not in STEP_BY_SLUG or STEP_SLUGS.index(slug) > reachable:
            return _redirect(f"{base}/{STEP_SLUGS[reachable]}")
        if slug == "review":
            return _html(200, self._review(draft, viewer, []))
        page = pages.step_page(
            self.theme,
            viewer,
            draft_id=draft.draft_id,
            step=STEP_BY_SLUG[slug],
            form=form_from_values(draft.data),
            errors={},
            reachable=reachable,
            context=self._context(draft),
        )
        return _html(200, page)

    def _wizard_post(self, draft: Draft, slug: str, form: FormData, viewer: Viewer) -> Response:
        reachable = self._reachable(draft)
        if STEP_SLUGS.index(slug) > reachable:
            return _redirect(f"/onboarding/{draft.draft_id}/{STEP_SLUGS[reachable]}")
        res = validate_step(
            slug,
            form,
            draft.data,
            today=self._today(),
            max_upload_bytes=self.max_upload_bytes,
            has_contract=draft.contract_sha256 is not None,
        )
        if slug == "contact" and "email" in res.values:
            clash = self._email_clash(res.values["email"], draft.data.get("external_ref") or "")
            if clash:
                res.errors["email"] = clash
        if not res.ok:
            page = pages.step_page(
                self.theme,
                viewer,
                draft_id=draft.draft_id,
                step=STEP_BY_SLUG[slug],
                form=form,
                errors=res.errors,
                reachable=reachable,
                context=self._context(draft),
            )
            return _html(422, page)
        self.store.update_draft(draft.draft_id, res.values, res.contract)
        return _redirect(f"/onboarding/{draft.draft_id}/{STEP_SLUGS[STEP_SLUGS.index(slug) + 1]}")

    def _email_clash(self, email: str, external_ref: str) -> str:
        """The error for an e-mail address another account already has ("" if none). The
        account of the draft's own external reference does not count: that is a re-run."""
        existing = self.store.account(email=email)
        if existing is None or (external_ref and existing["external_ref"] == external_ref):
            return ""
        return f"An account with this e-mail address already exists ({existing['account_id']})"

    def _review(self, draft: Draft, viewer: Viewer, problems: list[tuple[str, str]]) -> str:
        contract = (
            (draft.contract_name or "", draft.contract_size or 0)
            if draft.contract_sha256 is not None
            else None
        )
        return pages.review_page(
            self.theme,
            viewer,
            draft_id=draft.draft_id,
            data=draft.data,
            contract=contract,
            problems=problems,
        )

    def _submit(self, draft: Draft, viewer: Viewer) -> Response:
        """Create the account, or find the one the external reference already has."""
        base = f"/onboarding/{draft.draft_id}"
        ref = draft.data.get("external_ref") or ""
        existing = self.store.account(external_ref=ref) if ref else None
        if existing is not None:  # a re-run: the account exists, do not create another
            self.store.close_draft(draft.draft_id, existing["account_id"], "existing")
            return _redirect(f"{base}/done")
        failed = recheck_draft(
            draft.data,
            has_contract=draft.contract_sha256 is not None,
            today=self._today(),
            max_upload_bytes=self.max_upload_bytes,
        )
        problems = [
            (f"{base}/{slug}", message)
            for slug, errs in failed.items()
            for message in errs.values()
        ]
        clash = self._email_clash(draft.data.get("email", ""), ref) if not failed else ""
        if clash:
            problems.append((f"{base}/contact", clash))
        contract = self.store.draft_contract(draft.draft_id)
        if problems or contract is None:
            return _html(422, self._review(draft, viewer, problems))
        if self.faults.submit_delay_s and self._stop.wait(self.faults.submit_delay_s):
            return _html(503, pages.message_page(self.theme, "Shutting down", UNAVAILABLE_MESSAGE))
        try:
            self.store.create_account(
                draft.data, contract, created_by=viewer.username, draft_id=draft.draft_id
            )
        except DuplicateAccountError as dup:
            if dup.column == "external_ref":  # a racing submit of the same customer won
                self.store.close_draft(draft.draft_id, dup.existing["account_id"], "existing")
                return _redirect(f"{base}/done")
            message = (
                f"An account with this e-mail address already exists ({dup.existing['account_id']})"
            )
            return _html(422, self._review(draft, viewer, [(f"{base}/contact", message)]))
        if self._draw(self._lost_rng, self.faults.lost_confirmation_rate):
            return Response(0, drop=True)
        return _redirect(f"{base}/done")

    # -- JSON API and administration ----------------------------------------------------------

    def _has_token(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and same_secret(value.strip(), self.api_token)

    def _api(self, req: Request) -> Response:
        if req.method != "GET":
            return _json(405, {"error": "method not allowed"})
        if not self._has_token(req):
            token = req.cookie(SESSION_COOKIE)
            state = "unknown"
            if token:
                state, _ = self.store.touch_session(
                    token,
                    max_requests=self.faults.session_max_requests,
                    ttl_s=self.faults.session_ttl_s,
                )
            if state != "valid":
                message = "session expired" if state == "expired" else "authentication required"
                return _json(401, {"error": message})
        match = _API_ACCOUNT_PATH.match(req.path)
        if match:
            return self._api_one("account_id", match.group(1))
        if req.path.rstrip("/") != "/api/accounts":
            return _json(404, {"error": "no such endpoint"})
        for key in ("external_ref", "email", "account_id"):
            if key in req.query:
                return self._api_one(key, req.arg(key))
        accounts = self.store.accounts(req.arg("q"))
        return _json(200, {"accounts": accounts, "count": len(accounts)})

    def _api_one(self, key: str, value: str) -> Response:
        account = self.store.account(**{key: value})
        if account is None:
            return _json(404, {"error": f"no account with {key} {value!r}"})
        return _json(200, {"account": account})

    def _admin(self, req: Request) -> Response:
        if not self._has_token(req):
            return _json(401, {"error": "admin token required"})
        if req.path == "/__admin/faults":
            if req.method == "POST":
                try:
                    options = json.loads(req.body or b"{}")
                    if not isinstance(options, dict):
                        raise TypeError("expected a JSON object")
                    self.set_faults(**options)
                except (ValueError, TypeError) as exc:
                    return _json(400, {"error": str(exc)})
            return _json(200, {"faults": self.faults.as_dict()})
        if req.path == "/__admin/sessions/expire" and req.method == "POST":
            return _json(200, {"expired": self.store.expire_sessions()})
        return _json(404, {"error": "no such endpoint"})

    def _static(self, path: str) -> Response:
        css = STYLESHEETS.get(path)
        if css is None:
            return Response(404, b"not found", "text/plain; charset=utf-8")
        return Response(
            200, css.encode("utf-8"), "text/css; charset=utf-8", [("Cache-Control", "max-age=60")]
        )
