"""Customer intake: a dropped file of new customers read into records, each record validated,
the invalid ones quarantined with the reason. Records in = records accepted + records
quarantined, always; a file that cannot be read at all is rejected whole with the reason and
none of its rows is lost (the file itself is kept in ``rejected/``).

Files: CSV (UTF-8, a BOM allowed), JSON (a list of objects, or ``{"customers": [...]}``) and
Excel (``.xlsx``, the first sheet). Columns are matched case- and space-insensitively, with
common aliases (``e-mail`` → ``email``). A file over the size or row cap is rejected with a
clear reason (split it), so one huge drop cannot stall the inbox.

Checks per record (the reason names every failed one): required fields; e-mail syntax
(``email-validator``, no DNS lookup); the phone number valid for the country
(``phonenumbers``, stored in E.164); country, industry, language, plan, billing cycle and
add-ons in the CRM's catalogue (``catalogue.yaml``); the plan's seat limit, annual-only plans,
add-ons the plan allows; a start date that parses, is not in the past and at most a year
ahead; a cell that looks like a spreadsheet formula (``=``, ``+``, ``-``, ``@`` first:
formula injection); duplicates within the file (the later rows) and against accounts that
already exist.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import phonenumbers
import yaml
from email_validator import EmailNotValidError, validate_email

CATALOGUE = Path(__file__).with_name("catalogue.yaml")
FIELDS = [
    "external_ref",
    "company",
    "industry",
    "country",
    "seats",
    "contact_name",
    "email",
    "phone",
    "language",
    "plan",
    "billing_cycle",
    "addons",
    "start_date",
]
REQUIRED = ["external_ref", "company", "country", "contact_name", "email", "plan"]
DEFAULTS = {
    "industry": "other",
    "seats": "1",
    "language": "en",
    "billing_cycle": "monthly",
    "addons": "",
    "phone": "",
    "start_date": "",
}
ALIASES = {
    "id": "external_ref",
    "customer_id": "external_ref",
    "ref": "external_ref",
    "company_name": "company",
    "organisation": "company",
    "organization": "company",
    "name": "contact_name",
    "contact": "contact_name",
    "e_mail": "email",
    "mail": "email",
    "telephone": "phone",
    "phone_number": "phone",
    "lang": "language",
    "billing": "billing_cycle",
    "add_ons": "addons",
    "start": "start_date",
}
_FORMULA = re.compile(r"^[=+\-@\t\r]")


class FileRejected(ValueError):
    """A file that cannot be read as customers at all; the message is the reason."""


@dataclass(frozen=True)
class Catalogue:
    """What the CRM accepts."""

    plans: dict[str, dict[str, Any]]
    countries: frozenset[str]
    industries: frozenset[str]
    languages: frozenset[str]
    billing_cycles: frozenset[str]
    addons: frozenset[str]

    @classmethod
    def load(cls, path: Path = CATALOGUE) -> Catalogue:
        """The catalogue from its YAML file."""
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        for key in ("countries", "industries", "languages", "billing_cycles", "addons"):
            bad = [v for v in raw[key] if not isinstance(v, str)]
            if bad:  # e.g. a bare NO read as false by YAML 1.1
                raise ValueError(f"{path}: {key} must be strings, quote {bad}")
        return cls(
            plans=dict(raw["plans"]),
            **{
                k: frozenset(raw[k])
                for k in ("countries", "industries", "languages", "billing_cycles", "addons")
            },
        )


def _column(name: Any) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")
    return ALIASES.get(key, key)


def read_customer_file(
    path: Path, *, max_bytes: int = 10_000_000, max_rows: int = 10_000
) -> pd.DataFrame:
    """Every row of a customer file as text columns (``FIELDS`` plus ``row``, 1-based).

    Raises:
        FileRejected: empty, too big, too many rows, not UTF-8, not parseable, an unknown
            format, or without the required columns (the message says which).
    """
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("the file is empty")
    if size > max_bytes:
        raise FileRejected(f"{size:,} bytes is over the {max_bytes:,}-byte limit; split the file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            text = path.read_bytes().decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text)))
            frame = pd.DataFrame(rows)
        elif suffix == ".json":
            doc = json.loads(path.read_bytes().decode("utf-8-sig"))
            rows = doc.get("customers") if isinstance(doc, dict) else doc
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise FileRejected(
                    "JSON must be a list of customer objects (or {customers: [...]})"
                )
            frame = pd.DataFrame(rows)
        elif suffix in (".xlsx", ".xlsm"):
            frame = pd.read_excel(path, dtype=str, engine="openpyxl")
        else:
            raise FileRejected(f"unknown file type {suffix!r}: CSV, JSON or Excel (.xlsx)")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not UTF-8 text (byte {exc.start}): save the file as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise FileRejected(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except csv.Error as exc:
        raise FileRejected(f"not valid CSV: {exc}") from None
    except (ValueError, OSError, KeyError) as exc:
        if isinstance(exc, FileRejected):
            raise
        raise FileRejected(f"cannot read the file: {type(exc).__name__}: {exc}"[:300]) from None
    if len(frame) == 0:
        raise FileRejected("the file has no customer rows")
    if len(frame) > max_rows:
        raise FileRejected(
            f"{len(frame):,} rows is over the {max_rows:,}-row limit; split the file"
        )
    frame.columns = [_column(c) for c in frame.columns]
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise FileRejected(
            f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
        )
    for col in FIELDS:
        if col not in frame.columns:
            frame[col] = DEFAULTS.get(col, "")
    out = frame[FIELDS].astype(object).where(frame[FIELDS].notna(), "")
    out = out.map(lambda v: json.dumps(v) if isinstance(v, list | dict) else str(v).strip())
    out.insert(0, "row", range(1, len(out) + 1))
    return out.reset_index(drop=True)


def _phone(value: str, country: str) -> tuple[str, str | None]:
    if not value:
        return "", None
    try:
        parsed = phonenumbers.parse(value, country or None)
    except phonenumbers.NumberParseException as exc:
        return value, f"phone {value!r} does not parse ({exc})"
    if not phonenumbers.is_valid_number(parsed):
        return value, f"phone {value!r} is not a valid number for {country or 'its country'}"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


def _addons(value: str) -> list[str]:
    if value.startswith("["):
        try:
            return [str(a).strip() for a in json.loads(value)]
        except json.JSONDecodeError:
            pass
    return [a.strip() for a in re.split(r"[;,|]", value) if a.strip()]


def check_record(
    rec: dict[str, str], catalogue: Catalogue, *, today: date | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A record normalised (e-mail lowercased, phone in E.164, seats an int, add-ons a list)
    and every reason it cannot be onboarded (empty: valid)."""
    today = today or date.today()
    why: list[str] = []
    out: dict[str, Any] = dict(rec)
    for col in FIELDS:
        if _FORMULA.match(str(rec.get(col, ""))) and not (col == "phone" and rec[col][:1] == "+"):
            why.append(f"{col} looks like a spreadsheet formula (formula injection)")
    why += [f"{c} is required" for c in REQUIRED if not str(rec.get(c, "")).strip()]
    try:
        out["email"] = validate_email(rec.get("email", ""), check_deliverability=False).normalized
        out["email"] = out["email"].lower()
    except EmailNotValidError as exc:
        if rec.get("email"):
            why.append(f"e-mail {rec['email']!r}: {exc}")
    country = str(rec.get("country", "")).upper()
    out["country"] = country
    if country and country not in catalogue.countries:
        why.append(f"country {country!r} is not one the CRM serves")
    out["phone"], phone_why = _phone(str(rec.get("phone", "")), country)
    why += [phone_why] if phone_why else []
    for col, allowed in (
        ("industry", catalogue.industries),
        ("language", catalogue.languages),
        ("billing_cycle", catalogue.billing_cycles),
    ):
        out[col] = str(rec.get(col) or DEFAULTS[col]).lower()
        if out[col] not in allowed:
            why.append(f"{col} {out[col]!r} is not in the catalogue")
    plan = catalogue.plans.get(str(rec.get("plan", "")).lower())
    out["plan"] = str(rec.get("plan", "")).lower()
    if rec.get("plan") and plan is None:
        why.append(f"plan {rec['plan']!r} is not in the catalogue")
    try:
        out["seats"] = int(float(str(rec.get("seats") or "1")))
        if not 1 <= out["seats"] <= 10_000:
            why.append(f"seats {out['seats']} is outside 1..10000")
        elif plan and out["seats"] > int(plan["max_seats"]):
            why.append(f"plan {out['plan']} allows at most {plan['max_seats']} seats")
    except ValueError:
        why.append(f"seats {rec.get('seats')!r} is not a number")
    if plan and plan.get("annual_only") and out["billing_cycle"] != "annual":
        why.append(f"plan {out['plan']} is sold with annual billing only")
    out["addons"] = _addons(str(rec.get("addons", "")))
    unknown = [a for a in out["addons"] if a not in catalogue.addons]
    if unknown:
        why.append(f"unknown add-on(s) {', '.join(unknown)}")
    if plan and not plan.get("sso", True) and "sso" in out["addons"]:
        why.append(f"plan {out['plan']} cannot add single sign-on")
    start = str(rec.get("start_date") or "")
    if start:
        try:
            d = date.fromisoformat(start[:10])
            out["start_date"] = d.isoformat()
            if d < today or d > today + timedelta(days=365):
                why.append(f"start date {d} must be between today and a year ahead")
        except ValueError:
            why.append(f"start date {start!r} is not a date (YYYY-MM-DD)")
    else:
        out["start_date"] = today.isoformat()
    return out, why


