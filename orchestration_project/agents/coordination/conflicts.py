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

from orchestration_project.common.time import aware

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
    """One agent's statement of a fact's value, with where it came from.

    Attributes:
        value: hashable: a number, a string or a tuple such as ``(229.0, "USD")``.
        source: the URL the value was read from.
        source_kind: ``structured``, ``product_page``, ``pricing_page``, ``listing``,
            ``review``, ``blog`` or ``unknown``.
        agent: the agent that made the claim.
        role: the agent's role (``verifier``, ``extractor``, ``summarizer``, …).
        observed_at: when the source stated it (publication date), if known.
        confidence: the agent's confidence, 0–1.
    """

    value: Any
    source: str
    source_kind: str = "unknown"
    agent: str = ""
    role: str = ""
    observed_at: datetime | None = None
    confidence: float = 1.0


@dataclass
class Decision:
    """The value chosen, how sure we are, and why.

    Attributes:
        value: the winning value.
        strategy: the strategy's name (``agreement`` when all claims agreed).
        confidence: 0–1.
        rationale: a sentence naming the winner and its sources, and why the others lost.
        escalated: True when a person should review it.
        claims: the claims decided on.
        alternatives: ``repr(value)`` -> the strategy's score of each value.
    """

    value: Any
    strategy: str
    confidence: float
    rationale: str
    escalated: bool = False
    claims: list[Claim] = field(default_factory=list)
    alternatives: dict[str, float] = field(default_factory=dict)


def _fmt(value: Any) -> str:
    """A value for people: ``(229.0, "USD")`` -> ``229.0 USD``."""
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def _kind(c: Claim) -> str:
    return {"structured": "structured data"}.get(c.source_kind, c.source_kind.replace("_", " "))


def _date(c: Claim) -> str:
    return c.observed_at.date().isoformat() if c.observed_at else "undated"


def _group(claims: list[Claim]) -> dict[Any, list[Claim]]:
    groups: dict[Any, list[Claim]] = defaultdict(list)
    for c in claims:
        groups[c.value].append(c)
    return groups


def _sources(cs: list[Claim], limit: int = 3) -> str:
    """``blog https://a (…), product page https://b (…)`` for up to ``limit`` claims."""
    parts = [f"{_kind(c)} {c.source}" for c in cs[:limit]]
    if len(cs) > limit:
        parts.append(f"{len(cs) - limit} more")
    return ", ".join(parts)


class ReliabilityRecency:
    """Score = reliability(source kind) × confidence × 0.5^(age / half-life); sum per value.

    Age is measured from the newest dated claim; undated claims get recency 1.0.

    Args:
        reliability: overrides of ``DEFAULT_RELIABILITY`` (source kind -> 0–1).
        half_life_days: after this many days a claim weighs half as much.
    """

    name = "reliability_recency"

    def __init__(
        self, reliability: dict[str, float] | None = None, half_life_days: float = 180.0
    ) -> None:
        self.reliability = {**DEFAULT_RELIABILITY, **(reliability or {})}
        self.half_life_days = half_life_days

    def rel(self, c: Claim) -> float:
        """The reliability of the claim's source kind."""
        return self.reliability.get(c.source_kind, self.reliability.get("unknown", 0.3))

    def recency(self, c: Claim, newest: datetime | None) -> float:
        """0.5 ** (age_days / half_life_days), age relative to the newest dated claim."""
        if newest is None or c.observed_at is None:
            return 1.0
        age = max((aware(newest) - aware(c.observed_at)).total_seconds() / 86400.0, 0.0)
        return 0.5 ** (age / self.half_life_days)

    def score(self, c: Claim, newest: datetime | None) -> float:
        """The weight of one claim."""
        return self.rel(c) * c.confidence * self.recency(c, newest)

    def _describe(self, c: Claim, newest: datetime | None) -> str:
        rec = self.recency(c, newest)
        when = f"published {_date(c)}" if c.observed_at else "undated"
        if rec < 0.5 and newest is not None and c.observed_at is not None:
            days = (aware(newest) - aware(c.observed_at)).days
            when += f", stale: {days} days older than the newest claim"
        return f"{_kind(c)} {c.source} (reliability {self.rel(c):g}, {when})"

    def resolve(self, claims: list[Claim]) -> Decision:
        """The value with the highest total score; confidence = its share of all scores."""
        dated = [aware(c.observed_at) for c in claims if c.observed_at is not None]
        newest = max(dated) if dated else None
        groups = _group(claims)
        scores: dict[Any, float] = {
            v: sum(self.score(c, newest) for c in cs) for v, cs in groups.items()
        }
        total = sum(scores.values())
        winner = max(scores, key=lambda v: (scores[v], len(groups[v])))
        ranked_w = sorted(groups[winner], key=lambda c: -self.score(c, newest))
        best = ranked_w[0]
        why = []
        for v in sorted((v for v in scores if v != winner), key=lambda v: -scores[v]):
            cs = sorted(groups[v], key=lambda c: -self.score(c, newest))
            reasons = []
            if all(self.recency(c, newest) < 0.5 for c in cs):
                reasons.append("stale")
            if max(self.rel(c) for c in cs) < self.rel(best):
                reasons.append("less reliable source")
            if max(c.confidence for c in cs) < best.confidence:
                reasons.append("lower confidence")
            if len(cs) < len(ranked_w):
                reasons.append("fewer sources")
            why.append(
                f"{_fmt(v)} from "
                + ", ".join(self._describe(c, newest) for c in cs[:3])
                + f" [score {scores[v]:.2f}; {', '.join(reasons) or 'lower total score'}]"
            )
        rationale = (
            f"{_fmt(winner)} from "
            + ", ".join(self._describe(c, newest) for c in ranked_w[:3])
            + (f" and {len(ranked_w) - 3} more" if len(ranked_w) > 3 else "")
            + f" [score {scores[winner]:.2f} of {total:.2f}; reliability × confidence × "
            f"recency, half-life {self.half_life_days:g} days] outweighs " + "; ".join(why) + "."
        )
        return Decision(
            winner,
            self.name,
            scores[winner] / total if total > 0 else 0.0,
            rationale,
            False,
            list(claims),
            {repr(v): round(sc, 4) for v, sc in scores.items()},
        )


