"""Fault injection as a resource: off by default, switched on by configuration.

Steps call :meth:`FaultInjection.inject` at their start. With ``step_fault_rate`` above zero a
seeded draw per (run, step, retry attempt) decides whether the step suffers one of the configured faults (see
``orchestration_project/operations/faults.py``). Locally the rate comes from ``FAULT_STEP_RATE`` (default
0); the soak benchmark sets it to 5%. Production never sets it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration_project.operations import faults as f


class FaultInjection(dg.ConfigurableResource):
    """Injects real faults into steps (HTTP 5xx, slow pages, refused connections, a killed
    tool process, a locked warehouse) at a configured rate, recording each in a ledger."""

    step_fault_rate: float = Field(default=0.0, description="Probability a step suffers a fault.")
    kinds: list[str] = Field(
        default=list(f.FAULT_KINDS), description=f"Fault kinds to draw from: {f.FAULT_KINDS}."
    )
    seed: int = Field(default=0, description="Seed of the per-(run, step) draws.")
    target_url: str = Field(
        default="", description="A site answering /__fault/* (a demo-world site) for HTTP faults."
    )
    slow_seconds: float = Field(default=3.0, description="How long the slow page takes.")
    timeout_s: float = Field(default=1.0, description="Client timeout against the slow page.")
    warehouse_path: str = Field(default="", description="DuckDB file to lock (warehouse_locked).")
    lock_hold_s: float = Field(default=3.0, description="How long the other writer holds it.")
    ledger_path: str = Field(default="", description="JSON-lines ledger of injected faults.")

    def choose(self, run_id: str, step: str) -> str | None:
        """The fault step ``step`` of ``run_id`` suffers (None: no fault)."""
        kinds = [k for k in self.kinds if self._possible(k)]
        return f.choose_fault(self.seed, run_id, step, self.step_fault_rate, kinds)

    def _possible(self, kind: str) -> bool:
        if kind in (f.HTTP_5XX, f.SLOW_PAGE):
            return bool(self.target_url)
        if kind == f.WAREHOUSE_LOCKED:
            return bool(self.warehouse_path)
        return kind in f.FAULT_KINDS

    def inject(self, context: Any, step: str) -> str | None:
        """Inject this step's fault, if it draws one; returns the kind injected.

        HTTP, timeout, connection and killed-process faults raise here, as the step's own
        work would have; ``warehouse_locked`` returns after another process took the lock, so
        the step fails when it writes.
        """
        run_id = context.run.run_id
        # A step retried by its RetryPolicy draws again for each attempt (the first attempt's
        # draw is the plain (run, step) one).
        attempt = int(getattr(context, "retry_number", 0) or 0)
        kind = self.choose(run_id, step if attempt == 0 else f"{step}#retry{attempt}")
        if kind is None:
            return None
        job = getattr(context.run, "job_name", None)
        f.record_fault(
            Path(self.ledger_path) if self.ledger_path else None,
            f.InjectedFault(at=f.now_iso(), run_id=run_id, step=step, kind=kind, job_name=job),
        )
        context.log.warning(f"fault injection: {kind} in step {step}")
        if kind == f.HTTP_5XX:
            f.http_5xx(self.target_url)
        elif kind == f.SLOW_PAGE:
            f.slow_page(self.target_url, seconds=self.slow_seconds, timeout_s=self.timeout_s)
        elif kind == f.CONNECTION_REFUSED:
            f.connection_refused()
        elif kind == f.KILLED_STEP:
            f.killed_tool_process()
        elif kind == f.WAREHOUSE_LOCKED:
            f.lock_warehouse(self.warehouse_path, hold_s=self.lock_hold_s)
        return kind
