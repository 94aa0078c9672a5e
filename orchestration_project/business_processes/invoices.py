"""Invoice intake: read invoice files (PDF through ``pypdf``, CSV, JSON), extract amount,
currency, vendor, invoice number and PO number, and check each invoice against the purchase
orders. Pure Python and pandas.

Every invoice read ends up either accepted or quarantined with every reason that applies
(records in = accepted + quarantined, always). Reason codes:

* ``unreadable_pdf`` — not a PDF pypdf can open, or a PDF without a text layer;
* ``unreadable_file`` — a CSV or JSON file that cannot be parsed;
* ``missing_fields`` — no invoice number, vendor, amount or currency could be read;
* ``missing_po`` — no PO number, or one that is not among the purchase orders;
* ``amount_mismatch`` — amount or currency differs from the purchase order's;
* ``vendor_mismatch`` — the invoice's vendor is not the purchase order's;
* ``duplicate_invoice`` — the same vendor and invoice number was received before (an instance
  exists) or earlier in the same batch.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "INVOICE_COLUMNS",
    "PO_COLUMNS",
    "QUARANTINE_COLUMNS",
    "SUFFIXES",
    "InvoiceCheck",
    "check_invoices",
    "instance_id",
    "normalise_vendor",
    "parse_amount",
    "read_invoice_file",
    "read_purchase_orders",
]

SUFFIXES = {".pdf", ".csv", ".json"}
FIELDS = ("invoice_number", "vendor", "po_number", "amount", "currency")
INVOICE_COLUMNS = [
    "instance_id",
    "invoice_number",
    "vendor",
    "po_number",
    "amount",
    "currency",
    "invoice_date",
    "source_file",
    "source_kind",
    "row",
]
QUARANTINE_COLUMNS = [*INVOICE_COLUMNS, "reason_codes", "reason"]
PO_COLUMNS = ["po_number", "vendor", "amount", "currency"]
MAX_BYTES = 10_000_000

_ALIASES = {
    "invoice_number": ("invoice_number", "invoice_no", "invoice", "number", "invoice_id"),
    "vendor": ("vendor", "supplier", "vendor_name", "supplier_name"),
    "po_number": ("po_number", "po", "purchase_order", "po_no"),
    "amount": ("amount", "total", "amount_due", "total_due", "gross_amount"),
    "currency": ("currency", "ccy", "currency_code"),
    "invoice_date": ("invoice_date", "date", "issued"),
}

_LABELS = {
    "invoice_number": r"invoice\s*(?:number|no\.?|#|id)\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9\-/.]*)",
    "vendor": r"(?:vendor|supplier|from)\s*:\s*(.+)",
    "po_number": r"(?:p\.?o\.?|purchase\s+order)\s*(?:number|no\.?|#)?\s*[:#]\s*([A-Za-z0-9][A-Za-z0-9\-/]*)",
    "currency": r"currency\s*:\s*([A-Za-z]{3})\b",
    "invoice_date": r"(?:invoice\s+)?date\s*:\s*(\d{4}-\d{2}-\d{2})",
}
_AMOUNT = re.compile(
    r"(?:amount\s+due|total\s+due|total|amount)\s*:?\s*([A-Z]{3})?\s*([\d][\d.,\s']*\d|\d)\s*([A-Z]{3})?",
    re.IGNORECASE,
)


def parse_amount(text: Any) -> float | None:
    """A money amount from text: ``1,234.50``, ``1.234,50``, ``1 234,50``, ``1234``; None when
    there is none."""
    if text is None:
        return None
    if isinstance(text, int | float) and not isinstance(text, bool):
        return float(text) if text == text else None
    s = re.sub(r"[^\d.,\-]", "", str(text).replace("\u00a0", "").replace("'", ""))
    if not re.search(r"\d", s):
        return None
    if "," in s and "." in s:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
        s = s.replace("." if dec == "," else ",", "").replace(dec, ".")
    elif "," in s:
        s = s.replace(",", ".") if re.search(r",\d{1,2}$", s) else s.replace(",", "")
    elif s.count(".") > 1:
        s = s.replace(".", "")
    try:
        return round(float(s), 2)
    except ValueError:
        return None


def normalise_vendor(name: Any) -> str:
    """A vendor name for comparison: lowercase words, legal suffixes and punctuation gone."""
    words = re.findall(r"[a-z0-9]+", str(name or "").lower())
    legal = {"gmbh", "ag", "ltd", "llc", "inc", "sa", "sarl", "bv", "plc", "co", "corp", "oy"}
    return " ".join(w for w in words if w not in legal)


def instance_id(vendor: str, invoice_number: str) -> str:
    """The process instance id of an invoice: ``invoice:<vendor>:<number>`` (normalised, so
    the same invoice sent twice maps to one id)."""
    slug = normalise_vendor(vendor).replace(" ", "-") or "unknown"
    return f"invoice:{slug}:{str(invoice_number).strip().upper()}"


def _blank(kind: str, source: Path, row: int) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(INVOICE_COLUMNS)
    out.update(source_file=source.name, source_kind=kind, row=row)
    return out


def _from_text(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, pattern in _LABELS.items():
        m = re.search(pattern, text, re.IGNORECASE)
        if m:
            found[name] = m.group(1).strip()
    for m in _AMOUNT.finditer(text):
        amount = parse_amount(m.group(2))
        if amount is not None:
            found["amount"] = amount
            code = m.group(1) or m.group(3)
            if code and "currency" not in found:
                found["currency"] = code
            break
    return found


def _read_pdf(path: Path) -> list[dict[str, Any]]:
    from pypdf import PdfReader

    rec = _blank("pdf", path, 1)
    try:
        reader = PdfReader(io.BytesIO(path.read_bytes()))
        text = "\n".join((page.extract_text() or "") for page in reader.pages)
    except Exception as exc:  # pypdf raises many kinds on broken files
        rec["error"] = f"unreadable_pdf: {type(exc).__name__}: {str(exc)[:120]}"
        return [rec]
    if not text.strip():
        rec["error"] = "unreadable_pdf: no text layer (a scan?)"
        return [rec]
    rec.update(_from_text(text))
    return [rec]


def _normalise_row(raw: dict[str, Any], kind: str, source: Path, row: int) -> dict[str, Any]:
    rec = _blank(kind, source, row)
    lower = {str(k).strip().lower().replace(" ", "_"): v for k, v in raw.items()}
    for field, aliases in _ALIASES.items():
        for a in aliases:
            value = lower.get(a)
            if value not in (None, ""):
                rec[field] = value
                break
    rec["amount"] = parse_amount(rec.get("amount"))
    return rec


def _read_structured(path: Path) -> list[dict[str, Any]]:
    kind = path.suffix.lower().lstrip(".")
    try:
        text = path.read_text(encoding="utf-8-sig")
        if kind == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
        else:
            data = json.loads(text)
            rows = data.get("invoices", [data]) if isinstance(data, dict) else data
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValueError("expected an invoice object or a list of them")
    except (UnicodeDecodeError, ValueError, csv.Error) as exc:
        rec = _blank(kind, path, 0)
        rec["error"] = f"unreadable_file: {type(exc).__name__}: {str(exc)[:120]}"
        return [rec]
    return [_normalise_row(r, kind, path, i) for i, r in enumerate(rows, start=1)]


def read_invoice_file(path: str | Path) -> list[dict[str, Any]]:
    """The invoices of one file: one per PDF, one per CSV row or JSON object. A file that
    cannot be read gives one record with an ``error`` (it is quarantined, never lost)."""
    p = Path(path)
    if p.stat().st_size > MAX_BYTES:
        rec = _blank(p.suffix.lower().lstrip("."), p, 0)
        rec["error"] = f"unreadable_file: larger than {MAX_BYTES} bytes"
        return [rec]
    if p.suffix.lower() == ".pdf":
        return _read_pdf(p)
    return _read_structured(p)


def read_purchase_orders(path: str | Path) -> pd.DataFrame:
    """The purchase orders (CSV: po_number, vendor, amount, currency); an empty frame when the
    file is missing."""
    p = Path(path)
    if not p.exists():
        return pd.DataFrame(columns=PO_COLUMNS)
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    missing = [c for c in PO_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"purchase orders {p} lack columns {missing}")
    df["amount"] = df["amount"].map(parse_amount)
    df["po_number"] = df["po_number"].str.strip().str.upper()
    df["currency"] = df["currency"].str.strip().str.upper()
    return df[PO_COLUMNS]


@dataclass(frozen=True)
class InvoiceCheck:
    """The outcome of checking a batch: accepted invoices (with their PO's figures) and
    quarantined ones (with reason codes and reasons)."""

    accepted: pd.DataFrame
    quarantined: pd.DataFrame

    @property
    def records_in(self) -> int:
        """Every invoice read."""
        return len(self.accepted) + len(self.quarantined)


def check_invoices(
    records: Iterable[dict[str, Any]],
    purchase_orders: pd.DataFrame,
    *,
    known_instances: set[str] | frozenset[str] = frozenset(),
    tolerance: float = 0.01,
) -> InvoiceCheck:
    """Check every invoice: readable, complete, its PO exists, amount, currency and vendor
    match the PO, not a duplicate. Accepted invoices gain ``po_amount`` and ``po_vendor``.

    Args:
        records: what :func:`read_invoice_file` returned, for every file of the batch.
        purchase_orders: :func:`read_purchase_orders`.
        known_instances: instance ids of invoices received before (duplicates).
        tolerance: the largest amount difference to the PO that still matches.
    """
    pos = {r["po_number"]: r for r in purchase_orders.to_dict("records")}
    seen = set(known_instances)
    accepted, quarantined = [], []
    for rec in records:
        rec = dict(rec)
        codes: list[str] = []
        reasons: list[str] = []
        if rec.get("error"):
            code = str(rec["error"]).split(":", 1)[0]
            codes.append(code)
            reasons.append(str(rec["error"]))
        else:
            for f in ("invoice_number", "vendor", "po_number", "currency"):
                rec[f] = str(rec[f]).strip() if rec.get(f) not in (None, "") else None
            if rec["currency"]:
                rec["currency"] = rec["currency"].upper()
            if rec["po_number"]:
                rec["po_number"] = rec["po_number"].upper()
            missing = [f for f in ("invoice_number", "vendor", "amount", "currency") if not rec[f]]
            if missing:
                codes.append("missing_fields")
                reasons.append(f"missing_fields: {', '.join(missing)}")
            po = pos.get(rec["po_number"]) if rec["po_number"] else None
            if not rec["po_number"]:
                codes.append("missing_po")
                reasons.append("missing_po: the invoice names no purchase order")
            elif po is None:
                codes.append("missing_po")
                reasons.append(f"missing_po: {rec['po_number']} is not a known purchase order")
            elif not missing:
                if rec["currency"] != po["currency"] or (
                    po["amount"] is None or abs(float(rec["amount"]) - po["amount"]) > tolerance
                ):
                    codes.append("amount_mismatch")
                    reasons.append(
                        f"amount_mismatch: {rec['amount']:,.2f} {rec['currency']} against PO "
                        f"{po['po_number']} for {po['amount'] or 0:,.2f} {po['currency']}"
                    )
                if normalise_vendor(rec["vendor"]) != normalise_vendor(po["vendor"]):
                    codes.append("vendor_mismatch")
                    reasons.append(
                        f"vendor_mismatch: {rec['vendor']!r} but PO {po['po_number']} is "
                        f"{po['vendor']!r}"
                    )
            if rec["invoice_number"] and rec["vendor"]:
                rec["instance_id"] = instance_id(rec["vendor"], rec["invoice_number"])
                if rec["instance_id"] in seen:
                    codes.append("duplicate_invoice")
                    reasons.append(
                        f"duplicate_invoice: {rec['invoice_number']} from {rec['vendor']} was "
                        "received before"
                    )
            if not codes:
                rec["po_amount"] = po["amount"]
                rec["po_vendor"] = po["vendor"]
                seen.add(rec["instance_id"])
        if codes:
            rec["reason_codes"] = ",".join(dict.fromkeys(codes))
            rec["reason"] = "; ".join(reasons)
            quarantined.append(rec)
        else:
            accepted.append(rec)
    acc = pd.DataFrame(accepted, columns=[*INVOICE_COLUMNS, "po_amount", "po_vendor"])
    acc["amount"] = pd.to_numeric(acc["amount"]).astype(float)
    acc["po_amount"] = pd.to_numeric(acc["po_amount"]).astype(float)
    quar = pd.DataFrame(quarantined, columns=QUARANTINE_COLUMNS)
    quar["amount"] = pd.to_numeric(quar["amount"], errors="coerce").astype(float)
    for col in ("invoice_number", "vendor", "po_number", "currency", "invoice_date"):
        quar[col] = quar[col].astype(object).where(quar[col].notna(), None)
        quar[col] = quar[col].map(lambda v: "" if v is None else str(v))
    return InvoiceCheck(
        accepted=acc.reset_index(drop=True), quarantined=quar.reset_index(drop=True)
    )
