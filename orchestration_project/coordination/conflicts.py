"""Conflict resolution: when agents' claims about one fact disagree, decide — with a rationale.

Strategies: ``reliability_recency`` (source reliability × confidence × recency decay),
``majority_vote`` (distinct sources per value) and ``role_priority`` (the most trusted role
wins). ``ConflictResolver`` escalates to human review when the decision's confidence is low.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_RELIABILITY = {
    "structured": 0.95,
    "product_page": 0.9,
    "pricing_page": 0.9,
    "listing": 0.8,
    "review": 0.5,
    "blog": 0.4,
    "unknown": 0.3,
}


@dataclass(frozen=True)
class Claim:
    """One agent's statement of a fact's value, with where it came from."""

    value: Any
    source: str
    source_kind: str = "unknown"
    agent: str = ""
    role: str = ""
    observed_at: datetime | None = None
    confidence: float = 1.0


@dataclass
class Decision:
    """The value chosen, how sure we are, and why."""

    value: Any
    strategy: str
    confidence: float
    rationale: str
    escalated: bool = False
    claims: list[Claim] = field(default_factory=list)
    alternatives: dict[str, float] = field(default_factory=dict)


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _describe(c: Claim) -> str:
    when = f", dated {c.observed_at.date().isoformat()}" if c.observed_at else ""
    return f"{c.source_kind.replace('_', ' ')} {c.source}{when}"


def _group(claims: list[Claim]) -> dict[Any, list[Claim]]:
    groups: dict[Any, list[Claim]] = defaultdict(list)
    for c in claims:
        groups[c.value].append(c)
    return groups


class ReliabilityRecency:
    """Score = reliability(source kind) × confidence × 0.5^(age / half-life); sum per value."""

    name = "reliability_recency"

    def __init__(
        self, reliability: dict[str, float] | None = None, half_life_days: float = 180.0
    ) -> None:
        self.reliability = {**DEFAULT_RELIABILITY, **(reliability or {})}
        self.half_life_days = half_life_days

    def score(self, c: Claim, newest: datetime | None) -> float:
        """The weight of one claim."""
        rel = self.reliability.get(c.source_kind, self.reliability["unknown"])
        recency = 1.0
        if newest is not None and c.observed_at is not None:
            age = max((newest - c.observed_at).total_seconds() / 86400.0, 0.0)
            recency = 0.5 ** (age / self.half_life_days)
        return rel * c.confidence * recency

    def resolve(self, claims: list[Claim]) -> Decision:
        """The value with the highest total score."""
        dated = [c.observed_at for c in claims if c.observed_at is not None]
        newest = max(dated) if dated else None
        scores: dict[Any, float] = defaultdict(float)
        for c in claims:
            scores[c.value] += self.score(c, newest)
        total = sum(scores.values()) or 1.0
        winner = max(scores, key=lambda v: (scores[v], -len(str(v))))
        groups = _group(claims)
        best = max(groups[winner], key=lambda c: self.score(c, newest))
        losers = [v for v in scores if v != winner]
        why = [
            f"{_fmt(v)} from {', '.join(_describe(c) for c in groups[v][:3])} "
            f"(weight {scores[v]:.2f})"
            for v in losers
        ]
        rationale = (
            f"{_fmt(winner)} from {_describe(best)} (weight {scores[winner]:.2f} of "
            f"{total:.2f}: source reliability × confidence × recency) outweighs "
            + "; ".join(why)
            + "."
        )
        return Decision(
            winner,
            self.name,
            scores[winner] / total,
            rationale,
            False,
            claims,
            {_fmt(v): round(s, 4) for v, s in scores.items()},
        )


class MajorityVote:
    """The value stated by the most distinct sources; a tie is escalated."""

    name = "majority_vote"

    def resolve(self, claims: list[Claim]) -> Decision:
        """Count distinct sources per value."""
        votes = {v: len({c.source for c in cs}) for v, cs in _group(claims).items()}
        ranked = sorted(votes.items(), key=lambda kv: -kv[1])
        winner, n = ranked[0]
        tie = len(ranked) > 1 and ranked[1][1] == n
        total = sum(votes.values())
        rationale = (
            f"{_fmt(winner)} is stated by {n} of {total} sources"
            + (f"; tied with {_fmt(ranked[1][0])}: needs a person" if tie else "")
            + "."
        )
        return Decision(
            winner,
            self.name,
            n / total,
            rationale,
            tie,
            claims,
            {_fmt(v): float(k) for v, k in votes.items()},
        )


class RolePriority:
    """The claim of the most trusted role wins (ties in a role: the most confident claim)."""

    name = "role_priority"

    def __init__(self, ranking: list[str] | None = None) -> None:
        self.ranking = ranking or ["human", "verifier", "extractor", "summarizer"]

    def _rank(self, role: str) -> int:
        return self.ranking.index(role) if role in self.ranking else len(self.ranking)

    def resolve(self, claims: list[Claim]) -> Decision:
        """Pick by role rank, then confidence."""
        best = min(claims, key=lambda c: (self._rank(c.role), -c.confidence))
        others = sorted({c.role or "?" for c in claims if c.value != best.value})
        rationale = (
            f"{_fmt(best.value)} from role {best.role!r} ({best.source}) ranks above "
            f"{', '.join(repr(r) for r in others) or 'no other role'}."
        )
        return Decision(best.value, self.name, best.confidence, rationale, False, claims)


def _snap(claims: list[Claim], tolerance: float) -> list[Claim]:
    """Give numeric claims within ``tolerance`` of a more trusted claim that claim's value."""
    from dataclasses import replace

    if not all(isinstance(c.value, int | float) for c in claims):
        return claims
    ranked = sorted(
        claims, key=lambda c: (-DEFAULT_RELIABILITY.get(c.source_kind, 0.3), -c.confidence)
    )
    anchors: list[float] = []
    out = []
    for c in ranked:
        near = next((a for a in anchors if abs(float(c.value) - a) <= tolerance), None)
        if near is None:
            anchors.append(float(c.value))
            out.append(c)
        else:
            out.append(replace(c, value=near))
    return out


