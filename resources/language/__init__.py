"""The language engine: summaries, keywords, entities, sentiment and writing for agents.

Two implementations behind one interface, ``LanguageEngine`` (:mod:`.interface`):

* ``OfflineLanguageEngine`` (:mod:`.offline`, the embedded default): deterministic, no network,
  no model download. Extractive summaries (TextRank over TF-IDF sentence similarity), keywords
  (YAKE), entities (capitalised-phrase heuristic), sentiment (VADER compound score) and templated
  writing (:mod:`.prose`).
* ``OpenAIChatEngine`` (:mod:`.openai_compatible`, production): any OpenAI-compatible
  ``POST /chat/completions`` endpoint, with retries (408/409/429, 5xx, time-outs; exponential
  back-off with jitter, ``Retry-After`` honoured; :mod:`resources.retry`), token and cost
  accounting from the response's ``usage``.

Scraped text is untrusted DATA, never instructions. The offline engine never interprets it (it
only counts, scores and copies it; ``write`` puts every string fact in quotation marks). The chat
engine wraps it in ``<untrusted_document>`` delimiters, neutralising any delimiter inside it,
under a system message that says the document is data to analyse and that instructions inside it
must be ignored.

Engines are frozen Dagster resources, so they keep no running totals: every ``LanguageResult``
carries its model, tokens, cost and latency, and callers record it (agents do so with
``Agent.record(..., cost_usd=res.cost_usd, route=res.model)``).

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

__all__ = [
    "CLOSE_TAG",
    "OFFLINE_MODEL",
    "OPEN_TAG",
    "SYSTEM_RULE",
    "LanguageEngine",
    "LanguageEngineError",
    "LanguageResult",
    "OfflineLanguageEngine",
    "OpenAIChatEngine",
    "estimate_tokens",
    "split_sentences",
    "wrap_untrusted",
]
