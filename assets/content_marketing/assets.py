"""The content-marketing group: briefs → drafts per strategy → channel outputs checked by Great
Expectations (failures block publication) → published content → experiment results →
promoted strategy.

Drafts built from market research read ``market_research.competitor_matrix`` and depend on the
market report, so the lineage shows which research a piece of content came from.
"""

import json
import time
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from orchestration_project.agents.runtime import ActionRecorder, Agent
from orchestration_project.common.quality import validate
from orchestration_project.content_marketing.briefs import DEFAULT_BRIEFS, Brief, load_briefs
from orchestration_project.content_marketing.channels import ChannelOutput, render
from orchestration_project.content_marketing.checks import check_outputs, expectations
from orchestration_project.content_marketing.strategies import (
    STRATEGIES,
    STRATEGY_VERSION,
    Draft,
    StrategyUnavailable,
    draft,
)
from orchestration_project.evolution.compat import RenamedFields
from resources.content import PublishError, WebhookPublishSink
from resources.environment import ReportsDir
from resources.language import LanguageEngine, OfflineLanguageEngine
from resources.retry import Retryable
from resources.warehouse import WAREHOUSE_POOL, Warehouse, in_schema

GROUP = "content_marketing"
BRIEFS = "content_briefs"
BRIEF_QUARANTINE = "content_brief_quarantine"
DRAFTS = "content_drafts"
OUTPUTS = "channel_outputs"
PUBLISHED = "published_content"
CONTENT_CHECKS = "content_passes_checks"
AGENT_ACTIONS = "agent_actions"
TABLE = in_schema(GROUP)


class BriefsConfig(RenamedFields, dg.Config):
    """Where the briefs come from."""

    briefs_dir: str = Field(
        default="", description="a folder of brief YAML files; empty: the bundled briefs"
    )


def _briefs_of(frame: pd.DataFrame) -> dict[str, Brief]:
    return {r["brief_id"]: Brief(**json.loads(r["brief_json"])) for _, r in frame.iterrows()}


def _brief_json(b: Brief) -> str:
    d = b.__dict__.copy()
    d["channels"], d["hashtags"], d["banned_words"] = (
        list(b.channels),
        list(b.hashtags),
        list(b.banned_words),
    )
    return json.dumps(d, default=str)


@dg.multi_asset(
    group_name=GROUP,
    outs={
        BRIEFS: dg.AssetOut(
            description="The content briefs of this calendar run: topic, audience, channels, "
            "call to action, hashtags and banned words.",
            metadata=TABLE,
            kinds={"python", "yaml", "duckdb"},
        ),
        BRIEF_QUARANTINE: dg.AssetOut(
            description="Briefs that could not be read, with the reason (briefs in = "
            "accepted + quarantined).",
            metadata=TABLE,
            kinds={"python", "duckdb"},
        ),
    },
    pool=WAREHOUSE_POOL,
)
def content_briefs(config: BriefsConfig):
    """The briefs, from the configured folder or the bundled ones; malformed ones quarantined."""
    folder = Path(config.briefs_dir) if config.briefs_dir else None
    paths = sorted(folder.glob("*.y*ml")) if folder else [DEFAULT_BRIEFS]
    if folder is not None and not folder.is_dir():
        raise FileNotFoundError(f"briefs_dir {folder} is not a folder")
    accepted, quarantined = load_briefs(paths)
    df = pd.DataFrame(
        [
            {
                "brief_id": b.brief_id,
                "topic": b.topic,
                "audience": b.audience,
                "channels": ",".join(b.channels),
                "cta_url": b.cta_url,
                "source": b.source,
                "brief_json": _brief_json(b),
            }
            for b in accepted
        ],
        columns=["brief_id", "topic", "audience", "channels", "cta_url", "source", "brief_json"],
    )
    q = pd.DataFrame(
        [q.__dict__ for q in quarantined], columns=["source", "index", "reason", "raw"]
    )
    yield dg.Output(
        df,
        output_name=BRIEFS,
        metadata={
            "row_count": len(df),
            "briefs_in": len(df) + len(q),
            "files": len(paths),
            "preview": dg.MetadataValue.md(
                df.drop(columns=["brief_json"]).to_markdown(index=False) if len(df) else "none"
            ),
        },
    )
    yield dg.Output(q, output_name=BRIEF_QUARANTINE, metadata={"row_count": len(q)})


def _matrix(warehouse: Warehouse) -> pd.DataFrame:
    if not warehouse.table_exists("competitor_matrix", schema="market_research"):
        return pd.DataFrame(columns=["product", "brand", "price", "currency", "rating"])
    return warehouse.read_table("competitor_matrix", schema="market_research")


def _llm_available(language: LanguageEngine) -> bool:
    """An LLM endpoint is configured: the chat engine itself, or a tiered engine with an LLM
    tier (the offline engine alone does not write the ``llm`` strategy's drafts)."""
    if isinstance(language, OfflineLanguageEngine):
        return False
    return getattr(language, "llm", True) is not None


