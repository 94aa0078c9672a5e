"""The Playwright MCP route against direct Playwright: per-call latency and form fills per minute.

What it measures, on the demo CRM served by its own process (``python -m
orchestration_project.demo_world.crm``, as in ``onboarding_throughput.py``):

1. Per-call latency of the same browser action, ``--calls`` times per run: through the MCP
   server's tools (``@playwright/mcp`` from ``node_modules`` over stdio, Debian's Chromium, the
   URL-policy proxy on, as :class:`resources.playwright_mcp.PlaywrightMcp` starts it) with its
   settle wait at 100 ms (``McpFormFiller``'s setting) and at the server's default 500 ms; and
   through Playwright's Python API on a page of the same Chromium (no proxy: Playwright's own
   cost). Actions: ``navigate`` to the sign-in page (``page.goto``), ``snapshot``
   (``browser_snapshot`` against ``locator("body").aria_snapshot()``), ``click`` on the
   Username box (no navigation) and ``type`` into it (``browser_type`` against ``fill``). p50
   and p99 per run; the table shows the median over runs.
2. Customers onboarded per minute by each route: ``BrowserFormFiller`` (direct) and
   ``McpFormFiller`` (MCP), one browser context each, the same ``--customers`` sample customers
   (``sample_customers``) into a fresh CRM per route and run, lookup before each customer,
   wall time including browser (and server) start; CPU seconds per customer of this process
   and all its descendants (Chromium, the Node.js server, Playwright's driver) sampled from
   ``/proc``; and the CRM's own database checked: one account per customer.

    uv run python benchmarks/mcp_vs_playwright.py [--calls 50] [--customers 8] [--runs 3]

Progress goes to stderr, the tables to stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.onboarding_throughput import CpuSampler, CrmProcess, progress  # noqa: E402
from orchestration_project.customer_onboarding.mapping import load_mapping  # noqa: E402
from orchestration_project.customer_onboarding.samples import sample_customers  # noqa: E402
from resources.fetching import find_chromium  # noqa: E402
from resources.form_filling import BrowserFormFiller  # noqa: E402
from resources.mcp_form_filling import McpFormFiller  # noqa: E402
from resources.playwright_mcp import PlaywrightMcp  # noqa: E402

ACTIONS = ("navigate", "snapshot", "click", "type")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _ref(yaml_text: str, line_start: str) -> str:
    line = next(ln for ln in yaml_text.splitlines() if line_start in ln)
    return line.split("[ref=")[1].split("]")[0]


def mcp_latencies(crm: CrmProcess, calls: int, settle_ms: int) -> dict[str, list[float]]:
    """Seconds per call of each action through the MCP server's tools."""
    server = PlaywrightMcp(
        allowed_domains=[f"127.0.0.1:{crm.port}"],
        allow_private_hosts=["127.0.0.1"],
        settle_ms=settle_ms,
    )
    out: dict[str, list[float]] = {a: [] for a in ACTIONS}
    login = crm.url + "/login"
    with server.session() as s:
        tools = s.tools()

        def timed(action: str, tool: str, **args: Any) -> Any:
            t0 = time.perf_counter()
            result = tools[tool].run(**args)
            out[action].append(time.perf_counter() - t0)
            if result.outcome != "ok":
                raise RuntimeError(f"{tool}: {result.outcome} {result.error}")
            return result.value

        tools["browser_navigate"].run(url=login)  # the browser starts on the first call
        for _ in range(calls):
            timed("navigate", "browser_navigate", url=login)
        for _ in range(calls):
            snap = timed("snapshot", "browser_snapshot")
        ref = _ref(snap.snapshot, 'textbox "Username"')
        for i in range(calls):
            timed("click", "browser_click", target=ref, element="Username")
            timed("type", "browser_type", target=ref, text=f"user{i}", element="Username")
    return out


