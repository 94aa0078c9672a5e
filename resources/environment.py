"""The one environment switch: every resource is chosen here, by ``ORCHESTRATION_ENV``.

``local`` (default): embedded, offline, no credentials — DuckDB and SQLite files under the
project data folder, the bundled demo world on loopback, the offline language engine.
``production``: PostgreSQL warehouse and coordination store, real sites from configuration,
an OpenAI-compatible endpoint, optionally a remote browser over CDP. Secrets are ``EnvVar``s,
read at run time and never shown. No asset looks at the environment; they only see resources.

The language engine (``language``) is chosen by ``LANGUAGE_TIERS``:

* ``offline`` (the local default): ``OfflineLanguageEngine`` only.
* ``routed`` (the production default): ``TieredLanguageEngine``, the offline engine as the weak
  tier and an ``OpenAIChatEngine`` as the strong tier, bought per summary or report when the
  tier router (``llm_router@champion`` in the ``tracking`` registry, else the length rule)
  expects it to be worth ``LANGUAGE_WILLINGNESS_TO_PAY`` USD per better answer (default 0.0025)
  against ``LANGUAGE_LLM_COST_USD`` per call (default 0.0005). Locally the LLM tier exists only
  when ``OPENAI_BASE_URL`` names an endpoint (a local server needs no key; a key is read from
  ``OPENAI_API_KEY`` when set); without it every call stays offline ("no LLM tier configured")
  and no model is loaded. In production the endpoint defaults to OpenAI's and the key is
  required.
* ``llm``: ``OpenAIChatEngine`` for every call (production only; the earlier behaviour).

The endpoint's model is ``OPENAI_MODEL`` (default ``gpt-4o-mini``).
"""

from __future__ import annotations

import base64
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

import dagster as dg

from resources.alerting import AlertingResource
from resources.content import SiteEngagement, WebhookPublishSink
from resources.coordination import CoordinationResource
from resources.demo_crm import DemoCrmFormFiller
from resources.faults import FaultInjection
from resources.fetching import BrowserFetcher, HttpFetcher
from resources.fetching.mcp import McpFetcher
from resources.form_filling import BrowserFormFiller
from resources.language import OfflineLanguageEngine, OpenAIChatEngine, TieredLanguageEngine
from resources.mcp_form_filling import McpFormFiller, RoutedFormFiller
from resources.playwright_mcp import PlaywrightMcp
from resources.routing import RoutingResource
from resources.sources import ConfiguredSources, DemoWorldSources
from resources.tracking import MlflowTracking
from resources.warehouse import DuckDBWarehouse, PostgresWarehouse, WarehouseIOManager

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Environment(StrEnum):
    """Where the code runs."""

    LOCAL = "local"
    PRODUCTION = "production"


def current_environment() -> Environment:
    """The environment named by ``ORCHESTRATION_ENV`` (default ``local``)."""
    value = os.environ.get("ORCHESTRATION_ENV", "local").strip().lower()
    try:
        return Environment(value)
    except ValueError as exc:
        raise ValueError(
            f"ORCHESTRATION_ENV={value!r} is not one of {[e.value for e in Environment]}"
        ) from exc


def data_dir() -> Path:
    """The project data folder (``ORCHESTRATION_DATA_DIR``, default ``<repo>/.data``)."""
    return Path(os.environ.get("ORCHESTRATION_DATA_DIR", PROJECT_ROOT / ".data")).resolve()


def _secret(name: str) -> Any:
    """``dg.EnvVar(name)`` when the variable is set (resolved by Dagster, never logged), else
    an empty string."""
    return dg.EnvVar(name) if os.environ.get(name) else ""


def _csv(name: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, "").split(",") if x.strip()]


LANGUAGE_TIERS = ("offline", "routed", "llm")
"""The values of ``LANGUAGE_TIERS`` (see the module docstring)."""


def _chat_engine(*, key_required: bool) -> OpenAIChatEngine:
    """The OpenAI-compatible engine from ``OPENAI_BASE_URL``, ``OPENAI_MODEL`` and the
    ``OPENAI_API_KEY`` secret (an empty key for a local server when none is set and none is
    required)."""
    key: Any = (
        dg.EnvVar("OPENAI_API_KEY") if key_required or os.environ.get("OPENAI_API_KEY") else ""
    )
    return OpenAIChatEngine(
        base_url=os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
        api_key=key,
    )


def language_engine(env: Environment, tracking: MlflowTracking) -> Any:
    """The ``language`` resource for ``env``, as ``LANGUAGE_TIERS`` selects (see the module
    docstring); ``tracking`` is the registry the tier router is loaded from.

    Raises:
        ValueError: ``LANGUAGE_TIERS`` is not one of :data:`LANGUAGE_TIERS`, or is ``llm``
            locally.
    """
    local = env is Environment.LOCAL
    tiers = os.environ.get("LANGUAGE_TIERS", "offline" if local else "routed").strip().lower()
    if tiers not in LANGUAGE_TIERS:
        raise ValueError(f"LANGUAGE_TIERS={tiers!r} is not one of {list(LANGUAGE_TIERS)}")
    if tiers == "offline":
        return OfflineLanguageEngine()
    if tiers == "llm":
        if local:
            raise ValueError("LANGUAGE_TIERS=llm is for production; use routed locally")
        return _chat_engine(key_required=True)
    llm = None
    if not local or os.environ.get("OPENAI_BASE_URL"):
        llm = _chat_engine(key_required=not local)
    return TieredLanguageEngine(
        offline=OfflineLanguageEngine(),
        llm=llm,
        tracking=tracking,
        willingness_to_pay=float(os.environ.get("LANGUAGE_WILLINGNESS_TO_PAY", "0.0025")),
        llm_cost_usd=float(os.environ.get("LANGUAGE_LLM_COST_USD", "0.0005")),
    )


