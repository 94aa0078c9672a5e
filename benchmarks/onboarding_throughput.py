"""Onboarding throughput through the real browser: customers per minute, by browser concurrency.

What it measures. ``--customers`` valid sample customers (``sample_customers``) are onboarded
by :class:`resources.form_filling.BrowserFormFiller` into the demo CRM, in real Chromium
(Debian's), filling the five-step wizard by label and role from
``customer_onboarding/mappings/demo_crm.yaml``, behind the URL policy, with the lookup API
checked before each customer. The CRM runs in its own process (``python -m
orchestration_project.demo_world.crm``), as a real CRM would: its CPU is not the filler's.

For each number of browser contexts (``--contexts``, default 1 2 4 6) the batch runs
``--runs`` times (a new seed each run, so every run creates new accounts); the figure is the
median of customers per minute over the batch's wall time (Chromium start, one sign-in per
context and every customer included), with the ratio to one context. Two passes: no faults,
then ``--error-rate`` (default 0.05) of the CRM's form posts answered 503 (retried). After each
run the CRM's own database is checked: one account per customer, none twice.

With ``--profile`` (default on) the CPU time of every process (Chromium's browser, renderer and
GPU processes, Playwright's driver, this Python process, the CRM) is sampled from ``/proc``
during one run per context count, per customer: what limits throughput on a small machine.

    uv run python benchmarks/onboarding_throughput.py [--customers 200] [--runs 3]
        [--contexts 1 2 4 6] [--error-rate 0.05] [--no-profile]

Progress goes to stderr, the table to stdout. The machine's load average is printed with each
pass: another process using the CPU lowers every figure.
"""

from __future__ import annotations

