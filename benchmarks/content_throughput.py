"""Content generation throughput: briefs → drafts per strategy → channel outputs → content
checks, the path ``content_drafts`` and ``channel_outputs`` run, with the offline engine.

Printed (median of ``--runs``): drafts/s and channel outputs/s for the domain path (drafting,
rendering, the check columns, ``textstat`` included), and the Great Expectations suite over
the same outputs (the blocking asset check) in seconds, once warm. The competitor matrix is the
demo world's (from a market-research run in a temporary folder) so the market-facts strategy
drafts from real resolved facts.

    uv run python benchmarks/content_throughput.py [--briefs 200] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from orchestration_project.common.quality import run_expectations  # noqa: E402
from orchestration_project.content_marketing.briefs import Brief  # noqa: E402
from orchestration_project.content_marketing.channels import render  # noqa: E402
from orchestration_project.content_marketing.checks import (  # noqa: E402
    check_outputs,
    expectations,
)
from orchestration_project.content_marketing.strategies import draft  # noqa: E402
from resources.language import OfflineLanguageEngine  # noqa: E402

TOPICS = ["smart thermostats", "air quality sensors", "smart vents", "humidity sensors"]


def market_matrix() -> pd.DataFrame:
    """The competitor matrix of one market-research run on the demo world."""
    import dagster as dg

    from assets.market_research import (
        all_sites_tags,
        market_research_assets,
        register_sites,
        source_sites,
    )
    from orchestration_project.demo_world import start_demo_world
    from resources.environment import local_resources
    from tests.conftest import free_base_port

    base = free_base_port()
    world = start_demo_world("127.0.0.1", base)
    try:
        with tempfile.TemporaryDirectory() as d, dg.instance_for_test() as instance:
            res = local_resources(data=Path(d), demo_base_port=base)
            sites = register_sites(instance, source_sites(res["market_sources"]))
            result = dg.materialize(
                market_research_assets,
                resources=res,
                instance=instance,
                tags=all_sites_tags(sites),
            )
            assert result.success
            return res["warehouse"].read_table("competitor_matrix", schema="market_research")
    finally:
        world.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--briefs", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("market research run for the matrix…", file=sys.stderr, flush=True)
    matrix = market_matrix()
    briefs = [
        Brief(
            f"b{i}",
            TOPICS[i % len(TOPICS)],
            "homeowners",
            "Compare every model",
            "https://www.example.com/compare",
            hashtags=("smarthome",),
        )
        for i in range(args.briefs)
    ]
    engine = OfflineLanguageEngine()
    by_id = {b.brief_id: b for b in briefs}
    rates, out_rates, gx_s = [], [], []
    for run in range(args.runs):
        t0 = time.perf_counter()
        drafts = [
            draft(b, s, matrix, engine, llm_available=False)
            for b in briefs
            for s in ("templated", "market_facts")
        ]
        outputs = [o for d in drafts for o in render(d, by_id[d.brief_id])]
        checked = check_outputs(outputs, by_id, matrix)
        wall = time.perf_counter() - t0
        rates.append(len(drafts) / wall)
        out_rates.append(len(outputs) / wall)
        t1 = time.perf_counter()
        ok, _ = run_expectations(checked, expectations())
        gx_s.append(time.perf_counter() - t1)
        print(
            f"  run {run + 1}/{args.runs}: {len(outputs)} outputs in {wall:.2f} s, "
            f"all checks {'pass' if ok else 'FAIL'}",
            file=sys.stderr,
            flush=True,
        )
    print(
        f"content throughput, {args.briefs} briefs × 2 strategies (offline engine), "
        f"{len(matrix)} products in the matrix; median of {args.runs} runs"
    )
    print(f"  drafts/s (draft + render + check columns)  {statistics.median(rates):8.1f}")
    print(f"  channel outputs/s                          {statistics.median(out_rates):8.1f}")
    print(
        f"  Great Expectations suite over {len(checked)} outputs  "
        f"{statistics.median(gx_s[1:] or gx_s):.2f} s (warm)"
    )


if __name__ == "__main__":
    main()
