"""The language engine: summaries, keywords, entities, sentiment and writing for agents.

Three implementations behind one interface, ``LanguageEngine`` (:mod:`.interface`):

* ``OfflineLanguageEngine`` (:mod:`.offline`, the embedded default): deterministic, no network,
  no model download. Extractive summaries (TextRank over TF-IDF sentence similarity), keywords
  (YAKE), entities (capitalised-phrase heuristic), sentiment (VADER compound score) and templated
  writing (:mod:`.prose`).
* ``OpenAIChatEngine`` (:mod:`.openai_compatible`): any OpenAI-compatible
  ``POST /chat/completions`` endpoint, with retries (408/409/429, 5xx, time-outs; exponential
  back-off with jitter, ``Retry-After`` honoured; :mod:`resources.retry`), token and cost
  accounting from the response's ``usage``.
* ``TieredLanguageEngine`` (:mod:`.tiered`, production): the offline engine plus an optional
  ``OpenAIChatEngine`` bought per summary or report when the tier router
  (``llm_router@champion``, else a length rule) expects the LLM's answer to be worth its price;
  every result says which tier answered, which router version chose it and why.

Scraped text is untrusted DATA, never instructions. The offline engine never interprets it (it
only counts, scores and copies it; ``write`` puts every string fact in quotation marks). The chat
engine wraps it in ``<untrusted_document>`` delimiters, neutralising any delimiter inside it,
under a system message that says the document is data to analyse and that instructions inside it
must be ignored.

Engines are frozen Dagster resources, so they keep no running totals: every ``LanguageResult``
carries its model, tokens, cost and latency, and callers record it (agents do so with
``Agent.record(..., cost_usd=res.cost_usd, route=res.model)``; ``route=res.route`` also names
the router version that chose the tier).

Everything importable from the former single module ``resources.language`` is re-exported here.
"""

from resources.language.interface import (
    LanguageEngine,
    LanguageEngineError,
    LanguageResult,
    estimate_tokens,
)
from resources.language.offline import OFFLINE_MODEL, OfflineLanguageEngine, split_sentences
from resources.language.openai_compatible import (
    CLOSE_TAG,
    OPEN_TAG,
    SYSTEM_RULE,
    OpenAIChatEngine,
    wrap_untrusted,
)
from resources.language.tiered import (
    LLM_TIER,
    NO_LLM,
    OFFLINE_TIER,
    TierDecision,
    TieredLanguageEngine,
)

__all__ = [
    "CLOSE_TAG",
    "LLM_TIER",
    "NO_LLM",
    "OFFLINE_MODEL",
    "OFFLINE_TIER",
    "OPEN_TAG",
    "SYSTEM_RULE",
    "LanguageEngine",
    "LanguageEngineError",
    "LanguageResult",
    "OfflineLanguageEngine",
    "OpenAIChatEngine",
    "TierDecision",
    "TieredLanguageEngine",
    "estimate_tokens",
    "split_sentences",
    "wrap_untrusted",
]