def local_resources(
    *, data: Path | None = None, demo_base_port: int | None = None
) -> dict[str, Any]:
    """The embedded defaults: offline, credential-free, everything under ``data``."""
    data = data or data_dir()
    port = demo_base_port or int(os.environ.get("DEMO_WORLD_BASE_PORT", "8701"))
    sources = DemoWorldSources(base_port=port)
    allowed = sources.allowed_hosts()
    loopback = ["127.0.0.1", "localhost"]
    warehouse = DuckDBWarehouse(
        path=str(data / "warehouse.duckdb"),
        lock_timeout_s=float(os.environ.get("WAREHOUSE_LOCK_TIMEOUT_S", "60")),
    )
    tracking = MlflowTracking(data_dir=str(data))
    content_site = f"http://127.0.0.1:{int(os.environ.get('CONTENT_SITE_PORT', '8720'))}"
    crm_port = int(os.environ.get("CRM_PORT", "8730"))
    crm: dict[str, Any] = {  # the demo CRM: the filler may reach its loopback port only
        "crm_url": f"http://127.0.0.1:{crm_port}",
        "username": "admin",
        "password": "ledgerly-demo",
        "api_token": "local-demo-token",
        "allowed_domains": [f"127.0.0.1:{crm_port}"],
        "allow_private_hosts": ["127.0.0.1"],
    }
    return {
        "warehouse": warehouse,
        "io_manager": WarehouseIOManager(warehouse=warehouse),
        "coordination": CoordinationResource(url=f"sqlite:///{data / 'coordination.db'}"),
        "http": HttpFetcher(allowed_domains=allowed, allow_private_hosts=loopback),
        "browser": BrowserFetcher(allowed_domains=allowed, allow_private_hosts=loopback),
        "language": language_engine(Environment.LOCAL, tracking),
        "market_sources": sources,
        "reports_dir": ReportsDir(path=str(data / "reports")),
        "alerting": AlertingResource(
            file_path=str(data / "alerts.jsonl"),
            webhook_url=os.environ.get("ALERT_WEBHOOK_URL") or None,
        ),
        "tracking": tracking,
        "routing": routing_resource(allowed, loopback),
        # the Playwright MCP server's browser tools (site QA journeys), started per run
        "playwright_mcp": PlaywrightMcp(
            allowed_domains=allowed,
            allow_private_hosts=loopback,
            chromium_path=os.environ.get("CHROMIUM_PATH") or None,
        ),
        # The demo world's content site: takes publications, serves experiments to SIMULATED
        # visitors with a known true click rate per strategy.
        "publish_sink": WebhookPublishSink(
            url=f"{content_site}/publish", serve_demo_site=True, data_dir=str(data)
        ),
        "engagement": SiteEngagement(
            url=content_site,
            simulate_visitors=int(os.environ.get("CONTENT_SIMULATED_VISITORS", "800")),
            data_dir=str(data),
        ),
        # The CRM's onboarding form by one of two browser routes from the same YAML mapping:
        # Playwright in process (default, ~3x faster) or the Playwright MCP server's tools.
        "form_filler": RoutedFormFiller(
            direct=DemoCrmFormFiller(
                **crm,
                contexts=int(os.environ.get("CRM_BROWSER_CONTEXTS", "3")),
                crm_db=str(data / "crm.db"),
                screenshot_dir=str(data / "reports" / "onboarding" / "screens"),
            ),
            mcp=McpFormFiller(
                **crm,
                contexts=int(os.environ.get("CRM_MCP_SESSIONS", "1")),
                mcp_url=os.environ.get("PLAYWRIGHT_MCP_URL") or None,
            ),
            route=os.environ.get("FORM_ROUTE", "direct"),
        ),
        "faults": FaultInjection(
            step_fault_rate=float(os.environ.get("FAULT_STEP_RATE", "0") or 0),
            seed=int(os.environ.get("FAULT_SEED", "0") or 0),
            target_url=sources.site_urls()[0],
            warehouse_path=str(data / "warehouse.duckdb"),
            ledger_path=str(data / "faults.jsonl"),
            lock_hold_s=float(os.environ.get("FAULT_LOCK_HOLD_S", "3")),
        ),
    }


