"""Invoice intake without Dagster: fields read from PDFs (pypdf), CSV and JSON, and every bad
invoice quarantined with its reason, none lost."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from orchestration_project.business_processes.invoices import (
    check_invoices,
    instance_id,
    parse_amount,
    read_invoice_file,
    read_purchase_orders,
)
from orchestration_project.business_processes.samples import invoice_pdf, write_demo_invoices


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234.50", 1234.5),
        ("1.234,50", 1234.5),
        ("EUR 12 500,00", 12500.0),
        ("980", 980.0),
        ("1,000", 1000.0),
        ("n/a", None),
    ],
)
def test_amounts_in_either_notation(text: str, expected: float | None) -> None:
    assert parse_amount(text) == expected


def test_a_pdf_invoice_is_read_by_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    path.write_bytes(
        invoice_pdf(
            {
                "vendor": "Wingtip Catering",
                "invoice_number": "WC-2041",
                "po_number": "PO-77",
                "currency": "GBP",
                "amount": 12345.6,
            }
        )
    )
    (rec,) = read_invoice_file(path)
    assert {k: rec[k] for k in ("vendor", "invoice_number", "po_number", "currency", "amount")} == {
        "vendor": "Wingtip Catering",
        "invoice_number": "WC-2041",
        "po_number": "PO-77",
        "currency": "GBP",
        "amount": 12345.6,
    }
    assert rec["source_kind"] == "pdf"


def test_structured_files_with_other_column_names(tmp_path: Path) -> None:
    csv_path = tmp_path / "x.csv"
    csv_path.write_text('Supplier,Invoice No,PO,Total,CCY\nAcme,A-1,PO-1,"1,200.00",EUR\n')
    json_path = tmp_path / "y.json"
    json_path.write_text(json.dumps([{"vendor": "Acme", "invoice_number": "A-2", "amount": 5}]))
    (a,) = read_invoice_file(csv_path)
    (b,) = read_invoice_file(json_path)
    assert (a["vendor"], a["invoice_number"], a["po_number"], a["amount"]) == (
        "Acme",
        "A-1",
        "PO-1",
        1200.0,
    )
    assert (b["invoice_number"], b["amount"], b["po_number"]) == ("A-2", 5.0, None)


def test_bad_invoices_are_quarantined_with_reasons_and_none_is_lost(tmp_path: Path) -> None:
    demo = write_demo_invoices(tmp_path / "inbox", tmp_path / "po.csv", n=9, seed=3)
    records = [r for f in sorted(demo.files) for r in read_invoice_file(f)]
    result = check_invoices(records, read_purchase_orders(tmp_path / "po.csv"))
    assert result.records_in == len(records) == 13  # 9 good + 4 bad
    assert len(result.accepted) == 9
    q = result.quarantined.set_index("source_file")
    assert q.loc["INV-003-BAD-1.pdf", "reason_codes"] == "unreadable_pdf"
    by_number = result.quarantined.set_index("invoice_number")
    assert by_number.loc["INV-003-BAD-2", "reason_codes"] == "missing_po"
    assert (
        "PO-DOES-NOT-EXIST is not a known purchase order"
        in by_number.loc["INV-003-BAD-2", "reason"]
    )
    assert by_number.loc["INV-003-BAD-3", "reason_codes"] == "amount_mismatch"
    assert "2,500.00 EUR against PO" in by_number.loc["INV-003-BAD-3", "reason"]
    dup = result.quarantined[result.quarantined["reason_codes"] == "duplicate_invoice"]
    assert list(dup["source_kind"]) == ["csv"]  # the PDF came first and was accepted
    assert dup["invoice_number"].iloc[0] in set(result.accepted["invoice_number"])


def test_an_invoice_received_in_an_earlier_batch_is_a_duplicate() -> None:
    pos = pd.DataFrame([{"po_number": "PO-1", "vendor": "Acme", "amount": 10.0, "currency": "EUR"}])
    rec = {
        "invoice_number": "a-1",
        "vendor": "ACME GmbH",
        "po_number": "po-1",
        "amount": 10.0,
        "currency": "eur",
        "source_file": "f.json",
        "source_kind": "json",
        "row": 1,
    }
    assert len(check_invoices([rec], pos).accepted) == 1
    known = {instance_id("Acme", "A-1")}
    result = check_invoices([rec], pos, known_instances=known)
    assert list(result.quarantined["reason_codes"]) == ["duplicate_invoice"]


def test_every_reason_of_one_invoice_is_kept() -> None:
    pos = pd.DataFrame([{"po_number": "PO-1", "vendor": "Acme", "amount": 10.0, "currency": "EUR"}])
    rec = {
        "invoice_number": "B-1",
        "vendor": "Other Corp",
        "po_number": "PO-1",
        "amount": 11.0,
        "currency": "USD",
        "source_file": "f.csv",
        "source_kind": "csv",
        "row": 1,
    }
    (codes,) = check_invoices([rec], pos).quarantined["reason_codes"]
    assert codes == "amount_mismatch,vendor_mismatch"