def _persist_actions(
    context: dg.AssetExecutionContext, warehouse: Warehouse, recorder: ActionRecorder
) -> None:
    df = recorder.to_frame()
    if df.empty:
        return
    # content_marketing.agent_actions: consolidated into operations.agent_actions by run_metadata
    warehouse.write_table(AGENT_ACTIONS, df, schema=GROUP, mode="append")
    context.log.info(f"{len(df)} agent actions recorded")


DRAFT_COLUMNS = [
    "brief_id",
    "strategy",
    "status",
    "reason",
    "title",
    "summary",
    "paragraphs",
    "claims",
    "model",
    "cost_usd",
    "facts_used",
    "strategy_version",
]


@dg.asset(
    name=DRAFTS,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    deps=[dg.AssetKey("competitor_matrix"), dg.AssetKey("market_report")],
    pool=WAREHOUSE_POOL,
    metadata=TABLE,
)
def content_drafts(
    context: dg.AssetExecutionContext,
    content_briefs: pd.DataFrame,
    warehouse: Warehouse,
    language: LanguageEngine,
) -> dg.Output[pd.DataFrame]:
    """A draft of every brief by every strategy: ``templated``; ``market_facts``, built from
    the resolved market facts in the competitor matrix (every price a fact, kept as a claim);
    ``llm``, written by the language engine when an LLM endpoint is configured. A strategy that
    cannot run is a row with status ``skipped`` and the reason, never a silent gap."""
    matrix = _matrix(warehouse)
    recorder = ActionRecorder(context.run_id, context.log.info)
    writer = Agent(
        name="copywriter", role="writer", goal="Draft content from briefs", recorder=recorder
    )
    llm = _llm_available(language)
    # The llm strategy asks the LLM itself: a tiered engine's LLM tier, not its router.
    llm_writer = getattr(language, "llm", None) or language
    rows = []
    for brief in _briefs_of(content_briefs).values():
        for strategy in STRATEGIES:
            t0 = time.perf_counter()
            try:
                d: Draft = draft(brief, strategy, matrix, llm_writer, llm_available=llm)
            except StrategyUnavailable as exc:
                rows.append(
                    {
                        "brief_id": brief.brief_id,
                        "strategy": strategy,
                        "status": "skipped",
                        "reason": str(exc),
                    }
                )
                writer.record(
                    "decision",
                    f"skip {strategy}",
                    inputs=brief.brief_id,
                    output=str(exc),
                    outcome="skipped",
                    task_id=brief.brief_id,
                )
                continue
            rows.append(
                {
                    "brief_id": d.brief_id,
                    "strategy": d.strategy,
                    "status": "drafted",
                    "reason": "",
                    "title": d.title,
                    "summary": d.summary,
                    "paragraphs": json.dumps(list(d.paragraphs)),
                    "claims": json.dumps(list(d.claims)),
                    "model": d.model,
                    "cost_usd": d.cost_usd,
                    "facts_used": d.facts_used,
                    "strategy_version": STRATEGY_VERSION,
                }
            )
            writer.record(
                "generation",
                f"draft {strategy}",
                inputs=brief.brief_id,
                output=d.title,
                duration_s=time.perf_counter() - t0,
                cost_usd=d.cost_usd,
                route=d.model,
                task_id=brief.brief_id,
            )
    df = pd.DataFrame(rows, columns=DRAFT_COLUMNS)
    _persist_actions(context, warehouse, recorder)
    drafted = df[df["status"] == "drafted"]
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "drafted": len(drafted),
            "skipped": dg.MetadataValue.json(
                df[df["status"] == "skipped"][["brief_id", "strategy", "reason"]].to_dict("records")
            ),
            "market_products": len(matrix),
            "llm_configured": llm,
            "preview": dg.MetadataValue.md(
                drafted[["brief_id", "strategy", "title", "facts_used"]].to_markdown(index=False)
                if len(drafted)
                else "no drafts"
            ),
        },
    )


def _draft_of(row: pd.Series) -> Draft:
    return Draft(
        brief_id=row["brief_id"],
        strategy=row["strategy"],
        title=row["title"],
        summary=row["summary"],
        paragraphs=tuple(json.loads(row["paragraphs"])),
        claims=tuple(json.loads(row["claims"] or "[]")),
        model=row["model"] or "",
    )


