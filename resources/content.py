"""Where content goes and where its engagement comes from.

* ``publish_sink`` (:class:`WebhookPublishSink`): every published channel output is POSTed as
  JSON to a webhook (a CMS, a marketing platform), with retries and an optional bearer token.
  Locally the webhook is the demo world's content site on loopback, started for the step when
  nothing listens there; in production ``CONTENT_WEBHOOK_URL`` (and ``CONTENT_WEBHOOK_TOKEN``).
  Files per channel are written besides, by the asset, in the reports folder.
* ``engagement`` (:class:`SiteEngagement`): the exposures and clicks of an experiment, read from
  the site's events API (``GET /api/events?experiment=``). Locally the demo content site, whose
  visitors are SIMULATED (:func:`orchestration_project.demo_world.content_site.
  simulate_visitors`, a known true click rate per strategy) before each read; in production an
  analytics endpoint speaking the same protocol, with no simulation.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import httpx
import pandas as pd
from pydantic import Field

from resources.retry import Retryable, RetryPolicy, is_retryable_status, post_json_with_retries

EVENT_COLUMNS = ["uid", "variant", "kind", "at"]


class PublishError(RuntimeError):
    """The sink refused an item for good (a 4xx other than 408/429)."""


def _demo_site(url: str, data_dir: str) -> None:
    """Serve the demo content site for this process if ``url`` is it and nothing listens."""
    from pathlib import Path

    from orchestration_project.demo_world.content_site import ensure_content_site

    parts = urlsplit(url)
    folder = Path(data_dir) if data_dir else _default_data()
    ensure_content_site(parts.hostname or "127.0.0.1", parts.port or 80, folder / "content_site.db")


def _default_data() -> Any:
    from resources.environment import data_dir  # lazy: environment imports this module

    return data_dir()


class WebhookPublishSink(dg.ConfigurableResource):
    """Publishes channel outputs by POSTing each as JSON to a webhook, with retries."""

    url: str = Field(description="the webhook endpoint")
    token: str = Field(default="", description="bearer token (an EnvVar in production)")
    timeout_s: float = Field(default=10.0, description="per-request time-out")
    attempts: int = Field(default=4, description="attempts per item (transient failures)")
    serve_demo_site: bool = Field(
        default=False, description="serve the demo content site here if nothing listens (local)"
    )
    data_dir: str = Field(default="", description="the demo site's folder; empty: project data")

    def publish(self, item: dict[str, Any]) -> str:
        """POST one item; the location the sink reports (or the endpoint) on success.

        Raises:
            PublishError: refused for good; :class:`resources.retry.Retryable` after the
            attempts ran out on transient failures.
        """
        if not self.url:
            raise PublishError("no webhook configured (CONTENT_WEBHOOK_URL)")
        if self.serve_demo_site:
            _demo_site(self.url, self.data_dir)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        headers["Idempotency-Key"] = hashlib.sha256(
            f"{item.get('experiment')}|{item.get('variant')}|{item.get('channel')}".encode()
        ).hexdigest()[:32]

        def check(resp: httpx.Response) -> str:
            if is_retryable_status(resp.status_code, {408, 429}):
                raise Retryable(f"HTTP {resp.status_code}")
            if resp.status_code >= 400:
                raise PublishError(f"HTTP {resp.status_code}: {resp.text[:200]}")
            try:
                return str(resp.json().get("url") or self.url)
            except ValueError:
                return self.url

        return post_json_with_retries(
            self.url,
            item,
            headers,
            check=check,
            policy=RetryPolicy(
                attempts=self.attempts, backoff_s=0.5, max_backoff_s=8.0, max_retry_after_s=30.0
            ),
            timeout_s=self.timeout_s,
        )


class SiteEngagement(dg.ConfigurableResource):
    """Exposures and clicks of an experiment, from a site's events API; locally the demo
    content site with SIMULATED visitors."""

    url: str = Field(description="base URL of the site (its /api/events)")
    token: str = Field(default="", description="bearer token (an EnvVar in production)")
    simulate_visitors: int = Field(
        default=0,
        description="SIMULATION: new visitors sent to the site before each read (0: none)",
    )
    seed: int = Field(default=7, description="SIMULATION: the visitors' random seed")
    true_click_rates: dict[str, float] = Field(
        default_factory=dict,
        description="SIMULATION: true click rate per strategy; empty: the demo world's",
    )
    data_dir: str = Field(default="", description="the demo site's folder; empty: project data")

    @property
    def simulated(self) -> bool:
        """Whether the engagement is simulated (labelled so wherever it shows)."""
        return self.simulate_visitors > 0

    def collect(self, experiment: str, *, round_id: str = "") -> pd.DataFrame:
        """The experiment's events (``uid, variant, kind, at``); with simulation on, first
        ``simulate_visitors`` new visitors (ids unique to ``round_id``) visit the site."""
        if self.simulated:
            from orchestration_project.demo_world.content_site import simulate_visitors

            _demo_site(self.url, self.data_dir)
            uids = [f"{round_id or 'r'}-{i}" for i in range(self.simulate_visitors)]
            simulate_visitors(
                self.url, experiment, uids, seed=self.seed, rates=self.true_click_rates or None
            )
        if not self.url:
            raise ValueError("no engagement source configured (CONTENT_ANALYTICS_URL)")
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        resp = httpx.get(
            f"{self.url.rstrip('/')}/api/events",
            params={"experiment": experiment},
            headers=headers,
            timeout=30.0,
        )
        resp.raise_for_status()
        return pd.DataFrame(resp.json(), columns=EVENT_COLUMNS)


__all__ = ["EVENT_COLUMNS", "PublishError", "SiteEngagement", "WebhookPublishSink"]
