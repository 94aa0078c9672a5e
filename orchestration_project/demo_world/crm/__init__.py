"""The demo world's CRM: a small SaaS admin app on loopback where customer accounts are created.

A browser agent onboards customers by filling its multi-step wizard (company, contact, plan,
contract upload, review) in Chromium. Like a real SaaS admin page it has its own SQLite
database, a sign-in with sessions, a CSRF token in every form, server-side validation with
accessible error messages, and a JSON lookup API; faults make it slow, flaky, forgetful of
sessions, silent after a submit, redesigned or down (``CrmFaults``).

Idempotency: an account's *external reference* (the customer's id in the intake file) is
``UNIQUE`` in the CRM's database. Submitting it again creates nothing and shows the existing
account id ("Account already exists"); ``GET /api/accounts?external_ref=…`` tells a run that was
killed between submit and confirmation whether its submit landed.

Start it with :func:`start_crm` (tests, the demo) or ``python -m
orchestration_project.demo_world.crm --db PATH``.
"""

from orchestration_project.demo_world.crm.app import CrmApp, CrmFaults
from orchestration_project.demo_world.crm.catalogue import (
    ADDONS,
    BILLING_CYCLES,
    COUNTRIES,
    INDUSTRIES,
    LANGUAGES,
    PLANS,
    SEEDED_ACCOUNTS,
    STEPS,
)
from orchestration_project.demo_world.crm.server import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    CrmServer,
    start_crm,
)
from orchestration_project.demo_world.crm.store import CrmStore, format_account_id

__all__ = [
    "ADDONS",
    "BILLING_CYCLES",
    "COUNTRIES",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "INDUSTRIES",
    "LANGUAGES",
    "PLANS",
    "SEEDED_ACCOUNTS",
    "STEPS",
    "CrmApp",
    "CrmFaults",
    "CrmServer",
    "CrmStore",
    "format_account_id",
    "start_crm",
]
