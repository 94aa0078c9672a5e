"""Reading posted forms and the CRM's server-side validation rules.

The rules are pure functions of the posted values (and of the values of earlier steps, for
cross-step rules such as "the Starter plan allows up to 10 seats"), so they are testable
without a server. Each returns the cleaned values and a message per field that failed; the
messages name the field, so a browser agent can report them as they stand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

from orchestration_project.demo_world.crm.catalogue import (
    ADDONS,
    BILLING_CYCLES,
    COUNTRIES,
    INDUSTRIES,
    LANGUAGES,
    MAX_SEATS,
    MAX_START_DAYS_AHEAD,
    MIN_SEATS,
    PLAN_BY_CODE,
)
from orchestration_project.demo_world.crm.store import Contract

PDF_MAGIC = b"%PDF-"
EMAIL_RE = re.compile(r"^[^@\s<>\"]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
PHONE_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")  # E.164 once spaces and punctuation are gone
EXTERNAL_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")


def alias(key: str) -> str:
    """The name the redesigned pages give field ``key`` (``account[company]``)."""
    return f"account[{key}]"


@dataclass(frozen=True)
class Upload:
    """A file posted in a multipart form."""

    filename: str
    content_type: str
    content: bytes = field(repr=False)


@dataclass
class FormData:
    """The fields and files of a posted form.

    Field lookups accept both designs' names: ``company`` (classic) and ``account[company]``
    (redesign), so a page rendered before a design switch still posts correctly.
    """

    values: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, Upload] = field(default_factory=dict)

    def getlist(self, key: str) -> list[str]:
        """Every value posted for ``key``."""
        return self.values.get(key) or self.values.get(alias(key)) or []

    def get(self, key: str) -> str:
        """The first value posted for ``key``, stripped; ``""`` if none."""
        found = self.getlist(key)
        return found[0].strip() if found else ""

    def file(self, key: str) -> Upload | None:
        """The file posted for ``key``, if one was chosen."""
        up = self.files.get(key) or self.files.get(alias(key))
        return up if up is not None and (up.filename or up.content) else None


def parse_form(body: bytes, content_type: str) -> FormData:
    """Decode an ``application/x-www-form-urlencoded`` or ``multipart/form-data`` body.

    Raises:
        ValueError: a multipart body without a boundary.
    """
    ctype, params = _split_header(content_type)
    if ctype == "multipart/form-data":
        boundary = params.get("boundary")
        if not boundary:
            raise ValueError("multipart body without a boundary")
        return _parse_multipart(body, boundary.encode("latin-1"))
    return FormData(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))


def _split_header(value: str) -> tuple[str, dict[str, str]]:
    """``'form-data; name="a"; filename="b.pdf"'`` -> ``("form-data", {"name": "a", ...})``."""
    head, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        key, sep, val = item.strip().partition("=")
        if sep:
            val = val.strip()
            if len(val) >= 2 and val[0] == val[-1] == '"':
                val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            params[key.strip().lower()] = val
    return head.strip().lower(), params


def _parse_multipart(body: bytes, boundary: bytes) -> FormData:
    """Split a multipart body on its boundary, byte-exact (file contents are not altered)."""
    form = FormData()
    delimiter = b"--" + boundary
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):  # the closing delimiter
            break
        part = chunk[2:] if chunk.startswith(b"\r\n") else chunk
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if content.endswith(b"\r\n"):
            content = content[:-2]
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, val = line.partition(":")
            headers[header.strip().lower()] = val.strip()
        _, disp = _split_header(headers.get("content-disposition", ""))
        name = disp.get("name")
        if name is None:
            continue
        if "filename" in disp:
            form.files[name] = Upload(
                disp["filename"], headers.get("content-type", "application/octet-stream"), content
            )
        else:
            form.values.setdefault(name, []).append(content.decode("utf-8", "replace"))
    return form


def form_from_values(values: dict[str, Any]) -> FormData:
    """A form that posts the cleaned ``values`` again (to re-check a stored draft)."""
    out: dict[str, list[str]] = {}
    for key, val in values.items():
        if isinstance(val, list):
            out[key] = [str(v) for v in val]
        elif isinstance(val, bool):
            out[key] = ["yes"] if val else []
        elif val is not None:
            out[key] = [str(val)]
    return FormData(out)


def human_size(n: int) -> str:
    """``5_000_000`` -> ``"5 MB"``, ``200_000`` -> ``"200 KB"``."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    return f"{max(1, round(n / 1000))} KB"


