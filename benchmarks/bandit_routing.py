"""The fetch router under a route that fails mid-crawl: rule against bandit, on the demo world.

The path production runs: ``run_crawl`` over the five demo sites (real HTTP servers on
loopback, httpx, Chromium through Playwright, a SQLite coordination store), with the router the
``routing`` resource builds (``RoutingResource(strategy=...).router(store)``: the bandit wired
to the store's circuit breakers). Part-way (after ``--fault-after`` routing decisions on the
degraded site) one site starts answering ``503`` to every client that is not a browser (bot
protection switched on): the HTTP route fails there, the browser route still works.

Routers: the rule (HTTP first, the browser for JavaScript pages), the bandit with the rule's
priors, and the *learned* router: the same bandit with the route model's priors, the model
trained (``train_challenger``, as ``route_model_promotion`` does) on the fetch history of a
soak of earlier crawls of the same world, so it starts from what the platform has seen.

Printed, median of ``--runs`` crawls per router:

* pages fetched ok, of the healthy crawl's pages, and pages lost;
* the share of fetch attempts made by the browser (the dearer route);
* distinct facts extracted from the pages fetched (the extractor agents of
  ``extracted_facts``, offline language engine), and the share of the healthy rule crawl's
  facts found: "facts at equal recall" compares routers where they reach the same pages;
* pages per second (the rule router on the healthy world is the baseline: ratio printed);
* for the bandit: HTTP decisions on the degraded site after the fault before the browser takes
  the traffic (the first window of 4 decisions at ≥ 75 % browser), the seconds that took, and
  whether the bandit's evidence opened the route's circuit breaker;
* decision latency in process: one ``choose`` + ``record`` on a warm router with its breaker
  gate (a store read per site and route every 2 s), p50 / p99 in µs (100,000 decisions), and
  decisions per second.

    uv run python benchmarks/bandit_routing.py [--runs 3] [--fault-after 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from ml.route_success import training_set  # noqa: E402
from orchestration_project.agents.coordination import CoordinationStore  # noqa: E402
from orchestration_project.agents.runtime import ActionRecorder  # noqa: E402
from orchestration_project.demo_world import start_demo_world  # noqa: E402
from orchestration_project.demo_world.scenarios import SwitchAfterDecisions  # noqa: E402
from orchestration_project.operations.healing.breakers import CircuitBreakers  # noqa: E402
from orchestration_project.optimization.route_model import (  # noqa: E402
    DEFAULT_COSTS,
    model_prior,
    site_histories,
    train_challenger,
)
from orchestration_project.research.crawler import (  # noqa: E402
    crawled_pages,
    fetch_attempts,
    run_crawl,
)
from orchestration_project.research.fact_rows import extract_facts  # noqa: E402
from resources.environment import local_resources  # noqa: E402
from resources.language import OfflineLanguageEngine  # noqa: E402
from resources.routing import RoutingResource, route_breaker  # noqa: E402
from tests.conftest import free_base_port  # noqa: E402

DEGRADED = "klimacraft"  # pages need no JavaScript: HTTP is every router's first choice


def facts_of(store: CoordinationStore, tag: str) -> set[tuple]:
    """Distinct facts the extractor agents find on the crawl's pages."""
    pages = crawled_pages(store, tag, with_html=True)
    pages = pages[(pages["outcome"] == "ok") & pages["html"].notna()]
    rows = extract_facts(
        pages, crawl_id=tag, language=OfflineLanguageEngine(), recorder=ActionRecorder()
    )
    return {(r["site"], r["kind"], r["subject"], r["attribute"], r["value"]) for r in rows}


def attempts_of(store: CoordinationStore, tag: str) -> pd.DataFrame:
    with store.engine.connect() as c:
        return pd.DataFrame(
            [
                r._mapping
                for r in c.execute(
                    sa.select(fetch_attempts)
                    .where(fetch_attempts.c.crawl_id == tag)
                    .order_by(fetch_attempts.c.id)
                )
            ]
        )


def learned_prior(history: pd.DataFrame) -> Any:
    """The route model trained on the soak's fetch history, as the bandit's prior."""
    rows = training_set(history, DEFAULT_COSTS)
    challenger, why = train_challenger(rows)
    if challenger is None:
        raise SystemExit(f"no route model from the soak history: {why}")
    return model_prior(challenger.model, site_histories(rows))


def crawl(
    world: Any,
    res: dict,
    strategy: str,
    fault_after: int | None,
    tag: str,
    prior: Any = None,
) -> dict:
    with tempfile.TemporaryDirectory() as d:
        store = CoordinationStore(f"sqlite:///{d}/c.db")
        router: Any = RoutingResource(strategy=strategy).router(store, prior_fn=prior)
        wrapped = (
            SwitchAfterDecisions(
                router,
                world.sites[DEGRADED],
                fault_after,
                partial(world.set_faults, DEGRADED, block_non_browsers=True),
            )
            if fault_after is not None
            else router
        )
        t0 = time.perf_counter()
        try:
            run_crawl(
                crawl_id=tag,
                seeds=world.seed_urls,
                topic="thermostats",
                store=store,
                http=res["http"],
                browser=res["browser"],
                router=wrapped,
                recorder=ActionRecorder(),
                max_pages=40,
                max_depth=3,
                batch_size=2,
                max_failed=40,
            )
        finally:
            world.clear_faults()
        wall = time.perf_counter() - t0
        pages = crawled_pages(store, tag)
        ok = set(pages.loc[pages["outcome"] == "ok", "url"])
        att = attempts_of(store, tag)
        out = {
            "ok": ok,
            "wall": wall,
            "switch_decisions": None,
            "switch_s": None,
            "facts": facts_of(store, tag),
            "attempts": att,
        }
        if fault_after is not None and len(att):
            site = world.sites[DEGRADED]
            mine = att[att["url"].str.startswith(site)]
            failed = mine[(mine["route"] == "http") & (mine["status"] == 503)]
            if len(failed):
                after = mine.loc[failed.index.min() :]
                decisions = after[~after["reason"].str.contains("HTTP route failed", na=False)]
                routes = (decisions["route"] == "browser").to_list()
                times = decisions["attempted_at"].to_list()
                for i in range(len(routes) - 3):
                    if sum(routes[i : i + 4]) >= 3:
                        out["switch_decisions"] = int(sum(not r for r in routes[:i]))
                        out["switch_s"] = (
                            times[i] - failed["attempted_at"].iloc[0]
                        ).total_seconds()
                        break
            out["breaker"] = CircuitBreakers(store).state(route_breaker("http", site)).state
        store.dispose()
        return out