def validate_records(
    rows: pd.DataFrame,
    catalogue: Catalogue,
    *,
    existing_refs: set[str] | frozenset[str] = frozenset(),
    existing_emails: set[str] | frozenset[str] = frozenset(),
    today: date | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split rows into ``(accepted, quarantined)``; quarantined rows keep every input column
    and add ``reason`` (all failed checks, "; "-joined). Duplicates: a later row with an
    ``external_ref`` or e-mail seen earlier in the file, or one that already has an account."""
    accepted, quarantined = [], []
    seen_refs: set[str] = set()
    seen_emails: set[str] = set()
    for rec in rows.to_dict("records"):
        out, why = check_record({k: str(v) for k, v in rec.items()}, catalogue, today=today)
        ref, email = str(out.get("external_ref", "")), str(out.get("email", "")).lower()
        if ref and ref in existing_refs:
            why.append(f"external_ref {ref} already has an account")
        elif ref in seen_refs:
            why.append(f"duplicate external_ref {ref} in the file")
        if email and email in existing_emails:
            why.append(f"e-mail {email} already has an account")
        elif email and email in seen_emails:
            why.append(f"duplicate e-mail {email} in the file")
        seen_refs.add(ref)
        seen_emails.add(email)
        if why:
            quarantined.append({**{k: str(v) for k, v in rec.items()}, "reason": "; ".join(why)})
        else:
            out["row"] = int(rec["row"])
            out["addons"] = json.dumps(out["addons"])
            accepted.append(out)
    cols = ["row", *FIELDS]
    return (
        pd.DataFrame(accepted, columns=cols),
        pd.DataFrame(quarantined, columns=[*cols, "reason"]),
    )


def attach_contracts(
    accepted: pd.DataFrame, folder: Path, *, max_bytes: int = 5_000_000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each accepted customer's signed contract: ``<folder>/contracts/<external_ref>.pdf``.
    A missing, empty, oversized or non-PDF contract moves the customer to quarantine (a person
    must get the signed contract)."""
    ok, bad = [], []
    for rec in accepted.to_dict("records"):
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", str(rec["external_ref"]))
        path = folder / "contracts" / f"{safe}.pdf"
        reason = ""
        if not path.is_file():
            reason = f"no signed contract at contracts/{safe}.pdf"
        elif not 0 < path.stat().st_size <= max_bytes:
            reason = f"contract {path.name} is empty or over {max_bytes:,} bytes"
        elif path.read_bytes()[:5] != b"%PDF-":
            reason = f"contract {path.name} is not a PDF"
        if reason:
            bad.append({**{k: str(v) for k, v in rec.items()}, "reason": reason})
        else:
            ok.append({**rec, "contract_path": str(path)})
    return (
        pd.DataFrame(ok, columns=[*accepted.columns, "contract_path"]),
        pd.DataFrame(bad, columns=[*accepted.columns, "reason"]),
    )


__all__ = [
    "CATALOGUE",
    "attach_contracts",
    "FIELDS",
    "REQUIRED",
    "Catalogue",
    "FileRejected",
    "check_record",
    "read_customer_file",
    "validate_records",
]