@dataclass
class StepResult:
    """What validating one step found.

    Attributes:
        values: the cleaned values (only meaningful when ``errors`` is empty).
        errors: a message per field key, in the order of the form.
        contract: the newly uploaded contract (contract step only).
    """

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    contract: Contract | None = None

    @property
    def ok(self) -> bool:
        """No field failed."""
        return not self.errors


def _choice(
    form: FormData, key: str, options: tuple[tuple[str, str], ...], res: StepResult, what: str
) -> None:
    value = form.get(key)
    if not value:
        res.errors[key] = f"Select {what}"
    elif value not in {code for code, _ in options}:
        res.errors[key] = f"Select {what} from the list"
    else:
        res.values[key] = value


def _text(form: FormData, key: str, label: str, res: StepResult, lo: int, hi: int) -> None:
    value = " ".join(form.get(key).split())
    if not value:
        res.errors[key] = f"Enter the {label.lower()}"
    elif not lo <= len(value) <= hi:
        res.errors[key] = f"{label} must be between {lo} and {hi} characters"
    else:
        res.values[key] = value


def validate_company(form: FormData) -> StepResult:
    """Step 1: company name, industry, country (ISO code), seats, external reference."""
    res = StepResult()
    _text(form, "company", "Company name", res, 2, 120)
    _choice(form, "industry", INDUSTRIES, res, "an industry")
    _choice(form, "country", COUNTRIES, res, "a country")
    seats = form.get("seats").replace(",", "").replace("_", "")
    if not seats:
        res.errors["seats"] = "Enter the number of seats"
    elif not seats.isdigit():
        res.errors["seats"] = "Number of seats must be a whole number"
    elif not MIN_SEATS <= int(seats) <= MAX_SEATS:
        res.errors["seats"] = f"Number of seats must be between {MIN_SEATS} and {MAX_SEATS:,}"
    else:
        res.values["seats"] = int(seats)
    ref = form.get("external_ref")
    if ref and not EXTERNAL_REF_RE.fullmatch(ref):
        res.errors["external_ref"] = (
            "External reference may only contain letters, digits and . _ : / - "
            "(at most 64 characters)"
        )
    else:
        res.values["external_ref"] = ref
    return res


def normalise_phone(raw: str) -> str:
    """``"+44 (20) 7946-0958"`` -> ``"+442079460958"``."""
    return re.sub(r"[\s().\-/]", "", raw)


def validate_contact(form: FormData) -> StepResult:
    """Step 2: contact name, e-mail address, phone number, preferred language."""
    res = StepResult()
    _text(form, "contact_name", "Contact name", res, 2, 100)
    email = form.get("email")
    if not email:
        res.errors["email"] = "Enter an e-mail address"
    elif len(email) > 254 or not EMAIL_RE.fullmatch(email):
        res.errors["email"] = "Enter an e-mail address in the correct format, like name@example.com"
    else:
        res.values["email"] = email
    phone = form.get("phone")
    if not phone:
        res.errors["phone"] = "Enter a phone number"
    elif not PHONE_RE.fullmatch(normalise_phone(phone)):
        res.errors["phone"] = "Enter a phone number in international format, like +44 20 7946 0958"
    else:
        res.values["phone"] = phone
    _choice(form, "language", LANGUAGES, res, "a preferred language")
    return res


