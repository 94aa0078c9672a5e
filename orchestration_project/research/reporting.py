"""The market report: Markdown and a self-contained HTML page with charts.

Charts are matplotlib PNGs (written beside the report and embedded in the HTML as data URIs, so
the HTML opens anywhere). The summary is written by the language engine from the facts only:
scraped strings enter it as data.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

# Approximate conversion for the comparison chart only (prices keep their own currency in the
# tables). Production deployments can replace these with a rates feed.
FX_TO_USD = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0067,
    "CHF": 1.13,
    "CAD": 0.73,
    "AUD": 0.66,
    "SEK": 0.095,
    "NOK": 0.093,
    "DKK": 0.145,
    "PLN": 0.25,
}


@dataclass
class ReportOutput:
    """Where the report went and what it says."""

    html_path: Path
    markdown_path: Path
    summary: str
    charts: list[Path] = field(default_factory=list)
    price_chart_md: str = ""


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


AMOUNT_KINDS = ("fixed", "from", "tiered")
"""Price kinds with an amount to compare (free, contact and none are listed, not charted)."""


def priced(matrix: pd.DataFrame) -> pd.DataFrame:
    """The products with a positive amount (fixed, from or tiered prices)."""
    if "price" not in matrix.columns:
        return matrix.iloc[0:0]
    df = matrix.dropna(subset=["price"])
    df = df[df["price"].astype(float) > 0]
    if "price_kind" in df.columns:
        df = df[df["price_kind"].fillna("fixed").isin(AMOUNT_KINDS)]
    return df


def unpriced(matrix: pd.DataFrame) -> pd.DataFrame:
    """The products without an amount to compare: free, contact-us, or no price shown."""
    if not len(matrix) or "price" not in matrix.columns:
        return matrix.iloc[0:0]
    return matrix[~matrix.index.isin(priced(matrix).index)]


def price_chart(matrix: pd.DataFrame, path: Path) -> Path | None:
    """Horizontal bars: each priced product's price in USD (approximate), coloured by brand
    (free, contact-us and unpriced products are listed in the report, not charted)."""
    df = priced(matrix).copy()
    if df.empty:
        return None
    df["price_usd"] = df.apply(lambda r: r["price"] * FX_TO_USD.get(r["currency"], 1.0), axis=1)
    df = df.sort_values(["brand", "price_usd"])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, max(3, 0.35 * len(df) + 1)))
    brands = list(dict.fromkeys(df["brand"]))
    colors = plt.get_cmap("tab10")
    for i, brand in enumerate(brands):
        part = df[df["brand"] == brand]
        labels = [
            f"{p} ({c} {v:,.2f}{'/' + u if isinstance(u, str) else ''})"
            for p, c, v, u in zip(
                part["product"], part["currency"], part["price"], part["unit"], strict=True
            )
        ]
        ax.barh(labels, part["price_usd"], color=colors(i % 10), label=brand)
    ax.set_xlabel("price, USD (approximate conversion)")
    ax.set_title("Price comparison")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def feature_chart(matrix: pd.DataFrame, path: Path) -> Path | None:
    """A product × feature grid: which product offers which feature."""
    cols = [c for c in matrix.columns if c.startswith("feature:")]
    if not cols or matrix.empty:
        return None
    grid = matrix[cols].fillna(False).astype(float).to_numpy()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(cols) + 3), max(3, 0.35 * len(matrix) + 1)))
    ax.imshow(grid, cmap="Greens", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(
        range(len(cols)), [c.split(":", 1)[1] for c in cols], rotation=60, ha="right", fontsize=8
    )
    ax.set_yticks(
        range(len(matrix)),
        [f"{b}: {p}" for b, p in zip(matrix["brand"], matrix["product"], strict=True)],
        fontsize=8,
    )
    ax.set_title("Feature coverage")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sentiment_chart(matrix: pd.DataFrame, path: Path) -> Path | None:
    """Mean review sentiment per brand (−1 … 1) with the number of reviews."""
    df = matrix.dropna(subset=["sentiment"])
    if df.empty:
        return None
    agg = df.groupby("brand").apply(
        lambda g: pd.Series(
            {
                "sentiment": (g["sentiment"] * g["reviews"]).sum() / max(g["reviews"].sum(), 1),
                "reviews": g["reviews"].sum(),
            }
        ),
        include_groups=False,
    )
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    colors = ["#2a9d8f" if v >= 0 else "#e76f51" for v in agg["sentiment"]]
    ax.bar(agg.index, agg["sentiment"], color=colors)
    for i, (v, n) in enumerate(zip(agg["sentiment"], agg["reviews"], strict=True)):
        ax.text(
            i, v + (0.03 if v >= 0 else -0.08), f"{v:+.2f} (n={int(n)})", ha="center", fontsize=8
        )
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_ylim(-1, 1)
    ax.set_ylabel("mean review sentiment")
    ax.set_title("Customer sentiment by brand")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _facts_for_summary(topic: str, matrix: pd.DataFrame, resolved: pd.DataFrame) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "topic": topic,
        "competitors": int(matrix["brand"].nunique()),
        "products": len(matrix),
    }
    with_amount = priced(matrix)
    without = unpriced(matrix)
    if len(without) and "price_kind" in without.columns:
        facts["products_without_amount"] = {
            str(k): int(v) for k, v in without["price_kind"].fillna("none").value_counts().items()
        }
    if len(with_amount):
        usd = with_amount.apply(lambda r: r["price"] * FX_TO_USD.get(r["currency"], 1.0), axis=1)
        lo, hi = with_amount.loc[usd.idxmin()], with_amount.loc[usd.idxmax()]
        facts["cheapest"] = f"{lo['product']} ({lo['brand']}, {lo['currency']} {lo['price']:,.2f})"
        facts["most_expensive"] = (
            f"{hi['product']} ({hi['brand']}, {hi['currency']} {hi['price']:,.2f})"
        )
    if "sentiment" in matrix and matrix["sentiment"].notna().any():
        best = matrix.loc[matrix["sentiment"].idxmax()]
        facts["best_reviewed"] = f"{best['product']} ({best['brand']})"
    if "rating" in matrix and matrix["rating"].notna().any():
        top = matrix.loc[matrix["rating"].astype(float).idxmax()]
        facts["highest_rated"] = f"{top['product']} ({top['brand']}, {float(top['rating']):.1f}/5)"
    if len(resolved):
        facts["conflicts_resolved"] = int((resolved["n_values"] > 1).sum())
        facts["escalated_for_review"] = int(resolved["escalated"].sum())
    return facts


_KIND_TEXT = {
    "free": "free",
    "contact": "contact the seller",
    "none": "no price shown",
}


def _unpriced_table(matrix: pd.DataFrame) -> pd.DataFrame:
    """Brand, product and how it is priced, for the products the price chart leaves out."""
    df = unpriced(matrix)
    if not len(df):
        return pd.DataFrame(columns=["brand", "product", "pricing"])
    kinds = df["price_kind"] if "price_kind" in df.columns else pd.Series("none", index=df.index)
    return pd.DataFrame(
        {
            "brand": df["brand"],
            "product": df["product"],
            "pricing": kinds.fillna("none").map(lambda k: _KIND_TEXT.get(k, k)),
        }
    ).reset_index(drop=True)


def write_market_report(
    *, folder: Path, topic: str, matrix: pd.DataFrame, resolved: pd.DataFrame, language: Any
) -> ReportOutput:
    """Write report.md, report.html and the chart PNGs into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    charts = [
        c
        for c in (
            price_chart(matrix, folder / "price_comparison.png"),
            feature_chart(matrix, folder / "feature_coverage.png"),
            sentiment_chart(matrix, folder / "sentiment.png"),
        )
        if c is not None
    ]
    facts = _facts_for_summary(topic, matrix, resolved)
    summary = language.write(
        instruction="Write a short executive summary of this competitive market for a product "
        "team. Use only the facts given.",
        facts=facts,
    ).value
    conflicts = resolved[resolved["n_values"] > 1] if len(resolved) else resolved
    table_cols = [
        c
        for c in [
            "brand",
            "product",
            "variant",
            "price",
            "price_kind",
            "currency",
            "unit",
            "per",
            "rating",
            "reviews",
            "sentiment",
            "n_features",
        ]
        if c in matrix.columns
    ]
    table = matrix[table_cols].copy()
    table = table.astype(object).where(table.notna(), "")  # blanks, not "None", for missing
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    md = [
        f"# Market report: {topic}",
        "",
        f"_Generated {generated}._",
        "",
        "## Summary",
        "",
        summary,
        "",
        "## Competitor matrix",
        "",
        table.to_markdown(index=False),
        "",
    ]
    free_or_unpriced = _unpriced_table(matrix)
    md += ["## Free and unpriced products", ""]
    md.append(
        free_or_unpriced.to_markdown(index=False)
        if len(free_or_unpriced)
        else "Every product shows a price."
    )
    md += [""]
    md += ["## Charts", ""] + [f"![{c.stem}]({c.name})" for c in charts] + [""]
    md += ["## Conflicting facts and how they were resolved", ""]
    if len(conflicts):
        md.append(
            conflicts[
                ["subject", "attribute", "value", "confidence", "strategy", "rationale"]
            ].to_markdown(index=False)
        )
    else:
        md.append("No conflicting facts.")
    md += ["", "## Waiting for human review", ""]
    esc = resolved[resolved["escalated"]] if len(resolved) else resolved
    md.append(
        esc[["subject", "attribute", "value", "confidence", "rationale"]].to_markdown(index=False)
        if len(esc)
        else "Nothing."
    )
    md_path = folder / "report.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    def img(c: Path) -> str:
        data = base64.b64encode(c.read_bytes()).decode()
        return f'<figure><img alt="{c.stem}" src="data:image/png;base64,{data}"></figure>'

    body = [
        f"<h1>Market report: {html.escape(topic)}</h1><p><em>Generated {generated}.</em></p>",
        f"<h2>Summary</h2><p>{html.escape(summary)}</p>",
        "<h2>Competitor matrix</h2>",
        table.to_html(index=False, na_rep="", float_format=lambda x: f"{x:.2f}"),
        "<h2>Free and unpriced products</h2>",
        free_or_unpriced.to_html(index=False, na_rep="")
        if len(free_or_unpriced)
        else "<p>Every product shows a price.</p>",
        "<h2>Charts</h2>",
        *[img(c) for c in charts],
        "<h2>Conflicting facts and how they were resolved</h2>",
        conflicts[["subject", "attribute", "value", "confidence", "strategy", "rationale"]].to_html(
            index=False
        )
        if len(conflicts)
        else "<p>No conflicting facts.</p>",
        "<h2>Waiting for human review</h2>",
        esc[["subject", "attribute", "value", "confidence", "rationale"]].to_html(index=False)
        if len(esc)
        else "<p>Nothing.</p>",
    ]
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;"
        "padding:4px 8px}th{background:#f2f2f2}img{max-width:100%}"
    )
    html_path = folder / "report.html"
    html_path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Market report</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>",
        encoding="utf-8",
    )
    # Inline image: the Dagster UI shows it in the asset's metadata without file access.
    price_md = (
        f"![{charts[0].stem}](data:image/png;base64,"
        f"{base64.b64encode(charts[0].read_bytes()).decode()})"
        if charts
        else ""
    )
    return ReportOutput(html_path, md_path, summary, charts, price_md)
