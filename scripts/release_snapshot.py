"""Snapshot a previous release's warehouse and run configs as a test fixture.

Checks the release out into a git worktree under /tmp, installs its locked packages
(``uv sync --frozen``), runs its demo (``python -m orchestration_project demo``: the market
research job) and its run-metadata ingestion (the operations tables) in a temporary data
folder, and writes to ``tests/fixtures/release_<tag>/``:

* ``warehouse/<schema>.<table>.parquet`` — every warehouse table as the release wrote it;
* ``schema.json`` — ``{"schema.table": {"columns": {name: type}, "rows": n}}``;
* ``run_configs.yaml`` — the run configs of the release's recorded runs, and every field of
  every ``dg.Config`` class of the release at its default (what an old run config may say).

CI never runs this (a fresh clone may lack the tag): the fixture is committed.

    uv run python scripts/release_snapshot.py [--tag v0.1.0] [--out DIR] [--keep]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import yaml

REPO = Path(__file__).resolve().parents[1]

_OLD_SIDE = r"""
import importlib, json, pkgutil, sys
import dagster as dg
from dagster import DagsterInstance
from orchestration_project.operations.run_metadata import ingest
from resources.warehouse import DuckDBWarehouse

instance = DagsterInstance.get()
print(ingest(instance, DuckDBWarehouse(path=sys.argv[1])), file=sys.stderr)
runs = [
    {"job_name": r.job_name, "status": r.status.value, "run_config": r.run_config}
    for r in instance.get_runs()
]
import assets
classes = {}
for mod in pkgutil.walk_packages(assets.__path__, "assets."):
    try:
        m = importlib.import_module(mod.name)
    except Exception:
        continue
    for name, obj in vars(m).items():
        if isinstance(obj, type) and issubclass(obj, dg.Config) and obj.__module__ == m.__name__:
            fields = {}
            for f, info in obj.model_fields.items():
                if info.is_required():
                    continue
                value = info.get_default(call_default_factory=True)
                try:
                    json.dumps(value)
                except TypeError:
                    continue
                fields[f] = value
            classes[f"{m.__name__}.{name}"] = fields
print(json.dumps({"runs": runs, "config_classes": classes}, default=str))
"""


def _free_port(span: int = 40) -> int:
    """A base port with ``span`` free ports above it (the demo world serves several sites)."""
    for base in range(18700, 60000, 100):
        try:
            for port in range(base, base + span):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise SystemExit("no free range of ports for the demo world")


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    print("$", " ".join(cmd), file=sys.stderr)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"{cmd[:6]} failed with exit status {done.returncode}")
    return done.stdout


def export(warehouse: Path, out: Path) -> dict[str, dict]:
    """Write every table of ``warehouse`` as Parquet under ``out/warehouse``; return the schema."""
    target = out / "warehouse"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    schema: dict[str, dict] = {}
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = conn.execute(
            "SELECT DISTINCT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' ORDER BY 1, 2"
        ).fetchall()
        for s, t in tables:
            cols = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                [s, t],
            ).fetchall()
            rows = conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
            conn.execute(
                f'COPY "{s}"."{t}" TO \'{target / f"{s}.{t}.parquet"}\' '
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            schema[f"{s}.{t}"] = {"columns": dict(cols), "rows": int(rows)}
    (out / "schema.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    return schema


def snapshot(tag: str, out: Path, keep: bool = False) -> None:
    """Run ``tag``'s demo and ingestion in a worktree and write the fixture to ``out``."""
    tree = Path(tempfile.mkdtemp(prefix=f"release_{tag}_"))
    data = Path(tempfile.mkdtemp(prefix=f"release_{tag}_data_"))
    tree.rmdir()
    _run(["git", "worktree", "add", "--detach", str(tree), tag], REPO)
    try:
        _run(["uv", "sync", "--frozen"], tree)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DAGSTER_HOME", "VIRTUAL_ENV", "ORCHESTRATION_DATA_DIR")
        }
        env |= {"ORCHESTRATION_DATA_DIR": str(data), "DEMO_WORLD_BASE_PORT": str(_free_port())}
        _run(["uv", "run", "--frozen", "python", "-m", "orchestration_project", "demo"], tree, env)
        env["DAGSTER_HOME"] = str(data / "dagster_home")
        warehouse = data / "warehouse.duckdb"
        found = json.loads(
            _run(["uv", "run", "--frozen", "python", "-c", _OLD_SIDE, str(warehouse)], tree, env)
            .strip()
            .splitlines()[-1]
        )
        out.mkdir(parents=True, exist_ok=True)
        schema = export(warehouse, out)
        configs = {
            "release": tag,
            "runs": found["runs"],
            "config_classes": found["config_classes"],
        }
        (out / "run_configs.yaml").write_text(yaml.safe_dump(configs, sort_keys=True))
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        print(f"{len(schema)} tables, {size / 1e6:.2f} MB in {out}", file=sys.stderr)
    finally:
        if not keep:
            _run(["git", "worktree", "remove", "--force", str(tree)], REPO)
            shutil.rmtree(data, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tag", default="v0.1.0")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the worktree and data")
    args = parser.parse_args(argv)
    out = args.out or REPO / "tests" / "fixtures" / f"release_{args.tag.replace('.', '_')}"
    snapshot(args.tag, out, keep=args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
