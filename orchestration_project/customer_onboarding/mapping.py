"""Declarative form mappings: how a customer record becomes the fields of a CRM's web form.

A browser agent creates accounts by filling a CRM's onboarding form. What it fills where is not
code but a YAML *form mapping* (``mappings/demo_crm.yaml`` for the demo CRM): the sign-in form,
the button that starts a new customer, the wizard's pages in order (each recognised by its
heading, with its fields and the button that moves on), the confirmation page that shows the
new account id, and the lookup API that says whether a customer already has an account. Each
field is found the way a person finds it, by its accessible **label** (or a **role** and
accessible **name**, e.g. the radio group "Plan"), so a redesign that changes ids and CSS classes
does not break the mapping; a CSS ``selector`` is accepted only as a last-resort fallback.
Onboarding another CRM takes another YAML file, not code.

Record schema
-------------
The records the intake produces and :func:`record_values` reads (one ``dict`` per customer):

=================  ============  ============================================================
field              type          meaning
=================  ============  ============================================================
``external_ref``   str           the customer's id in the intake; the idempotency key (one
                                 account per reference). Letters, digits and ``._:/-``.
``company``        str           company name
``industry``       str           industry code: software, manufacturing, retail, healthcare,
                                 finance, education, logistics, hospitality, energy, public,
                                 other
``country``        str           ISO 3166-1 alpha-2 code (``NL``)
``seats``          int           number of seats (1-10,000)
``contact_name``   str           the contact person
``email``          str           the contact's e-mail address
``phone``          str           phone number, international or national format (made E.164
                                 with the country as the default region)
``language``       str           ISO 639-1 code: en, de, fr, es, nl
``plan``           str           plan code: starter, team, business, enterprise
``billing_cycle``  str           monthly or annual
``addons``         list[str]     add-on codes: sso, priority_support, audit_log, sandbox
                                 (a comma-separated string is accepted too)
``start_date``     str           ISO date (``2027-03-01``); a ``datetime.date`` works too
``contract_path``  str           path to the signed contract PDF
``terms_accepted`` bool          optional, default true: the customer accepted the terms of
                                 service (they are part of the signed contract)
=================  ============  ============================================================

Mapping schema (YAML)
---------------------
::

    name: demo_crm
    key: external_ref                 # the record field that identifies a customer
    login:    {path: /login, heading: Sign in, username_label: Username,
               password_label: Password, submit: Sign in}
    start:    {path: /accounts, heading: Accounts, button: New customer}
    pages:                            # in order; the last one is the final submit
      - name: company
        heading: "Step 1 of 5: Company"
        submit: Continue
        fields:
          - {label: Company name, kind: text, from: company, transforms: [strip]}
          - {role: radiogroup, name: Plan, kind: radio, from: plan,
             transforms: [{map: {team: Team}}]}
          - {label: Terms, kind: checkbox, from: terms_accepted, required: false,
             transforms: [{default: true}]}
    confirmation: {created_heading: Account created, exists_heading: Account already exists,
                   account_id: {role: status, name: Account ID}, account_id_pattern: 'ACC-\\d+'}
    errors: {summary_role: alert}     # + per-field messages via aria-describedby
    unavailable_headings: [Service temporarily unavailable]
    lookup: {path: /api/accounts, param: external_ref, account_id: account.account_id}

Field ``kind``: ``text``, ``select``, ``radio``, ``checkbox``, ``checkbox_group``, ``file``,
``date``. A field takes its value ``from`` a record field or is a constant ``value``. Transforms
apply in order; see :data:`TRANSFORMS`. Headings and button names are literal texts (compared
after collapsing white space); only ``account_id_pattern`` is a regular expression. YAML 1.2
booleans are used (only ``true``/``false``), so country codes such as ``NO`` stay strings.

The outcome of onboarding one customer is an :class:`OnboardingResult`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "FIELD_KINDS",
    "STATUSES",
    "TRANSFORMS",
    "ConfirmationMapping",
    "ErrorsMapping",
    "FieldMapping",
    "FieldValue",
    "FormMapping",
    "LoginMapping",
    "LookupMapping",
    "MappingError",
    "OnboardingResult",
    "PageMapping",
    "RecordError",
    "RecordValues",
    "StartMapping",
    "Transform",
    "load_mapping",
    "parse_mapping",
    "record_values",
]

FieldKind = Literal["text", "select", "radio", "checkbox", "checkbox_group", "file", "date"]
FIELD_KINDS: tuple[str, ...] = (
    "text",
    "select",
    "radio",
    "checkbox",
    "checkbox_group",
    "file",
    "date",
)
Status = Literal["created", "exists", "rejected", "failed", "skipped"]
STATUSES: tuple[str, ...] = ("created", "exists", "rejected", "failed", "skipped")
MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"


class MappingError(ValueError):
    """A form mapping file that cannot be used; the message names the file and the place."""


class RecordError(ValueError):
    """A record that cannot be turned into form values.

    Attributes:
        problems: a message per record field (``"email": "missing required field …"``).
    """

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.problems.items()))


# -- transforms ------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple) and len(value) == 0)


def _each(value: Any, fn: Callable[[Any], Any]) -> Any:
    """Apply ``fn`` to a scalar, or to every item of a list."""
    if isinstance(value, list | tuple):
        return [fn(v) for v in value]
    return fn(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        try:
            return datetime.fromisoformat(text).date()
        except ValueError:
            raise ValueError(f"{text!r} is not an ISO date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class Transform:
    """One step that changes a record value before it is filled in.

    Attributes:
        name: one of :data:`TRANSFORMS`.
        arg: its argument (the format of ``date``, the table of ``map``, …), or None.
    """

    name: str
    arg: Any = None

    def apply(self, value: Any, record: Mapping[str, Any]) -> Any:
        """The transformed value.

        Args:
            value: the value so far (None when the record has none).
            record: the whole record (``phone_e164`` may read the country from it).

        Raises:
            ValueError: the value cannot be transformed; the message says why.
        """
        if self.name == "default":
            return self.arg if _missing(value) else value
        if _missing(value):
            return value  # nothing to transform; required fields are checked afterwards
        return TRANSFORMS[self.name](self, value, record)

    def describe(self) -> str:
        """The transform as written in a mapping."""
        return self.name if self.arg is None else f"{self.name}: {self.arg!r}"


def _t_map(t: Transform, value: Any, record: Mapping[str, Any]) -> Any:
    table: dict[str, Any] = t.arg

    def look(v: Any) -> Any:
        key = _text(v).strip()
        if key in table:
            return table[key]
        folded = {k.casefold(): k for k in table}
        if key.casefold() in folded:
            return table[folded[key.casefold()]]
        known = ", ".join(table)
        raise ValueError(f"{key!r} is not one of {known}")

    return _each(value, look)


def _t_phone(t: Transform, value: Any, record: Mapping[str, Any]) -> Any:
    opts = t.arg or {}
    region = opts.get("region")
    if opts.get("region_from"):
        region = _text(record.get(opts["region_from"]) or "").strip().upper() or region
    text = _text(value).strip()
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return text  # not readable as a phone number: passed on for the CRM to judge
    if not phonenumbers.is_valid_number(number):
        return text  # not a real number: unchanged, rather than made to look like one
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _t_split(t: Transform, value: Any, record: Mapping[str, Any]) -> Any:
    if isinstance(value, list | tuple):
        return [_text(v).strip() for v in value if _text(v).strip()]
    return [part.strip() for part in _text(value).split(t.arg or ",") if part.strip()]


def _t_join(t: Transform, value: Any, record: Mapping[str, Any]) -> Any:
    if isinstance(value, list | tuple):
        return (t.arg if t.arg is not None else ", ").join(_text(v) for v in value)
    return value


TRANSFORMS: dict[str, Callable[[Transform, Any, Mapping[str, Any]], Any]] = {
    "strip": lambda t, v, r: _each(v, lambda x: " ".join(_text(x).split())),
    "upper": lambda t, v, r: _each(v, lambda x: _text(x).upper()),
    "lower": lambda t, v, r: _each(v, lambda x: _text(x).lower()),
    "title": lambda t, v, r: _each(v, lambda x: _text(x).title()),
    "date": lambda t, v, r: _as_date(v).strftime(t.arg or "%Y-%m-%d"),
    "phone_e164": _t_phone,
    "map": _t_map,
    "split": _t_split,
    "join": _t_join,
    "default": lambda t, v, r: v,  # handled in Transform.apply (it acts on missing values)
}
"""The transforms a mapping may name. ``strip`` (collapse white space), ``upper``, ``lower``,
``title``; ``date: FORMAT`` (or ``"date:%d.%m.%Y"``; an ISO date in, ``strftime`` out);
``phone_e164`` (``{region: GB}`` or ``{region_from: country}`` for national numbers; a value
that is not a valid number passes unchanged, for the CRM to judge); ``map: {code: label}`` (a
value not in the table is a record error; case-insensitive fallback); ``split: ","``;
``join: ", "``; ``default: VALUE`` (used when the record has no value)."""

_ARG_REQUIRED = {"map", "default"}


def _parse_transform(spec: Any) -> Transform:
    """``"upper"``, ``"date:%Y-%m-%d"`` or a one-key mapping ``{map: {...}}`` -> Transform."""
    if isinstance(spec, Transform):
        return spec
    if isinstance(spec, str):
        name, sep, arg = spec.partition(":")
        name = name.strip()
        parsed: Any = arg if sep else None
    elif isinstance(spec, dict) and len(spec) == 1:
        ((name, parsed),) = spec.items()
    else:
        raise ValueError(
            f"a transform is a name (upper) or a one-key mapping ({{map: {{...}}}}), not {spec!r}"
        )
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r} (known: {', '.join(TRANSFORMS)})")
    if name in _ARG_REQUIRED and parsed is None and (isinstance(spec, str) or name == "map"):
        raise ValueError(f"the transform {name!r} needs an argument, e.g. {{{name}: ...}}")
    if name == "map":
        if not isinstance(parsed, dict) or not parsed:
            raise ValueError("map needs a non-empty table, e.g. {map: {team: Team}}")
        parsed = {_text(k): v for k, v in parsed.items()}
    if name == "date":
        fmt = parsed or "%Y-%m-%d"
        if not isinstance(fmt, str) or "%" not in fmt:
            raise ValueError(f"date needs a strftime format such as %Y-%m-%d, not {parsed!r}")
        parsed = fmt
    if (
        name == "phone_e164"
        and parsed is not None
        and (not isinstance(parsed, dict) or set(parsed) - {"region", "region_from"})
    ):
        raise ValueError("phone_e164 takes {region: GB} and/or {region_from: country}")
    if name in ("split", "join") and parsed is not None and not isinstance(parsed, str):
        raise ValueError(f"{name} takes a separator string, not {parsed!r}")
    return Transform(name, parsed)


# -- the mapping model -----------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _nonblank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be empty")
    return " ".join(value.split()) if value is not None else None


class LocatorSpec(_Model):
    """How to find one control: by accessible label (preferred), by role and accessible name,
    or by CSS selector (a last resort, tried after the others).

    Attributes:
        label: the control's label text (``<label>``, ``aria-label``; for radio and checkbox
            groups the group's legend).
        role: an ARIA role (``radiogroup``, ``group``, ``status``, ``textbox``…).
        name: the accessible name to look for with ``role``.
        selector: a CSS selector, used only as a fallback.
        exact: match label or name exactly (default: a case-insensitive substring, so that a
            label's ``(optional)`` suffix does not matter).
    """

    label: str | None = None
    role: str | None = None
    name: str | None = None
    selector: str | None = None
    exact: bool = False

    _clean = field_validator("label", "role", "name", "selector")(_nonblank)

    @model_validator(mode="after")
    def _located(self) -> LocatorSpec:
        if self.role is not None and self.name is None and self.label is None:
            raise ValueError(f"role {self.role!r} needs an accessible name ('name')")
        if self.name is not None and self.role is None:
            raise ValueError("'name' needs a 'role' (or use 'label')")
        if self.label is None and self.role is None and self.selector is None:
            raise ValueError(
                "say how to find it: 'label' (preferred), 'role' + 'name' or 'selector'"
            )
        return self

    def describe(self) -> str:
        """A short human description (``label 'Company name'``)."""
        if self.label:
            return f"label {self.label!r}"
        if self.role:
            return f"{self.role} {self.name!r}"
        return f"selector {self.selector!r}"


class FieldMapping(LocatorSpec):
    """One form control and the record value it takes.

    Attributes:
        kind: which control (:data:`FIELD_KINDS`).
        source: the record field (``from`` in YAML); or give a constant ``value``.
        value: a constant, filled for every record.
        required: a record without a value (after transforms) is an error.
        transforms: applied in order (:data:`TRANSFORMS`).
        option_exact: radio / checkbox options are matched by their exact accessible name.
    """

    kind: FieldKind
    source: str | None = Field(default=None, alias="from")
    value: Any = None
    required: bool = True
    transforms: tuple[Transform, ...] = ()
    option_exact: bool = True

    @field_validator("transforms", mode="before")
    @classmethod
    def _transforms(cls, value: Any) -> tuple[Transform, ...]:
        if value is None:
            return ()
        if not isinstance(value, list | tuple):
            value = [value]
        return tuple(_parse_transform(v) for v in value)

    @model_validator(mode="after")
    def _source(self) -> FieldMapping:
        if (self.source is None) == (self.value is None):
            raise ValueError(
                f"field {self.describe()}: give exactly one of 'from' (a record field) or 'value'"
            )
        if self.kind in ("radio", "checkbox_group") and self.label is None and self.role is None:
            raise ValueError(
                f"field {self.describe()}: a {self.kind} is found by its group's label or "
                "role + name (the fieldset's legend), not by a selector alone"
            )
        return self

    @property
    def key(self) -> str:
        """The record field (or, for a constant, the label) this field is reported under."""
        return self.source or self.label or self.name or self.selector or "?"

    @property
    def options(self) -> list[str]:
        """Every option the ``map`` transforms can produce (checkbox groups set exactly these)."""
        out: list[str] = []
        for t in self.transforms:
            if t.name == "map":
                out = [_text(v) for v in t.arg.values()]
        return out


class PageMapping(_Model):
    """One page of the wizard.

    Attributes:
        name: a short name (reported with errors).
        heading: the page's heading text, which tells the agent where it is.
        fields: the controls to fill, in order.
        submit: the name of the button that moves on.
    """

    name: str
    heading: str
    fields: tuple[FieldMapping, ...] = ()
    submit: str

    _clean = field_validator("name", "heading", "submit")(_nonblank)


class LoginMapping(_Model):
    """The sign-in form."""

    path: str = "/login"
    heading: str = "Sign in"
    username_label: str = "Username"
    password_label: str = "Password"
    submit: str = "Sign in"

    _clean = field_validator("heading", "username_label", "password_label", "submit")(_nonblank)


class StartMapping(_Model):
    """Where a new customer starts: a page (``path``, recognised by ``heading``) with a button."""

    path: str = "/"
    heading: str | None = None
    button: str

    _clean = field_validator("heading", "button")(_nonblank)


class ConfirmationMapping(_Model):
    """The page after the final submit.

    Attributes:
        created_heading: heading when an account was created.
        exists_heading: heading when the CRM found an existing account instead.
        account_id: where the account id is shown.
        account_id_pattern: a regular expression the id must match (checked, not trusted).
    """

    created_heading: str
    exists_heading: str | None = None
    account_id: LocatorSpec
    account_id_pattern: str = r"\S+"

    @field_validator("account_id_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return value


class ErrorsMapping(_Model):
    """Where the CRM shows validation errors: a summary (``role=alert``) and a message tied to
    each invalid control by ``aria-describedby`` (with ``aria-invalid="true"``)."""

    summary_role: str = "alert"
    field_attribute: str = "aria-describedby"


class LookupMapping(_Model):
    """The CRM's JSON lookup: ``GET {path}?{param}=<key>`` with a bearer token; 404 = none.

    Attributes:
        account_id: dotted path of the account id in the JSON answer.
    """

    path: str = "/api/accounts"
    param: str = "external_ref"
    account_id: str = "account.account_id"


class FormMapping(_Model):
    """A CRM's onboarding form, declared (see the module docstring for the YAML).

    Attributes:
        name: the mapping's name.
        description: what it maps.
        key: the record field that identifies a customer (idempotency, lookup).
        login: the sign-in form.
        start: the button that starts a new customer.
        pages: the wizard's pages in order; pressing the last one's button creates the account.
        confirmation: the page that shows the account id.
        errors: where validation errors appear.
        unavailable_headings: headings of pages that mean "try again later".
        lookup: the lookup API.
    """

    name: str
    description: str = ""
    key: str = "external_ref"
    login: LoginMapping = LoginMapping()
    start: StartMapping
    pages: tuple[PageMapping, ...]
    confirmation: ConfirmationMapping
    errors: ErrorsMapping = ErrorsMapping()
    unavailable_headings: tuple[str, ...] = ("Service temporarily unavailable",)
    lookup: LookupMapping = LookupMapping()

    @model_validator(mode="after")
    def _pages(self) -> FormMapping:
        if not self.pages:
            raise ValueError("a mapping needs at least one page")
        names = [p.name for p in self.pages]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"page names must be unique: {', '.join(dupes)}")
        headings = [p.heading for p in self.pages]
        if len(set(headings)) != len(headings):
            raise ValueError("each page needs its own heading (it tells the pages apart)")
        sources = [f.source for p in self.pages for f in p.fields if f.source]
        if self.key not in sources:
            raise ValueError(f"the key field {self.key!r} is not filled on any page")
        return self

    @property
    def final_page(self) -> PageMapping:
        """The page whose button creates the account."""
        return self.pages[-1]

    def page_by_heading(self, heading: str) -> PageMapping | None:
        """The page with this heading (white space collapsed), if any."""
        wanted = " ".join(heading.split())
        return next((p for p in self.pages if p.heading == wanted), None)

    def field_for_label(self, label: str) -> FieldMapping | None:
        """The field whose label or group name a page's label text starts with."""
        text = " ".join(label.split()).casefold()
        for page in self.pages:
            for f in page.fields:
                names = [n for n in (f.label, f.name) if n]
                if any(text == n.casefold() or text.startswith(n.casefold()) for n in names):
                    return f
        return None


# -- loading ---------------------------------------------------------------------------------


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans (only true/false): ``NO`` (Norway) stays a string."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def parse_mapping(data: Any, *, source: str = "mapping") -> FormMapping:
    """Validate an already-parsed mapping (a dict, e.g. from YAML).

    Args:
        data: the mapping's content.
        source: what to call it in error messages (a file name).

    Returns:
        The validated mapping.

    Raises:
        MappingError: every problem found, one per line, each with its place
            (``pages[1].fields[2].transforms: unknown transform 'uper' …``).
    """
    if not isinstance(data, dict):
        raise MappingError(f"{source}: a form mapping is a YAML mapping, not {type(data).__name__}")
    try:
        return FormMapping.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = str(err.get("msg", "")).removeprefix("Value error, ")
            if err.get("type") == "extra_forbidden":
                msg = "unknown key (a typo?)"
            elif err.get("type") == "missing":
                msg = "required key missing"
            lines.append(f"  {_where(tuple(err.get('loc', ())))}: {msg}")
        raise MappingError(f"{source}: invalid form mapping:\n" + "\n".join(lines)) from None


def load_mapping(path: str | Path) -> FormMapping:
    """Read and validate a YAML form mapping.

    Args:
        path: the YAML file; a bare name (``demo_crm``) means the packaged
            ``customer_onboarding/mappings/<name>.yaml``.

    Returns:
        The validated mapping.

    Raises:
        MappingError: the file is missing, is not YAML, or does not describe a valid mapping.
    """
    p = Path(path)
    if not p.suffix and not p.exists():
        p = MAPPINGS_DIR / f"{p.name}.yaml"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"{p}: cannot read the form mapping ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise MappingError(f"{p}: not valid YAML: {exc}") from None
    return parse_mapping(data, source=str(p))


# -- records to values -----------------------------------------------------------------------

FillValue = str | bool | list[str]


@dataclass(frozen=True)
class FieldValue:
    """A field and the value to put in it: text for text, date, select, radio (the option's
    name) and file (a path); a bool for a checkbox; option names for a checkbox group."""

    field: FieldMapping
    value: FillValue


@dataclass(frozen=True)
class RecordValues:
    """One record made ready for the form.

    Attributes:
        key: the record's key (its external reference).
        pages: per page name, the fields to fill in order (missing optional fields left out).
    """

    key: str
    pages: dict[str, list[FieldValue]]


_TRUE = {"true", "yes", "y", "1", "on", "x", "checked"}
_FALSE = {"false", "no", "n", "0", "off", ""}


def _final(f: FieldMapping, value: Any) -> FillValue:
    """The value in the shape its control takes (raises ValueError with the reason)."""
    if f.kind == "checkbox":
        if isinstance(value, bool):
            return value
        text = _text(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"{value!r} is not a yes/no value")
    if f.kind == "checkbox_group":
        items = (
            value if isinstance(value, list | tuple) else _t_split(Transform("split"), value, {})
        )
        return [_text(v) for v in items]
    if isinstance(value, list | tuple):
        raise ValueError(f"a {f.kind} takes one value, not a list (use the 'join' transform)")
    if f.kind == "date":
        return _as_date(value).isoformat() if isinstance(value, date) else _text(value)
    if f.kind == "file":
        path = Path(_text(value)).expanduser()
        if not path.is_file():
            raise ValueError(f"no file at {str(path)!r}")
        return str(path)
    return _text(value)


def record_values(record: Mapping[str, Any], mapping: FormMapping) -> RecordValues:
    """Turn a record into the value of every mapped field, transforms applied.

    Args:
        record: one customer (see the record schema in the module docstring).
        mapping: the CRM's form mapping.

    Returns:
        The values per page, and the record's key.

    Raises:
        RecordError: every problem of this record at once: a missing required field, a value
            a transform rejects (a plan not in the ``map``), a contract file that is not there.
    """
    problems: dict[str, str] = {}
    pages: dict[str, list[FieldValue]] = {}
    for page in mapping.pages:
        out: list[FieldValue] = []
        for f in page.fields:
            where = f.label or f.name or f.selector
            value = record.get(f.source) if f.source else f.value
            try:
                for t in f.transforms:
                    value = t.apply(value, record)
                if _missing(value):
                    if f.required:
                        problems[f.key] = f"missing required field {f.key!r} (for {where!r})"
                    continue
                out.append(FieldValue(f, _final(f, value)))
            except ValueError as exc:
                problems[f.key] = f"{exc} (for {where!r})"
        pages[page.name] = out
    key = _text(record.get(mapping.key) or "").strip()
    if not key and mapping.key not in problems:
        problems[mapping.key] = f"missing required field {mapping.key!r}"
    if problems:
        raise RecordError(problems)
    return RecordValues(key=key, pages=pages)


# -- outcomes --------------------------------------------------------------------------------


@dataclass
class OnboardingResult:
    """What onboarding one customer came to.

    Attributes:
        external_ref: the record's key.
        status: ``created`` (this run created the account), ``exists`` (it existed before: no
            second account), ``rejected`` (the CRM refused the values; see ``field_errors``),
            ``failed`` (the CRM was down, timed out or kept failing after retries), ``skipped``
            (the record cannot be mapped, or repeats a key earlier in the batch; the CRM was not
            touched).
        account_id: the CRM's account id (created or existing).
        errors: readable messages, the CRM's own validation messages included as text.
        field_errors: the CRM's validation message per record field (``rejected``).
        attempts: tries of this customer (more than one after transient failures).
        duration_s: wall time spent on it.
        screenshot: path of a screenshot of the confirmation or failure page, if taken.
        blocked_requests: requests refused by the URL policy while this customer was filled.
        notes: what happened on the way (a 503 retried, a sign-in renewed, a lost confirmation).
    """

    external_ref: str
    status: Status
    account_id: str | None = None
    errors: list[str] = field(default_factory=list)
    field_errors: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    duration_s: float = 0.0
    screenshot: str | None = None
    blocked_requests: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {
            "external_ref": self.external_ref,
            "status": self.status,
            "account_id": self.account_id,
            "errors": list(self.errors),
            "field_errors": dict(self.field_errors),
            "attempts": self.attempts,
            "duration_s": round(self.duration_s, 3),
            "screenshot": self.screenshot,
            "blocked_requests": list(self.blocked_requests),
            "notes": list(self.notes),
        }
