"""Benchmark run-metadata ingestion: events per second from a SQLite Dagster instance into
DuckDB, and the time of a re-ingestion with nothing new (goal < 1 s).

    uv run python benchmarks/run_metadata_ingest.py [--runs 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dagster as dg  # noqa: E402

from orchestration_project.run_metadata import ingest  # noqa: E402
from resources.warehouse import DuckDBWarehouse  # noqa: E402


@dg.asset
def a() -> int:
    return 1


@dg.asset(check_specs=[dg.AssetCheckSpec("ok", asset="b")])
def b(a: int):  # noqa: ANN201
    yield dg.Output(a + 1, metadata={"row_count": 2})
    yield dg.AssetCheckResult(passed=True)


@dg.asset
def c(b: int) -> int:
    if b % 7 == 0:
        raise TimeoutError("never")
    return b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    args = parser.parse_args()
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    with tempfile.TemporaryDirectory() as d:
        Path(d, "home").mkdir()
        with dg.instance_for_test(temp_dir=f"{d}/home") as instance:
            for i in range(args.runs):
                dg.materialize([a, b, c], instance=instance, run_config=quiet)
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1}/{args.runs} runs made", flush=True)
            rates, noop = [], []
            for k in range(3):
                wh = DuckDBWarehouse(path=f"{d}/w{k}.duckdb")
                res = ingest(instance, wh)
                rates.append(res.events / res.seconds)
                t0 = time.perf_counter()
                again = ingest(instance, wh)
                noop.append(time.perf_counter() - t0)
                assert again.runs == 0
            print(f"ingested {res.runs} runs, {res.events} events, rows {res.rows}")
            print(
                f"events per second (median of 3 fresh ingestions): {statistics.median(rates):,.0f}"
            )
            print(
                f"re-ingestion with nothing new (median of 3): {statistics.median(noop) * 1000:.0f} ms"
            )


if __name__ == "__main__":
    main()
