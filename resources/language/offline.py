"""The deterministic offline language engine, the embedded default.

No network, no credentials, no model download, cost 0: extractive summaries (TextRank over
TF-IDF sentence similarity), keywords (YAKE), entities (capitalised-phrase heuristic), sentiment
(VADER compound score) and templated writing (:mod:`resources.language.prose`). Scraped text is
only counted, scored and copied, never interpreted.
"""

from __future__ import annotations

import json
import re
import string
import time
from functools import lru_cache
from typing import Any

from pydantic import Field

from resources.language.interface import LanguageEngine, LanguageResult, estimate_tokens
from resources.language.prose import default_prose, flat_fact

OFFLINE_MODEL = "offline-v1"

_ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "Mr.", "Mrs.", "Ms.", "Dr.", "St.", "approx.")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]”’]))\s+(?=[\"'(\[“‘]?[A-Z0-9])")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping their original order and wording.

    A blank line, or a line break before a line that starts with anything but a lower-case
    letter (headings, bullets), also ends a sentence; whitespace inside a sentence is collapsed.

    Args:
        text: Plain text.

    Returns:
        The sentences, in order.
    """
    blocks: list[str] = []
    current = ""
    for raw in (text or "").splitlines():
        line = re.sub(r"\s+", " ", raw).strip()
        if not line:
            if current:
                blocks.append(current)
            current = ""
        elif current and line[0].islower():
            current = f"{current} {line}"
        else:
            if current:
                blocks.append(current)
            current = line
    if current:
        blocks.append(current)
    sentences: list[str] = []
    for block in blocks:
        pending = ""
        for part in _SENTENCE_END.split(block):
            pending = f"{pending} {part}" if pending else part
            if not pending.endswith(_ABBREVIATIONS):
                sentences.append(pending)
                pending = ""
        if pending:
            sentences.append(pending)
    return [s for s in sentences if s]


_ENTITY_STOP = {
    w.capitalize()
    for w in [
        "the",
        "a",
        "an",
        "this",
        "that",
        "these",
        "those",
        "it",
        "its",
        "we",
        "our",
        "you",
        "your",
        "i",
        "my",
        "he",
        "she",
        "they",
        "their",
        "them",
        "in",
        "on",
        "at",
        "for",
        "from",
        "with",
        "and",
        "but",
        "or",
        "nor",
        "if",
        "when",
        "while",
        "after",
        "before",
        "as",
        "to",
        "of",
        "by",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "all",
        "not",
        "no",
        "yes",
        "also",
        "then",
        "there",
        "here",
        "so",
        "such",
        "some",
        "any",
        "every",
        "each",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "how",
        "where",
        "please",
        "ignore",
        "new",
        "more",
        "most",
        "very",
        "just",
        "only",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
}
_CAP = r"(?:[A-Z][A-Za-z0-9]*(?:[-'’&.][A-Za-z0-9]+)*|[a-z]+[A-Z][A-Za-z0-9]*)"
_CONT = rf"(?:{_CAP}|\d[A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*)"
_ENTITY_RUN = re.compile(rf"(?<![\w'’-]){_CAP}(?:[ \t]+{_CONT})*")


class OfflineLanguageEngine(LanguageEngine):
    """Deterministic offline language engine, the embedded default: no credentials, no network,
    no model download, cost 0. Extractive summaries (TextRank over TF-IDF similarity, original
    sentence order), YAKE keywords, capitalised-phrase entities, VADER sentiment and templated
    writing. Token counts are estimated (about four characters per token) so usage accounting
    works the same as with a paid endpoint. Scraped text is only scored and copied, never
    interpreted."""

    max_input_chars: int = Field(
        default=200_000, description="Longer input is cut to this many characters."
    )
    max_candidate_sentences: int = Field(
        default=400, description="The summary chooses among at most this many first sentences."
    )

    @property
    def name(self) -> str:
        """The offline model name, ``offline-v1``."""
        return OFFLINE_MODEL

    def _result(self, value: Any, text_in: str, text_out: str, t0: float) -> LanguageResult:
        return LanguageResult(
            value=value,
            model=OFFLINE_MODEL,
            prompt_tokens=estimate_tokens(text_in),
            completion_tokens=estimate_tokens(text_out),
            cost_usd=0.0,
            latency_s=time.perf_counter() - t0,
        )

    def summarize(self, text: str, *, max_sentences: int = 3) -> LanguageResult[str]:
        """Extractive summary: the most central sentences, verbatim and in their original order.

        Sentences are ranked by TextRank over TF-IDF cosine similarity; ties go to the earlier
        sentence, so the result is deterministic.

        Args:
            text: Untrusted text.
            max_sentences: At most this many sentences.

        Returns:
            The summary ("" for empty text or ``max_sentences <= 0``).
        """
        t0 = time.perf_counter()
        text = (text or "")[: self.max_input_chars]
        sentences = [s for s in split_sentences(text) if re.search(r"\w", s)]
        sentences = sentences[: self.max_candidate_sentences]
        if max_sentences <= 0 or not sentences:
            return self._result("", text, "", t0)
        if len(sentences) <= max_sentences:
            chosen = list(range(len(sentences)))
        else:
            scores = _textrank(sentences)
            if scores is None:  # nothing but stop words: keep the opening
                chosen = list(range(max_sentences))
            else:
                ranked = sorted(range(len(sentences)), key=lambda i: (-round(scores[i], 9), i))
                chosen = sorted(ranked[:max_sentences])
        summary = " ".join(sentences[i] for i in chosen)
        return self._result(summary, text, summary, t0)

    def keywords(self, text: str, *, k: int = 8) -> LanguageResult[list[str]]:
        """Key phrases of one or two words by YAKE (statistical, unsupervised, deterministic).

        Args:
            text: Untrusted text.
            k: At most this many phrases.

        Returns:
            The phrases, best first, without case-insensitive duplicates.
        """
        t0 = time.perf_counter()
        text = (text or "")[: self.max_input_chars]
        if k <= 0 or not re.search(r"\w", text):
            return self._result([], text, "", t0)
        import yake

        extractor = yake.KeywordExtractor(lan="en", n=2, dedup_lim=0.7, top=2 * k)
        pairs = sorted(extractor.extract_keywords(text), key=lambda p: (p[1], p[0].lower()))
        words: list[str] = []
        for phrase, _score in pairs:
            if phrase.lower() not in {w.lower() for w in words}:
                words.append(phrase)
            if len(words) == k:
                break
        return self._result(words, text, " ".join(words), t0)

    def entities(self, text: str) -> LanguageResult[list[str]]:
        """Proper-noun phrases: runs of capitalised words (digits allowed after the first).

        Leading and trailing stop words ("The", "Our", weekdays, months) are dropped. A single
        ordinary word that is capitalised only because it starts a sentence ("Terrible", "Setup")
        is kept only if it also appears capitalised inside a sentence, or if it starts several
        sentences, never appears in lower case and is not a common or sentiment word.

        Args:
            text: Untrusted text.

        Returns:
            Distinct phrases in order of first appearance.
        """
        t0 = time.perf_counter()
        text = (text or "")[: self.max_input_chars]
        candidates: list[tuple[str, bool]] = []  # (phrase, only capitalised as a sentence start)
        for sentence in split_sentences(text):
            start = re.search(r"[A-Za-z0-9]", sentence)
            for m in _ENTITY_RUN.finditer(sentence):
                at_start = start is not None and m.start() == start.start()
                for segment in _possessive_segments(m.group(0).split()):
                    lead = 0
                    while lead < len(segment) and segment[lead] in _ENTITY_STOP:
                        lead += 1
                    words = segment[lead:]
                    while words and words[-1] in _ENTITY_STOP:
                        words.pop()
                    if words and len(" ".join(words)) >= 2:
                        initial = (
                            at_start
                            and lead == 0
                            and len(words) == 1
                            and words[0].isalpha()
                            and words[0][1:].islower()
                        )
                        candidates.append((" ".join(words), initial))
                    at_start = False
        inside = {w for phrase, initial in candidates if not initial for w in phrase.split()}
        starts: dict[str, int] = {}
        for phrase, initial in candidates:
            if initial:
                starts[phrase] = starts.get(phrase, 0) + 1
        lower_words = set(re.findall(r"\b[a-z]+\b", text))
        common = _common_words()

        def keep(phrase: str) -> bool:
            low = phrase.lower()
            return phrase in inside or (
                starts[phrase] >= 2 and low not in lower_words and low not in common
            )

        found: list[str] = []
        for phrase, initial in candidates:
            if (not initial or keep(phrase)) and phrase not in found:
                found.append(phrase)
        return self._result(found, text, " ".join(found), t0)

    def sentiment(self, text: str) -> LanguageResult[float]:
        """VADER compound score (lexicon and rules, tuned for short reviews).

        Args:
            text: Untrusted text, typically one review.

        Returns:
            A score in [-1, 1] (0.0 for empty text).
        """
        t0 = time.perf_counter()
        text = (text or "")[: self.max_input_chars]
        if not re.search(r"\w", text):
            return self._result(0.0, text, "", t0)
        score = float(_vader().polarity_scores(text)["compound"])
        return self._result(max(-1.0, min(1.0, score)), text, f"{score:.4f}", t0)

    def write(
        self, *, instruction: str, facts: dict[str, Any], template: str | None = None
    ) -> LanguageResult[str]:
        """Deterministic prose from the facts; the free-form ``instruction`` is not interpreted.

        With a ``template`` (``string.Template`` syntax, ``$key``), each fact is substituted
        once, as flattened text, and never re-expanded. Without one, every fact becomes a clause
        of a sentence; every string value appears only inside quotation marks (quotation marks
        inside it are neutralised), so scraped text is shown as quoted data and never reads as
        part of the report's own voice.

        Args:
            instruction: What to write (counted as prompt tokens; not followed offline).
            facts: JSON-able facts.
            template: Optional ``string.Template`` text.

        Returns:
            The prose.
        """
        t0 = time.perf_counter()
        if template is not None:
            values = {str(k): flat_fact(v) for k, v in facts.items()}
            out = string.Template(template).safe_substitute(values)
        else:
            out = default_prose(facts)
        prompt = (instruction or "") + json.dumps(facts, default=str) + (template or "")
        return self._result(out, prompt, out, t0)


def _possessive_segments(words: list[str]) -> list[list[str]]:
    """Split a run of words after each possessive ("Acme's Aurora" -> "Acme", "Aurora")."""
    segments: list[list[str]] = [[]]
    for word in words:
        bare = re.sub(r"['’]s$", "", word)
        segments[-1].append(bare)
        if bare != word:
            segments.append([])
    return [seg for seg in segments if seg]


def _textrank(sentences: list[str], damping: float = 0.85, iterations: int = 60) -> Any:
    """TextRank scores of sentences (power iteration over TF-IDF cosine similarity)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        m = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(sentences)
    except ValueError:  # empty vocabulary
        return None
    sim = (m @ m.T).toarray()
    np.fill_diagonal(sim, 0.0)
    n = len(sentences)
    rows = sim.sum(axis=1, keepdims=True)
    walk = np.where(rows > 0, sim / np.where(rows > 0, rows, 1.0), 1.0 / n)
    p = np.full(n, 1.0 / n)
    for _ in range(iterations):
        p = (1 - damping) / n + damping * walk.T @ p
    return p.tolist()


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    """Lower-case words too common to be a name on their own: stop words and sentiment words."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | frozenset(w for w in _vader().lexicon if w.isalpha())


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()