@dg.asset(
    name=OUTPUTS,
    group_name=GROUP,
    kinds={"python", "great_expectations", "duckdb"},
    deps=[dg.AssetKey("competitor_matrix")],
    pool=WAREHOUSE_POOL,
    metadata=TABLE,
    check_specs=[dg.AssetCheckSpec(CONTENT_CHECKS, asset=OUTPUTS, blocking=True)],
)
def channel_outputs(
    content_drafts: pd.DataFrame, content_briefs: pd.DataFrame, warehouse: Warehouse
):
    """Every draft on every channel its brief asks for (blog: Markdown and HTML; e-mail:
    subject, plain text and HTML; social post), with the content checks' columns: length,
    call to action, hashtags, banned words, readability, personal data, placeholders and
    prices not found in the resolved market facts. The Great Expectations check over them is
    blocking: when it fails, nothing is published."""
    briefs = _briefs_of(content_briefs)
    outputs: list[ChannelOutput] = []
    for _, row in content_drafts[content_drafts["status"] == "drafted"].iterrows():
        outputs.extend(render(_draft_of(row), briefs[row["brief_id"]]))
    checked = check_outputs(outputs, briefs, _matrix(warehouse))
    if checked.empty:
        checked = pd.DataFrame(columns=["brief_id", "strategy", "channel", "text", "passed"])
    failed = checked[~checked["passed"].astype(bool)] if len(checked) else checked
    yield dg.Output(
        checked,
        metadata={
            "row_count": len(checked),
            "failed": len(failed),
            "by_channel": dg.MetadataValue.json(checked["channel"].value_counts().to_dict()),
            "preview": dg.MetadataValue.md(
                checked.drop(columns=["text", "html", "title"], errors="ignore").to_markdown(
                    index=False
                )
            ),
        },
    )
    yield validate(checked, expectations(), check_name=CONTENT_CHECKS)


EXT = {"blog": ("md", "html"), "email": ("txt", "html"), "social": ("txt", None)}


def experiment_key(brief_id: str, channel: str) -> str:
    """The experiment of a brief on a channel (its strategies are the variants)."""
    return f"{brief_id}--{channel}"


def variant_name(strategy: str) -> str:
    """The variant of a strategy: control first (templated), in the order of STRATEGIES."""
    return f"{STRATEGIES.index(strategy)}-{strategy}"


def _current_defaults(warehouse: Warehouse) -> dict[str, str]:
    """Per experiment, the strategy the last run promoted (the control before any)."""
    if not warehouse.table_exists("promoted_strategy", schema=GROUP):
        return {}
    promoted = warehouse.read_table("promoted_strategy", schema=GROUP)
    return dict(zip(promoted["experiment"], promoted["strategy"], strict=True))


@dg.asset(
    name=PUBLISHED,
    group_name=GROUP,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    metadata=TABLE,
)
def published_content(
    context: dg.AssetExecutionContext,
    channel_outputs: pd.DataFrame,
    publish_sink: WebhookPublishSink,
    reports_dir: ReportsDir,
    warehouse: Warehouse,
) -> dg.Output[pd.DataFrame]:
    """Every checked channel output published: written to files per channel
    (``reports/content/<channel>/``) and sent to the publish sink (a webhook; locally the demo
    content site, which serves each brief's strategies as the variants of an experiment). The
    strategy the last run promoted (``promoted_strategy``) is published as the default that
    everyone outside the experiment sees. An item the sink refuses is kept with the error; it
    never stops the others."""
    defaults = _current_defaults(warehouse)
    rows = []
    for _, r in channel_outputs.iterrows():
        folder = reports_dir.folder("content", r["channel"])
        stem = f"{r['brief_id']}__{r['strategy']}"
        text_ext, html_ext = EXT[r["channel"]]
        (folder / f"{stem}.{text_ext}").write_text(r["text"], encoding="utf-8")
        if html_ext and r.get("html"):
            (folder / f"{stem}.{html_ext}").write_text(r["html"], encoding="utf-8")
        key = experiment_key(r["brief_id"], r["channel"])
        item = {
            "experiment": key,
            # the variant everyone outside the experiment sees: the promoted strategy's
            "default": r["strategy"] == defaults.get(key, STRATEGIES[0]),
            "variant": variant_name(r["strategy"]),
            "strategy": r["strategy"],
            "channel": r["channel"],
            "brief_id": r["brief_id"],
            "title": r["title"],
            "html": r.get("html") or f"<p>{r['text']}</p>",
            "text": r["text"],
        }
        try:
            location, error = publish_sink.publish(item), ""
        except (PublishError, Retryable) as exc:
            location, error = "", f"{type(exc).__name__}: {exc}"
            context.log.warning(f"publish {stem} on {r['channel']} failed: {error}")
        rows.append(
            {
                "brief_id": r["brief_id"],
                "strategy": r["strategy"],
                "channel": r["channel"],
                "experiment": item["experiment"],
                "variant": item["variant"],
                "default": item["default"],
                "file": str(folder / f"{stem}.{text_ext}"),
                "location": location,
                "error": error,
            }
        )
    df = pd.DataFrame(
        rows,
        columns=[
            "brief_id",
            "strategy",
            "channel",
            "experiment",
            "variant",
            "default",
            "file",
            "location",
            "error",
        ],
    )
    return dg.Output(
        df,
        metadata={
            "row_count": len(df),
            "published": int((df["error"] == "").sum()),
            "failed": int((df["error"] != "").sum()),
            "folder": dg.MetadataValue.path(str(reports_dir.folder("content"))),
        },
    )


content_assets = [content_briefs, content_drafts, channel_outputs, published_content]

__all__ = [
    "BRIEFS",
    "DRAFTS",
    "GROUP",
    "OUTPUTS",
    "PUBLISHED",
    "content_assets",
    "experiment_key",
    "variant_name",
]
