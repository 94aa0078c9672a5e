"""The platform's MCP server: tools, resources and prompts over the MCP SDK's ``MCPServer``.

``python -m orchestration_project mcp`` serves it on stdio; ``--transport http`` on streamable
HTTP at ``http://MCP_HOST:MCP_PORT/mcp`` (default ``127.0.0.1:8765``), behind the bearer token
``MCP_TOKEN``. Mutating tools need ``MCP_ALLOW_MUTATIONS=true``. Every request is audited in
``operations.mcp_audit``. See :mod:`.safety` (the rules), :mod:`.audit` (the log) and
:mod:`.queries` (what each tool reads and changes).
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

import anyio
from mcp.server.auth.settings import AuthSettings
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.shared.exceptions import MCPError
from pydantic import Field
from starlette.requests import Request
from starlette.responses import JSONResponse

from orchestration_project.common.warehouse import WarehouseError
from orchestration_project.mcp_server.audit import AuditLog, describe_client
from orchestration_project.mcp_server.queries import Platform, PlatformError
from orchestration_project.mcp_server.safety import (
    ALLOW_MUTATIONS_ENV,
    MAX_KEYS,
    MAX_NAME_CHARS,
    MAX_PATH_CHARS,
    MAX_WAIT_S,
    AssetKeyStr,
    CursorStr,
    McpSettings,
    NameStr,
    NoteStr,
    ReviewerStr,
    RunConfig,
    RunIdStr,
    StaticTokenVerifier,
    UrlStr,
    mask,
    require_mutations,
    summarise_arguments,
)

INSTRUCTIONS = """\
Drives the orchestration platform (Dagster assets produced by AI agents): list asset groups and
assets with their freshness and checks, follow lineage, read reports and table previews, look at
runs, incidents, the health summary, the review queues and fetch-route advice. Tools that change
something (materialise, launch, acknowledge/resolve incidents, decide reviews) work only when
the operator started the server with MCP_ALLOW_MUTATIONS=true. Launches return a run id at once;
pass wait=true (bounded) or poll run_status."""

T = TypeVar("T")


# -- audit middleware -----------------------------------------------------------------------


def _result_error(result: HandlerResult) -> str | None:
    """The error text of a tool result that is an error, else None."""
    if result is None:
        return None
    data = result if isinstance(result, dict) else result.model_dump(by_alias=True)
    if not (data.get("isError") or data.get("is_error")):
        return None
    texts = [c.get("text", "") for c in data.get("content") or [] if isinstance(c, dict)]
    return " ".join(texts) or "error"


def _outcome(error: str) -> str:
    refused = (ALLOW_MUTATIONS_ENV, "refused", "validation error", "security validation")
    return "refused" if any(r in error for r in refused) else "error"


class AuditMiddleware:
    """SDK middleware (``MCPServer(middleware=[...])``) that audits every request: tool calls,
    resource reads, prompt gets and listings (not ``initialize``, pings or notifications)."""

    SKIP = {"initialize", "ping"}

    def __init__(self, audit: AuditLog, transport: str, secrets: tuple[str, ...] = ()) -> None:
        self.audit = audit
        self.transport = transport
        self.secrets = secrets

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        """Time the request, then queue its audit row."""
        if ctx.request_id is None or ctx.method in self.SKIP:
            return await call_next(ctx)
        params = dict(ctx.params or {})
        target = str(params.get("name") or params.get("uri") or "")
        if ctx.method in ("tools/call", "prompts/get"):
            args: Any = params.get("arguments") or {}
        else:
            args = {k: v for k, v in params.items() if k not in ("name", "uri", "_meta")}
        t0 = time.perf_counter()
        outcome, error = "ok", ""
        try:
            result = await call_next(ctx)
            failed = _result_error(result) if ctx.method == "tools/call" else None
            if failed is not None:
                outcome, error = _outcome(failed), failed
            return result
        except MCPError as exc:
            outcome, error = _outcome(exc.error.message), exc.error.message
            raise
        except Exception as exc:
            outcome, error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self.audit.record(
                transport=self.transport,
                method=ctx.method,
                target=mask(target, secrets=self.secrets, limit=300),
                arguments=summarise_arguments(args, secrets=self.secrets),
                outcome=outcome,
                error=mask(error, secrets=self.secrets),
                latency_ms=(time.perf_counter() - t0) * 1000,
                client=describe_client(ctx),
            )


# -- helpers ----------------------------------------------------------------------------------


async def _call(fn: Callable[[], T]) -> T:
    """Run a blocking platform call in a worker thread, with its errors as ``ToolError``."""
    try:
        return await anyio.to_thread.run_sync(fn)
    except (ToolError, ResourceError):
        raise
    except (PlatformError, WarehouseError) as exc:
        raise ToolError(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the client gets the reason, the log the trace
        traceback.print_exc(file=sys.stderr)
        raise ToolError(f"{type(exc).__name__}: {str(exc)[:500]}") from exc


def _client(ctx: Context | None) -> str:
    if ctx is None:
        return "unknown"
    try:
        return describe_client(ctx.request_context)
    except Exception:  # noqa: BLE001 - no request context (in-process calls)
        return "unknown"


Limit = Annotated[int, Field(ge=1, le=500)]
WaitS = Annotated[float, Field(ge=0, le=MAX_WAIT_S, description="longest wait, seconds")]
PartitionKey = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
IncidentId = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"^[\w\-.:]+$")]
ItemId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\w\-.:|/]+$")]
ReviewKey = Annotated[str, Field(min_length=3, max_length=600, pattern=r"^[^\x00-\x1f]+$")]
Prefix = Annotated[str, Field(max_length=MAX_PATH_CHARS)]


def build_server(settings: McpSettings, platform: Platform, audit: AuditLog) -> MCPServer[Any]:
    """The MCP server over ``platform``, with ``settings``' safety rules and ``audit``."""
    auth: dict[str, Any] = {}
    if settings.transport == "http":
        settings.check()
        auth = {
            "token_verifier": StaticTokenVerifier(settings.token or ""),
            "auth": AuthSettings(
                issuer_url=f"http://{settings.host}:{settings.port}", resource_server_url=None
            ),
        }
    secrets = (settings.token,) if settings.token else ()
    server: MCPServer[Any] = MCPServer(
        "orchestration-platform",
        title="Orchestration platform",
        instructions=INSTRUCTIONS,
        version="0.1.0",
        middleware=[AuditMiddleware(audit, settings.transport, secrets)],
        log_level="WARNING",
        **auth,
    )

    def mutating(name: str) -> None:
        require_mutations(settings, name)

    # -- assets --------------------------------------------------------------------------

    @server.tool()
    async def list_asset_groups() -> dict[str, Any]:
        """Every asset group with its number of assets and their keys."""
        return await _call(platform.list_asset_groups)

    @server.tool()
    async def list_assets(
        group: Annotated[NameStr | None, Field(description="only this group")] = None,
        stale_after_h: Annotated[float, Field(gt=0, le=8760)] = 24.0,
    ) -> dict[str, Any]:
        """Assets with their last materialisation (time, run id), age, freshness (fresh when
        materialised within stale_after_h hours) and the latest result of each check."""
        return await _call(lambda: platform.list_assets(group=group, stale_after_h=stale_after_h))

    @server.tool()
    async def asset_lineage(
        key: AssetKeyStr, depth: Annotated[int, Field(ge=1, le=10)] = 1
    ) -> dict[str, Any]:
        """Upstream and downstream asset keys of an asset, hop by hop up to depth."""
        return await _call(lambda: platform.lineage(key, depth=depth))

    @server.tool()
    async def preview_asset(
        key: AssetKeyStr, rows: Annotated[int, Field(ge=1, le=100)] = 20
    ) -> dict[str, Any]:
        """The first rows of an asset's warehouse table, with its row count."""
        return await _call(lambda: platform.preview(key, rows=rows))

    # -- runs ----------------------------------------------------------------------------

    @server.tool()
    async def materialize_assets(
        ctx: Context,
        keys: Annotated[list[AssetKeyStr] | None, Field(max_length=MAX_KEYS)] = None,
        group: NameStr | None = None,
        partition_key: PartitionKey | None = None,
        wait: bool = False,
        wait_timeout_s: WaitS = 60.0,
    ) -> dict[str, Any]:
        """Materialise assets, named by keys or by group, in a new run on the Dagster instance.
        Returns the run id at once (status LAUNCHING); with wait=true, waits until the run
        ends or wait_timeout_s passes. Mutating: needs MCP_ALLOW_MUTATIONS=true."""
        mutating("materialize_assets")
        client = _client(ctx)
        return await _call(
            lambda: platform.materialise(
                keys=keys,
                group=group,
                partition_key=partition_key,
                client=client,
                wait=wait,
                timeout_s=wait_timeout_s,
            )
        )

    @server.tool()
    async def launch_job(
        ctx: Context,
        job: NameStr,
        run_config: RunConfig | None = None,
        partition_key: PartitionKey | None = None,
        wait: bool = False,
        wait_timeout_s: WaitS = 60.0,
    ) -> dict[str, Any]:
        """Launch a job with a run config (checked against the job's schema first). Returns
        the run id at once; with wait=true, waits until the run ends or wait_timeout_s
        passes. Mutating: needs MCP_ALLOW_MUTATIONS=true."""
        mutating("launch_job")
        client = _client(ctx)
        return await _call(
            lambda: platform.launch_job(
                job=job,
                run_config=run_config,
                partition_key=partition_key,
                client=client,
                wait=wait,
                timeout_s=wait_timeout_s,
            )
        )

    @server.tool()
    async def run_status(run_id: RunIdStr) -> dict[str, Any]:
        """A run's status, job, times, step and materialisation counts."""
        return await _call(lambda: platform.run_status(run_id))

    @server.tool()
    async def run_events(
        run_id: RunIdStr, limit: Limit = 50, cursor: CursorStr | None = None
    ) -> dict[str, Any]:
        """A page of a run's events (at most 500); pass the returned cursor for the next."""
        return await _call(lambda: platform.run_events(run_id, limit=limit, cursor=cursor))

    # -- incidents -----------------------------------------------------------------------

    @server.tool()
    async def list_incidents(
        include_closed: bool = False, limit: Annotated[int, Field(ge=1, le=200)] = 50
    ) -> dict[str, Any]:
        """Incidents needing attention (open, remediating, escalated), newest first."""
        return await _call(lambda: platform.incidents(include_closed=include_closed, limit=limit))

    @server.tool()
    async def incident_detail(incident_id: IncidentId) -> dict[str, Any]:
        """One incident with its timeline of actions."""
        return await _call(lambda: platform.incident_detail(incident_id))

    @server.tool()
    async def acknowledge_incident(
        incident_id: IncidentId, reviewer: ReviewerStr, note: NoteStr = ""
    ) -> dict[str, Any]:
        """Record that reviewer has taken an incident on. Mutating."""
        mutating("acknowledge_incident")
        return await _call(
            lambda: platform.acknowledge_incident(incident_id, reviewer=reviewer, note=note)
        )

    @server.tool()
    async def resolve_incident(
        incident_id: IncidentId, reviewer: ReviewerStr, note: NoteStr = ""
    ) -> dict[str, Any]:
        """Close an open or escalated incident as resolved by reviewer. Mutating."""
        mutating("resolve_incident")
        return await _call(
            lambda: platform.resolve_incident(incident_id, reviewer=reviewer, note=note)
        )

    @server.tool()
    async def health_summary() -> dict[str, Any]:
        """Jobs' success and latency over 24 h, the SLO scorecard, incidents needing
        attention, open circuit breakers, pending reviews and the dashboards."""
        return await _call(platform.health_summary)

    # -- reviews -------------------------------------------------------------------------

    @server.tool()
    async def list_reviews(
        queue: Literal["all", "ops", "market_research", "onboarding"] = "all",
        include_decided: bool = False,
        limit: Annotated[int, Field(ge=1, le=200)] = 50,
    ) -> dict[str, Any]:
        """The human-review queues: ops configuration changes, market research decisions
        below the confidence threshold, onboarding customers who need a person."""
        return await _call(
            lambda: platform.reviews(queue=queue, include_decided=include_decided, limit=limit)
        )

    @server.tool()
    async def approve_review(
        item_id: ItemId, reviewer: ReviewerStr, note: NoteStr = ""
    ) -> dict[str, Any]:
        """Approve an ops review item: its setting is applied, with the reviewer recorded.
        Mutating."""
        mutating("approve_review")
        return await _call(lambda: platform.approve_review(item_id, reviewer=reviewer, note=note))

    @server.tool()
    async def reject_review(
        item_id: ItemId, reviewer: ReviewerStr, note: NoteStr = ""
    ) -> dict[str, Any]:
        """Reject an ops review item (nothing applied), with the reviewer recorded. Mutating."""
        mutating("reject_review")
        return await _call(lambda: platform.reject_review(item_id, reviewer=reviewer, note=note))

    @server.tool()
    async def decide_research_review(
        crawl_id: ItemId,
        key: ReviewKey,
        reviewer: ReviewerStr,
        note: NoteStr = "",
        value: Annotated[str, Field(max_length=500)] | float | None = None,
        currency: Annotated[str, Field(min_length=3, max_length=3)] | None = None,
    ) -> dict[str, Any]:
        """Confirm (no value) or override (a value) a market research decision sent to human
        review; written to the shared context with the reviewer. Mutating."""
        mutating("decide_research_review")
        return await _call(
            lambda: platform.decide_research_review(
                crawl_id=crawl_id,
                key=key,
                reviewer=reviewer,
                note=note,
                value=value,
                currency=currency,
            )
        )

    # -- routing -------------------------------------------------------------------------

    @server.tool()
    async def route_recommendation(url: UrlStr) -> dict[str, Any]:
        """The fetch route (plain HTTP or the browser) the platform's router would take for a
        URL now, with its reason."""
        return await _call(lambda: platform.route_recommendation(url))

    # -- reports -------------------------------------------------------------------------

    @server.tool()
    async def list_reports(
        prefix: Prefix = "", limit: Annotated[int, Field(ge=1, le=1000)] = 200
    ) -> dict[str, Any]:
        """Report files (market reports, post-incident reports, dashboards), newest first,
        each with the report:// URI to read it."""
        return await _call(lambda: platform.list_reports(prefix=prefix, limit=limit))

    @server.resource(
        "report://{+path}",
        name="report",
        description="A file in the reports folder: Markdown, HTML, charts",
    )
    async def report(path: str) -> str | bytes:
        try:
            content, _mime = await anyio.to_thread.run_sync(lambda: platform.read_report(path))
        except PlatformError as exc:
            raise ResourceError(str(exc)) from exc
        return content

    @server.resource(
        "preview://{+key}{?rows}",
        name="asset_preview",
        description="The first rows (?rows=N, default 20, at most 100) of an asset's warehouse "
        "table, as JSON",
        mime_type="application/json",
    )
    async def asset_preview(key: str, rows: str = "20") -> str:
        import json

        if not rows.isdigit() or not 1 <= int(rows) <= 100:
            raise ResourceError("rows is a whole number from 1 to 100")
        try:
            data = await anyio.to_thread.run_sync(lambda: platform.preview(key, rows=int(rows)))
        except (PlatformError, WarehouseError) as exc:
            raise ResourceError(str(exc)) from exc
        return json.dumps(data, default=str)

    @server.resource(
        "dashboard://health",
        name="health_dashboard",
        description="The health summary as Markdown",
        mime_type="text/markdown",
    )
    async def health_dashboard() -> str:
        try:
            return await anyio.to_thread.run_sync(platform.health_markdown)
        except (PlatformError, WarehouseError) as exc:
            raise ResourceError(str(exc)) from exc

    # -- prompts -------------------------------------------------------------------------

    @server.prompt()
    async def investigate_incident(incident_id: str) -> str:
        """Investigate an incident: what failed, why, what the healer did, what to do next."""
        if len(incident_id) > MAX_NAME_CHARS:
            raise ValueError("incident_id is too long")
        try:
            detail = await anyio.to_thread.run_sync(lambda: platform.incident_detail(incident_id))
        except PlatformError as exc:
            raise ValueError(str(exc)) from exc
        import json

        return (
            f"Investigate incident {incident_id} of the orchestration platform.\n\n"
            f"Its record and timeline (from the coordination store):\n```json\n"
            f"{json.dumps(detail, indent=1, default=str)[:12000]}\n```\n\n"
            "Steps: 1) read the failed run with run_status and run_events (root_run_id), "
            "looking for the first error; 2) follow asset_lineage of the assets involved to "
            "see what is affected downstream; 3) check health_summary for related breakers "
            "or alerts; 4) read the post-incident report (report://incidents/...) if one "
            "exists. Conclude with the root cause, its class, the impact, and a recommended "
            "action (re-run, change a setting through the review queue, or escalate). Do not "
            "acknowledge or resolve it without asking the operator."
        )

    @server.prompt()
    async def summarise_market_research() -> str:
        """Summarise today's market research from the newest market report."""
        today = await anyio.to_thread.run_sync(platform.market_research_today)
        if today.get("report") is None:
            return (
                "There is no market report yet. Say so, and suggest materialising the "
                "market_research group (materialize_assets with group='market_research')."
            )
        when = (
            "today's" if today["today"] else f"the latest (from {today['modified_at']}, not today)"
        )
        return (
            f"Summarise {when} market research for a product manager in at most 10 bullet "
            "points: competitors and their price positions, notable features, review "
            "sentiment, conflicts the resolver escalated, and what changed if you can tell. "
            f"Cite the report (report://{today['report']}).\n\n"
            f"The report{' (truncated)' if today['truncated'] else ''}:\n\n{today['markdown']}"
        )

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return server


