"""Serve the CRM until interrupted: ``python -m orchestration_project.demo_world.crm --db PATH``.

Prints the URL, the sign-in and the API token, then serves until SIGINT (Ctrl-C) or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from orchestration_project.demo_world.crm.server import (
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    start_crm,
)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve, and stop cleanly on SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m orchestration_project.demo_world.crm")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8720, help="0 = ephemeral")
    parser.add_argument("--db", default=None, help="SQLite file (default: a temporary one)")
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    parser.add_argument("--api-token", default=None)
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of POSTs with 503")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--session-max-requests", type=int, default=None)
    parser.add_argument("--redesign", action="store_true")
    args = parser.parse_args(argv)
    try:
        crm = start_crm(
            args.host,
            args.port,
            args.db,
            username=args.username,
            password=args.password,
            api_token=args.api_token,
            error_rate=args.error_rate,
            seed=args.seed,
            session_max_requests=args.session_max_requests,
            redesign=args.redesign,
        )
    except OSError as exc:
        print(f"cannot start the CRM on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    done = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        done.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"CRM: {crm.url}/  (sign in as {crm.username} / {crm.password})")
        print(f"API token: {crm.api_token}  database: {crm.db_path}", flush=True)
        while not done.wait(0.5):
            pass
    finally:
        crm.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("CRM stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
