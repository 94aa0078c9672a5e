"""The local default of the ``form_filler`` resource: the browser form filler pointed at the
demo world's CRM, which this process serves (its own SQLite file in the data folder) when
nothing listens on its port yet. Production uses :class:`resources.form_filling.
BrowserFormFiller` on the real CRM's URL with credentials from the environment."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from orchestration_project.common.net import port_open
from resources.form_filling import BrowserFormFiller

_SERVED: dict[str, Any] = {}
_LOCK = threading.Lock()


class DemoCrmFormFiller(BrowserFormFiller):
    """The browser form filler on the demo CRM (served here when it is not running)."""

    crm_db: str = Field(default="", description="the demo CRM's SQLite file; empty: temporary")

    def ensure_crm(self) -> None:
        """Serve the demo CRM at ``crm_url`` if nothing listens there."""
        parts = urlsplit(self.crm_url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        with _LOCK:
            if self.crm_url in _SERVED or port_open(host, port):
                return
            from orchestration_project.demo_world.crm import start_crm

            if self.crm_db:
                Path(self.crm_db).parent.mkdir(parents=True, exist_ok=True)
            _SERVED[self.crm_url] = start_crm(
                host,
                port,
                self.crm_db or None,
                username=self.username,
                password=self.password,
                api_token=self.api_token,
            )

    def onboard(self, records: list[dict[str, Any]], mapping: Any) -> list[Any]:
        """As :meth:`BrowserFormFiller.onboard`, with the demo CRM up."""
        self.ensure_crm()
        return super().onboard(records, mapping)


__all__ = ["DemoCrmFormFiller"]
