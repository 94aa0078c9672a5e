"""What the CRM offers and asks: option lists, the plan catalogue and the wizard's steps.

Everything a page shows or a validator checks against is declared here once, so the HTML, the
server-side rules and the tests agree. Option lists are ``(code, label)`` pairs: the code is what
the form posts and the database stores, the label is what a person (or a browser agent reading
the accessibility tree) sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PRODUCT_NAME = "Ledgerly CRM"

Options = tuple[tuple[str, str], ...]

INDUSTRIES: Options = (
    ("software", "Software & IT"),
    ("manufacturing", "Manufacturing"),
    ("retail", "Retail & e-commerce"),
    ("healthcare", "Healthcare"),
    ("finance", "Financial services"),
    ("education", "Education"),
    ("logistics", "Logistics & transport"),
    ("hospitality", "Hospitality"),
    ("energy", "Energy & utilities"),
    ("public", "Public sector"),
    ("other", "Other"),
)

# ISO 3166-1 alpha-2 codes of the countries the CRM sells to
COUNTRIES: Options = (
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("CH", "Switzerland"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DK", "Denmark"),
    ("ES", "Spain"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("IN", "India"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("MX", "Mexico"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NZ", "New Zealand"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("US", "United States"),
    ("ZA", "South Africa"),
)

LANGUAGES: Options = (
    ("en", "English"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("nl", "Dutch"),
)

BILLING_CYCLES: Options = (("monthly", "Monthly"), ("annual", "Annual"))

ADDONS: Options = (
    ("sso", "Single sign-on (SSO)"),
    ("priority_support", "Priority support"),
    ("audit_log", "Audit log"),
    ("sandbox", "Sandbox environment"),
)


@dataclass(frozen=True)
class Plan:
    """One plan of the catalogue.

    Attributes:
        code: what the form posts (``starter``).
        name: what the page shows (``Starter``).
        price_per_seat: monthly price per seat, in euros.
        max_seats: the most seats the plan allows.
        annual_only: the plan is only sold with annual billing.
        sso: the plan may add single sign-on.
    """

    code: str
    name: str
    price_per_seat: int
    max_seats: int
    annual_only: bool = False
    sso: bool = True

    @property
    def summary(self) -> str:
        """One line under the plan's radio button."""
        extra = ", annual billing only" if self.annual_only else ""
        return f"€{self.price_per_seat} per seat per month, up to {self.max_seats:,} seats{extra}"


PLANS: tuple[Plan, ...] = (
    Plan("starter", "Starter", 9, 10, sso=False),
    Plan("team", "Team", 19, 250),
    Plan("business", "Business", 39, 2000),
    Plan("enterprise", "Enterprise", 59, 10_000, annual_only=True),
)
PLAN_BY_CODE: dict[str, Plan] = {p.code: p for p in PLANS}

MIN_SEATS, MAX_SEATS = 1, 10_000
MAX_START_DAYS_AHEAD = 365
DEFAULT_MAX_UPLOAD_BYTES = 5_000_000

FieldKind = Literal[
    "text", "email", "tel", "number", "select", "radio", "checkboxes", "date", "file", "checkbox"
]


@dataclass(frozen=True)
class FormField:
    """One field of the onboarding wizard.

    Attributes:
        key: the field's name in the database and in the classic design's form.
        label: its accessible name (the ``<label>``, or the ``<legend>`` of a group), identical
            in every design: what a label-based browser script looks for.
        kind: which control renders it.
        options: choices of a select, radio group or checkbox group.
        hint: help text under the label, tied to the control by ``aria-describedby``.
        required: whether the field must be filled (checked by the server).
        autocomplete: the HTML ``autocomplete`` token, if any.
    """

    key: str
    label: str
    kind: FieldKind
    options: Options = ()
    hint: str = ""
    required: bool = True
    autocomplete: str | None = None


