"""Failure classification from error class and message."""

from __future__ import annotations

import pytest

from orchestration_project.operations.failures import classify_failure


@pytest.mark.parametrize(
    ("cls", "message", "expected", "retryable"),
    [
        ("ConnectionResetError", "upstream closed the connection", "transient_network", True),
        ("HTTPStatusError", "Server error '503 Service Unavailable'", "transient_network", True),
        (
            "ConnectError",
            "[Errno -3] Temporary failure in name resolution",
            "transient_network",
            True,
        ),
        ("TimeoutError", "", "timeout", True),
        ("ReadTimeout", "The read operation timed out", "timeout", True),
        ("PlaywrightError", "page.goto: Timeout 10000ms exceeded", "timeout", True),
        ("MemoryError", "", "resource_exhaustion", False),
        ("OSError", "[Errno 28] No space left on device", "resource_exhaustion", False),
        ("WarehouseLockedError", "stayed locked by another process", "resource_exhaustion", False),
        ("IOException", "IO Error: Could not set lock on file", "resource_exhaustion", False),
        ("JSONDecodeError", "Expecting value: line 1 column 1", "bad_input", False),
        ("ValidationError", "1 validation error for Customer", "bad_input", False),
        ("DagsterAssetCheckFailedError", "blocking check failed", "upstream_data", False),
        ("RuntimeError", "upstream table page_snapshots has no rows", "upstream_data", False),
        ("KeyError", "'price'", "code_error", False),
        ("TypeError", "'str' object is not callable", "code_error", False),
        ("SomethingOdd", "who knows", "code_error", False),
        (None, None, "code_error", False),
    ],
)
def test_failures_are_classified(cls, message, expected, retryable) -> None:  # noqa: ANN001
    c = classify_failure(cls, message)
    assert (c.failure_class, c.retryable) == (expected, retryable), c.reason
    assert c.reason
