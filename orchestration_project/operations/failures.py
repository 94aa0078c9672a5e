"""Failure classification: from an error's class and message to what should be done about it.

Classes: ``transient_network`` (connection resets, DNS hiccups, 5xx, rate limits),
``timeout``, ``resource_exhaustion`` (memory, disk, too many files, database/file locks),
``bad_input`` (validation, parse and schema errors on incoming records), ``upstream_data``
(missing or empty upstream data, failed blocking checks), ``code_error`` (everything that is
a bug: TypeError, KeyError, AttributeError, …). The first matching rule wins; rules look at the
exception class first and the message second, so they work on Dagster's serialised errors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TRANSIENT = "transient_network"
TIMEOUT = "timeout"
RESOURCE = "resource_exhaustion"
BAD_INPUT = "bad_input"
UPSTREAM = "upstream_data"
CODE = "code_error"
CLASSES = (TRANSIENT, TIMEOUT, RESOURCE, BAD_INPUT, UPSTREAM, CODE)

# (class, exception-class pattern, message pattern); either pattern may be None.
_RULES: list[tuple[str, str | None, str | None]] = [
    (TIMEOUT, r"Timeout|TimedOut|DeadlineExceeded", r"\btimed? ?out\b|deadline exceeded"),
    (
        RESOURCE,
        # ChildProcessCrash: Dagster's multiprocess executor lost the step's process (killed,
        # most often by the out-of-memory killer); RunWorkerLost: the run's worker vanished.
        r"MemoryError|OutOfMemory|DiskFull|WarehouseLocked|ChildProcessCrash|RunWorkerLost|"
        r"ProcessKilled",
        r"out of memory|no space left|too many open files|cannot allocate|database is locked|"
        r"could not set lock|resource temporarily unavailable|killed by signal 9|\boom\b",
    ),
    (
        TRANSIENT,
        r"ConnectionError|ConnectionReset|ConnectionRefused|ConnectError|RemoteDisconnected|"
        r"BrokenPipe|NetworkError|ProtocolError|TemporaryFailure|ServiceUnavailable",
        r"connection (reset|refused|aborted)|temporary failure in name resolution|"
        r"\b(500|502|503|504)\b|internal server error|bad gateway|service unavailable|"
        r"rate limit|\b429\b|try again",
    ),
    (
        UPSTREAM,
        r"UpstreamDataError|DagsterAssetCheckFailedError|EmptyDataError",
        r"upstream|no rows|empty (input|table|frame)|missing (input|partition)|check .* failed|"
        r"blocking check",
    ),
    (
        BAD_INPUT,
        r"ValidationError|JSONDecodeError|ParserError|UnicodeDecodeError|"
        r"SchemaError|BadInput|ValueError",
        r"invalid|malformed|could not parse|cannot parse|unexpected token|schema",
    ),
    (
        CODE,
        r"TypeError|KeyError|AttributeError|NameError|IndexError|AssertionError|"
        r"NotImplementedError|ZeroDivisionError|ImportError|ModuleNotFoundError",
        None,
    ),
]


@dataclass(frozen=True)
class Classification:
    """A failure class, with the rule that decided it."""

    failure_class: str
    reason: str
    retryable: bool


def classify_failure(error_class: str | None, message: str | None) -> Classification:
    """Classify one failure from its exception class name and message."""
    cls = error_class or ""
    msg = (message or "").lower()
    for name, cls_pat, _msg_pat in _RULES:
        if cls_pat and re.search(cls_pat, cls):
            return Classification(name, f"exception class {cls}", name in (TRANSIENT, TIMEOUT))
    for name, _cls_pat, msg_pat in _RULES:
        if msg_pat and re.search(msg_pat, msg):
            return Classification(
                name, f"message matches {msg_pat.split('|')[0]!r}", name in (TRANSIENT, TIMEOUT)
            )
    return Classification(CODE, "no rule matched: treated as a bug", False)


# Wrappers whose cause says what really happened: Dagster's own error classes, and the retry a
# step's RetryPolicy raised ("Exceeded max_retries") around the step's last error.
_WRAPPERS = ("Dagster", "RetryRequested")


def root_error(err: Any) -> Any:
    """The error that says what happened, below Dagster's wrappers (a ``SerializableErrorInfo``
    or None): a step that exhausted its ``RetryPolicy`` fails with ``RetryRequestedFromPolicy``
    whose cause is the step's own last error."""
    while (
        err is not None
        and getattr(err, "cause", None) is not None
        and (getattr(err, "cls_name", None) or "").startswith(_WRAPPERS)
    ):
        err = err.cause
    return err
