"""Welcome messages per customer, personalised by plan, industry (a first-step tip, in the
English template) and language, written by the
language engine from a template per language (``string.Template``: the engine fills it; an
LLM engine may rewrite it in the same language). Checked before they count: no unfilled
placeholder, the customer's own name and plan in the text."""

from __future__ import annotations

import re
from typing import Any, Protocol

TEMPLATES = {
    "en": (
        "Welcome to Ledgerly, $contact_name!\n\nYour $plan_name plan for $company is ready "
        "with $seats seats, starting $start_date. Teams in $industry_label usually begin with "
        "$tip\n\nYour account id is $account_id. Reply to this message if you need a hand."
    ),
    "de": (
        "Willkommen bei Ledgerly, $contact_name!\n\nIhr Tarif $plan_name für $company ist "
        "bereit: $seats Plätze ab $start_date.\n\nIhre Kundennummer ist $account_id. "
        "Antworten Sie einfach, wenn Sie Hilfe brauchen."
    ),
    "fr": (
        "Bienvenue chez Ledgerly, $contact_name !\n\nVotre offre $plan_name pour $company est "
        "prête : $seats postes à partir du $start_date.\n\nVotre identifiant client est "
        "$account_id."
    ),
    "es": (
        "¡Bienvenido a Ledgerly, $contact_name!\n\nSu plan $plan_name para $company está "
        "listo: $seats puestos desde el $start_date.\n\nSu número de cuenta es $account_id."
    ),
    "nl": (
        "Welkom bij Ledgerly, $contact_name!\n\nUw $plan_name-abonnement voor $company staat "
        "klaar: $seats plaatsen vanaf $start_date.\n\nUw klantnummer is $account_id."
    ),
}
PLAN_NAMES = {
    "starter": "Starter",
    "team": "Team",
    "business": "Business",
    "enterprise": "Enterprise",
}
TIPS = {
    "retail": "the inventory dashboard.",
    "software": "the API keys page.",
    "manufacturing": "the supplier ledger.",
    "healthcare": "the audit log.",
    "finance": "the reconciliation view.",
}
DEFAULT_TIP = "the getting-started checklist."
_PLACEHOLDER = re.compile(r"\$\{?[A-Za-z_]\w*\}?|\{\{.*?\}\}")


class Writer(Protocol):
    """What the welcome needs of the language engine."""

    def write(
        self, *, instruction: str, facts: dict[str, Any], template: str | None = None
    ) -> Any: ...


def welcome_facts(customer: dict[str, Any], account_id: str) -> dict[str, Any]:
    """The values the template takes."""
    return {
        "contact_name": customer["contact_name"],
        "company": customer["company"],
        "plan_name": PLAN_NAMES.get(customer["plan"], str(customer["plan"]).title()),
        "seats": customer["seats"],
        "start_date": customer["start_date"],
        "industry_label": str(customer.get("industry") or "other").replace("_", " "),
        "tip": TIPS.get(str(customer.get("industry")), DEFAULT_TIP),
        "account_id": account_id,
    }


def write_welcome(
    customer: dict[str, Any], account_id: str, writer: Writer
) -> tuple[str, str, Any]:
    """``(language, text, engine result)``: the customer's language's template filled by the
    engine (English when there is no template in that language)."""
    lang = customer.get("language") if customer.get("language") in TEMPLATES else "en"
    res = writer.write(
        instruction=f"Write a short, warm welcome message in language '{lang}'.",
        facts=welcome_facts(customer, account_id),
        template=TEMPLATES[lang],
    )
    return str(lang), str(res.value), res


def check_welcome(text: str, customer: dict[str, Any]) -> list[str]:
    """Why a welcome message may not be sent (empty: fine)."""
    why = []
    left = _PLACEHOLDER.findall(text)
    if left:
        why.append(f"unfilled placeholder(s): {', '.join(left)}")
    if str(customer["contact_name"]) not in text:
        why.append("the customer's name is missing")
    plan = PLAN_NAMES.get(customer["plan"], str(customer["plan"]).title())
    if plan not in text:
        why.append(f"the plan {plan} is missing")
    return why


__all__ = ["TEMPLATES", "check_welcome", "welcome_facts", "write_welcome"]
