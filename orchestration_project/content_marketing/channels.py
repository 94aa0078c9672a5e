"""Channel outputs from a draft: blog post (Markdown and HTML), e-mail (subject, HTML and plain
text) and social post, each under its own rules (:data:`RULES`: length limits, a required link
and call to action, hashtags).

Rendering never trims a claim silently: a draft too long for a channel is shortened at a
paragraph or sentence boundary, and what does not fit is left out whole. HTML is made from
escaped text, so scraped names cannot inject markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import markdown

from orchestration_project.content_marketing.briefs import Brief
from orchestration_project.content_marketing.strategies import Draft


@dataclass(frozen=True)
class ChannelRules:
    """What a channel requires of its text."""

    min_chars: int
    max_chars: int
    needs_cta_text: bool
    hashtags: tuple[int, int]  # allowed count (min, max)
    readability: tuple[float, float] | None  # Flesch reading ease range, None: not checked


RULES = {
    "blog": ChannelRules(400, 8000, True, (0, 0), (30.0, 100.0)),
    "email": ChannelRules(200, 3000, True, (0, 0), (30.0, 100.0)),
    "social": ChannelRules(40, 280, False, (1, 3), None),
}
SUBJECT_MAX = 78


@dataclass(frozen=True)
class ChannelOutput:
    """One channel's rendering of a draft."""

    brief_id: str
    strategy: str
    channel: str
    title: str
    text: str  # what the reader reads (Markdown for the blog, plain text otherwise)
    html: str  # the HTML version ("" for social)


def _html_of_markdown(source: str) -> str:
    return markdown.markdown(html.escape(source, quote=False))


def _fit(paragraphs: list[str], budget: int) -> list[str]:
    out: list[str] = []
    used = 0
    for p in paragraphs:
        if used + len(p) + 2 > budget:
            break
        out.append(p)
        used += len(p) + 2
    return out


def blog(draft: Draft, brief: Brief) -> ChannelOutput:
    """A blog post: title, paragraphs, and the call to action as a link."""
    rules = RULES["blog"]
    cta = f"**[{brief.cta_text}]({brief.cta_url})**"
    body = _fit(list(draft.paragraphs), rules.max_chars - len(draft.title) - len(cta) - 10)
    source = "\n\n".join([f"# {draft.title}", *body, cta])
    return ChannelOutput(
        draft.brief_id, draft.strategy, "blog", draft.title, source, _html_of_markdown(source)
    )


def email(draft: Draft, brief: Brief) -> ChannelOutput:
    """An e-mail: a subject of at most 78 characters, plain text and HTML bodies."""
    rules = RULES["email"]
    subject = draft.title if len(draft.title) <= SUBJECT_MAX else draft.summary[:SUBJECT_MAX]
    subject = subject[:SUBJECT_MAX].rstrip()
    cta = f"{brief.cta_text}: {brief.cta_url}"
    body = _fit(list(draft.paragraphs[:2]), rules.max_chars - len(cta) - 40)
    plain_paragraphs = [re.sub(r"^- ", "* ", p, flags=re.M) for p in body]
    text = "\n\n".join(["Hello,", *plain_paragraphs, cta, "Thanks for reading."])
    link = f'<p><a href="{html.escape(brief.cta_url)}">{html.escape(brief.cta_text)}</a></p>'
    rendered = _html_of_markdown("\n\n".join(["Hello,", *body]))
    page = f"<html><body>{rendered}{link}<p>Thanks for reading.</p></body></html>"
    return ChannelOutput(draft.brief_id, draft.strategy, "email", subject, text, page)


def social(draft: Draft, brief: Brief) -> ChannelOutput:
    """A social post: one sentence from the summary, the link, 1-3 hashtags, ≤ 280 chars."""
    rules = RULES["social"]
    tags = " ".join(f"#{t}" for t in (brief.hashtags or (brief.topic.split()[-1],))[:3])
    tail = f" {brief.cta_url} {tags}"
    room = rules.max_chars - len(tail)
    sentence = draft.summary if len(draft.summary) <= room else draft.summary[: room - 1] + "…"
    return ChannelOutput(draft.brief_id, draft.strategy, "social", draft.title, sentence + tail, "")


RENDERERS = {"blog": blog, "email": email, "social": social}


def render(draft: Draft, brief: Brief) -> list[ChannelOutput]:
    """The draft on every channel the brief asks for."""
    return [RENDERERS[c](draft, brief) for c in brief.channels]


__all__ = ["RULES", "SUBJECT_MAX", "ChannelOutput", "ChannelRules", "render"]