import argparse
import collections
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestration_project.customer_onboarding.mapping import load_mapping  # noqa: E402
from orchestration_project.customer_onboarding.samples import sample_customers  # noqa: E402
from resources.form_filling import BrowserFormFiller  # noqa: E402
from tests.conftest import free_base_port, wait_for_http  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def progress(msg: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(msg, file=sys.stderr, flush=True)


class CrmProcess:
    """The demo CRM served by its own process on a free loopback port."""

    def __init__(self, folder: Path, *, error_rate: float, seed: int) -> None:
        self.port = free_base_port(1)
        self.token = secrets.token_urlsafe(16)
        self.db = folder / f"crm-{self.port}.sqlite"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orchestration_project.demo_world.crm"]
            + ["--port", str(self.port), "--db", str(self.db), "--api-token", self.token]
            + ["--error-rate", str(error_rate), "--seed", str(seed)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for_http(self.url + "/api/health", self.proc, timeout_s=60, what="the CRM")

    def accounts(self, prefix: str) -> tuple[int, int]:
        """(accounts, distinct external references) whose reference starts with ``prefix``."""
        with sqlite3.connect(self.db) as db:
            row = db.execute(
                "SELECT COUNT(*), COUNT(DISTINCT external_ref) FROM accounts "
                "WHERE external_ref LIKE ?",
                (prefix + "%",),
            ).fetchone()
        return int(row[0]), int(row[1])

    def stop(self) -> None:
        """Stop the CRM (its PID only)."""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def _kind(cmd: list[str]) -> str:
    text = " ".join(cmd)
    if "chromium" in text or "chrome" in text:
        types = [a[len("--type=") :] for a in cmd if a.startswith("--type=")]
        return f"chromium {types[0]}" if types else "chromium browser"
    if "driver/node" in text or "run-driver" in text:
        return "playwright driver"
    if "demo_world.crm" in text:
        return "CRM server"
    return "python (filler, proxy)"


class CpuSampler(threading.Thread):
    """CPU seconds of this process and its descendants, by kind, sampled from ``/proc``."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.cpu: dict[int, float] = {}
        self.kinds: dict[int, str] = {}
        self.start_cpu: dict[int, float] = {}  # processes already running at the first sample
        self._halt = threading.Event()

    def _tree(self) -> dict[int, tuple[float, list[str]]]:
        children: dict[int, list[int]] = collections.defaultdict(list)
        info: dict[int, tuple[float, list[str]]] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as fh:
                    stat = fh.read()
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").split()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            children[int(fields[1])].append(int(name))
            info[int(name)] = ((int(fields[11]) + int(fields[12])) / TICK, cmd)
        out, todo = {}, [os.getpid()]
        while todo:
            pid = todo.pop()
            if pid in info:
                out[pid] = info[pid]
            todo += children.get(pid, [])
        return out

    def sample(self) -> None:
        """Record every process's CPU time so far."""
        first = not self.cpu
        for pid, (cpu, cmd) in self._tree().items():
            if first:
                self.start_cpu[pid] = cpu
            self.cpu[pid] = max(cpu, self.cpu.get(pid, 0.0))
            self.kinds[pid] = _kind(cmd)

    def run(self) -> None:
        """Sample every 0.2 s until stopped."""
        while not self._halt.wait(0.2):
            self.sample()

    def finish(self) -> dict[str, float]:
        """Stop; CPU seconds used since the first sample, by kind of process."""
        self._halt.set()
        self.join(5)
        self.sample()
        by_kind: collections.Counter[str] = collections.Counter()
        for pid, cpu in self.cpu.items():
            by_kind[self.kinds[pid]] += cpu - self.start_cpu.get(pid, 0.0)
        return dict(by_kind)


def one_run(
    crm: CrmProcess,
    contexts: int,
    n: int,
    seed: int,
    folder: Path,
    mapping: Any,
    *,
    profile: bool,
) -> dict[str, Any]:
    """Onboard ``n`` new customers with ``contexts`` contexts; returns the measurements."""
    prefix = f"B{seed}"
    records = sample_customers(n, seed, contract_dir=folder / prefix, prefix=prefix)
    filler = BrowserFormFiller(
        crm_url=crm.url,
        username="admin",
        password="ledgerly-demo",
        api_token=crm.token,
        allowed_domains=[f"127.0.0.1:{crm.port}"],
        allow_private_hosts=["127.0.0.1"],
        contexts=contexts,
        max_attempts=6,
    )
    sampler = CpuSampler() if profile else None
    if sampler is not None:
        sampler.sample()
        sampler.start()
    started = time.perf_counter()
    results = filler.onboard(records, mapping)
    wall = time.perf_counter() - started
    cpu = sampler.finish() if sampler else {}
    statuses = collections.Counter(r.status for r in results)
    accounts, distinct = crm.accounts(prefix)
    return {
        "wall": wall,
        "per_min": n / wall * 60,
        "statuses": dict(statuses),
        "attempts": sum(r.attempts for r in results),
        "accounts": accounts,
        "duplicates": accounts - distinct,
        "median_customer_s": statistics.median(r.duration_s for r in results),
        "cpu": cpu,
    }


def run_pass(
    name: str, error_rate: float, args: argparse.Namespace, folder: Path, mapping: Any
) -> None:
    """One pass (faults fixed) over every context count; prints its table."""
    crm = CrmProcess(folder, error_rate=error_rate, seed=7)
    load = os.getloadavg()
    table: dict[int, list[dict[str, Any]]] = {}
    seed = int(error_rate * 1000) * 1000
    try:
        for contexts in args.contexts:
            table[contexts] = []
            for run in range(args.runs):
                seed += 1
                progress(f"  [{name}] {contexts} context(s), run {run + 1}/{args.runs} ...")
                m = one_run(
                    crm,
                    contexts,
                    args.customers,
                    seed,
                    folder,
                    mapping,
                    profile=args.profile and run == 0,
                )
                progress(
                    f"    {m['per_min']:.0f}/min in {m['wall']:.1f} s, {m['statuses']}, "
                    f"{m['attempts']} attempts, {m['accounts']} accounts, "
                    f"{m['duplicates']} duplicates"
                )
                table[contexts].append(m)
    finally:
        crm.stop()
    print(
        f"\n{name}: {args.customers} customers per run, median of {args.runs} runs "
        f"(load average before the pass {load[0]:.2f}, {os.cpu_count()} CPUs)"
    )
    print(
        f"  {'contexts':>8} {'cust/min':>9} {'vs 1':>6} {'runs (cust/min)':>24} "
        f"{'s/customer':>10} {'attempts':>9}  outcome (all runs)"
    )
    base = None
    for contexts, runs in table.items():
        rate = statistics.median(r["per_min"] for r in runs)
        base = base or (rate if contexts == 1 else None)
        ratio = f"{rate / base:5.2f}x" if base else "   -  "
        outcome: collections.Counter[str] = collections.Counter()
        for r in runs:
            outcome.update(r["statuses"])
        dupes = sum(r["duplicates"] for r in runs)
        made = sum(r["accounts"] for r in runs)
        each = ", ".join(f"{r['per_min']:.0f}" for r in runs)
        print(
            f"  {contexts:>8} {rate:>9.1f} {ratio:>6} {each:>24} "
            f"{statistics.median(r['median_customer_s'] for r in runs):>10.2f} "
            f"{statistics.median(r['attempts'] for r in runs):>9.0f}  "
            f"{dict(outcome)}; CRM accounts {made}, duplicates {dupes}"
        )
    if args.profile:
        print("  CPU per customer (ms), first run of each context count, sampled from /proc:")
        for contexts, runs in table.items():
            cpu = runs[0]["cpu"]
            total = sum(cpu.values())
            parts = ", ".join(
                f"{k} {v / args.customers * 1000:.0f}"
                for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])
                if v / args.customers >= 0.005
            )
            print(
                f"    {contexts} context(s): {total / args.customers * 1000:.0f} ms in all "
                f"({parts}); that is {total / runs[0]['wall']:.2f} CPUs busy"
            )


def main() -> None:
    """Parse arguments and run the passes."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--contexts", type=int, nargs="+", default=[1, 2, 4, 6])
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    args = parser.parse_args()
    mapping = load_mapping("demo_crm")
    print(
        "Onboarding throughput through the real browser (Chromium via Playwright, the demo "
        "CRM in its own process, demo_crm.yaml, batched fill by label and role, every request "
        "behind the URL policy proxy)"
    )
    with tempfile.TemporaryDirectory(prefix="onboarding-bench-") as tmp:
        folder = Path(tmp)
        run_pass("no faults", 0.0, args, folder, mapping)
        if args.error_rate > 0:
            run_pass(
                f"error_rate {args.error_rate:g} (503 on form posts, retried)",
                args.error_rate,
                args,
                folder,
                mapping,
            )


if __name__ == "__main__":
    main()
