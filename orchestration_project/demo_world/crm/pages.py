"""The CRM's server-rendered HTML, in two designs.

Every control has an accessible name that does not depend on the design: a ``<label for=…>``
for single controls, a ``<fieldset>`` with a ``<legend>`` around radio and checkbox groups.
Errors are announced twice, like a careful admin UI does it: a summary at the top
(``role="alert"``, each message linking to its field) and a message next to the field, tied to it
by ``aria-describedby`` with ``aria-invalid="true"`` on the control.

The *redesign* (:data:`REDESIGN`) keeps those names and the button texts but changes everything
a CSS selector would hold on to: element ids, class names, field ``name`` attributes
(``account[company]``), the order of the fields within a step and the page layout. A browser
script that finds controls by role and label works on both; one that uses selectors does not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from orchestration_project.demo_world.common import esc
from orchestration_project.demo_world.crm.catalogue import (
    ADDONS,
    BILLING_CYCLES,
    COUNTRIES,
    FIELD_BY_KEY,
    INDUSTRIES,
    LANGUAGES,
    MAX_START_DAYS_AHEAD,
    PLAN_BY_CODE,
    PRODUCT_NAME,
    STEPS,
    FormField,
    Step,
)
from orchestration_project.demo_world.crm.forms import FormData, alias, human_size

# -- the two designs -------------------------------------------------------------------------

CLASSIC_CLASSES = {
    "body": "app",
    "skip": "skip-link",
    "header": "topbar",
    "brand": "brand",
    "nav": "mainnav",
    "user": "usermenu",
    "main": "content",
    "footer": "footer",
    "card": "card",
    "group": "form-group",
    "group_error": "form-group--error",
    "label": "form-label",
    "hint": "form-hint",
    "error": "form-error",
    "input": "form-control",
    "fieldset": "form-fieldset",
    "legend": "form-legend",
    "choice": "form-check",
    "choice_input": "form-check-input",
    "choice_label": "form-check-label",
    "choice_hint": "form-check-hint",
    "actions": "form-actions",
    "button": "btn btn-primary",
    "button_plain": "btn btn-link",
    "back": "back-link",
    "summary": "error-summary",
    "steps": "wizard-steps",
    "step": "wizard-step",
    "table": "data-table",
    "notice": "notice",
    "hidden": "visually-hidden",
    "review": "review-list",
}
REDESIGN_CLASSES = {
    "body": "shell-v2",
    "skip": "jump",
    "header": "rail",
    "brand": "rail__logo",
    "nav": "rail__menu",
    "user": "rail__account",
    "main": "pane",
    "footer": "pane__foot",
    "card": "surface",
    "group": "fld",
    "group_error": "fld--bad",
    "label": "fld__caption",
    "hint": "fld__help",
    "error": "fld__problem",
    "input": "fld__control",
    "fieldset": "fld-set",
    "legend": "fld-set__title",
    "choice": "opt",
    "choice_input": "opt__box",
    "choice_label": "opt__text",
    "choice_hint": "opt__note",
    "actions": "toolbar",
    "button": "action action--go",
    "button_plain": "action action--quiet",
    "back": "toolbar__back",
    "summary": "problems",
    "steps": "stepper",
    "step": "stepper__item",
    "table": "grid-list",
    "notice": "banner",
    "hidden": "sr-only",
    "review": "recap",
}


@dataclass(frozen=True)
class Theme:
    """A design of the pages: class names, ids, field names, order and stylesheet."""

    redesign: bool

    def c(self, role: str) -> str:
        """The class name for element role ``role``."""
        return (REDESIGN_CLASSES if self.redesign else CLASSIC_CLASSES)[role]

    def id(self, key: str) -> str:
        """The element id for ``key`` (a field key or a page element)."""
        if not self.redesign:
            return key
        return "v2-" + hashlib.sha1(key.encode()).hexdigest()[:7]

    def name(self, key: str) -> str:
        """The ``name`` attribute field ``key`` posts under."""
        return alias(key) if self.redesign else key

    def order(self, fields: Sequence[FormField]) -> list[FormField]:
        """The fields of a step in this design's order."""
        return list(reversed(fields)) if self.redesign else list(fields)

    @property
    def stylesheet(self) -> str:
        """The URL of this design's stylesheet."""
        return "/static/crm-v2.css" if self.redesign else "/static/crm.css"


