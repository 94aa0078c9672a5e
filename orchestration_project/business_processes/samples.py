"""Demo data for invoice approval: purchase orders and an inbox of invoices (PDFs written with
the demo world's PDF writer, plus a CSV and a JSON export), with the faults intake must catch:
an unreadable PDF, an invoice without a known PO, an amount that does not match its PO and an
invoice sent twice.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from orchestration_project.demo_world.common import pdf_document

__all__ = ["DemoInvoices", "invoice_pdf", "write_demo_invoices"]

VENDORS = [
    "Northwind Traders GmbH",
    "Contoso Office Supply Ltd",
    "Fabrikam Logistics",
    "Tailspin Hardware Inc",
    "Wingtip Catering",
    "Adatum Cloud Services",
]
CURRENCIES = ["EUR", "EUR", "EUR", "USD", "GBP"]


@dataclass
class DemoInvoices:
    """What was written and what intake should conclude.

    Attributes:
        purchase_orders: the PO file.
        files: the invoice files in the inbox.
        invoices: every invoice written (dicts with the true fields).
        expected_reasons: invoice number -> the reason code intake must give it.
        auto, one_approver, two_approvers: invoice numbers by the approval they need.
    """

    purchase_orders: Path
    files: list[Path] = field(default_factory=list)
    invoices: list[dict] = field(default_factory=list)
    expected_reasons: dict[str, str] = field(default_factory=dict)
    auto: list[str] = field(default_factory=list)
    one_approver: list[str] = field(default_factory=list)
    two_approvers: list[str] = field(default_factory=list)


def invoice_pdf(inv: dict) -> bytes:
    """A one-page invoice PDF with the fields as labelled lines (readable by ``pypdf``)."""
    lines = [
        f"Vendor: {inv['vendor']}",
        f"Invoice number: {inv['invoice_number']}",
        f"Invoice date: {inv.get('invoice_date', '2026-11-30')}",
    ]
    if inv.get("po_number"):
        lines.append(f"PO number: {inv['po_number']}")
    lines += [
        "Description: goods and services as ordered",
        f"Currency: {inv['currency']}",
        f"Amount due: {inv['currency']} {inv['amount']:,.2f}",
    ]
    return pdf_document("INVOICE", lines)


def _amount(rng: random.Random, tier: str) -> float:
    low, high = {"auto": (50, 950), "one": (1200, 9500), "two": (10500, 48000)}[tier]
    return round(rng.uniform(low, high), 2)


def write_demo_invoices(
    inbox: str | Path,
    purchase_orders: str | Path,
    *,
    n: int = 12,
    seed: int = 7,
    faults: bool = True,
    prefix: str = "INV",
    tiers: tuple[str, ...] = ("auto", "one", "two"),
) -> DemoInvoices:
    """Write ``n`` good invoices (most as PDFs, two as a CSV, one as JSON) and their purchase
    orders, plus, with ``faults``, four bad ones (one of each quarantine reason).

    Args:
        inbox: the inbox folder (created).
        purchase_orders: the PO CSV (written; POs of an existing file are kept).
        n: good invoices, cycling through ``tiers`` (auto-approved, one approver, two).
        seed: the random seed.
        faults: add the unreadable PDF, missing PO, amount mismatch and duplicate.
        prefix: invoice-number prefix (different batches, different numbers).
        tiers: which approval tiers the good invoices cycle through.
    """
    rng = random.Random(seed)
    folder = Path(inbox)
    folder.mkdir(parents=True, exist_ok=True)
    po_path = Path(purchase_orders)
    po_path.parent.mkdir(parents=True, exist_ok=True)
    existing: list[dict] = []
    if po_path.exists():
        with po_path.open(encoding="utf-8") as f:
            existing = list(csv.DictReader(f))
    out = DemoInvoices(purchase_orders=po_path)
    pos = []
    for i in range(n):
        tier = tiers[i % len(tiers)]
        inv = {
            "invoice_number": f"{prefix}-{seed:03d}-{i + 1:04d}",
            "vendor": rng.choice(VENDORS),
            "po_number": f"PO-{prefix}-{seed:03d}-{i + 1:04d}",
            "currency": rng.choice(CURRENCIES),
            "amount": _amount(rng, tier),
            "invoice_date": f"2026-11-{1 + i % 28:02d}",
        }
        out.invoices.append(inv)
        {"auto": out.auto, "one": out.one_approver, "two": out.two_approvers}[tier].append(
            inv["invoice_number"]
        )
        pos.append({k: inv[k] for k in ("po_number", "vendor", "amount", "currency")})
    csv_rows = out.invoices[-3:-1] if n >= 4 else []
    json_rows = out.invoices[-1:] if n >= 4 else []
    pdf_rows = [inv for inv in out.invoices if inv not in csv_rows and inv not in json_rows]
    for inv in pdf_rows:
        path = folder / f"{inv['invoice_number']}.pdf"
        path.write_bytes(invoice_pdf(inv))
        out.files.append(path)
    if faults:
        bad = f"{prefix}-{seed:03d}-BAD"
        broken = folder / f"{bad}-1.pdf"
        broken.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\n%%garbled")
        out.files.append(broken)
        out.expected_reasons[f"{bad}-1.pdf"] = "unreadable_pdf"
        no_po = {
            "invoice_number": f"{bad}-2",
            "vendor": VENDORS[0],
            "po_number": "PO-DOES-NOT-EXIST",
            "currency": "EUR",
            "amount": 420.0,
        }
        mismatch = {
            "invoice_number": f"{bad}-3",
            "vendor": VENDORS[1],
            "po_number": f"PO-{prefix}-{seed:03d}-MM",
            "currency": "EUR",
            "amount": 2500.0,
        }
        pos.append(
            {**{k: mismatch[k] for k in ("po_number", "vendor", "currency")}, "amount": 2000.0}
        )
        for inv in (no_po, mismatch):
            path = folder / f"{inv['invoice_number']}.pdf"
            path.write_bytes(invoice_pdf(inv))
            out.files.append(path)
        out.expected_reasons[no_po["invoice_number"]] = "missing_po"
        out.expected_reasons[mismatch["invoice_number"]] = "amount_mismatch"
        if pdf_rows:
            dup = dict(pdf_rows[0])
            csv_rows = [*csv_rows, dup]
            out.expected_reasons[f"{dup['invoice_number']}#duplicate"] = "duplicate_invoice"
    if csv_rows:
        path = folder / f"{prefix}-{seed:03d}-export.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(
                f, fieldnames=["invoice_number", "vendor", "po_number", "amount", "currency"]
            )
            w.writeheader()
            for inv in csv_rows:
                w.writerow({k: inv[k] for k in w.fieldnames})
        out.files.append(path)
    if json_rows:
        path = folder / f"{prefix}-{seed:03d}-portal.json"
        path.write_text(
            json.dumps({"invoices": [{k: inv[k] for k in inv} for inv in json_rows]}, indent=1),
            encoding="utf-8",
        )
        out.files.append(path)
    with po_path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["po_number", "vendor", "amount", "currency"])
        w.writeheader()
        for row in [*existing, *pos]:
            w.writerow({k: row[k] for k in w.fieldnames})
    return out
