"""What fetching costs per accepted fact on the platform's own history, and the saving against
always taking the most expensive route (the roadmap promises > 60 %).

The path production runs: the real market-research assets materialised ``--runs`` times on the
demo world (a temporary Dagster instance and data folder, ``local_resources``, the default
bandit router), then the ``route_cost_report`` asset over the fetch history those runs wrote.

    uv run python benchmarks/cost_report.py [--runs 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402

from assets.market_research import all_sites_tags, register_sites, source_sites  # noqa: E402
from assets.market_research.assets import market_research_assets  # noqa: E402
from assets.optimization.assets import route_cost_report  # noqa: E402
from orchestration_project.demo_world import start_demo_world  # noqa: E402
from resources.environment import local_resources  # noqa: E402
from tests.conftest import free_base_port  # noqa: E402

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    base = free_base_port()
    world = start_demo_world("127.0.0.1", base)
    try:
        with tempfile.TemporaryDirectory() as d, dg.instance_for_test() as instance:
            res = local_resources(data=Path(d), demo_base_port=base)
            sites = register_sites(instance, source_sites(res["market_sources"]))
            for i in range(args.runs):
                result = dg.materialize(
                    market_research_assets,
                    resources=res,
                    instance=instance,
                    run_config=QUIET,
                    tags=all_sites_tags(sites),
                )
                assert result.success
                print(f"  market research run {i + 1}/{args.runs} done", file=sys.stderr)
            out = dg.materialize(
                [route_cost_report], resources=res, instance=instance, run_config=QUIET
            )
            meta = out.asset_materializations_for_node("route_cost_report")[0].metadata
    finally:
        world.stop()
    print(f"fetch cost on {args.runs} demo-world market-research runs (HTTP = 1, browser = 4):")
    for key in (
        "total_cost",
        "counterfactual_cost",
        "saving_vs_dearest_route",
        "accepted_facts",
        "cost_per_fact",
    ):
        print(f"  {key:<24} {meta[key].value}")
    print(meta["by_route"].value)


if __name__ == "__main__":
    main()