def serve(settings: McpSettings) -> int:
    """Run the server until the client goes away (stdio) or SIGTERM/Ctrl-C (HTTP); the audit
    log is flushed on the way out."""
    settings.check()
    platform = Platform()
    audit = AuditLog(platform.warehouse)
    server = build_server(settings, platform, audit)
    if settings.transport == "http":
        # A long-lived server: import the code location (seconds) before the first client
        # needs it. A stdio session loads it on the first call that needs it, so a session of
        # cheap reads never pays for it.
        threading.Thread(target=_quietly(platform.warm_up), name="mcp-warm-up", daemon=True).start()

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if settings.transport == "stdio":
        signal.signal(signal.SIGTERM, on_term)
    try:
        if settings.transport == "http":
            print(
                f"MCP server on http://{settings.host}:{settings.port}/mcp "
                f"(mutations {'allowed' if settings.allow_mutations else 'refused'})",
                file=sys.stderr,
                flush=True,
            )
            server.run("streamable-http", host=settings.host, port=settings.port)
        else:
            server.run("stdio")
    except KeyboardInterrupt:
        pass
    finally:
        audit.close()
        platform.close()
    return 0


def _quietly(fn: Callable[[], Any]) -> Callable[[], None]:
    @functools.wraps(fn)
    def run() -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the first call that needs it reports it
            print(f"mcp warm-up: {type(exc).__name__}: {exc}", file=sys.stderr)

    return run


__all__ = ["AuditMiddleware", "build_server", "serve"]
