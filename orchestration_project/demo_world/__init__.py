"""The bundled demo world: a deterministic, offline, fictional market of competitor web sites.

Five smart-thermostat brands each serve their own differently built site on loopback (own port,
own origin), plus an "outside" review site that is not part of the market. Pages include
JavaScript-only content and deliberately hostile endpoints; ``ground_truth.json`` records what a
correct crawl and extraction should find. Run ``python -m orchestration_project.demo_world`` to
serve it, and ``python -m orchestration_project.demo_world.build_truth`` to regenerate the truth.
"""

from orchestration_project.demo_world.storefront import QA_JOURNEYS_PATH
from orchestration_project.demo_world.truth import GROUND_TRUTH_PATH, load_ground_truth
from orchestration_project.demo_world.world import DemoWorld, start_demo_world

__all__ = [
    "GROUND_TRUTH_PATH",
    "QA_JOURNEYS_PATH",
    "DemoWorld",
    "load_ground_truth",
    "start_demo_world",
]
