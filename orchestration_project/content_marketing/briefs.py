"""Content briefs: what to write about, for whom, on which channels, with which call to action.

Briefs come from YAML files (one brief, or a list under ``briefs:``) in a folder, or from the
bundled defaults (``default_briefs.yaml``). A malformed brief is quarantined with the reason,
never dropped: briefs in = briefs accepted + briefs quarantined.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CHANNELS = ("blog", "email", "social")
DEFAULT_BRIEFS = Path(__file__).with_name("default_briefs.yaml")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Brief:
    """One piece of content to write, on one or more channels."""

    brief_id: str
    topic: str
    audience: str
    cta_text: str
    cta_url: str
    channels: tuple[str, ...] = CHANNELS
    hashtags: tuple[str, ...] = ()
    banned_words: tuple[str, ...] = ()
    tone: str = "helpful"
    language: str = "en"
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Quarantined:
    """A brief that could not be read, with the reason."""

    source: str
    index: int
    reason: str
    raw: str


def parse_brief(raw: Any, source: str = "") -> Brief:
    """A :class:`Brief` from a mapping, or ``ValueError`` naming what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError(f"a brief is a mapping, not {type(raw).__name__}")
    missing = [
        k for k in ("brief_id", "topic", "audience", "cta_text", "cta_url") if not raw.get(k)
    ]
    if missing:
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    brief_id = str(raw["brief_id"])
    if not _ID.match(brief_id):
        raise ValueError(f"brief_id {brief_id!r}: lowercase letters, digits, '-' and '_' only")
    url = str(raw["cta_url"])
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url):
        raise ValueError(f"cta_url {url!r} is not an http(s) URL")
    channels = tuple(raw.get("channels") or CHANNELS)
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown}; known: {list(CHANNELS)}")
    tags = tuple(str(t).lstrip("#") for t in raw.get("hashtags") or ())
    if any(not re.fullmatch(r"\w+", t) for t in tags):
        raise ValueError(f"hashtags must be single words: {list(tags)}")
    known = set(Brief.__dataclass_fields__) - {"extra", "source"}
    return Brief(
        brief_id=brief_id,
        topic=str(raw["topic"]),
        audience=str(raw["audience"]),
        cta_text=str(raw["cta_text"]),
        cta_url=url,
        channels=channels,
        hashtags=tags,
        banned_words=tuple(str(w).lower() for w in raw.get("banned_words") or ()),
        tone=str(raw.get("tone") or "helpful"),
        language=str(raw.get("language") or "en"),
        source=source,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def load_briefs(paths: list[Path]) -> tuple[list[Brief], list[Quarantined]]:
    """Every brief in the YAML files ``paths`` (a file holds one brief or ``briefs: [...]``).

    Returns:
        ``(accepted, quarantined)``; a file that does not parse is one quarantined entry, a
        duplicate ``brief_id`` is quarantined after its first occurrence.
    """
    accepted: list[Brief] = []
    quarantined: list[Quarantined] = []
    seen: set[str] = set()
    for path in sorted(paths):
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            quarantined.append(Quarantined(str(path), 0, f"unreadable YAML: {exc}"[:300], ""))
            continue
        items = doc.get("briefs") if isinstance(doc, dict) and "briefs" in doc else [doc]
        for i, raw in enumerate(items or []):
            try:
                brief = parse_brief(raw, str(path))
                if brief.brief_id in seen:
                    raise ValueError(f"duplicate brief_id {brief.brief_id!r}")
            except ValueError as exc:
                quarantined.append(Quarantined(str(path), i, str(exc), repr(raw)[:500]))
                continue
            seen.add(brief.brief_id)
            accepted.append(brief)
    return accepted, quarantined


__all__ = ["CHANNELS", "DEFAULT_BRIEFS", "Brief", "Quarantined", "load_briefs", "parse_brief"]