CLASSIC, REDESIGN = Theme(False), Theme(True)


def theme_for(redesign: bool) -> Theme:
    """The design currently served."""
    return REDESIGN if redesign else CLASSIC


# -- page frame ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: the signed-in user and their session's CSRF token."""

    username: str
    csrf: str


def csrf_input(csrf: str) -> str:
    """The hidden input that carries the CSRF token in every form."""
    return f'<input type="hidden" name="csrf_token" value="{esc(csrf)}">'


def layout(
    t: Theme, title: str, main: str, viewer: Viewer | None = None, *, active: str = ""
) -> str:
    """A full page: header with navigation and user menu (when signed in), main, footer."""
    nav = ""
    if viewer is not None:
        current = ' aria-current="page"' if active == "accounts" else ""
        nav = (
            f'<nav class="{t.c("nav")}" aria-label="Main">'
            f'<a href="/accounts"{current}>Accounts</a>'
            f'<form method="post" action="/onboarding">{csrf_input(viewer.csrf)}'
            f'<button type="submit" class="{t.c("button")}">New customer</button></form></nav>'
            f'<div class="{t.c("user")}">Signed in as <strong>{esc(viewer.username)}</strong>'
            f'<form method="post" action="/logout">{csrf_input(viewer.csrf)}'
            f'<button type="submit" class="{t.c("button_plain")}">Sign out</button></form></div>'
        )
    header = (
        f'<header class="{t.c("header")}"><a class="{t.c("brand")}" href="/accounts">'
        f"{esc(PRODUCT_NAME)}</a>{nav}</header>"
    )
    main_html = f'<main id="{t.id("main")}" class="{t.c("main")}" tabindex="-1">{main}</main>'
    body = header + main_html if not t.redesign else main_html + header  # the rail sits right
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} – {esc(PRODUCT_NAME)}</title>"
        f'<link rel="stylesheet" href="{t.stylesheet}"></head>'
        f'<body class="{t.c("body")}"><a class="{t.c("skip")}" href="#{t.id("main")}">'
        f"Skip to main content</a>{body}"
        f'<footer class="{t.c("footer")}">{esc(PRODUCT_NAME)} · demo instance · '
        "all customers are fictional</footer></body></html>"
    )


def error_summary(t: Theme, items: Iterable[tuple[str, str]]) -> str:
    """The alert at the top of a form: ``(href, message)`` per problem."""
    lis = "".join(f'<li><a href="{esc(h)}">{esc(m)}</a></li>' for h, m in items)
    if not lis:
        return ""
    title = t.id("error-summary-title")
    return (
        f'<div class="{t.c("summary")}" role="alert" aria-labelledby="{title}" tabindex="-1">'
        f'<h2 id="{title}">There is a problem</h2><ul>{lis}</ul></div>'
    )


def message_page(
    t: Theme, title: str, message: str, viewer: Viewer | None = None, *, link: str = ""
) -> str:
    """A page that only says something (an error, a refusal)."""
    more = f"<p>{link}</p>" if link else ""
    main = (
        f'<div class="{t.c("card")}"><h1>{esc(title)}</h1>'
        f'<p role="alert" class="{t.c("notice")}">{esc(message)}</p>{more}</div>'
    )
    return layout(t, title, main, viewer)


# -- sign in ---------------------------------------------------------------------------------