def validate_plan(form: FormData, earlier: dict[str, Any], *, today: date) -> StepResult:
    """Step 3: plan, billing cycle, add-ons, start date; checked against the seats of step 1."""
    res = StepResult()
    plan = PLAN_BY_CODE.get(form.get("plan"))
    if not form.get("plan"):
        res.errors["plan"] = "Select a plan"
    elif plan is None:
        res.errors["plan"] = "Select a plan from the catalogue"
    elif isinstance(earlier.get("seats"), int) and earlier["seats"] > plan.max_seats:
        res.errors["plan"] = (
            f"The {plan.name} plan allows up to {plan.max_seats:,} seats: "
            "choose a larger plan or fewer seats"
        )
    else:
        res.values["plan"] = plan.code
    _choice(form, "billing_cycle", BILLING_CYCLES, res, "a billing cycle")
    if plan is not None and plan.annual_only and res.values.get("billing_cycle") == "monthly":
        del res.values["billing_cycle"]
        res.errors["billing_cycle"] = f"The {plan.name} plan is billed annually only"
    addons = form.getlist("addons")
    known = [code for code, _ in ADDONS]
    if any(a not in known for a in addons):
        res.errors["addons"] = "Select add-ons from the list"
    elif plan is not None and not plan.sso and "sso" in addons:
        res.errors["addons"] = f"Single sign-on is not available on the {plan.name} plan"
    else:
        res.values["addons"] = [a for a in known if a in addons]
    raw = form.get("start_date")
    try:
        start = date.fromisoformat(raw) if raw else None
    except ValueError:
        res.errors["start_date"] = "Start date must be a real date, like 2027-03-01"
    else:
        if start is None:
            res.errors["start_date"] = "Enter a start date"
        elif start < today:
            res.errors["start_date"] = "Start date must be today or in the future"
        elif start > today + timedelta(days=MAX_START_DAYS_AHEAD):
            res.errors["start_date"] = "Start date must be within a year from today"
        else:
            res.values["start_date"] = start.isoformat()
    return res


def validate_contract(form: FormData, *, max_upload_bytes: int, has_contract: bool) -> StepResult:
    """Step 4: the signed contract (a PDF under the size cap) and the terms checkbox.

    Args:
        form: the posted form.
        max_upload_bytes: the largest contract accepted.
        has_contract: the draft already holds a contract, so choosing none keeps it.
    """
    res = StepResult()
    up = form.file("contract")
    if up is None:
        if not has_contract:
            res.errors["contract"] = "Upload the signed contract"
    elif not up.content:
        res.errors["contract"] = "The selected file is empty"
    elif len(up.content) > max_upload_bytes:
        res.errors["contract"] = (
            f"The selected file must be smaller than {human_size(max_upload_bytes)}"
        )
    elif not up.content.startswith(PDF_MAGIC):
        res.errors["contract"] = "The selected file must be a PDF"
    else:
        name = up.filename.replace("\\", "/").rsplit("/", 1)[-1] or "contract.pdf"
        res.contract = Contract(name, up.content)
    if form.get("terms"):
        res.values["terms"] = True
    else:
        res.errors["terms"] = "Confirm that the customer has accepted the terms of service"
    return res


def validate_step(
    slug: str,
    form: FormData,
    earlier: dict[str, Any],
    *,
    today: date,
    max_upload_bytes: int,
    has_contract: bool,
) -> StepResult:
    """Validate the form of wizard step ``slug`` (``company``, ``contact``, ``plan``,
    ``contract``); ``earlier`` holds the draft's values so far."""
    if slug == "company":
        return validate_company(form)
    if slug == "contact":
        return validate_contact(form)
    if slug == "plan":
        return validate_plan(form, earlier, today=today)
    if slug == "contract":
        return validate_contract(form, max_upload_bytes=max_upload_bytes, has_contract=has_contract)
    raise ValueError(f"no form on step {slug!r}")


def recheck_draft(
    data: dict[str, Any], *, has_contract: bool, today: date, max_upload_bytes: int
) -> dict[str, dict[str, str]]:
    """Re-validate every step of a stored draft (a start date may have passed meanwhile).

    Returns:
        The errors per step slug, for the steps that fail (empty when the draft is complete).
    """
    form = form_from_values(data)
    failed: dict[str, dict[str, str]] = {}
    for slug in ("company", "contact", "plan", "contract"):
        res = validate_step(
            slug,
            form,
            data,
            today=today,
            max_upload_bytes=max_upload_bytes,
            has_contract=has_contract,
        )
        if res.errors:
            failed[slug] = res.errors
    return failed
