"""Incident records and the retry policy: :class:`RemedyPolicy` (attempts and backoff),
:class:`Incident` (one stored incident, with its times to detect and to recover), the
notification summary of an incident and :func:`incidents_frame`."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from orchestration_project.operations.healing.schema import _aware


@dataclass(frozen=True)
class RemedyPolicy:
    """How hard the healer tries.

    Attributes:
        max_attempts: re-executions per incident before escalating.
        backoff_base_s: delay before the first re-execution.
        backoff_factor: multiplier per further attempt.
        backoff_max_s: the longest delay.
        jitter: +/- share of random jitter (deterministic per incident and attempt).
    """

    max_attempts: int = 4
    backoff_base_s: float = 20.0
    backoff_factor: float = 2.0
    backoff_max_s: float = 240.0
    jitter: float = 0.2

    def delay_s(self, attempt: int, salt: str = "") -> float:
        """Backoff before re-execution number ``attempt`` (1-based)."""
        base = min(self.backoff_base_s * self.backoff_factor ** (attempt - 1), self.backoff_max_s)
        r = random.Random(int(hashlib.sha256(f"{salt}:{attempt}".encode()).hexdigest()[:8], 16))
        return base * (1 + self.jitter * (2 * r.random() - 1))


@dataclass
class Incident:
    """One incident as stored."""

    incident_id: str
    source: str
    subject_kind: str
    subject: str
    job_name: str | None
    root_run_id: str | None
    step_key: str | None
    failure_class: str | None
    error_class: str | None
    message: str | None
    status: str
    severity: str
    failure_at: datetime
    detected_at: datetime
    recovered_at: datetime | None
    closed_at: datetime | None
    attempts: int
    consistency: str | None
    report_path: str | None

    @property
    def time_to_detect_s(self) -> float:
        """Seconds from the failure to its detection."""
        return (self.detected_at - self.failure_at).total_seconds()

    @property
    def time_to_recover_s(self) -> float | None:
        """Seconds from the failure to a verified recovery (None if not recovered)."""
        if self.recovered_at is None:
            return None
        return (self.recovered_at - self.failure_at).total_seconds()


def _incident(row: Any) -> Incident:
    d = dict(row._mapping)
    for k in ("failure_at", "detected_at", "recovered_at", "closed_at"):
        d[k] = _aware(d[k])
    return Incident(**d)


Notify = Callable[[dict[str, Any]], None]


def _summary(inc: Incident) -> dict[str, Any]:
    return {
        "incident_id": inc.incident_id,
        "status": inc.status,
        "severity": inc.severity,
        "subject_kind": inc.subject_kind,
        "subject": inc.subject,
        "failure_class": inc.failure_class,
        "step_key": inc.step_key,
        "message": (inc.message or "")[:300],
        "attempts": inc.attempts,
    }


def incidents_frame(incidents: list[Incident]) -> pd.DataFrame:
    """Incidents as a frame with time to detect and time to recover in seconds."""
    cols = [f.name for f in Incident.__dataclass_fields__.values()]
    df = pd.DataFrame([inc.__dict__ for inc in incidents], columns=cols)
    df["ttd_s"] = [inc.time_to_detect_s for inc in incidents]
    df["ttr_s"] = [inc.time_to_recover_s for inc in incidents]
    for c in ("failure_at", "detected_at", "recovered_at", "closed_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    return df
