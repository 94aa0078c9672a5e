"""Fault injection: which step of which run suffers which fault, and the faults themselves.

The decision is a pure function of ``(seed, run_id, step)``: a re-execution (a new run id)
draws again, as a real transient fault would, and a test can predict every draw. The faults
are real, not simulated exceptions: an HTTP 503 from a demo-world site, a page slower than the
client's timeout, a refused connection, a tool process killed with SIGKILL and the warehouse
file locked by another process. What each one raises is what production code would raise, so
classification and remedies are exercised for real.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from orchestration_project.common.time import utcnow

HTTP_5XX = "http_5xx"
SLOW_PAGE = "slow_page"
CONNECTION_REFUSED = "connection_refused"
KILLED_STEP = "killed_step"
WAREHOUSE_LOCKED = "warehouse_locked"
FAULT_KINDS = (HTTP_5XX, SLOW_PAGE, CONNECTION_REFUSED, KILLED_STEP, WAREHOUSE_LOCKED)

# Degradation scenarios: faults that give warning before they fail (predictive failure
# detection is trained and measured on them). ``degrade`` and ``decay`` are demo-world site
# scenarios (``DemoWorld.degrade`` / ``DemoWorld.decay``); ``lock_growth`` is
# :func:`grow_warehouse_lock`.
DEGRADE = "degrade"
LOCK_GROWTH = "lock_growth"
DECAY = "decay"
DEGRADATION_SCENARIOS = (DEGRADE, LOCK_GROWTH, DECAY)


class ToolProcessKilledError(RuntimeError):
    """A process a step depends on (a tool worker, a browser) was killed by a signal."""


def _unit(seed: int, *parts: str) -> tuple[float, float]:
    h = hashlib.sha256("|".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64, int.from_bytes(h[8:16], "big") / 2**64


def choose_fault(
    seed: int, run_id: str, step: str, rate: float, kinds: Sequence[str] | Mapping[str, float]
) -> str | None:
    """The fault (or None) that step ``step`` of run ``run_id`` suffers.

    Args:
        seed: the plan's seed.
        run_id: the run (a re-execution is a new run and draws again).
        step: the step or injection point.
        rate: probability that this step suffers a fault.
        kinds: the fault kinds, equally likely, or a mapping of kind to weight.

    Returns:
        One of ``kinds`` or None.
    """
    if rate <= 0 or not kinds:
        return None
    u, v = _unit(seed, run_id, step)
    if u >= rate:
        return None
    weights = dict(kinds) if isinstance(kinds, Mapping) else dict.fromkeys(kinds, 1.0)
    total = sum(weights.values())
    acc = 0.0
    for kind, w in weights.items():
        acc += w / total
        if v < acc:
            return kind
    return list(weights)[-1]


@dataclass(frozen=True)
class InjectedFault:
    """One fault that was injected (the soak benchmark's ground truth)."""

    at: str
    run_id: str
    step: str
    kind: str
    job_name: str | None = None


def record_fault(ledger: Path | None, fault: InjectedFault) -> None:
    """Append ``fault`` to the JSON-lines ledger (if one is configured)."""
    if ledger is None:
        return
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with ledger.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(fault)) + "\n")


def read_ledger(ledger: Path) -> list[InjectedFault]:
    """Every fault recorded in ``ledger``."""
    if not ledger.exists():
        return []
    return [InjectedFault(**json.loads(line)) for line in ledger.read_text().splitlines() if line]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_5xx(target_url: str, status: int = 503) -> None:
    """Ask a demo-world site for an HTTP error and raise it as a client would."""
    httpx.get(f"{target_url.rstrip('/')}/__fault/status/{status}", timeout=5.0).raise_for_status()


def slow_page(target_url: str, *, seconds: float, timeout_s: float) -> None:
    """Fetch a page that answers after ``seconds`` with a ``timeout_s`` client timeout."""
    httpx.get(
        f"{target_url.rstrip('/')}/__fault/slow", params={"seconds": seconds}, timeout=timeout_s
    )


def connection_refused() -> None:
    """Connect to a loopback port where nothing listens (a site that is down)."""
    httpx.get(f"http://127.0.0.1:{_closed_port()}/", timeout=2.0)


def killed_tool_process() -> None:
    """Start a worker process for the step, which is then killed with SIGKILL (as the kernel's
    out-of-memory killer does), and raise what the step sees."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.kill(proc.pid, signal.SIGKILL)
    code = proc.wait(timeout=10)
    raise ToolProcessKilledError(
        f"tool worker process {proc.pid} exited with code {code}: killed by signal 9 (SIGKILL)"
    )


def lock_warehouse(path: str, *, hold_s: float) -> subprocess.Popen[bytes]:
    """Another process opens the DuckDB file read-write and holds its lock for ``hold_s``.

    Returns once the lock is held; the holder exits by itself.
    """
    code = (
        "import duckdb, sys, time\n"
        f"c = duckdb.connect({path!r})\n"
        "sys.stdout.write('locked\\n'); sys.stdout.flush()\n"
        f"time.sleep({hold_s!r})\n"
    )
    return _start_lock_holder([sys.executable, "-c", code])


def _start_lock_holder(argv: list[str]) -> subprocess.Popen[bytes]:
    """Start a process that takes the warehouse lock and says ``locked``; return once it has."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30.0)
    line = proc.stdout.readline() if ready else b""
    if line.strip() != b"locked":
        proc.kill()
        proc.wait()
        raise RuntimeError("the warehouse lock holder did not take the lock within 30 s")
    return proc


_LOCK_GROWTH_SCRIPT = """
import duckdb, sys, time
path, ramp_s, first, last, gap, final = sys.argv[1], *map(float, sys.argv[2:7])
start = time.monotonic()
announced = False
while True:
    elapsed = time.monotonic() - start
    frac = min(1.0, elapsed / ramp_s) if ramp_s > 0 else 1.0
    hold = final if frac >= 1.0 else first + (last - first) * frac
    try:
        conn = duckdb.connect(path)
    except duckdb.IOException:  # a writer holds it right now: try again at once
        time.sleep(0.02)
        continue
    if not announced:
        sys.stdout.write("locked\\n"); sys.stdout.flush(); announced = True
    time.sleep(hold)
    conn.close()
    if frac >= 1.0:
        break
    time.sleep(gap)
"""


def grow_warehouse_lock(
    path: str,
    *,
    ramp_s: float,
    first_hold_s: float = 0.2,
    last_hold_s: float = 2.5,
    gap_s: float = 1.0,
    final_hold_s: float = 30.0,
) -> subprocess.Popen[bytes]:
    """Scenario ``lock_growth``: another process takes the DuckDB file's write lock again and
    again, holding it longer each time, so writers wait longer and longer and finally time out.

    Over ``ramp_s`` seconds the holds grow linearly from ``first_hold_s`` to ``last_hold_s``
    (``gap_s`` apart); then one last hold of ``final_hold_s`` outlasts any writer's lock
    timeout, and the holder exits. Returns once the first hold began; stop it early with
    ``proc.terminate()`` (its pid only).
    """
    args = [str(x) for x in (ramp_s, first_hold_s, last_hold_s, gap_s, final_hold_s)]
    return _start_lock_holder([sys.executable, "-c", _LOCK_GROWTH_SCRIPT, path, *args])


def now_iso() -> str:
    """The current UTC time in ISO format."""
    return utcnow().isoformat()