def direct_latencies(crm: CrmProcess, calls: int) -> dict[str, list[float]]:
    """Seconds per call of each action through Playwright's Python API."""
    from playwright.sync_api import sync_playwright

    from resources.fetching import CHROMIUM_ARGS

    out: dict[str, list[float]] = {a: [] for a in ACTIONS}
    login = crm.url + "/login"

    def timed(action: str, fn: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        fn()
        out[action].append(time.perf_counter() - t0)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(login)
        for _ in range(calls):
            timed("navigate", lambda: page.goto(login, wait_until="domcontentloaded"))
        for _ in range(calls):
            timed("snapshot", lambda: page.locator("body").aria_snapshot())
        box = page.get_by_role("textbox", name="Username")
        for i in range(calls):
            timed("click", box.click)
            timed("type", lambda i=i: box.fill(f"user{i}"))
        browser.close()
    return out


def fill_run(route: str, folder: Path, n: int, seed: int, mapping: Any) -> dict[str, Any]:
    """One batch of ``n`` customers by one route into a fresh CRM; returns the measurements."""
    crm = CrmProcess(folder / f"{route}-{seed}", error_rate=0.0, seed=seed)
    try:
        records = sample_customers(n, seed, contract_dir=folder / f"c{seed}", prefix="V")
        settings: dict[str, Any] = {
            "crm_url": crm.url,
            "username": "admin",
            "password": "ledgerly-demo",
            "api_token": crm.token,
            "allowed_domains": [f"127.0.0.1:{crm.port}"],
            "allow_private_hosts": ["127.0.0.1"],
            "contexts": 1,
        }
        filler = BrowserFormFiller(**settings) if route == "direct" else McpFormFiller(**settings)
        sampler = CpuSampler()
        sampler.sample()
        sampler.start()
        t0 = time.perf_counter()
        results = filler.onboard(records, mapping)
        wall = time.perf_counter() - t0
        cpu = sum(v for k, v in sampler.finish().items() if k != "CRM server")
        made, distinct = crm.accounts("V")
    finally:
        crm.stop()
    statuses = [r.status for r in results]
    return {
        "per_min": n / wall * 60,
        "wall": wall,
        "created": statuses.count("created"),
        "accounts": made,
        "duplicates": made - distinct,
        "cpu_ms": cpu / n * 1000,
        "median_customer_s": statistics.median(r.duration_s for r in results),
    }


def main() -> None:
    """Parse arguments, measure, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--customers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    mapping = load_mapping("demo_crm")
    load = os.getloadavg()
    routes = {
        "direct": lambda crm: direct_latencies(crm, args.calls),
        "mcp settle 100": lambda crm: mcp_latencies(crm, args.calls, 100),
        "mcp settle 500": lambda crm: mcp_latencies(crm, args.calls, 500),
    }
    lat: dict[str, dict[str, list[tuple[float, float]]]] = {r: {} for r in routes}
    with tempfile.TemporaryDirectory(prefix="mcp-bench-") as tmp:
        folder = Path(tmp)
        crm = CrmProcess(folder, error_rate=0.0, seed=1)
        try:
            for run in range(args.runs):
                for name, measure in routes.items():
                    progress(f"  latency run {run + 1}/{args.runs}: {name} ...")
                    secs = measure(crm)
                    for action, values in secs.items():
                        lat[name].setdefault(action, []).append(
                            (percentile(values, 0.5), percentile(values, 0.99))
                        )
        finally:
            crm.stop()
        fills: dict[str, list[dict[str, Any]]] = {"direct": [], "mcp": []}
        for run in range(args.runs):
            for route in fills:
                progress(f"  form fills run {run + 1}/{args.runs}: {route} ...")
                m = fill_run(route, folder, args.customers, 100 + run, mapping)
                progress(
                    f"    {m['per_min']:.1f}/min, {m['created']} created, {m['accounts']} "
                    f"accounts, {m['duplicates']} duplicates, {m['cpu_ms']:.0f} ms CPU/customer"
                )
                fills[route].append(m)

    print(
        f"\nPer-call latency, ms ({args.calls} calls per action and run, median of {args.runs} "
        f"runs; load average before {load[0]:.2f}, {os.cpu_count()} CPUs)"
    )
    print(f"  {'action':<10}" + "".join(f"{name + ' p50':>20}{'p99':>8}" for name in routes))
    for action in ACTIONS:
        row = f"  {action:<10}"
        for name in routes:
            p50 = statistics.median(v[0] for v in lat[name][action]) * 1000
            p99 = statistics.median(v[1] for v in lat[name][action]) * 1000
            row += f"{p50:>20.1f}{p99:>8.1f}"
        print(row)
    print(
        "  (ratio MCP settle 100 / direct, p50: "
        + ", ".join(
            f"{a} {statistics.median(v[0] for v in lat['mcp settle 100'][a]) / statistics.median(v[0] for v in lat['direct'][a]):.0f}x"
            for a in ACTIONS
        )
        + ")"
    )
    print(
        f"\nForm fills on the demo CRM: {args.customers} customers per run, one browser context, "
        f"median of {args.runs} runs (fresh CRM process each)"
    )
    print(
        f"  {'route':<8}{'cust/min':>10}{'runs (cust/min)':>24}{'s/customer':>12}"
        f"{'CPU ms/cust':>13}  outcome"
    )
    for route, runs in fills.items():
        each = ", ".join(f"{r['per_min']:.1f}" for r in runs)
        print(
            f"  {route:<8}{statistics.median(r['per_min'] for r in runs):>10.1f}{each:>24}"
            f"{statistics.median(r['median_customer_s'] for r in runs):>12.2f}"
            f"{statistics.median(r['cpu_ms'] for r in runs):>13.0f}  "
            f"created {sum(r['created'] for r in runs)}, CRM accounts "
            f"{sum(r['accounts'] for r in runs)}, duplicates {sum(r['duplicates'] for r in runs)}"
        )
    direct = statistics.median(r["per_min"] for r in fills["direct"])
    mcp = statistics.median(r["per_min"] for r in fills["mcp"])
    print(f"  MCP fills at {mcp / direct:.2f}x the direct route's rate")


if __name__ == "__main__":
    main()
