"""Alert delivery: sinks that carry :class:`~orchestration_project.operations.alerting.Notification`s to
people and machines, and the Dagster resource that configures them.

* :class:`LogSink` — always on: one log line per notification, at a level by severity.
* :class:`FileSink` — JSON lines, one per notification, append-only (an audit trail).
* :class:`WebhookSink` — ``POST`` of the notification as JSON; retries server errors, 429s,
  time-outs and dropped connections with exponential back-off and jitter, then reports failure.
* :class:`SlackSink` — Slack Web API ``chat.postMessage`` with a bot token: readable text plus
  Block Kit blocks by severity; handles ``{"ok": false, "error": ...}`` answers and HTTP 429
  with ``Retry-After``.

Why our own Slack code rather than ``slack_sdk``: its ``WebClient`` retries only dropped
connections by default (429 with ``Retry-After`` needs an opt-in handler, with no cap on the wait,
and ``ok: false`` errors such as ``internal_error`` are never retried), and it uses its own
urllib transport. ``SlackSink`` is one ``chat.postMessage`` call on the shared
:mod:`resources.retry` policy (capped ``Retry-After``, jitter, the same rules as
:class:`WebhookSink`), redacts the token from every error, and is tested against a loopback
server speaking the Web API.

:class:`AlertingResource` builds the sinks from configuration (Slack only when a token is set)
and delivers every notification to every sink: one failing sink never stops the others, and
each attempt comes back as a :class:`DeliveryResult`.

Wiring in an asset (the manager's store makes deduplication work across runs)::

    manager = alerting.manager(WarehouseAlertStore(warehouse))
    alerts = evaluate_rules(
        default_rules(), events=events, health=health, now=now,
        since=manager.last_evaluated_at(),
    )
    results = alerting.deliver(manager.process(alerts, now=now), logger=context.log)
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
from pydantic import Field

from orchestration_project.operations.alerting import AlertManager, AlertStore, Notification
from resources.retry import (
    Retryable,
    RetryPolicy,
    is_retryable_status,
    post_json_with_retries,
    retry_after_seconds,
)

__all__ = [
    "AlertSink",
    "AlertingResource",
    "DeliveryError",
    "DeliveryResult",
    "FileSink",
    "LogSink",
    "SlackSink",
    "WebhookSink",
    "slack_message",
]

_LOG_LEVEL = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}
_SLACK_EMOJI = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}
_RETRY_STATUSES = {408, 425, 429}


class DeliveryError(RuntimeError):
    """A sink could not deliver a notification (after any retries)."""


@dataclass(frozen=True)
class DeliveryResult:
    """The outcome of sending one notification to one sink.

    Attributes:
        sink: The sink's name (``log``, ``file``, ``webhook``, ``slack``).
        ok: Whether it was delivered.
        error: Why not, when it was not.
        subject_kind: The notification's subject kind.
        subject: The notification's subject.
    """

    sink: str
    ok: bool
    error: str | None
    subject_kind: str
    subject: str


class AlertSink(ABC):
    """Somewhere notifications go. ``send`` raises :class:`DeliveryError` when it fails."""

    name: str = "sink"

    @abstractmethod
    def send(self, notification: Notification) -> None:
        """Deliver one notification or raise :class:`DeliveryError`."""


class LogSink(AlertSink):
    """Notifications as log lines: ``info`` at INFO, ``warning`` at WARNING, ``critical`` at
    ERROR.

    Args:
        logger: A ``logging.Logger`` or anything with a ``log(level, msg)`` method (a Dagster
            ``context.log``); default the ``orchestration_project.alerts`` logger.
    """

    name = "log"

    def __init__(self, logger: Any | None = None) -> None:
        """Use ``logger`` (or the module's default)."""
        self.logger = logger or logging.getLogger("orchestration_project.alerts")

    def send(self, notification: Notification) -> None:
        """Log the notification's text."""
        self.logger.log(_LOG_LEVEL[notification.severity], notification.text())


class FileSink(AlertSink):
    """Notifications as JSON lines appended to a file (created with its folder if needed).

    Each line is written with one ``write`` on a file opened in append mode, so lines from
    several threads of one process never interleave.

    Args:
        path: The file.
    """

    name = "file"
    _lock = threading.Lock()

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Append to ``path``."""
        self.path = Path(path)

    def send(self, notification: Notification) -> None:
        """Append one JSON line."""
        line = json.dumps(notification.to_dict(), ensure_ascii=False, default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as exc:
            raise DeliveryError(f"cannot append to {self.path}: {exc}") from exc


class _HttpSink(AlertSink):
    """Shared transport: JSON ``POST`` with bounded retries (:mod:`resources.retry`)."""

    def __init__(
        self,
        *,
        timeout_s: float,
        max_attempts: int,
        backoff_s: float,
        max_backoff_s: float,
        max_retry_after_s: float,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.attempts = 0  # attempts made by the latest send (for tests and metrics)

    def _redact(self, text: str) -> str:
        """``text`` without secrets (overridden by sinks that hold one)."""
        return text

    def _post(
        self,
        url: str,
        body: dict[str, Any],
        headers: dict[str, str],
        check: Callable[[httpx.Response], Any],
    ) -> Any:
        """POST ``body`` as JSON until ``check`` accepts the answer or attempts run out.

        ``check`` raises :class:`~resources.retry.Retryable` for a temporary failure,
        :class:`DeliveryError` for a permanent one, or returns the parsed result.
        """
        self.attempts = 0

        def count() -> None:
            self.attempts += 1

        policy = RetryPolicy(
            attempts=self.max_attempts,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            max_retry_after_s=self.max_retry_after_s,
        )
        try:
            return post_json_with_retries(
                url,
                body,
                headers,
                check=check,
                policy=policy,
                timeout_s=self.timeout_s,
                on_attempt=count,
            )
        except Retryable as exc:
            raise DeliveryError(
                self._redact(f"{self.name}: gave up after {self.attempts} attempts (last: {exc})")
            ) from None


class WebhookSink(_HttpSink):
    """``POST`` each notification as JSON (:meth:`Notification.to_dict`) to a URL.

    Any 2xx is success. 5xx, 408/425/429, time-outs and connection errors are retried with
    exponential back-off and jitter (429's ``Retry-After`` honoured) up to ``max_attempts``;
    other 4xx fail at once.

    Args:
        url: The endpoint.
        timeout_s: Per-request time-out.
        max_attempts: Attempts in all, the first included.
        backoff_s: First back-off delay (doubles each retry, plus up to as much jitter).
        max_backoff_s: Longest back-off delay.
        headers: Extra request headers (e.g. a shared-secret header).
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        *,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        max_retry_after_s: float = 30.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Configure the endpoint and retry policy."""
        super().__init__(
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            max_retry_after_s=max_retry_after_s,
        )
        self.url = url
        self.headers = dict(headers or {})

    def _check(self, resp: httpx.Response) -> None:
        status = resp.status_code
        if is_retryable_status(status, _RETRY_STATUSES):
            raise Retryable(f"HTTP {status}", retry_after_seconds(resp.headers, seconds_only=True))
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook {self.url} answered HTTP {status}: {resp.text[:200]}")

    def send(self, notification: Notification) -> None:
        """POST the notification; raise :class:`DeliveryError` when it cannot be delivered."""
        self._post(self.url, notification.to_dict(), self.headers, self._check)


def _slack_escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(
    notification: Notification, channel: str, *, max_alerts: int = 20
) -> dict[str, Any]:
    """The ``chat.postMessage`` body: fallback ``text`` and Block Kit ``blocks``.

    A header with the severity, one section per alert (at most ``max_alerts``; the rest are
    counted), and a context line with the time and the alert ids for marking verdicts.
    """
    n = notification
    emoji = _SLACK_EMOJI[n.severity]
    header = f"{n.severity.upper()}: {n.subject_kind} {n.subject}"[:150]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}
    ]
    for alert in n.alerts[:max_alerts]:
        line = (
            f"{_SLACK_EMOJI[alert.severity]} *{_slack_escape(alert.rule)}* "
            f"({alert.severity}, {alert.kind})\n{_slack_escape(alert.message)}"
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}})
    if len(n.alerts) > max_alerts:
        more = f"…and {len(n.alerts) - max_alerts} more alerts"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": more}})
    ids = ", ".join(n.alert_ids[:max_alerts])
    context = f"{n.at:%Y-%m-%d %H:%M} UTC · alert ids: {ids}"[:3000]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    text = f"{emoji} {_slack_escape(n.title)}\n" + "\n".join(
        f"• {_slack_escape(a.rule)}: {_slack_escape(a.message)}" for a in n.alerts[:max_alerts]
    )
    return {"channel": channel, "text": text[:3900], "blocks": blocks, "unfurl_links": False}


# Slack errors worth another attempt (the rest — channel_not_found, invalid_auth,
# not_in_channel, ... — will not go away by retrying).
_SLACK_RETRY_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}


class SlackSink(_HttpSink):
    """Slack Web API ``chat.postMessage`` with a bot token (scope ``chat:write``).

    Sends ``Authorization: Bearer <token>`` and a JSON body built by :func:`slack_message`.
    HTTP 429 waits for ``Retry-After`` seconds (capped by ``max_retry_after_s``) and retries;
    5xx and connection failures are retried with back-off; an answer ``{"ok": false,
    "error": "..."}`` raises :class:`DeliveryError` naming Slack's error. The token never
    appears in an error message.

    Args:
        token: The bot token (``xoxb-...``); pass ``dg.EnvVar("SLACK_BOT_TOKEN")`` via the
            resource.
        channel: Channel name or id.
        base_url: Web API base URL (a stand-in server in tests).
        timeout_s: Per-request time-out.
        max_attempts: Attempts in all, the first included.
    """

    name = "slack"

    def __init__(
        self,
        token: str,
        channel: str,
        base_url: str = "https://slack.com/api",
        *,
        timeout_s: float = 10.0,
        max_attempts: int = 4,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        max_retry_after_s: float = 60.0,
    ) -> None:
        """Configure the token, channel and retry policy."""
        super().__init__(
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            max_retry_after_s=max_retry_after_s,
        )
        if not token:
            raise ValueError("SlackSink needs a bot token")
        self.token = token
        self.channel = channel
        self.base_url = base_url.rstrip("/")

    def _redact(self, text: str) -> str:
        text = text.replace(self.token, "***")
        return re.sub(r"xox[a-z]-[A-Za-z0-9-]+", "xox?-***", text)

    def _check(self, resp: httpx.Response) -> dict[str, Any]:
        status = resp.status_code
        if is_retryable_status(status, {429}):
            raise Retryable(f"HTTP {status}", retry_after_seconds(resp.headers, seconds_only=True))
        if status != 200:
            raise DeliveryError(self._redact(f"slack answered HTTP {status}: {resp.text[:200]}"))
        try:
            data = resp.json()
        except ValueError:
            raise DeliveryError("slack answered HTTP 200 with invalid JSON") from None
        if not isinstance(data, dict):
            raise DeliveryError("slack's answer is not a JSON object")
        if not data.get("ok"):
            error = str(data.get("error") or "unknown_error")
            if error in _SLACK_RETRY_ERRORS:
                raise Retryable(
                    f"slack error {error}", retry_after_seconds(resp.headers, seconds_only=True)
                )
            raise DeliveryError(
                self._redact(f"slack chat.postMessage to {self.channel} failed: {error}")
            )
        return data

    def send(self, notification: Notification) -> None:
        """Post the notification to the channel."""
        self.post(notification)

    def post(self, notification: Notification) -> dict[str, Any]:
        """Post and return Slack's answer (``ts`` identifies the message)."""
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/json; charset=utf-8",
        }
        return self._post(
            f"{self.base_url}/chat.postMessage",
            slack_message(notification, self.channel),
            headers,
            self._check,
        )


class AlertingResource(dg.ConfigurableResource):
    """Where alert notifications go, and how long a resolved alert stays quiet.

    Log delivery is always on; a file, a webhook and Slack are added when configured. Slack is
    used only when ``slack_token`` is set — give it as ``dg.EnvVar("SLACK_BOT_TOKEN")`` in
    production so the token is read at run time and never shown. :meth:`deliver` sends every
    notification to every sink and reports each outcome; one failing sink never stops the
    others.
    """

    file_path: str | None = Field(
        default=None, description="JSON-lines file that every notification is appended to."
    )
    webhook_url: str | None = Field(
        default=None, description="URL that receives each notification as a JSON POST."
    )
    slack_token: str | None = Field(
        default=None,
        description="Slack bot token (chat:write); pass dg.EnvVar('SLACK_BOT_TOKEN').",
    )
    slack_channel: str = Field(default="#ops-alerts", description="Slack channel name or id.")
    slack_base_url: str = Field(
        default="https://slack.com/api", description="Slack Web API base URL."
    )
    cooldown_minutes: float = Field(
        default=30.0,
        description="A resolved alert that fires again within this many minutes stays silent.",
    )
    timeout_s: float = Field(default=5.0, description="Per-request time-out for HTTP sinks.")
    max_attempts: int = Field(
        default=4, description="Attempts per HTTP delivery, the first included."
    )
    backoff_s: float = Field(
        default=0.5, description="First retry delay for HTTP sinks (doubles, plus jitter)."
    )

    @property
    def cooldown(self) -> timedelta:
        """``cooldown_minutes`` as a timedelta."""
        return timedelta(minutes=self.cooldown_minutes)

    def manager(self, store: AlertStore) -> AlertManager:
        """An :class:`AlertManager` on ``store`` with this resource's cooldown."""
        return AlertManager(store, cooldown=self.cooldown)

    def sinks(self, *, logger: Any | None = None) -> list[AlertSink]:
        """The configured sinks: log always, then file, webhook and Slack when configured.

        Args:
            logger: Logger for the log sink (e.g. ``context.log``).
        """
        out: list[AlertSink] = [LogSink(logger)]
        if self.file_path:
            out.append(FileSink(self.file_path))
        if self.webhook_url:
            out.append(
                WebhookSink(
                    self.webhook_url,
                    self.timeout_s,
                    max_attempts=self.max_attempts,
                    backoff_s=self.backoff_s,
                )
            )
        if self.slack_token:
            out.append(
                SlackSink(
                    self.slack_token,
                    self.slack_channel,
                    self.slack_base_url,
                    timeout_s=self.timeout_s,
                    max_attempts=self.max_attempts,
                    backoff_s=self.backoff_s,
                )
            )
        return out

    def deliver(
        self,
        notifications: Sequence[Notification],
        *,
        logger: Any | None = None,
        sinks: Sequence[AlertSink] | None = None,
    ) -> list[DeliveryResult]:
        """Send every notification to every sink; one result per (notification, sink).

        Args:
            notifications: What :meth:`AlertManager.process` returned.
            logger: Logger for the log sink and for delivery failures.
            sinks: Override the configured sinks (default :meth:`sinks`).
        """
        targets = list(sinks) if sinks is not None else self.sinks(logger=logger)
        log = logger or logging.getLogger("orchestration_project.alerts")
        results = []
        for n in notifications:
            for sink in targets:
                try:
                    sink.send(n)
                except Exception as exc:  # one broken sink must not silence the others
                    error = f"{type(exc).__name__}: {exc}"
                    log.warning(f"alert delivery to {sink.name} failed: {error}")
                    results.append(
                        DeliveryResult(sink.name, False, error, n.subject_kind, n.subject)
                    )
                else:
                    results.append(DeliveryResult(sink.name, True, None, n.subject_kind, n.subject))
        return results
