"""Onboarding status: each customer's stage and timings, the human steps the automation took
over, and who still needs a person (with what is missing).

Manual minutes per step come from configuration (:data:`MANUAL_MINUTES`, what a person spends
doing the step by hand); a customer onboarded end to end saves all of them, one that needs a
person saves the steps done before it stopped. The reduction in manual process time is
``1 − manual minutes still needed / manual minutes of doing everything by hand``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

STEPS = ("validate", "create_account", "upload_contract", "welcome")
MANUAL_MINUTES: Mapping[str, float] = {
    "validate": 4.0,
    "create_account": 9.0,
    "upload_contract": 3.0,
    "welcome": 6.0,
}


@dataclass(frozen=True)
class StatusSummary:
    """The run's totals."""

    customers: int
    automated: int
    needs_person: int
    manual_minutes_by_hand: float
    manual_minutes_left: float

    @property
    def reduction(self) -> float:
        """The share of manual minutes the automation removed."""
        total = self.manual_minutes_by_hand
        return 1.0 - self.manual_minutes_left / total if total else 0.0

    @property
    def automated_share(self) -> float:
        """Customers onboarded with no human step."""
        return self.automated / self.customers if self.customers else 0.0


def steps_done(stage: str) -> tuple[str, ...]:
    """The steps a customer at ``stage`` has behind it."""
    return {
        "quarantined": (),
        "crm_rejected": ("validate",),
        "crm_failed": ("validate",),
        "account_ready": ("validate", "create_account", "upload_contract"),
        "welcomed": STEPS,
        "welcome_failed": ("validate", "create_account", "upload_contract"),
    }[stage]


def summarise(status: pd.DataFrame, minutes: Mapping[str, float] = MANUAL_MINUTES) -> StatusSummary:
    """Totals over ``status`` (one row per customer with a ``stage``)."""
    per_customer = sum(minutes[s] for s in STEPS)
    left = 0.0
    automated = 0
    for stage in status["stage"]:
        done = steps_done(stage)
        left += sum(minutes[s] for s in STEPS if s not in done)
        automated += stage == "welcomed"
    n = len(status)
    return StatusSummary(n, automated, n - automated, per_customer * n, left)


__all__ = ["MANUAL_MINUTES", "STEPS", "StatusSummary", "steps_done", "summarise"]