def production_resources() -> dict[str, Any]:
    """Production: PostgreSQL, real sites, an LLM endpoint behind the tier router; secrets from
    the environment."""
    allowed = _csv("ALLOWED_DOMAINS")
    crm: dict[str, Any] = {
        "crm_url": os.environ.get("CRM_URL", ""),
        "username": _secret("CRM_USERNAME"),
        "password": _secret("CRM_PASSWORD"),
        "api_token": _secret("CRM_API_TOKEN"),
        "allowed_domains": _csv("CRM_ALLOWED_DOMAINS") or allowed,
    }
    warehouse = PostgresWarehouse(url=dg.EnvVar("WAREHOUSE_URL"))
    tracking = MlflowTracking(
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI", ""),
        artifact_root=os.environ.get("MLFLOW_ARTIFACT_ROOT", ""),
    )
    return {
        "tracking": tracking,
        "warehouse": warehouse,
        "io_manager": WarehouseIOManager(warehouse=warehouse),
        "coordination": CoordinationResource(url=dg.EnvVar("COORDINATION_DB_URL")),
        "http": HttpFetcher(
            allowed_domains=allowed, allow_private_hosts=_csv("ALLOW_PRIVATE_HOSTS")
        ),
        "browser": BrowserFetcher(
            allowed_domains=allowed,
            cdp_endpoint=os.environ.get("BROWSER_CDP_ENDPOINT") or None,
            allow_private_hosts=_csv("ALLOW_PRIVATE_HOSTS"),
        ),
        "language": language_engine(Environment.PRODUCTION, tracking),
        "market_sources": ConfiguredSources(
            market_topic=os.environ.get("RESEARCH_TOPIC", "unspecified market"),
            seeds=_csv("RESEARCH_SEED_URLS"),
        ),
        "reports_dir": ReportsDir(path=os.environ.get("REPORTS_DIR", str(data_dir() / "reports"))),
        "alerting": AlertingResource(
            file_path=os.environ.get("ALERT_FILE") or None,
            webhook_url=os.environ.get("ALERT_WEBHOOK_URL") or None,
            # Slack only when a token is configured; read at run time, never shown.
            slack_token=dg.EnvVar("SLACK_BOT_TOKEN") if os.environ.get("SLACK_BOT_TOKEN") else None,
            slack_channel=os.environ.get("SLACK_CHANNEL", "#ops-alerts"),
        ),
        "routing": routing_resource(allowed, _csv("ALLOW_PRIVATE_HOSTS")),
        "playwright_mcp": PlaywrightMcp(
            url=os.environ.get("PLAYWRIGHT_MCP_URL") or None, allowed_domains=allowed
        ),
        "publish_sink": WebhookPublishSink(
            url=os.environ.get("CONTENT_WEBHOOK_URL", ""),
            token=_secret("CONTENT_WEBHOOK_TOKEN"),
        ),
        "engagement": SiteEngagement(
            url=os.environ.get("CONTENT_ANALYTICS_URL", ""),
            token=_secret("CONTENT_ANALYTICS_TOKEN"),
        ),
        "form_filler": RoutedFormFiller(
            direct=BrowserFormFiller(
                **crm, contexts=int(os.environ.get("CRM_BROWSER_CONTEXTS", "3"))
            ),
            mcp=McpFormFiller(
                **crm,
                contexts=int(os.environ.get("CRM_MCP_SESSIONS", "1")),
                mcp_url=os.environ.get("PLAYWRIGHT_MCP_URL") or None,
                mcp_upload_dir=os.environ.get("PLAYWRIGHT_MCP_UPLOAD_DIR") or None,
            ),
            route=os.environ.get("FORM_ROUTE", "direct"),
        ),
        "faults": FaultInjection(),  # never injects in production (rate 0)
    }


class ReportsDir(dg.ConfigurableResource):
    """Where human-readable reports (Markdown, HTML, charts) are written."""

    path: str

    def folder(self, *parts: str) -> Path:
        """A sub-folder of the reports folder, created if needed."""
        p = Path(self.path, *parts)
        p.mkdir(parents=True, exist_ok=True)
        return p


def png_markdown(path: Path, alt: str = "chart") -> dg.MetadataValue:
    """A PNG inline as Markdown metadata, so that the Dagster UI shows the picture itself
    (a path would only show its name)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


def routing_resource(allowed: list[str], private_hosts: list[str]) -> RoutingResource:
    """The fetch router (``ROUTING_STRATEGY``), with the Playwright MCP server's browser as a
    third route when ``FETCH_ROUTES`` names ``mcp`` (``http,browser,mcp``; it is started over
    stdio per crawl, or reached at ``PLAYWRIGHT_MCP_URL``)."""
    routes = {r.strip() for r in os.environ.get("FETCH_ROUTES", "http,browser").split(",")}
    mcp = (
        McpFetcher(
            mcp_url=os.environ.get("PLAYWRIGHT_MCP_URL") or None,
            allowed_domains=allowed,
            allow_private_hosts=private_hosts,
        )
        if "mcp" in routes
        else None
    )
    return RoutingResource(strategy=os.environ.get("ROUTING_STRATEGY", "bandit"), mcp=mcp)


def build_resources(env: Environment | None = None) -> dict[str, Any]:
    """Every resource for ``env`` (default: the current environment)."""
    env = env or current_environment()
    return local_resources() if env is Environment.LOCAL else production_resources()
