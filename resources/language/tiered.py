"""The tiered language engine: the offline engine by default, an LLM endpoint when the router
says the text is worth the LLM's price.

For each ``summarize`` and ``write`` call the engine scores the input with the tier router, an
estimate of how much better the LLM tier's answer is expected to be (the expected "accuracy
gain"), and buys the LLM call only when that gain, valued at ``willingness_to_pay`` USD per
better answer, exceeds the LLM call's extra cost: ``gain > (llm_cost_usd - offline_cost_usd) /
willingness_to_pay`` (:func:`ml.routing.gain_threshold`; the same rule as
:func:`ml.routing.decide`, evaluated in pure Python). The decision travels on the result:
``LanguageResult.tier``, ``router_version`` and ``decision_reason`` (the gain, the threshold
and the prices), so an agent that records the call records which router version chose the tier
(``LanguageResult.route`` gives ``"<model> via <router version>"``); those records are what
the next router is to be trained on (see :mod:`orchestration_project.optimization.llm_router`).

Which calls are routed. ``summarize`` and ``write`` produce free prose, where an LLM can be
much better than extraction and templates, and they are called a few times per report.
``keywords``, ``entities`` and ``sentiment`` always stay offline: they run per page and per
review (hundreds of calls a crawl), their offline versions (YAKE, a capitalised-phrase
heuristic, VADER) are deterministic and their outputs are validated downstream as facts, and
the router was not trained on anything resembling extraction. Their results say so in
``decision_reason``.

The router. ``llm_router@champion`` from the model registry (the ``tracking`` resource), loaded
at most once per resource instance (Dagster builds resources once per run and step process),
on the first routed call; its single-prompt path (:meth:`ml.routing.TextRouter.score_one`)
scores the first ``max_scoring_chars`` (256) characters of the input (the head of a page: its
title and opening), which keeps a decision under 200 µs p99 (``benchmarks/routing_eval.py``:
about 100 µs p50 and 170 µs p99 on 3,000-character pages of prose, 190 µs p99 on denser MMLU
text, two cores); the reason says when the input was cut. When the registry is missing, empty
or corrupt, the engine logs a warning and uses the length rule
(:class:`orchestration_project.optimization.llm_router.LengthRule`: the longer the text, the
higher the expected gain; it reads the whole text's length, which costs nothing). A tracking
server that does not answer its health check within 3 s counts as missing (MLflow's client
would otherwise retry it for minutes). With no LLM configured, nothing is loaded (MLflow is not
even imported) and every call goes to the offline engine with the reason
``"no LLM tier configured"``.

What the router knows. Today's champion is trained on RouteLLM's MMLU outcomes of GPT-4 against
Mixtral, not on this platform's pages answered by the offline engine and by its LLM endpoint:
its expected gains on a scraped page are a transferred prior, and ``willingness_to_pay`` is
the knob that sets how often the LLM is bought. The decisions these results record are how a
router of the platform's own tiers gets trained (see the domain module).

Failures. When the LLM tier fails (``LanguageEngineError`` after the endpoint's own retries),
the call is answered offline and the reason says so; the latency includes the failed attempt.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import dagster as dg
import httpx
from pydantic import Field, PrivateAttr

from ml.routing_metrics import gain_threshold
from orchestration_project.optimization.llm_router import MODEL_NAME, LengthRule
from resources.language.interface import LanguageEngine, LanguageEngineError, LanguageResult
from resources.language.offline import OfflineLanguageEngine
from resources.language.openai_compatible import OpenAIChatEngine
from resources.tracking import MlflowTracking

__all__ = ["LLM_TIER", "NO_LLM", "OFFLINE_TIER", "TierDecision", "TieredLanguageEngine"]

OFFLINE_TIER = "offline"
LLM_TIER = "llm"
NO_LLM = "no LLM tier configured"
"""The decision reason of every call when the engine has no LLM tier."""

_log = dg.get_dagster_logger(__name__)


@dataclass(frozen=True)
class TierDecision:
    """Which tier answers one call, and why.

    Attributes:
        tier: ``"offline"`` or ``"llm"``.
        router_version: The router that decided ("" when no router was asked).
        reason: The decision in words (recorded as ``LanguageResult.decision_reason``).
        gain: The router's expected gain of the LLM tier (None when no router was asked).
        threshold: The gain above which the LLM tier is bought.
    """

    tier: str
    router_version: str
    reason: str
    gain: float | None = None
    threshold: float = math.inf


def _answers(tracking_uri: str, timeout_s: float = 3.0) -> bool:
    """Whether an MLflow tracking server answers its health check within ``timeout_s``."""
    try:
        return httpx.get(tracking_uri.rstrip("/") + "/health", timeout=timeout_s).status_code < 500
    except httpx.HTTPError:
        return False


class TieredLanguageEngine(LanguageEngine):
    """Language engine with two tiers: the offline engine, and an LLM endpoint bought per call
    when the tier router (``llm_router@champion``, else the length rule) expects it to be worth
    its price. Summaries and writing are routed; keywords, entities and sentiment stay offline.
    Every result says which tier answered, which router version chose it and why; an LLM
    failure is answered offline. Without an LLM tier everything stays offline and no model is
    loaded."""

    offline: OfflineLanguageEngine = Field(description="The offline tier (always available).")
    llm: OpenAIChatEngine | None = Field(
        default=None, description="The LLM tier; None: offline only (no model is loaded)."
    )
    tracking: MlflowTracking | None = Field(
        default=None,
        description="The model registry holding the tier router; None: the length rule.",
    )
    willingness_to_pay: float = Field(
        default=0.0025,
        description="USD one better answer is worth; with the default LLM call price the LLM "
        "tier is bought above an expected gain of 0.2.",
    )
    offline_cost_usd: float = Field(default=0.0, description="USD per offline call.")
    llm_cost_usd: float = Field(
        default=0.0005,
        description="USD per LLM call (about 1,500 prompt and 200 completion tokens at "
        "gpt-4o-mini prices, rounded up).",
    )
    router_model: str = Field(default=MODEL_NAME, description="The registered router.")
    router_alias: str = Field(default="champion", description="The registry alias to load.")
    max_scoring_chars: int = Field(
        default=256,
        description="The learned router scores at most this many first characters of the "
        "input: its cost grows with the length, and 256 keeps a decision under 200 µs p99 "
        "(benchmarks/routing_eval.py).",
    )

    _router: tuple[Any, str] | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def name(self) -> str:
        """``tiered(<offline model>|<LLM model>)``, or the offline model without an LLM."""
        if self.llm is None:
            return self.offline.name
        return f"tiered({self.offline.name}|{self.llm.name})"

    # -- the router -------------------------------------------------------------------------
    def router(self) -> tuple[Any, str]:
        """The tier router and its version, loaded on first use (once per instance).

        Returns:
            ``(router, version)``: ``llm_router@champion``'s router and ``"llm_router v<n>"``,
            or the length rule and ``"length-rule"`` (with a logged warning) when the
            registry is missing, empty or corrupt.
        """
        loaded = self._router
        if loaded is None:
            with self._lock:
                if self._router is None:
                    self._router = self._load_router()
                loaded = self._router
        return loaded

    def _load_router(self) -> tuple[Any, str]:
        ref = f"{self.router_model}@{self.router_alias}"
        rule = (LengthRule(), LengthRule.version)
        fallback = "the tier router falls back to the length rule"
        if self.tracking is None:
            _log.warning(f"no model registry configured: {ref} not loaded; {fallback}")
            return rule
        if not self.tracking.has_store():
            _log.warning(
                f"no model registry at {self.tracking.uri()}: {ref} not loaded; {fallback}"
            )
            return rule
        uri = self.tracking.uri()
        if uri.startswith(("http://", "https://")) and not _answers(uri):
            # MLflow's own client would retry a down server for minutes before failing
            _log.warning(f"model registry {uri} does not answer: {ref} not loaded; {fallback}")
            return rule
        try:
            model, _config, version = self.tracking.load_pyfunc_model(
                self.router_model, alias=self.router_alias
            )
            router = model.get_raw_model()
            probe = float(router.score_one("Which planet is the largest?"))
            if not math.isfinite(probe):
                raise ValueError(f"the router scores a probe as {probe}")
        except Exception as exc:  # no model or alias, store down, files that will not load
            _log.warning(f"{ref} unavailable ({type(exc).__name__}: {str(exc)[:200]}); {fallback}")
            return rule
        _log.info(f"tier router: {ref} is version {version}")
        return router, f"{self.router_model} v{version}"

    def decide_tier(self, text: str) -> TierDecision:
        """Choose the tier for one input (the router's score against the price threshold).

        Args:
            text: The input as the router should see it (for ``write``: the instruction and
                the facts as JSON).

        Returns:
            The decision; the LLM tier only when one is configured and the expected gain is
            above ``gain_threshold(willingness_to_pay, (offline_cost_usd, llm_cost_usd))``.
        """
        if self.llm is None:
            return TierDecision(OFFLINE_TIER, "", NO_LLM)
        if not text.strip():
            return TierDecision(OFFLINE_TIER, "", "empty input: nothing to route")
        router, version = self.router()
        threshold = gain_threshold(
            self.willingness_to_pay, (self.offline_cost_usd, self.llm_cost_usd)
        )
        limit = self.max_scoring_chars
        cut = len(text) > limit and not isinstance(router, LengthRule)
        gain = float(router.score_one(text[:limit] if cut else text))
        tier = LLM_TIER if gain > threshold else OFFLINE_TIER
        note = f"; scored the first {limit} of {len(text)} chars" if cut else ""
        reason = (
            f"[{version}] expected gain {gain:.3f} {'>' if tier == LLM_TIER else '<='} "
            f"threshold {threshold:.3f} (willingness to pay ${self.willingness_to_pay:g}, "
            f"LLM call ${self.llm_cost_usd:g}){note}: {tier}"
        )
        return TierDecision(tier, version, reason, gain, threshold)

    # -- calls --------------------------------------------------------------------------------
    def _answer(
        self, decision: TierDecision, call: Callable[[LanguageEngine], LanguageResult]
    ) -> LanguageResult:
        """Run ``call`` on the chosen tier; an LLM failure is answered offline."""
        t0 = time.perf_counter()
        reason = decision.reason
        if decision.tier == LLM_TIER and self.llm is not None:
            try:
                res = call(self.llm)
                return replace(
                    res,
                    tier=LLM_TIER,
                    router_version=decision.router_version,
                    decision_reason=reason,
                )
            except LanguageEngineError as exc:
                reason = f"{reason}; LLM tier failed ({exc}): answered offline"
                _log.warning(f"LLM tier failed, answering offline: {exc}")
        res = call(self.offline)
        return replace(
            res,
            tier=OFFLINE_TIER,
            router_version=decision.router_version,
            decision_reason=reason,
            latency_s=time.perf_counter() - t0,
        )

    @staticmethod
    def _not_routed(res: LanguageResult, task: str) -> LanguageResult:
        return replace(
            res, tier=OFFLINE_TIER, decision_reason=f"{task} is not routed: always offline"
        )

    def summarize(self, text: str, *, max_sentences: int = 3) -> LanguageResult[str]:
        """A summary from the tier the router chooses for ``text``.

        Args:
            text: Untrusted text.
            max_sentences: At most this many sentences.

        Returns:
            The summary, with ``tier``, ``router_version`` and ``decision_reason``.
        """
        decision = self.decide_tier(text or "")
        return self._answer(decision, lambda e: e.summarize(text, max_sentences=max_sentences))

    def write(
        self, *, instruction: str, facts: dict[str, Any], template: str | None = None
    ) -> LanguageResult[str]:
        """Prose from the tier the router chooses for the instruction and the facts (scored as
        ``instruction`` plus the facts as JSON).

        Args:
            instruction: What to write (trusted).
            facts: JSON-able facts (untrusted values).
            template: Optional outline.

        Returns:
            The prose, with ``tier``, ``router_version`` and ``decision_reason``.
        """
        scored = f"{instruction}\n{json.dumps(facts, default=str, ensure_ascii=False)}"
        decision = self.decide_tier(scored)
        return self._answer(
            decision, lambda e: e.write(instruction=instruction, facts=facts, template=template)
        )

    def keywords(self, text: str, *, k: int = 8) -> LanguageResult[list[str]]:
        """Key phrases, always offline (see the module docstring).

        Args:
            text: Untrusted text.
            k: At most this many phrases.
        """
        return self._not_routed(self.offline.keywords(text, k=k), "keywords")

    def entities(self, text: str) -> LanguageResult[list[str]]:
        """Named brands, products and organisations, always offline.

        Args:
            text: Untrusted text.
        """
        return self._not_routed(self.offline.entities(text), "entities")

    def sentiment(self, text: str) -> LanguageResult[float]:
        """Sentiment in [-1, 1], always offline.

        Args:
            text: Untrusted text, typically one review.
        """
        return self._not_routed(self.offline.sentiment(text), "sentiment")
