"""The child process that executes a run the MCP server launched.

``python -m orchestration_project.mcp_server.launch <spec.json>`` (or ``-``: import first, then
read the spec as one JSON line from stdin; end of input without one means the launch was
called off, exit 3) loads the code location
(``orchestration_project.definitions.defs``), opens the Dagster instance at ``DAGSTER_HOME`` and
executes the spec's job (or the implicit asset job over the spec's asset keys) in process, under
the run id the server chose and returned to its client. The run, its events, materialisations
and check results are in the instance as for any other run; the process's output goes to the
log file beside the spec, never to the server's stdout (the stdio transport).

The spec (JSON): ``run_id``; ``job`` (a job name) or ``assets`` (asset keys as user strings);
``run_config``; ``partition_key``; ``tags``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def execute(spec: dict) -> bool:
    """Execute the run ``spec`` describes on the instance at ``DAGSTER_HOME``; True on
    success."""
    import dagster as dg

    from orchestration_project.definitions import defs

    if spec.get("job"):
        job = defs.resolve_job_def(spec["job"])
        selection = None
    else:
        job = defs.resolve_implicit_global_asset_job_def()
        selection = [dg.AssetKey.from_user_string(k) for k in spec["assets"]]
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config=spec.get("run_config") or None,
            instance=instance,
            run_id=spec["run_id"],
            asset_selection=selection,
            partition_key=spec.get("partition_key"),
            tags=spec.get("tags") or None,
            raise_on_error=False,
        )
    return bool(result.success)


def main(argv: list[str] | None = None) -> int:
    """Entry point: execute the spec file named by the only argument, or (``-``) the spec
    read from stdin once the code location is imported."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(
            "usage: python -m orchestration_project.mcp_server.launch SPEC.json|-", file=sys.stderr
        )
        return 2
    if args[0] != "-":
        return 0 if execute(json.loads(Path(args[0]).read_text())) else 1
    import orchestration_project.definitions  # noqa: F401 - the slow part, before the spec

    line = sys.stdin.readline()
    if not line.strip():
        return 3  # called off: the server refused the request
    return 0 if execute(json.loads(line)) else 1


if __name__ == "__main__":
    sys.exit(main())