@dataclass(frozen=True)
class Step:
    """One step of the wizard: a URL slug, a title, its fields."""

    slug: str
    title: str
    fields: tuple[FormField, ...] = field(default_factory=tuple)


PLAN_OPTIONS: Options = tuple((p.code, p.name) for p in PLANS)

STEPS: tuple[Step, ...] = (
    Step(
        "company",
        "Company",
        (
            FormField("company", "Company name", "text", autocomplete="organization"),
            FormField("industry", "Industry", "select", INDUSTRIES),
            FormField("country", "Country", "select", COUNTRIES, autocomplete="country"),
            FormField("seats", "Number of seats", "number", hint="Between 1 and 10,000."),
            FormField(
                "external_ref",
                "External reference",
                "text",
                hint="The customer's id in your own system. An account is created only once "
                "per reference.",
                required=False,
            ),
        ),
    ),
    Step(
        "contact",
        "Contact",
        (
            FormField("contact_name", "Contact name", "text", autocomplete="name"),
            FormField("email", "E-mail address", "email", autocomplete="email"),
            FormField(
                "phone",
                "Phone number",
                "tel",
                hint="International format, for example +44 20 7946 0958.",
                autocomplete="tel",
            ),
            FormField("language", "Preferred language", "radio", LANGUAGES),
        ),
    ),
    Step(
        "plan",
        "Plan",
        (
            FormField("plan", "Plan", "radio", PLAN_OPTIONS),
            FormField("billing_cycle", "Billing cycle", "radio", BILLING_CYCLES),
            FormField("addons", "Add-ons", "checkboxes", ADDONS, required=False),
            FormField(
                "start_date",
                "Start date",
                "date",
                hint="Today or later, at most a year ahead.",
            ),
        ),
    ),
    Step(
        "contract",
        "Contract",
        (
            FormField(
                "contract",
                "Signed contract (PDF)",
                "file",
                hint="A PDF file of at most {max_mb} MB.",
            ),
            FormField("terms", "The customer has accepted the terms of service", "checkbox"),
        ),
    ),
    Step("review", "Review"),
)
STEP_SLUGS: tuple[str, ...] = tuple(s.slug for s in STEPS)
STEP_BY_SLUG: dict[str, Step] = {s.slug: s for s in STEPS}
FIELD_BY_KEY: dict[str, FormField] = {f.key: f for s in STEPS for f in s.fields}

# Accounts the CRM already holds when it starts (``seed_demo_accounts``): existing customers,
# so that an intake file can collide with one (a duplicate e-mail address).
SEEDED_ACCOUNTS: tuple[dict[str, object], ...] = (
    {
        "id": 101,
        "company": "Bluefin Logistics GmbH",
        "contact_name": "Anna Keller",
        "email": "anna.keller@bluefin-logistics.example",
        "phone": "+49 40 5550 1234",
        "country": "DE",
        "industry": "logistics",
        "language": "de",
        "seats": 120,
        "plan": "business",
        "billing_cycle": "annual",
        "addons": ["sso", "audit_log"],
        "start_date": "2025-03-01",
    },
    {
        "id": 102,
        "company": "Harbor & Pine Ltd",
        "contact_name": "Oliver Grant",
        "email": "oliver@harborpine.example",
        "phone": "+44 20 7946 0958",
        "country": "GB",
        "industry": "retail",
        "language": "en",
        "seats": 8,
        "plan": "starter",
        "billing_cycle": "monthly",
        "addons": [],
        "start_date": "2025-06-15",
    },
    {
        "id": 103,
        "company": "Cobalt Dental Group",
        "contact_name": "Maria Lopez",
        "email": "m.lopez@cobaltdental.example",
        "phone": "+1 415 555 0142",
        "country": "US",
        "industry": "healthcare",
        "language": "es",
        "seats": 45,
        "plan": "team",
        "billing_cycle": "annual",
        "addons": ["priority_support"],
        "start_date": "2025-09-01",
    },
)
