"""Retrying HTTP calls: bounded attempts, exponential back-off with jitter, ``Retry-After`` honoured.

Shared by the alert sinks (:mod:`resources.alerting`) and the OpenAI-compatible language engine
(:mod:`resources.language.openai_compatible`), built on ``tenacity``:

* :class:`Retryable` — the exception a caller's response check raises for a temporary failure
  (rate limit, server error); time-outs and dropped connections become one automatically.
* :func:`is_retryable_status` — ``status in statuses or status >= 500``; each caller passes its
  own set of retryable 4xx statuses.
* :func:`retry_after_seconds` — the server's requested wait from the response headers.
* :class:`RetryPolicy` — how many attempts, and how long between them: the server's
  ``Retry-After`` (capped) when it sent one, else exponential back-off with jitter.
* :func:`post_json_with_retries` — ``POST`` a JSON body until the caller's check accepts the
  answer, a permanent error propagates, or attempts run out (the last :class:`Retryable` is then
  raised for the caller to turn into its own error).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from orchestration_project.common.time import aware, utcnow
from orchestration_project.common.tls import shared_tls_context

__all__ = [
    "RetryPolicy",
    "Retryable",
    "is_retryable_status",
    "post_json_with_retries",
    "retry_after_seconds",
]

T = TypeVar("T")


class Retryable(Exception):
    """A failure worth another attempt; ``retry_after`` is the server's requested wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def is_retryable_status(status: int, statuses: Collection[int]) -> bool:
    """Whether an HTTP status is worth another attempt: one of ``statuses``, or any 5xx."""
    return status in statuses or status >= 500


def retry_after_seconds(headers: httpx.Headers, *, seconds_only: bool = False) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    Args:
        headers: The response headers.
        seconds_only: Read only ``Retry-After`` given in seconds (Slack's form): no
            ``retry-after-ms``, no HTTP date.

    Returns:
        The wait in seconds (never negative), or None when the headers ask for none.
    """
    if seconds_only:
        value = headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value else None
        except ValueError:
            return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (aware(when) - utcnow()).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try and how long to wait in between.

    Attributes:
        attempts: Attempts in all, the first included.
        backoff_s: First back-off delay (doubles each retry, plus up to as much jitter).
        max_backoff_s: Longest back-off delay.
        max_retry_after_s: Longest wait honoured from a ``Retry-After`` header.
    """

    attempts: int
    backoff_s: float
    max_backoff_s: float
    max_retry_after_s: float

    def wait(self, state: RetryCallState) -> float:
        """The server's Retry-After (capped) if given, else exponential back-off with jitter."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.max_retry_after_s)
        backoff = wait_exponential_jitter(
            initial=self.backoff_s, max=self.max_backoff_s, jitter=self.backoff_s
        )
        return backoff(state)

    def retrying(self) -> Retrying:
        """A tenacity ``Retrying`` that retries :class:`Retryable` only and re-raises the last."""
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self.wait,
            retry=retry_if_exception_type(Retryable),
            reraise=True,
        )


def post_json_with_retries(
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    check: Callable[[httpx.Response], T],
    policy: RetryPolicy,
    timeout_s: float,
    on_attempt: Callable[[], None] | None = None,
    error_detail: bool = True,
) -> T:
    """POST ``body`` as JSON until ``check`` accepts the answer or attempts run out.

    Args:
        url: The endpoint.
        body: The JSON body.
        headers: Request headers.
        check: Raises :class:`Retryable` for a temporary failure, the caller's own error for a
            permanent one, or returns the parsed result.
        policy: Attempts and waits.
        timeout_s: Per-request time-out.
        on_attempt: Called before each attempt (e.g. to count them).
        error_detail: Include the transport exception's message in a connection failure (off
            where it might carry something that must not be shown).

    Returns:
        What ``check`` returned.

    Raises:
        Retryable: The last temporary failure, once attempts ran out.
    """

    def attempt(client: httpx.Client) -> T:
        if on_attempt is not None:
            on_attempt()
        try:
            resp = client.post(url, json=body, headers=headers)
        except httpx.TimeoutException:
            raise Retryable(f"timed out after {timeout_s:g} s") from None
        except httpx.TransportError as exc:
            detail = f"{type(exc).__name__}: {exc}" if error_detail else type(exc).__name__
            raise Retryable(f"connection failed ({detail})") from None
        return check(resp)

    with httpx.Client(timeout=timeout_s, verify=shared_tls_context()) as client:
        return policy.retrying()(attempt, client)
