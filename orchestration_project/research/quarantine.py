"""The quarantine rules: which extracted fact rows are kept, and why the others are not.

A fact is quarantined (kept aside with the reason, never silently dropped) when it has no
source URL or subject, a confidence outside [0, 1], a price that is not positive (a free
product's price is exactly 0) or in an unknown currency, an unpriced product of an unknown kind,
or a rating outside 0..5. Records in = accepted + quarantined.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from orchestration_project.research.extraction.price_kinds import AMOUNT_KINDS, UNPRICED_KINDS
from orchestration_project.research.fact_rows import FACT_COLUMNS

__all__ = ["KNOWN_CURRENCIES", "QuarantineOutcome", "quarantine_facts", "quarantine_reason"]

KNOWN_CURRENCIES = ["USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN"]
"""ISO 4217 codes a price may carry; any other currency is quarantined."""


def _extra(f: Mapping[str, Any]) -> dict[str, Any]:
    e = f.get("extra")
    if isinstance(e, str):
        try:
            e = json.loads(e)
        except ValueError:
            return {}
    return e if isinstance(e, dict) else {}


def quarantine_reason(f: Mapping[str, Any]) -> str | None:
    """Why a fact row must be quarantined, or None when it passes every rule.

    Rules, first failure wins: a source URL; a non-blank subject; confidence in [0, 1]; a
    price is positive and in one of ``KNOWN_CURRENCIES`` (a free one, ``extra["price_kind"] ==
    "free"``, is exactly 0); an offer (a product without an amount) is of kind ``contact`` or
    ``none``; a rating is within 0..5.

    Args:
        f: a fact row (the columns of ``FACT_COLUMNS``).

    Returns:
        The reason, e.g. ``"unknown currency 'XYZ'"``, or None.
    """
    if not f["source_url"]:
        return "no source URL"
    if not f["subject"] or not str(f["subject"]).strip():
        return "no subject"
    if not 0.0 <= float(f["confidence"]) <= 1.0:
        return f"confidence {f['confidence']} outside [0, 1]"
    if f["attribute"] == "price":
        kind = _extra(f).get("price_kind") or "fixed"
        if kind == "free":
            # a free product is a price of 0; its currency may be unknown
            if f["value_num"] is None or f["value_num"] != 0:
                return f"free price {f['value']!r} is not 0"
            if f["currency"] is not None and f["currency"] not in KNOWN_CURRENCIES:
                return f"unknown currency {f['currency']!r}"
            return None
        if kind not in AMOUNT_KINDS:
            return f"price kind {kind!r} carries no amount"
        if f["value_num"] is None or not f["value_num"] > 0:
            return f"price {f['value']!r} is not positive"
        if f["currency"] not in KNOWN_CURRENCIES:
            return f"unknown currency {f['currency']!r}"
    if f["attribute"] == "offer":
        kind = _extra(f).get("price_kind")
        if kind not in UNPRICED_KINDS or f["value"] != kind:
            return f"offer of kind {kind!r} is not an unpriced product"
    rating = f["value_num"] if f["attribute"] == "rating" else 0.0
    if rating is None or not 0 <= float(rating) <= 5:  # a rating of 0 is a rating
        return f"rating {f['value']!r} outside 0..5"
    return None


SPIKE_SHARE = 0.2
"""Share of a batch's rows quarantined from which the batch counts as a quarantine spike."""
SPIKE_MINIMUM = 5
"""Fewest quarantined rows that make a spike (a handful of odd rows is normal)."""


@dataclass(frozen=True)
class QuarantineOutcome:
    """Fact rows split by the quarantine rules.

    Attributes:
        accepted: the accepted facts, one row per ``fact_id`` (the first), ``extra`` as JSON.
        quarantined: the quarantined rows with a ``reason`` column, ``extra`` as JSON.
        records_in: how many rows came in.
        records_accepted: how many passed, before duplicates of a ``fact_id`` were dropped.
    """

    accepted: pd.DataFrame
    quarantined: pd.DataFrame
    records_in: int
    records_accepted: int

    @property
    def records_quarantined(self) -> int:
        """How many rows were quarantined."""
        return len(self.quarantined)

    def reason_counts(self) -> dict[str, int]:
        """Quarantined rows per reason (empty when none was quarantined)."""
        q = self.quarantined
        return q["reason"].value_counts().to_dict() if len(q) else {}

    def is_spike(self, *, share: float = SPIKE_SHARE, minimum: int = SPIKE_MINIMUM) -> bool:
        """Whether this batch quarantined unusually much: at least ``minimum`` rows and at
        least ``share`` of the rows that came in. A spike means a source's pages changed (or
        broke): the run goes on with the good rows, which is a silent remedy worth recording."""
        return self.records_quarantined >= minimum and self.records_quarantined >= share * max(
            self.records_in, 1
        )


def quarantine_facts(raw: list[dict[str, Any]]) -> QuarantineOutcome:
    """Apply :func:`quarantine_reason` to every row and split them.

    Args:
        raw: fact rows as built by :func:`~orchestration_project.research.fact_rows.fact_row`
            (``extra`` a dict).

    Returns:
        The accepted facts (duplicates of a ``fact_id`` dropped) and the quarantined rows.
    """
    accepted, quarantined = [], []
    for row in raw:
        reason = quarantine_reason(row)
        (quarantined if reason else accepted).append({**row, "reason": reason})
    df = pd.DataFrame(accepted, columns=[*FACT_COLUMNS, "reason"]).drop(columns=["reason"])
    df = df.drop_duplicates("fact_id").reset_index(drop=True)
    df["extra"] = df["extra"].map(lambda e: json.dumps(e, default=str))
    qdf = pd.DataFrame(quarantined, columns=[*FACT_COLUMNS, "reason"])
    qdf["extra"] = qdf["extra"].map(lambda e: json.dumps(e, default=str))
    return QuarantineOutcome(
        accepted=df, quarantined=qdf, records_in=len(raw), records_accepted=len(accepted)
    )
