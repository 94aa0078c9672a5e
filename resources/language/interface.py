"""The language engine's interface and the types every engine shares.

``LanguageEngine`` is the Dagster resource that assets depend on; ``LanguageResult`` carries an
answer together with what producing it cost (model, tokens, USD, latency), and
``LanguageEngineError`` is what an engine raises when it cannot answer. Implementations live in
:mod:`resources.language.offline` and :mod:`resources.language.openai_compatible`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import dagster as dg

T = TypeVar("T")


@dataclass(frozen=True)
class LanguageResult(Generic[T]):
    """A value produced by a language engine, with what producing it cost.

    Attributes:
        value: The answer (a summary, a list of phrases, a score, prose).
        model: The model that produced it (``"offline-v1"`` for the offline engine).
        prompt_tokens: Input tokens (reported by the endpoint, or estimated offline).
        completion_tokens: Output tokens (reported by the endpoint, or estimated offline).
        cost_usd: Cost of the call in US dollars (0.0 offline).
        latency_s: Wall-clock duration of the call in seconds.
        tier: The tier that answered, ``"offline"`` or ``"llm"``, when a tiered engine chose
            it ("" from a single engine).
        router_version: The router that chose the tier, e.g. ``"llm_router v3"`` (the
            registered champion's version) or ``"length-rule"`` (the fallback); "" when no
            router decided.
        decision_reason: Why that tier: the router's expected gain against the threshold, or
            the rule that applied (no LLM configured, a task that is never routed, an LLM
            failure answered offline).
    """

    value: T
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    latency_s: float
    tier: str = ""
    router_version: str = ""
    decision_reason: str = ""

    @property
    def route(self) -> str:
        """What to record as an action's route: the model, and the router version that chose
        it when a router did (``"gpt-4o-mini via llm_router v3"``)."""
        return f"{self.model} via {self.router_version}" if self.router_version else self.model


class LanguageEngineError(RuntimeError):
    """The language engine could not produce a result.

    The message says what went wrong and never contains the API key.
    """


def estimate_tokens(text: str) -> int:
    """Estimate the token count of ``text`` (about four characters per token in English).

    Args:
        text: Any text.

    Returns:
        The estimated number of tokens (0 for empty text).
    """
    return (len(text) + 3) // 4 if text else 0


class LanguageEngine(dg.ConfigurableResource, ABC):
    """Text understanding and writing for agents: summaries, key phrases, named entities,
    review sentiment and report prose. Scraped text is always treated as data, never as
    instructions."""

    @abstractmethod
    def summarize(self, text: str, *, max_sentences: int = 3) -> LanguageResult[str]:
        """Summarise ``text``.

        Args:
            text: Untrusted text (for example a scraped page).
            max_sentences: At most this many sentences in the summary.

        Returns:
            The summary ("" for empty text).
        """

    @abstractmethod
    def keywords(self, text: str, *, k: int = 8) -> LanguageResult[list[str]]:
        """Extract the most characteristic key phrases of ``text``.

        Args:
            text: Untrusted text.
            k: At most this many phrases.

        Returns:
            The phrases, most characteristic first ([] for empty text).
        """

    @abstractmethod
    def entities(self, text: str) -> LanguageResult[list[str]]:
        """Extract proper-noun phrases (brands, products, organisations) from ``text``.

        Args:
            text: Untrusted text.

        Returns:
            The distinct phrases in order of first appearance ([] for empty text).
        """

    @abstractmethod
    def sentiment(self, text: str) -> LanguageResult[float]:
        """Score the sentiment of ``text``.

        Args:
            text: Untrusted text, typically one customer review.

        Returns:
            A score in [-1, 1]: negative below 0, positive above (0.0 for empty text).
        """

    @abstractmethod
    def write(
        self, *, instruction: str, facts: dict[str, Any], template: str | None = None
    ) -> LanguageResult[str]:
        """Write prose from a trusted instruction and a dict of facts.

        Args:
            instruction: What to write (trusted: written by the pipeline, not scraped).
            facts: JSON-able facts; values may hold scraped strings, which are data only.
            template: Optional outline (``string.Template`` syntax offline, ``$name``).

        Returns:
            The prose.
        """

    @property
    @abstractmethod
    def name(self) -> str:
        """A short name of the engine's model, as reported in ``LanguageResult.model``."""

    @property
    def engine_name(self) -> str:
        """Alias of ``name`` (kept for older callers)."""
        return self.name
