"""Sample customer records for tests, demos and benchmarks: valid for the demo CRM's catalogue.

:func:`sample_customers` makes ``n`` records in the schema of
:mod:`orchestration_project.customer_onboarding.mapping` (deterministic for a seed, apart from
start dates, which are counted from today because the CRM refuses past dates), each with a
small, valid signed-contract PDF. The option codes below are the demo CRM's catalogue, restated
here because a domain package does not import the demo world; a test checks that they agree.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import phonenumbers

__all__ = [
    "ADDONS",
    "BILLING_CYCLES",
    "COUNTRIES",
    "INDUSTRIES",
    "LANGUAGES",
    "PLANS",
    "contract_pdf",
    "sample_customers",
    "write_contract",
]

INDUSTRIES = (
    "software",
    "manufacturing",
    "retail",
    "healthcare",
    "finance",
    "education",
    "logistics",
    "hospitality",
    "energy",
    "public",
    "other",
)
COUNTRIES = (
    "AT",
    "AU",
    "BE",
    "BR",
    "CA",
    "CH",
    "CZ",
    "DE",
    "DK",
    "ES",
    "FI",
    "FR",
    "GB",
    "IE",
    "IN",
    "IT",
    "JP",
    "MX",
    "NL",
    "NO",
    "NZ",
    "PL",
    "PT",
    "SE",
    "SG",
    "US",
    "ZA",
)
LANGUAGES = ("en", "de", "fr", "es", "nl")
BILLING_CYCLES = ("monthly", "annual")
ADDONS = ("sso", "priority_support", "audit_log", "sandbox")
# code -> (max seats, annual billing only, single sign-on available)
PLANS: dict[str, tuple[int, bool, bool]] = {
    "starter": (10, False, False),
    "team": (250, False, True),
    "business": (2000, False, True),
    "enterprise": (10_000, True, True),
}

_FIRST = ("Anna", "Lars", "Sofia", "Mateo", "Amara", "Kenji", "Elif", "Noah", "Priya", "Oskar")
_LAST = ("Keller", "Jansen", "Moreau", "Silva", "Okafor", "Tanaka", "Novak", "Byrne", "Rao")
_STEMS = ("Quillon", "Brightmoor", "Tidewell", "Corvex", "Lumena", "Harrowgate", "Pinecrest")
_KINDS = ("Analytics", "Logistics", "Foods", "Health", "Systems", "Energy", "Studio")
_SUFFIX = {"DE": "GmbH", "AT": "GmbH", "CH": "AG", "NL": "BV", "BE": "NV", "GB": "Ltd", "IE": "Ltd"}


def contract_pdf(title: str = "Master subscription agreement", signer: str = "") -> bytes:
    """A small, valid one-page PDF: a stand-in for a signed contract.

    Args:
        title: the first line of text.
        signer: a second line (``Signed by …``), if given.

    Returns:
        The PDF's bytes (starts with ``%PDF-``, under 2 KB).
    """

    def pdf_text(s: str) -> str:
        s = s.encode("latin-1", "replace").decode("latin-1")
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 16 Tf", "50 780 Td", f"({pdf_text(title)}) Tj"]
    if signer:
        ops += ["/F1 11 Tf", "0 -20 Td", f"(Signed by {pdf_text(signer)}) Tj"]
    stream = "\n".join([*ops, "ET"]).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def write_contract(path: str | Path, signer: str = "") -> Path:
    """Write :func:`contract_pdf` to ``path`` (folders created); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(contract_pdf(signer=signer))
    return p


def _phone(country: str) -> str:
    example = phonenumbers.example_number_for_type(
        country, phonenumbers.PhoneNumberType.FIXED_LINE
    ) or phonenumbers.example_number(country)
    if example is None:  # not expected for the catalogue's countries
        return "+44 20 7946 0958"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def sample_customers(
    n: int,
    seed: int = 0,
    *,
    contract_dir: str | Path,
    per_customer_contract: bool = False,
    prefix: str = "CUST",
    today: date | None = None,
) -> list[dict[str, Any]]:
    """``n`` valid customer records for the demo CRM, unique per ``(prefix, seed)``.

    Args:
        n: how many.
        seed: the random seed; records differ between seeds (external references and e-mail
            addresses include it, so batches of different seeds never collide).
        contract_dir: where the contract PDF(s) are written.
        per_customer_contract: one PDF per customer (else one shared ``signed-contract.pdf``).
        prefix: the external references' prefix.
        today: the day start dates count from (default: today).

    Returns:
        Records with the fields of the record schema (``external_ref`` … ``contract_path``).
    """
    rng = random.Random(seed)
    day0 = today or date.today()
    folder = Path(contract_dir)
    shared = None if per_customer_contract else write_contract(folder / "signed-contract.pdf")
    records = []
    for i in range(n):
        country = rng.choice(COUNTRIES)
        plan = rng.choices(list(PLANS), weights=(3, 5, 3, 1))[0]
        max_seats, annual_only, sso = PLANS[plan]
        seats = rng.randint(1, min(max_seats, 60 if plan != "enterprise" else 4000))
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        stem, kind = rng.choice(_STEMS), rng.choice(_KINDS)
        company = f"{stem} {kind} {seed}-{i} {_SUFFIX.get(country, 'Inc')}"
        domain = f"{stem}-{kind}".lower()
        ref = f"{prefix}-{seed}-{i:05d}"
        addons = [a for a in ADDONS if rng.random() < 0.35 and (sso or a != "sso")]
        contract = shared or write_contract(folder / f"{ref}.pdf", signer=f"{first} {last}")
        records.append(
            {
                "external_ref": ref,
                "company": company,
                "industry": rng.choice(INDUSTRIES),
                "country": country,
                "seats": seats,
                "contact_name": f"{first} {last}",
                "email": f"{first}.{last}.{seed}-{i}@{domain}.example".lower(),
                "phone": _phone(country),
                "language": rng.choice(LANGUAGES),
                "plan": plan,
                "billing_cycle": "annual" if annual_only else rng.choice(BILLING_CYCLES),
                "addons": addons,
                "start_date": (day0 + timedelta(days=rng.randint(1, 300))).isoformat(),
                "contract_path": str(contract),
            }
        )
    return records