def login_page(
    t: Theme,
    *,
    csrf: str,
    next_path: str,
    username: str = "",
    error: str = "",
    notice: str = "",
) -> str:
    """The sign-in form; ``error`` is an alert (wrong password, session expired), ``notice``
    a status (signed out)."""
    banner = ""
    if error:
        banner = f'<div role="alert" class="{t.c("notice")}">{esc(error)}</div>'
    elif notice:
        banner = f'<div role="status" class="{t.c("notice")}">{esc(notice)}</div>'
    uid, pid = t.id("username"), t.id("password")
    main = (
        f'<div class="{t.c("card")}"><h1>Sign in</h1>{banner}'
        f'<form method="post" action="/login" novalidate>{csrf_input(csrf)}'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        f'<div class="{t.c("group")}"><label class="{t.c("label")}" for="{uid}">Username</label>'
        f'<input class="{t.c("input")}" id="{uid}" name="username" autocomplete="username" '
        f'value="{esc(username)}" required></div>'
        f'<div class="{t.c("group")}"><label class="{t.c("label")}" for="{pid}">Password</label>'
        f'<input class="{t.c("input")}" id="{pid}" name="password" type="password" '
        'autocomplete="current-password" required></div>'
        f'<div class="{t.c("actions")}"><button type="submit" class="{t.c("button")}">'
        "Sign in</button></div></form></div>"
    )
    return layout(t, "Sign in", main)


# -- accounts --------------------------------------------------------------------------------


def _label_of(options: Iterable[tuple[str, str]], code: Any) -> str:
    return next((label for c, label in options if c == code), str(code or ""))


def accounts_page(t: Theme, viewer: Viewer, accounts: list[dict[str, Any]], query: str) -> str:
    """The account list with a search box."""
    qid = t.id("q")
    rows = "".join(
        "<tr>"
        f'<td><a href="/accounts/{esc(a["account_id"])}">{esc(a["account_id"])}</a></td>'
        f"<td>{esc(a['company'])}</td><td>{esc(a['contact_name'])}</td>"
        f"<td>{esc(a['email'])}</td><td>{esc(PLAN_BY_CODE[a['plan']].name)}</td>"
        f"<td>{esc(_label_of(COUNTRIES, a['country']))}</td>"
        f"<td>{esc(a['external_ref'] or '—')}</td><td>{esc(a['created_at'][:10])}</td></tr>"
        for a in accounts
    )
    empty = "" if accounts else '<tr><td colspan="8">No accounts match.</td></tr>'
    heads = "".join(
        f'<th scope="col">{h}</th>'
        for h in (
            "Account ID",
            "Company",
            "Contact",
            "E-mail address",
            "Plan",
            "Country",
            "External reference",
            "Created",
        )
    )
    main = (
        "<h1>Accounts</h1>"
        f'<form method="get" action="/accounts" role="search" class="{t.c("card")}">'
        f'<label class="{t.c("label")}" for="{qid}">Search accounts</label> '
        f'<input class="{t.c("input")}" type="search" id="{qid}" name="q" value="{esc(query)}"> '
        f'<button type="submit" class="{t.c("button_plain")}">Search</button></form>'
        f'<table class="{t.c("table")}"><caption>{len(accounts)} account'
        f"{'' if len(accounts) == 1 else 's'}</caption><thead><tr>{heads}</tr></thead>"
        f"<tbody>{rows}{empty}</tbody></table>"
    )
    return layout(t, "Accounts", main, viewer, active="accounts")


def _account_rows(a: dict[str, Any]) -> list[tuple[str, str]]:
    plan = PLAN_BY_CODE.get(a.get("plan") or "")
    addons = ", ".join(_label_of(ADDONS, x) for x in a.get("addons") or []) or "None"
    return [
        ("Company name", a.get("company", "")),
        ("Industry", _label_of(INDUSTRIES, a.get("industry"))),
        ("Country", _label_of(COUNTRIES, a.get("country"))),
        ("Number of seats", f"{a['seats']:,}" if isinstance(a.get("seats"), int) else ""),
        ("External reference", a.get("external_ref") or "—"),
        ("Contact name", a.get("contact_name", "")),
        ("E-mail address", a.get("email", "")),
        ("Phone number", a.get("phone", "")),
        ("Preferred language", _label_of(LANGUAGES, a.get("language"))),
        ("Plan", plan.name if plan else ""),
        ("Billing cycle", _label_of(BILLING_CYCLES, a.get("billing_cycle"))),
        ("Add-ons", addons),
        ("Start date", a.get("start_date", "")),
    ]