STRATEGIES: dict[str, type] = {s.name: s for s in (ReliabilityRecency, MajorityVote, RolePriority)}


class ConflictResolver:
    """Resolve claims with a named strategy; escalate when confidence is below the threshold.

    Args:
        strategy: a key of ``STRATEGIES``.
        escalation_threshold: decisions less confident than this go to human review.
        **strategy_kwargs: passed to the strategy (e.g. ``reliability=``, ``ranking=``).
    """

    def __init__(
        self,
        strategy: str = "reliability_recency",
        *,
        escalation_threshold: float = 0.6,
        **strategy_kwargs: Any,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; choose from {sorted(STRATEGIES)}")
        self.strategy = STRATEGIES[strategy](**strategy_kwargs)
        self.escalation_threshold = escalation_threshold

    def resolve(self, claims: list[Claim], *, tolerance: float | None = None) -> Decision:
        """Decide one fact from its claims.

        Args:
            claims: what the agents said.
            tolerance: for numeric values, claims within this distance of a more trusted claim
                state the same fact (a 4-star display of a 3.9 rating) and take its value.
        """
        if not claims:
            raise ValueError("no claims to resolve")
        if tolerance is not None:
            claims = _snap(claims, tolerance)
        values = _group(claims)
        if len(values) == 1:
            value = next(iter(values))
            conf = max(c.confidence for c in claims)
            d = Decision(
                value,
                "agreement",
                conf,
                f"all {len(claims)} claims agree on {_fmt(value)} "
                f"({len({c.source for c in claims})} sources).",
                conf < self.escalation_threshold,
                claims,
                {_fmt(value): 1.0},
            )
            return d
        d = self.strategy.resolve(claims)
        if d.confidence < self.escalation_threshold and not d.escalated:
            d.escalated = True
            d.rationale += (
                f" Confidence {d.confidence:.2f} is below "
                f"{self.escalation_threshold:.2f}: sent to human review."
            )
        return d
