"""Where market research starts: the topic and the seed sites of the competitors.

Embedded default: the bundled demo world on loopback (started in the step's process when it is
not already running, e.g. by ``make world``). Production: a configured list of real sites.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr

from orchestration_project.common.net import port_open

DEFAULT_TOPIC = "smart thermostats and home climate devices"


class MarketSources(dg.ConfigurableResource, ABC):
    """The research topic and the competitor seed URLs."""

    @abstractmethod
    def topic(self) -> str:
        """The market being researched."""

    @abstractmethod
    def seed_urls(self) -> list[str]:
        """One or more start pages per competitor site."""


class ConfiguredSources(MarketSources):
    """Production sources: real competitor sites, listed in configuration."""

    market_topic: str = Field(description="The market being researched.")
    seeds: list[str] = Field(description="Competitor start pages (they must be on the allow-list).")

    def topic(self) -> str:
        """The configured topic."""
        return self.market_topic

    def seed_urls(self) -> list[str]:
        """The configured seeds."""
        return list(self.seeds)


class DemoWorldSources(MarketSources):
    """The bundled demo world: five competitor sites on 127.0.0.1 ports base_port..base_port+4.

    If nothing listens there when a step starts, the step serves the demo world itself for its
    own duration (so a materialisation from the UI or CLI works without starting it first).
    """

    host: str = Field(default="127.0.0.1", description="Loopback address of the demo world.")
    base_port: int = Field(default=8701, description="Port of the first competitor site.")
    start_if_missing: bool = Field(default=True, description="Serve it in-step when not running.")
    slow_seconds: float = Field(default=15.0, description="Delay of the demo world's slow page.")

    _world: Any = PrivateAttr(default=None)

    def site_urls(self) -> list[str]:
        """The five competitor base URLs."""
        return [f"http://{self.host}:{self.base_port + i}" for i in range(5)]

    def allowed_hosts(self) -> list[str]:
        """host:port entries of the competitor sites (the outside site is not among them)."""
        return [f"{self.host}:{self.base_port + i}" for i in range(5)]

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Start the demo world if it is not running and we may: for a step only, never for a
        sensor or schedule evaluation (which only needs the list of sites)."""
        if context.dagster_run is None:
            return
        if self.start_if_missing and not port_open(self.host, self.base_port):
            from orchestration_project.demo_world import start_demo_world

            self._world = start_demo_world(
                self.host, self.base_port, slow_seconds=self.slow_seconds
            )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Stop the demo world if this step started it."""
        if self._world is not None:
            self._world.stop()
            self._world = None

    def topic(self) -> str:
        """The demo market's topic."""
        return DEFAULT_TOPIC

    def seed_urls(self) -> list[str]:
        """The home page of each competitor site."""
        return [u + "/" for u in self.site_urls()]
