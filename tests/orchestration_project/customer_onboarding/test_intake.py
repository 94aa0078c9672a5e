"""Customer intake: every bad input gives a clear reason and loses no record (records in =
accepted + quarantined; an unreadable file is rejected whole with the reason)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from orchestration_project.customer_onboarding.intake import (
    Catalogue,
    FileRejected,
    read_customer_file,
    validate_records,
)
from orchestration_project.customer_onboarding.status import summarise
from orchestration_project.customer_onboarding.welcome import check_welcome, write_welcome
from resources.language import OfflineLanguageEngine

TODAY = date(2026, 12, 3)
HEADER = "external_ref,company,country,contact_name,email,phone,plan,seats,billing_cycle,start_date"
GOOD = [
    "C-1,Acme GmbH,DE,Anna Berg,anna@acme.de,+49 30 901820,team,12,monthly,2026-12-10",
    "C-2,Bolt Ltd,GB,Ben Cole,ben@bolt.co.uk,020 7946 0958,business,40,annual,2027-01-05",
]


def _csv(tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "c.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return p


def _split(path: Path, **kw):
    rows = read_customer_file(path)
    ok, bad = validate_records(rows, Catalogue.load(), today=TODAY, **kw)
    assert len(ok) + len(bad) == len(rows)  # records in = accepted + quarantined
    return ok, bad


def test_the_catalogue_reads_norway_as_a_country_not_as_false() -> None:
    assert "NO" in Catalogue.load().countries


def test_good_rows_are_normalised(tmp_path: Path) -> None:
    ok, bad = _split(_csv(tmp_path, GOOD))
    assert bad.empty
    assert ok["phone"].tolist() == ["+4930901820", "+442079460958"]  # E.164 for the country
    assert ok["seats"].tolist() == [12, 40] and ok["language"].tolist() == ["en", "en"]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("C-3,X,DE,Xe,not-an-email,,team,1,monthly,", "e-mail 'not-an-email'"),
        ("C-3,X,DE,Xe,x@x.de,12,team,1,monthly,", "phone '12'"),
        ("C-3,X,QQ,Xe,x@x.de,,team,1,monthly,", "country 'QQ'"),
        ("C-3,X,DE,Xe,x@x.de,,platinum,1,monthly,", "plan 'platinum'"),
        ("C-3,X,DE,Xe,x@x.de,,starter,50,monthly,", "allows at most 10 seats"),
        ("C-3,X,DE,Xe,x@x.de,,enterprise,50,monthly,", "annual billing only"),
        ("C-3,X,DE,Xe,x@x.de,,team,1,monthly,2020-01-01", "between today and a year ahead"),
        ("C-3,X,DE,Xe,x@x.de,,team,many,monthly,", "seats 'many' is not a number"),
        (",X,DE,Xe,x@x.de,,team,1,monthly,", "external_ref is required"),
        (
            'C-3,"=HYPERLINK(""http://evil.example"",""x"")",DE,Xe,x@x.de,,team,1,monthly,',
            "company looks like a spreadsheet formula",
        ),
    ],
)
def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path, row: str, reason: str) -> None:
    ok, bad = _split(_csv(tmp_path, [*GOOD, row]))
    assert len(ok) == 2 and len(bad) == 1
    assert reason in bad["reason"].iloc[0]


def test_duplicates_in_the_file_and_against_existing_accounts(tmp_path: Path) -> None:
    rows = [*GOOD, GOOD[0].replace("anna@acme.de", "other@acme.de"), GOOD[1].replace("C-2", "C-9")]
    ok, bad = _split(_csv(tmp_path, rows), existing_refs={"C-1"})
    assert ok["external_ref"].tolist() == ["C-2"]
    reasons = bad["reason"].tolist()
    assert "external_ref C-1 already has an account" in reasons[0]
    assert any("duplicate e-mail ben@bolt.co.uk" in r for r in reasons)
    assert len(bad) == 3


def test_unreadable_files_are_rejected_whole_with_the_reason(tmp_path: Path) -> None:
    cases = {
        "empty.csv": (b"", "the file is empty"),
        "cols.csv": (b"who,what\n1,2\n", r"missing column\(s\) external_ref"),
        "latin1.csv": (
            (HEADER + "\nC-1,M\xfcller,DE,A,a@b.de,,team,1,monthly,\n").encode("latin-1"),
            "not UTF-8",
        ),
        "bad.json": (b"[{", "not valid JSON"),
        "list.json": (b'{"customers": 3}', "JSON must be a list"),
        "notes.txt": (b"hello", "unknown file type"),
        "header_only.csv": ((HEADER + "\n").encode(), "no customer rows"),
    }
    for name, (content, reason) in cases.items():
        p = tmp_path / name
        p.write_bytes(content)
        with pytest.raises(FileRejected, match=reason):
            read_customer_file(p)
    big = _csv(tmp_path, [GOOD[0].replace("C-1", f"C-{i}") for i in range(50_000)], name="big.csv")
    with pytest.raises(FileRejected, match="50,000 rows is over the 10,000-row limit"):
        read_customer_file(big)
    with pytest.raises(FileRejected, match="over the 1,000-byte limit"):
        read_customer_file(big, max_bytes=1000)


def test_json_and_excel_files_with_aliased_columns(tmp_path: Path) -> None:
    records = [
        {
            "Customer ID": "J-1",
            "Company Name": "Jet AB",
            "Country": "SE",
            "Name": "Jo Ek",
            "E-mail": "jo@jet.se",
            "Plan": "Team",
            "Seats": 3,
            "Add-ons": ["audit_log"],
        },
    ]
    (tmp_path / "c.json").write_text(json.dumps({"customers": records}))
    ok, bad = _split(tmp_path / "c.json")
    assert bad.empty and ok["external_ref"].tolist() == ["J-1"]
    assert json.loads(ok["addons"].iloc[0]) == ["audit_log"] and ok["plan"].iloc[0] == "team"
    pd.DataFrame([r | {"Add-ons": "audit_log"} for r in records]).to_excel(
        tmp_path / "c.xlsx", index=False
    )
    ok, bad = _split(tmp_path / "c.xlsx")
    assert bad.empty and ok["email"].tolist() == ["jo@jet.se"]


def test_welcome_messages_are_personalised_and_checked() -> None:
    customer = {
        "contact_name": "Anna Berg",
        "company": "Acme",
        "plan": "team",
        "seats": 12,
        "start_date": "2026-12-10",
        "industry": "retail",
        "language": "de",
    }
    lang, text, _ = write_welcome(customer, "ACC-000104", OfflineLanguageEngine())
    assert lang == "de" and "Willkommen bei Ledgerly, Anna Berg" in text
    assert "Tarif Team" in text and "ACC-000104" in text and "$" not in text
    assert check_welcome(text, customer) == []
    assert (
        "unfilled placeholder(s): $account_id"
        in check_welcome("Hi Anna Berg, Team $account_id", customer)[0]
    )
    assert check_welcome("Hello!", customer) == [
        "the customer's name is missing",
        "the plan Team is missing",
    ]


def test_status_summary_counts_manual_minutes_avoided() -> None:
    status = pd.DataFrame({"stage": ["welcomed"] * 8 + ["crm_rejected", "quarantined"]})
    s = summarise(status, {"validate": 1, "create_account": 5, "upload_contract": 2, "welcome": 2})
    # by hand: 10 customers × 10 min; left: the rejected one's 9 and the quarantined one's 10
    assert (s.manual_minutes_by_hand, s.manual_minutes_left) == (100, 19)
    assert s.reduction == pytest.approx(0.81) and s.automated_share == 0.8
