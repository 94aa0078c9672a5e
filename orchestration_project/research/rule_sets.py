"""Extraction rule sets: versioned configuration of which extracted facts a run keeps.

A rule set (``extraction/rule_sets/<version>.yaml``) names the extraction methods whose facts
are kept (``methods: all`` or a list of ``jsonld``, ``microdata``, ``rdfa``, ``microformat``,
``dom``, ``text``) and a confidence floor (global, and per attribute in ``attribute_floors``).
Rule set ``v1`` keeps everything: it is the extraction as it always ran.

:func:`extract_facts_by_rule_set` extracts every page exactly as
:func:`~orchestration_project.research.fact_rows.extract_facts` does (two passes per site, the
second knowing the products the first named), then applies to each page the rule set a
``rule_set_for(url)`` callback chooses for it — so a rollout can run a candidate rule set on a
share of the pages — and measures each page as a rollout unit (:class:`PageObservation`): its
check outcome, quarantine rate, share of facts below the review confidence, share of the
page's trusted facts kept, and the seconds its extraction took. No Dagster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from orchestration_project.agents.runtime import ActionRecorder, Agent
from orchestration_project.research.fact_rows import (
    SentimentScorer,
    extract_site_pages,
    fact_row,
    score_review_sentiment,
)
from orchestration_project.research.quarantine import quarantine_reason

__all__ = [
    "DEFAULT_RULE_SET",
    "EXTRACTION_RULE_SET",
    "METHODS",
    "OBSERVATION_METRICS",
    "REVIEW_CONFIDENCE",
    "RULE_SETS_DIR",
    "PageObservation",
    "RuleSet",
    "RuleSetExtraction",
    "extract_facts_by_rule_set",
    "load_rule_set",
    "rule_set_versions",
]

RULE_SETS_DIR = Path(__file__).parent / "extraction" / "rule_sets"
EXTRACTION_RULE_SET = "extraction_rule_set"
"""The workflow step rule sets version (a rollout's ``step``)."""
DEFAULT_RULE_SET = "v1"
"""The rule set that runs when no rollout says otherwise."""
METHODS = ("jsonld", "microdata", "rdfa", "microformat", "dom", "text")
"""The extraction methods a rule set can keep or drop."""
REVIEW_CONFIDENCE = 0.5
"""Facts below this confidence are ones a person would have to check."""
OBSERVATION_METRICS = ("check_pass", "quarantine_rate", "review_share", "trusted_recall", "cost_s")
"""The per-page metrics a rollout of rule sets is judged on."""


@dataclass(frozen=True)
class RuleSet:
    """One version of the extraction rules.

    Attributes:
        version: The version name (the file's stem).
        methods: The methods whose facts are kept (every one when ``None``).
        confidence_floor: Facts below this confidence are dropped.
        attribute_floors: Per attribute (``price``, ``rating``...), a stricter floor.
        description: What this version changes.
    """

    version: str
    methods: frozenset[str] | None = None
    confidence_floor: float = 0.0
    attribute_floors: Mapping[str, float] | None = None
    description: str = ""

    def keeps(self, row: Mapping[str, Any]) -> bool:
        """Whether a fact row survives this rule set."""
        if self.methods is not None and str(row["method"]) not in self.methods:
            return False
        floor = max(
            self.confidence_floor, (self.attribute_floors or {}).get(str(row["attribute"]), 0.0)
        )
        return float(row["confidence"]) >= floor

    def apply(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows this rule set keeps, in order."""
        return [r for r in rows if self.keeps(r)]


def load_rule_set(version: str, directory: Path | None = None) -> RuleSet:
    """Rule set ``version`` from ``<directory>/<version>.yaml`` (default: the packaged ones).

    Raises:
        FileNotFoundError: no such version.
        ValueError: an unknown method or a floor outside [0, 1].
    """
    path = (directory or RULE_SETS_DIR) / f"{version}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    methods = data.get("methods", "all")
    if methods != "all":
        unknown = set(methods) - set(METHODS)
        if unknown:
            raise ValueError(f"rule set {version}: unknown methods {sorted(unknown)}")
    floors = {str(k): float(v) for k, v in (data.get("attribute_floors") or {}).items()}
    rule_set = RuleSet(
        version=str(data.get("version", version)),
        methods=None if methods == "all" else frozenset(methods),
        confidence_floor=float(data.get("confidence_floor", 0.0)),
        attribute_floors=floors or None,
        description=str(data.get("description", "")),
    )
    if rule_set.version != version:
        raise ValueError(f"{path.name} declares version {rule_set.version!r}")
    for f in (rule_set.confidence_floor, *floors.values()):
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"rule set {version}: floor {f} outside [0, 1]")
    return rule_set


def rule_set_versions(directory: Path | None = None) -> list[str]:
    """Every packaged rule-set version."""
    return sorted(p.stem for p in (directory or RULE_SETS_DIR).glob("*.yaml"))


@dataclass(frozen=True)
class PageObservation:
    """One page measured as a rollout unit, under the rule set it ran.

    Attributes:
        unit: The page's URL.
        site: Its site.
        rule_set: The rule-set version applied.
        facts: Facts kept.
        check_pass: 1.0 when every kept fact passes the quarantine rules and the
            ``facts_have_sources`` expectations (source URL, subject, confidence in [0, 1]).
        quarantine_rate: Share of the kept facts the quarantine rules reject (0 without facts).
        review_share: Share of the kept facts below :data:`REVIEW_CONFIDENCE` (0 without facts).
        trusted_recall: Share of the page's trusted facts (at or above the review confidence,
            from every layer) that were kept; 1.0 when the page has none (nothing was lost).
        trusted_recall_covariate: 1.0 when the page has trusted facts before the rule set
            acts, else 0.0 (the rollout's covariate for ``trusted_recall``).
        cost_s: CPU seconds (this thread's) spent extracting the page (its final pass) and
            scoring its kept reviews' sentiment. CPU, not wall, time: wall time also charged a
            page for whatever else the machine ran, enough to hold back a better rule set
            under load. A remote language model's waiting is therefore not in it (its price is
            in the language engine's cost figures).
        cost_s_covariate: The extraction CPU seconds alone: spent before the rule set acts, so
            the rule set cannot change them (the rollout's CUPED covariate for ``cost_s``).
    """

    unit: str
    site: str
    rule_set: str
    facts: int
    check_pass: float
    quarantine_rate: float
    review_share: float
    trusted_recall: float
    trusted_recall_covariate: float
    cost_s: float
    cost_s_covariate: float


def _passes_checks(row: Mapping[str, Any]) -> bool:
    conf = row.get("confidence")
    return (
        quarantine_reason(row) is None
        and bool(row.get("source_url"))
        and bool(row.get("subject"))
        and conf is not None
        and 0.0 <= float(conf) <= 1.0
    )


def _observe(
    url: str,
    site: str,
    rule_set: RuleSet,
    every: list[dict[str, Any]],
    kept: list[dict[str, Any]],
    seconds: float,
    extraction_seconds: float,
) -> PageObservation:
    n = len(kept)
    quarantined = sum(quarantine_reason(r) is not None for r in kept)
    trusted = [r for r in every if float(r["confidence"]) >= REVIEW_CONFIDENCE]
    trusted_kept = [r for r in kept if float(r["confidence"]) >= REVIEW_CONFIDENCE]
    return PageObservation(
        unit=url,
        site=site,
        rule_set=rule_set.version,
        facts=n,
        check_pass=float(all(_passes_checks(r) for r in kept)),
        quarantine_rate=quarantined / n if n else 0.0,
        review_share=sum(float(r["confidence"]) < REVIEW_CONFIDENCE for r in kept) / n
        if n
        else 0.0,
        trusted_recall=len(trusted_kept) / len(trusted) if trusted else 1.0,
        trusted_recall_covariate=float(bool(trusted)),
        cost_s=seconds,
        cost_s_covariate=extraction_seconds,
    )


@dataclass(frozen=True)
class RuleSetExtraction:
    """What :func:`extract_facts_by_rule_set` returns.

    Attributes:
        rows: Fact rows kept (before quarantine), each with a ``rule_set`` key.
        observations: One :class:`PageObservation` per page, as a frame.
    """

    rows: list[dict[str, Any]]
    observations: pd.DataFrame


def extract_facts_by_rule_set(
    page_snapshots: pd.DataFrame,
    *,
    crawl_id: str,
    language: SentimentScorer,
    recorder: ActionRecorder,
    rule_set_for: Callable[[str], RuleSet] | None = None,
) -> RuleSetExtraction:
    """Fact rows of every page, each page filtered by its rule set, and each page measured.

    Extraction is that of :func:`~orchestration_project.research.fact_rows.extract_facts` (one
    extractor agent per site, two passes, review sentiment scored by ``language``); with rule
    set ``v1`` for every page the rows are the same, in the same order.

    Args:
        page_snapshots: captured pages (``site``, ``url`` and ``html`` columns).
        crawl_id: the crawl the pages were captured in.
        language: scores the sentiment of reviews.
        recorder: where the agents' actions are recorded.
        rule_set_for: the rule set of a page, by URL (default: ``v1`` everywhere).
    """
    default = load_rule_set(DEFAULT_RULE_SET) if rule_set_for is None else None

    def rules(url: str) -> RuleSet:
        return default if default is not None else rule_set_for(url)  # type: ignore[misc]

    raw: list[dict[str, Any]] = []
    observations: list[PageObservation] = []
    for site, pages in page_snapshots.groupby("site", sort=True):
        agent = Agent(
            name=f"extractor@{site.split('//')[-1]}",
            role="extractor",
            goal=f"Extract market facts from {site}",
            recorder=recorder,
        )
        per_page: list[tuple[str, RuleSet, list[dict[str, Any]], list[dict[str, Any]]]] = []
        seconds: dict[str, float] = {}
        with agent.step("extract_site"):
            for url, page, spent in extract_site_pages(pages):
                seconds[url] = spent
                every = [fact_row(crawl_id, str(site), page, f) for f in page.facts]
                rule_set = rules(url)
                kept = rule_set.apply(every)
                for row in kept:
                    row["rule_set"] = rule_set.version
                per_page.append((url, rule_set, every, kept))
        for url, rule_set, every, kept in per_page:
            t0 = time.thread_time()  # CPU seconds, as the extraction's (see extract_site_pages)
            # Sentiment of each kept review (the text is data, not orders).
            score_review_sentiment(kept, language, agent)
            cost = seconds[url] + time.thread_time() - t0
            raw.extend(kept)
            observations.append(_observe(url, str(site), rule_set, every, kept, cost, seconds[url]))
    obs = pd.DataFrame(
        [o.__dict__ for o in observations], columns=list(PageObservation.__dataclass_fields__)
    )
    obs = obs.astype(
        {m: float for m in OBSERVATION_METRICS}
        | {"cost_s_covariate": float, "trusted_recall_covariate": float, "facts": int}
    )
    return RuleSetExtraction(rows=raw, observations=obs)
