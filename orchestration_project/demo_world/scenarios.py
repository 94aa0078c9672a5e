"""Degradation scenarios of the demo world: faults that give warning before they fail.

The plain site faults (``SiteFaults``: a fixed delay, error rate or bot block) switch on at
once. A degradation grows over a configured time instead, as real outages often do:

* ``degrade`` — a site's latency and share of ``503`` answers ramp up linearly over
  ``ramp_s`` seconds; when the ramp ends the site goes down (its port is closed, connections are
  refused) until ``up`` brings it back.
* ``decay`` — a site's pages slowly lose the markup extraction needs: a growing share of its
  prices and ratings is replaced by plain text ("Price on request"), so facts per page fall
  until, at the end of the ramp, its pages yield none.

A :class:`Ramp` is pure arithmetic on a monotonic clock; :func:`decay_html` is the page
transformation. Which price or rating goes first is a stable hash of the page and the
position, so the loss is monotonic: what is gone stays gone as the share grows.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEGRADE = "degrade"
DECAY = "decay"

# Prices as the demo sites print them: "$229.00", "€219,00", "249,00 €", "89.90 EUR".
_PRICE = re.compile(
    r"(?:[$€£]\s?\d(?:[\d.,]*\d)?)|(?:\d[\d.,]*\d\s?(?:€|EUR|USD|GBP)(?![A-Za-z]))", re.UNICODE
)
# Ratings: "4.6 out of 5" (titles, text), "4,6 / 5", "Rating: 4.6", star glyphs.
_RATING = re.compile(r"\d[.,]\d\s?(?:out of|/|von|sur)\s?5|[Rr]ating:?\s*\d[.,]\d|[★☆]{3,}")


@dataclass
class Ramp:
    """A linear ramp from 0 to 1 over ``duration_s`` seconds from ``started`` (monotonic time).

    Attributes:
        duration_s: how long the ramp takes.
        started: ``time.monotonic()`` when it started.
    """

    duration_s: float
    started: float = field(default_factory=time.monotonic)

    def progress(self, now: float | None = None) -> float:
        """How far the ramp is, in [0, 1]."""
        now = time.monotonic() if now is None else now
        if self.duration_s <= 0:
            return 1.0
        return min(1.0, max(0.0, (now - self.started) / self.duration_s))

    def done(self, now: float | None = None) -> bool:
        """Whether the ramp has reached its end."""
        return self.progress(now) >= 1.0


@dataclass
class Degradation:
    """A site whose latency and error rate grow (``degrade``) before it goes down.

    Attributes:
        ramp: the ramp.
        peak_delay_s: extra latency at the end of the ramp.
        peak_error_rate: share of ``503`` answers at the end of the ramp.
    """

    ramp: Ramp
    peak_delay_s: float = 1.5
    peak_error_rate: float = 0.4

    def delay_s(self, now: float | None = None) -> float:
        """The extra latency now."""
        return self.peak_delay_s * self.ramp.progress(now)

    def error_rate(self, now: float | None = None) -> float:
        """The share of requests answered 503 now."""
        return self.peak_error_rate * self.ramp.progress(now)


def _drop(salt: str, index: int, share: float) -> bool:
    h = hashlib.sha256(f"{salt}|{index}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < share


def decay_html(html: str, share: float, *, salt: str) -> str:
    """``html`` with a ``share`` (0..1) of its prices and ratings replaced by plain text.

    Args:
        html: the page.
        share: the share of prices and ratings lost (1: all of them).
        salt: the page's identity (its path): which markup goes first is stable per page.

    Returns:
        The decayed page (``html`` itself when ``share`` is 0).
    """
    if share <= 0:
        return html
    counter = iter(range(1_000_000))

    def price(m: re.Match[str]) -> str:
        return "Price on request" if _drop(salt, next(counter), share) else m.group(0)

    def rating(m: re.Match[str]) -> str:
        return "rated by customers" if _drop(salt, next(counter), share) else m.group(0)

    return _RATING.sub(rating, _PRICE.sub(price, html))


__all__ = ["DECAY", "DEGRADE", "Degradation", "Ramp", "decay_html"]


class SwitchAfterDecisions:
    """A fetch router wrapper that switches a fault on part-way through a crawl: after ``n``
    routing decisions about URLs under ``prefix`` it calls ``switch()`` once (e.g. a demo site
    starts refusing plain-HTTP clients), then keeps delegating to ``router``.

    Attributes:
        onset: ``time.monotonic()`` when the fault was switched on, or None.
    """

    def __init__(self, router: Any, prefix: str, n: int, switch: Callable[[], None]) -> None:
        self.router, self.prefix, self.n, self.switch = router, prefix, n, switch
        self.escalate = router.escalate
        self.retry_failed_route = router.retry_failed_route
        self.seen = 0
        self.onset: float | None = None

    def choose(self, url: str) -> tuple[str, str]:
        """The wrapped router's choice; the ``n + 1``-th decision under ``prefix`` first
        switches the fault on."""
        if url.startswith(self.prefix):
            self.seen += 1
            if self.seen == self.n + 1:
                self.switch()
                self.onset = time.monotonic()
        return self.router.choose(url)

    def observe(self, url: str, *, needs_javascript: bool) -> None:
        """Delegated."""
        self.router.observe(url, needs_javascript=needs_javascript)

    def record(self, url: str, route: str, *, ok: bool) -> None:
        """Delegated."""
        self.router.record(url, route, ok=ok)