def _dl(t: Theme, rows: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
    return f'<dl class="{t.c("review")}">{items}</dl>'


def account_page(t: Theme, viewer: Viewer, a: dict[str, Any]) -> str:
    """One account's details and its contract."""
    contract = a.get("contract")
    doc = (
        f'<p>Signed contract: <a href="/accounts/{esc(a["account_id"])}/contract.pdf">'
        f"{esc(contract['filename'])}</a> ({esc(human_size(contract['size']))}, "
        f"SHA-256 <code>{esc(contract['sha256'][:16])}…</code>)</p>"
        if contract
        else "<p>No contract on file.</p>"
    )
    main = (
        f'<div class="{t.c("card")}"><h1>{esc(a["company"])}</h1>'
        f'<p>Account ID: <output aria-label="Account ID">{esc(a["account_id"])}</output></p>'
        f"{_dl(t, _account_rows(a))}{doc}"
        f"<p>Created {esc(a['created_at'])} by {esc(a['created_by'])}.</p>"
        f'<p><a href="/accounts">Back to accounts</a></p></div>'
    )
    return layout(t, a["company"], main, viewer, active="accounts")


# -- the wizard ------------------------------------------------------------------------------


def steps_nav(t: Theme, draft_id: str, current: str, reachable: int) -> str:
    """The progress indicator: the current step has ``aria-current="step"``; steps up to
    ``reachable`` (an index) are links."""
    items = []
    for i, step in enumerate(STEPS):
        text = f"{i + 1}. {esc(step.title)}"
        cur = ' aria-current="step"' if step.slug == current else ""
        inner = (
            f'<a href="/onboarding/{draft_id}/{step.slug}"{cur}>{text}</a>'
            if i <= reachable
            else f"<span{cur}>{text}</span>"
        )
        items.append(f'<li class="{t.c("step")}">{inner}</li>')
    return (
        f'<nav class="{t.c("steps")}" aria-label="Onboarding steps"><ol>{"".join(items)}</ol></nav>'
    )


def _describedby(*ids: str) -> str:
    joined = " ".join(i for i in ids if i)
    return f' aria-describedby="{joined}"' if joined else ""


def render_field(
    t: Theme,
    f: FormField,
    form: FormData,
    error: str | None,
    *,
    context: dict[str, Any],
) -> str:
    """One field with its label, hint and error message, in design ``t``."""
    fid, name = t.id(f.key), t.name(f.key)
    hint = f.hint.format(max_mb=human_size(int(context.get("max_upload_bytes", 0))))
    if f.key == "plan" and isinstance(context.get("seats"), int):
        hint = f"The customer needs {context['seats']:,} seats."
    current = context.get("contract") if f.kind == "file" else None
    if current:
        hint += (
            f" Current file: {current[0]} ({human_size(current[1])}). "
            "Choose a new file to replace it."
        )
    hint_id = f"{fid}-hint" if hint else ""
    err_id = f"{fid}-error" if error else ""
    hint_html = f'<p id="{hint_id}" class="{t.c("hint")}">{esc(hint)}</p>' if hint else ""
    err_html = (
        f'<p id="{err_id}" class="{t.c("error")}"><span class="{t.c("hidden")}">Error:</span> '
        f"{esc(error)}</p>"
        if error
        else ""
    )
    invalid = ' aria-invalid="true"' if error else ""
    required = " required" if f.required and not current else ""
    group = t.c("group") + (" " + t.c("group_error") if error else "")
    optional = f' <span class="{t.c("hint")}">(optional)</span>' if not f.required else ""
    auto = f' autocomplete="{f.autocomplete}"' if f.autocomplete else ""

    if f.kind in ("radio", "checkboxes"):
        itype = "radio" if f.kind == "radio" else "checkbox"
        chosen = set(form.getlist(f.key))
        choices = []
        for code, label in f.options:
            oid = f"{fid}-{code}"
            desc = ""
            if f.key == "plan":
                desc = PLAN_BY_CODE[code].summary
            desc_html = (
                f'<p id="{oid}-desc" class="{t.c("choice_hint")}">{esc(desc)}</p>' if desc else ""
            )
            checked = " checked" if code in chosen else ""
            choices.append(
                f'<div class="{t.c("choice")}"><input class="{t.c("choice_input")}" '
                f'type="{itype}" id="{oid}" name="{name}" value="{esc(code)}"{checked}{invalid}'
                f"{_describedby(oid + '-desc' if desc else '')}>"
                f'<label class="{t.c("choice_label")}" for="{oid}">{esc(label)}</label>'
                f"{desc_html}</div>"
            )
        role = ' role="radiogroup"' if f.kind == "radio" else ""
        if f.required and f.kind == "radio":
            role += ' aria-required="true"'
        return (
            f'<fieldset class="{t.c("fieldset")} {group}" id="{fid}"{role}'
            f"{_describedby(hint_id, err_id)}>"
            f'<legend class="{t.c("legend")}">{esc(f.label)}{optional}</legend>'
            f"{hint_html}{err_html}{''.join(choices)}</fieldset>"
        )

    if f.kind == "checkbox":
        checked = " checked" if form.get(f.key) else ""
        return (
            f'<div class="{group}">{err_html}<div class="{t.c("choice")}">'
            f'<input class="{t.c("choice_input")}" type="checkbox" id="{fid}" name="{name}" '
            f'value="yes"{checked}{invalid}{required}{_describedby(err_id)}>'
            f'<label class="{t.c("choice_label")}" for="{fid}">{esc(f.label)}</label></div></div>'
        )

    label = f'<label class="{t.c("label")}" for="{fid}">{esc(f.label)}{optional}</label>'
    common = (
        f'class="{t.c("input")}" id="{fid}" name="{name}"{invalid}{required}{auto}'
        f"{_describedby(hint_id, err_id)}"
    )
    if f.kind == "select":
        chosen_value = form.get(f.key)
        opts = ['<option value="">Select…</option>'] + [
            f'<option value="{esc(code)}"{" selected" if code == chosen_value else ""}>'
            f"{esc(text)}</option>"
            for code, text in f.options
        ]
        control = f"<select {common}>{''.join(opts)}</select>"
    elif f.kind == "file":
        control = f'<input type="file" accept="application/pdf,.pdf" {common}>'
    else:
        extra = ""
        itype = {"text": "text", "email": "email", "tel": "tel", "number": "number"}.get(
            f.kind, "date"
        )
        if f.kind == "number":
            extra = ' inputmode="numeric" min="1" max="10000" step="1"'
        elif f.kind == "date":
            today = context["today"]
            extra = f' min="{today.isoformat()}" max="{context["max_date"].isoformat()}"'
        control = f'<input type="{itype}" {common}{extra} value="{esc(form.get(f.key))}">'
    return f'<div class="{group}">{label}{hint_html}{err_html}{control}</div>'


def step_page(
    t: Theme,
    viewer: Viewer,
    *,
    draft_id: str,
    step: Step,
    form: FormData,
    errors: dict[str, str],
    reachable: int,
    context: dict[str, Any],
) -> str:
    """A form step of the wizard (``company``, ``contact``, ``plan``, ``contract``)."""
    index = next(i for i, s in enumerate(STEPS) if s.slug == step.slug)
    context = {**context, "max_date": context["today"] + timedelta(days=MAX_START_DAYS_AHEAD)}
    fields = "".join(
        render_field(t, f, form, errors.get(f.key), context=context) for f in t.order(step.fields)
    )
    summary = error_summary(t, ((f"#{_anchor(t, FIELD_BY_KEY[k])}", m) for k, m in errors.items()))
    enctype = ' enctype="multipart/form-data"' if step.slug == "contract" else ""
    back = (
        f'<a class="{t.c("back")}" href="/onboarding/{draft_id}/{STEPS[index - 1].slug}">Back</a>'
        if index > 0
        else f'<a class="{t.c("back")}" href="/accounts">Cancel</a>'
    )
    button = f'<button type="submit" class="{t.c("button")}">Continue</button>'
    actions = f"{back}{button}" if not t.redesign else f"{button}{back}"
    main = (
        "<h1>New customer</h1>"
        + steps_nav(t, draft_id, step.slug, reachable)
        + f'<div class="{t.c("card")}"><h2>Step {index + 1} of {len(STEPS)}: '
        f"{esc(step.title)}</h2>{summary}"
        f'<form method="post" action="/onboarding/{draft_id}/{step.slug}" novalidate{enctype}>'
        f"{csrf_input(viewer.csrf)}{fields}"
        f'<div class="{t.c("actions")}">{actions}</div></form></div>'
    )
    title = f"{'Error: ' if errors else ''}New customer – {step.title}"
    return layout(t, title, main, viewer)


def _anchor(t: Theme, f: FormField) -> str:
    """Where an error summary link jumps: the control, or a group's first option."""
    if f.kind in ("radio", "checkboxes"):
        return f"{t.id(f.key)}-{f.options[0][0]}"
    return t.id(f.key)


def review_page(
    t: Theme,
    viewer: Viewer,
    *,
    draft_id: str,
    data: dict[str, Any],
    contract: tuple[str, int] | None,
    problems: list[tuple[str, str]],
) -> str:
    """Step 5: everything entered, with a change link per section, and the submit button.

    Args:
        problems: ``(href, message)`` of what prevents the submit (shown as an alert).
    """
    rows = dict(_account_rows(data))
    sections = []
    for step in STEPS[:-1]:
        items = [(f.label, rows.get(f.label, "")) for f in step.fields if f.kind != "file"]
        if step.slug == "contract":
            items = [
                (
                    "Signed contract (PDF)",
                    f"{contract[0]} ({human_size(contract[1])})" if contract else "Missing",
                ),
                ("Terms of service", "Accepted" if data.get("terms") else "Not accepted"),
            ]
        hid = t.id(f"review-{step.slug}")
        sections.append(
            f'<section class="{t.c("card")}" aria-labelledby="{hid}"><h2 id="{hid}">'
            f"{esc(step.title)}</h2>"
            f'<a href="/onboarding/{draft_id}/{step.slug}">Change<span class="{t.c("hidden")}">'
            f" {esc(step.title.lower())} details</span></a>{_dl(t, items)}</section>"
        )
    main = (
        "<h1>New customer</h1>"
        + steps_nav(t, draft_id, "review", len(STEPS) - 1)
        + f"<h2>Step {len(STEPS)} of {len(STEPS)}: Review</h2>"
        + error_summary(t, problems)
        + "".join(sections)
        + f'<form method="post" action="/onboarding/{draft_id}/review" novalidate>'
        f'{csrf_input(viewer.csrf)}<div class="{t.c("actions")}">'
        f'<a class="{t.c("back")}" href="/onboarding/{draft_id}/contract">Back</a>'
        f'<button type="submit" class="{t.c("button")}">Create account</button></div></form>'
    )
    return layout(t, f"{'Error: ' if problems else ''}New customer – Review", main, viewer)


def done_page(t: Theme, viewer: Viewer, *, account: dict[str, Any], outcome: str) -> str:
    """The confirmation: ``Account created`` or ``Account already exists``, with the id."""
    created = outcome == "created"
    title = "Account created" if created else "Account already exists"
    detail = (
        f"The account for {esc(account['company'])} was created."
        if created
        else f"An account with external reference {esc(account['external_ref'])} already "
        "exists, so no new account was created."
    )
    main = (
        f'<div class="{t.c("card")}"><h1>{title}</h1><p>{detail}</p>'
        f'<p>Account ID: <output aria-label="Account ID" id="{t.id("account-id")}">'
        f"{esc(account['account_id'])}</output></p>"
        f'<p><a href="/accounts/{esc(account["account_id"])}">View account</a></p></div>'
    )
    return layout(t, title, main, viewer)