def decision_latency(n: int = 100_000) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as d:
        store = CoordinationStore(f"sqlite:///{d}/c.db")
        router = RoutingResource().router(store)  # with its breaker gate, as in production
        urls = [f"http://site{i % 5}.example/p/{i}" for i in range(n)]
        lat = []
        t_all = time.perf_counter()
        for i, u in enumerate(urls):
            t0 = time.perf_counter_ns()
            route, _ = router.choose(u)
            router.record(u, route, ok=i % 7 != 0)
            lat.append(time.perf_counter_ns() - t0)
        total = time.perf_counter() - t_all
        store.dispose()
    lat.sort()
    return lat[len(lat) // 2] / 1000, lat[int(len(lat) * 0.99)] / 1000, n / total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fault-after", type=int, default=6)
    parser.add_argument("--soak", type=int, default=3, help="crawls whose history trains")
    args = parser.parse_args()
    base = free_base_port()
    world = start_demo_world("127.0.0.1", base)
    res = local_resources(data=Path(tempfile.mkdtemp()), demo_base_port=base)
    rows: dict[str, list[dict]] = {}
    try:
        # The soak: crawls by the rule and the bandit whose fetch history trains the model.
        soak = []
        for i in range(args.soak):
            strategy = ("rule", "bandit")[i % 2]
            soak.append(crawl(world, res, strategy, None, f"soak{i}")["attempts"])
            print(f"  soak crawl {i + 1}/{args.soak} ({strategy})", file=sys.stderr, flush=True)
        history = pd.concat(soak, ignore_index=True)
        prior = learned_prior(history)
        print(f"  route model trained on {len(history)} attempts", file=sys.stderr, flush=True)
        for i in range(args.runs):
            for name, strategy, fault, p in [
                ("rule, healthy", "rule", None, None),
                ("bandit, healthy", "bandit", None, None),
                ("learned, healthy", "bandit", None, prior),
                ("rule, degraded", "rule", args.fault_after, None),
                ("bandit, degraded", "bandit", args.fault_after, None),
                ("learned, degraded", "bandit", args.fault_after, prior),
            ]:
                r = crawl(world, res, strategy, fault, f"{name[:6]}{i}{fault}", p)
                rows.setdefault(name, []).append(r)
                print(
                    f"  run {i + 1}/{args.runs} {name:<17} {len(r['ok']):3d} pages in "
                    f"{r['wall']:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        world.stop()
    healthy = rows["rule, healthy"][0]["ok"]
    healthy_facts = rows["rule, healthy"][0]["facts"]
    base_rate = statistics.median(len(r["ok"]) / r["wall"] for r in rows["rule, healthy"])
    print()
    print("=" * 96)
    print(
        f"crawl of the 5 demo sites (page budget 40/site, depth 3, batch 2); {DEGRADED} blocks "
        f"plain HTTP after {args.fault_after} of its decisions; median of {args.runs} runs"
    )
    print(
        f"{'router, world':<18} {'pages ok':>8} {'lost':>5} {'pages/s':>8} {'× rule':>7} "
        f"{'facts':>6} {'of rule':>7} {'browser':>7} "
        f"{'HTTP decisions to switch':>25} {'seconds to switch':>18} {'breaker':>8}"
    )
    for name, rs in rows.items():
        pages = statistics.median(len(r["ok"]) for r in rs)
        lost = statistics.median(len(healthy - r["ok"]) for r in rs)
        rate = statistics.median(len(r["ok"]) / r["wall"] for r in rs)
        facts = statistics.median(len(r["facts"]) for r in rs)
        browser = statistics.median(
            float((r["attempts"]["route"] == "browser").mean()) if len(r["attempts"]) else 0.0
            for r in rs
        )
        found = statistics.median(len(r["facts"] & healthy_facts) for r in rs) / max(
            1, len(healthy_facts)
        )
        sw = [r["switch_decisions"] for r in rs if r["switch_decisions"] is not None]
        ss = [r["switch_s"] for r in rs if r["switch_s"] is not None]
        brk = {r.get("breaker") for r in rs if r.get("breaker")}
        print(
            f"{name:<18} {pages:8.0f} {lost:5.0f} {rate:8.1f} {rate / base_rate:7.2f} "
            f"{facts:6.0f} {found:7.0%} {browser:7.0%} "
            f"{(f'{statistics.median(sw):.0f} ({len(sw)}/{len(rs)} runs)' if sw else 'never'):>25} "
            f"{(f'{statistics.median(ss):.2f}' if ss else '-'):>18} {'/'.join(sorted(brk)) or '-':>8}"
        )
    p50, p99, rate = decision_latency()
    print(
        f"decision latency (choose + record, warm bandit router, 100,000 decisions): "
        f"p50 {p50:.1f} µs, p99 {p99:.1f} µs; {rate:,.0f} decisions/s"
    )


if __name__ == "__main__":
    main()