class MajorityVote:
    """The value stated by the most distinct sources; a tie is escalated."""

    name = "majority_vote"

    def resolve(self, claims: list[Claim]) -> Decision:
        """Count distinct sources per value; confidence = the winner's share of the votes."""
        groups = _group(claims)
        votes = {v: len({c.source for c in cs}) for v, cs in groups.items()}
        ranked = sorted(votes.items(), key=lambda kv: -kv[1])
        winner, n = ranked[0]
        tied = [v for v, k in ranked[1:] if k == n]
        total = sum(votes.values())
        others = "; ".join(
            f"{_fmt(v)} by {k} ({_sources(groups[v])})" for v, k in ranked if v != winner
        )
        rationale = (
            f"{_fmt(winner)} is stated by {n} of {total} distinct sources "
            f"({_sources(groups[winner])})"
        )
        if tied:
            rationale += (
                f"; tied with {', '.join(_fmt(v) for v in tied)}: no majority, needs a person"
                f" ({others})."
            )
        else:
            rationale += f", more than {others}."
        return Decision(
            winner,
            self.name,
            n / total,
            rationale,
            bool(tied),
            list(claims),
            {repr(v): float(k) for v, k in votes.items()},
        )


class RolePriority:
    """The claim of the most trusted role wins (ties in a role: the most confident claim).

    Args:
        ranking: roles from most to least trusted; unlisted roles rank last.
    """

    name = "role_priority"

    def __init__(self, ranking: list[str] | None = None) -> None:
        self.ranking = ranking or ["human", "verifier", "extractor", "summarizer"]

    def _rank(self, role: str) -> int:
        return self.ranking.index(role) if role in self.ranking else len(self.ranking)

    def resolve(self, claims: list[Claim]) -> Decision:
        """Pick by role rank, then confidence; confidence = the winning claim's confidence.

        Escalated when a claim of the same role and the same confidence states another value.
        """
        ordered = sorted(claims, key=lambda c: (self._rank(c.role), -c.confidence))
        best = ordered[0]
        losers = [c for c in ordered if c.value != best.value]
        tie = any(
            self._rank(c.role) == self._rank(best.role) and c.confidence == best.confidence
            for c in losers
        )

        def why(c: Claim) -> str:
            if self._rank(c.role) == self._rank(best.role):
                return f"same role, confidence {c.confidence:g}"
            return f"role {c.role or '?'!r} ranks lower"

        rationale = (
            f"{_fmt(best.value)} from role {best.role or '?'!r} ({best.source}, confidence "
            f"{best.confidence:g}) wins over "
            + (
                "; ".join(f"{_fmt(c.value)} from {c.source} ({why(c)})" for c in losers[:5])
                or "no other value"
            )
            + f" (ranking: {' > '.join(self.ranking)})"
            + ("; tied within the role: needs a person." if tie else ".")
        )
        alternatives: dict[str, float] = {}
        for c in ordered:
            alternatives.setdefault(repr(c.value), float(len(self.ranking) - self._rank(c.role)))
        return Decision(
            best.value, self.name, best.confidence, rationale, tie, list(claims), alternatives
        )


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
                f"({len({c.source for c in claims})} sources: {_sources(claims)}).",
                conf < self.escalation_threshold,
                claims,
                {repr(value): 1.0},
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
