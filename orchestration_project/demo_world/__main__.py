"""Serve the demo world until interrupted: ``python -m orchestration_project.demo_world``."""

from __future__ import annotations

import argparse
import time

from orchestration_project.demo_world.world import start_demo_world


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve, and stop cleanly on Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m orchestration_project.demo_world")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=8701)
    parser.add_argument("--slow-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    world = start_demo_world(args.host, args.base_port, slow_seconds=args.slow_seconds)
    for slug, url in world.sites.items():
        print(f"{slug:>12}: {url}/")
    print(f"{'outside':>12}: {world.outside_url}/  (not on the allow-list)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        world.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
