"""Regenerate ``ground_truth.json``: ``python -m orchestration_project.demo_world.build_truth``."""

from __future__ import annotations

import sys

from orchestration_project.demo_world.truth import (
    GROUND_TRUTH_PATH,
    build_ground_truth,
    dumps_ground_truth,
)


def main() -> int:
    """Write the ground truth file (``--check``: only verify it is up to date)."""
    text = dumps_ground_truth(build_ground_truth())
    if "--check" in sys.argv[1:]:
        current = (
            GROUND_TRUTH_PATH.read_text(encoding="utf-8") if GROUND_TRUTH_PATH.exists() else ""
        )
        if current != text:
            print(f"{GROUND_TRUTH_PATH} is out of date", file=sys.stderr)
            return 1
        print(f"{GROUND_TRUTH_PATH} is up to date")
        return 0
    GROUND_TRUTH_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {GROUND_TRUTH_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
