"""Serve the demo world until interrupted: ``python -m orchestration_project.demo_world``.

Prints the URL of every site, then serves until SIGINT (Ctrl-C) or SIGTERM, and stops cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from orchestration_project.demo_world.world import start_demo_world


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve, and stop cleanly on SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m orchestration_project.demo_world")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--base-port",
        type=int,
        default=8701,
        help="competitor i listens on base+i (i=0..4), the outside site on base+5; 0 = ephemeral",
    )
    parser.add_argument("--slow-seconds", type=float, default=15.0)
    parser.add_argument("--oversized-bytes", type=int, default=6_000_000)
    args = parser.parse_args(argv)
    try:
        world = start_demo_world(
            args.host,
            args.base_port,
            slow_seconds=args.slow_seconds,
            oversized_bytes=args.oversized_bytes,
        )
    except OSError as exc:
        print(
            f"cannot start the demo world on {args.host}:{args.base_port}: {exc}", file=sys.stderr
        )
        return 1

    done = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for slug, url in world.sites.items():
            print(f"{slug:>12}: {url}/")
        print(f"{'outside':>12}: {world.outside_url}/  (not on the allow-list)", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        world.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("demo world stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
