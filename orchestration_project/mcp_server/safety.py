"""What keeps the MCP server safe: its settings, the mutation gate, the bearer token, argument
limits and the report-path check.

- **Read-only by default.** Tools that change something (materialise or launch, acknowledge or
  resolve an incident, approve, reject or override a review) refuse with a ``ToolError`` naming
  ``MCP_ALLOW_MUTATIONS`` unless it is ``true`` (or ``--allow-mutations`` was given).
- **HTTP needs a token.** Streamable HTTP refuses to start without ``MCP_TOKEN``; requests
  without ``Authorization: Bearer <MCP_TOKEN>`` get 401 from the SDK's bearer middleware
  (:class:`StaticTokenVerifier` is the SDK's ``TokenVerifier`` protocol). It binds to
  ``127.0.0.1`` unless ``MCP_HOST`` says otherwise.
- **Bounded arguments.** Every tool argument has a pydantic type with limits (the constants
  below); free-form JSON (run config) is bounded by its encoded size and nesting.
- **Reports only.** A report path is relative, has no ``..``, and resolves (symlinks followed)
  inside the reports folder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import AfterValidator, Field

ALLOW_MUTATIONS_ENV = "MCP_ALLOW_MUTATIONS"
TOKEN_ENV = "MCP_TOKEN"
HOST_ENV = "MCP_HOST"
PORT_ENV = "MCP_PORT"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765

MAX_KEYS = 100
"""Most asset keys one call may name."""
MAX_KEY_CHARS = 200
MAX_TEXT_CHARS = 1000
MAX_NAME_CHARS = 100
MAX_URL_CHARS = 2048
MAX_PATH_CHARS = 512
MAX_JSON_BYTES = 64_000
"""Largest run config (encoded as JSON)."""
MAX_JSON_DEPTH = 12
MAX_EVENTS = 500
MAX_PREVIEW_ROWS = 100
MAX_WAIT_S = 300.0
MAX_REPORT_BYTES = 5_000_000
REPORT_SUFFIXES = {
    ".md": "text/markdown",
    ".html": "text/html",
    ".txt": "text/plain",
    ".json": "application/json",
    ".csv": "text/csv",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
"""What the reports folder may serve, by suffix, and its MIME type."""

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class McpSettings:
    """How the server runs, from the environment and the command line.

    Attributes:
        transport: ``stdio`` or ``http`` (streamable HTTP).
        host: the HTTP bind address (``MCP_HOST``, default loopback).
        port: the HTTP port (``MCP_PORT``, default 8765).
        token: the bearer token HTTP clients must send (``MCP_TOKEN``); never shown.
        allow_mutations: whether mutating tools may run (``MCP_ALLOW_MUTATIONS``).
    """

    transport: Literal["stdio", "http", "memory"] = "stdio"
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = field(default=None, repr=False)
    allow_mutations: bool = False

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        transport: Literal["stdio", "http", "memory"] = "stdio",
        host: str | None = None,
        port: int | None = None,
        allow_mutations: bool | None = None,
    ) -> McpSettings:
        """Settings from ``env`` (default ``os.environ``); explicit arguments win."""
        env = os.environ if env is None else env
        allowed = env.get(ALLOW_MUTATIONS_ENV, "").strip().lower() in _TRUE
        return cls(
            transport=transport,
            host=host or env.get(HOST_ENV) or DEFAULT_HOST,
            port=int(port or env.get(PORT_ENV) or DEFAULT_PORT),
            token=env.get(TOKEN_ENV) or None,
            allow_mutations=allowed if allow_mutations is None else allow_mutations,
        )

    def check(self) -> None:
        """Refuse settings the server must not start with.

        Raises:
            ValueError: HTTP without a token, or a token shorter than 16 characters.
        """
        if self.transport == "http":
            if not self.token:
                raise ValueError(
                    f"streamable HTTP needs a bearer token: set {TOKEN_ENV} (e.g. "
                    f'{TOKEN_ENV}="$(python -c "import secrets; print(secrets.token_urlsafe(32))")")'
                )
            if len(self.token) < 16:
                raise ValueError(f"{TOKEN_ENV} is too short: use at least 16 characters")


def require_mutations(settings: McpSettings, tool: str) -> None:
    """Refuse ``tool`` unless mutations are allowed.

    Raises:
        ToolError: naming the setting that allows it.
    """
    if not settings.allow_mutations:
        raise ToolError(
            f"{tool} changes the platform and this server is read-only: set "
            f"{ALLOW_MUTATIONS_ENV}=true (or start it with --allow-mutations) to allow it"
        )


class StaticTokenVerifier:
    """The SDK's ``TokenVerifier`` for one shared bearer token (``MCP_TOKEN``), compared in
    constant time. The token itself is not kept: only its SHA-256."""

    def __init__(self, token: str, *, client_id: str = "mcp-token") -> None:
        self._digest = hashlib.sha256(token.encode()).digest()
        self.client_id = client_id

    async def verify_token(self, token: str) -> AccessToken | None:
        """An access token for the right bearer token, else None (the SDK answers 401)."""
        digest = hashlib.sha256(token.encode()).digest()
        if not hmac.compare_digest(digest, self._digest):
            return None
        return AccessToken(token=f"sha256:{digest.hex()[:12]}", client_id=self.client_id, scopes=[])


# -- argument types -----------------------------------------------------------------------------

_KEY_RE = r"^[A-Za-z0-9_][A-Za-z0-9_\-./]*$"
_NAME_RE = r"^[A-Za-z0-9_][A-Za-z0-9_\-.:]*$"

AssetKeyStr = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_KEY_CHARS,
        pattern=_KEY_RE,
        description="an asset key, path parts joined by '/', e.g. operations/runs",
    ),
]
NameStr = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=_NAME_RE, description="a name")
]
RunIdStr = Annotated[
    str,
    Field(min_length=8, max_length=64, pattern=r"^[0-9a-fA-F\-]+$", description="a run id"),
]
ReviewerStr = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        pattern=r"^[^\x00-\x1f]+$",
        description="who decides (recorded with the decision)",
    ),
]
NoteStr = Annotated[str, Field(max_length=MAX_TEXT_CHARS, description="why (recorded)")]
CursorStr = Annotated[str, Field(max_length=200, pattern=r"^[A-Za-z0-9=_\-+/:.]*$")]
UrlStr = Annotated[str, Field(min_length=8, max_length=MAX_URL_CHARS, pattern=r"^https?://[^\s]+$")]


def bounded_json(value: Any) -> Any:
    """A JSON value no larger than :data:`MAX_JSON_BYTES` encoded and no deeper than
    :data:`MAX_JSON_DEPTH` (a pydantic validator: raises ``ValueError``)."""

    def depth(v: Any, d: int = 0) -> int:
        if d > MAX_JSON_DEPTH:
            return d
        if isinstance(v, dict):
            return max((depth(x, d + 1) for x in v.values()), default=d + 1)
        if isinstance(v, list):
            return max((depth(x, d + 1) for x in v), default=d + 1)
        return d

    size = len(json.dumps(value, default=str))
    if size > MAX_JSON_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_JSON_BYTES} are accepted")
    if depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    return value


RunConfig = Annotated[dict[str, Any], AfterValidator(bounded_json)]


# -- secrets in summaries -----------------------------------------------------------------------

_SECRET_NAMES = re.compile(
    r"(token|secret|password|passwd|api[_-]?key|authorization|credential|cookie|private)", re.I
)
SUMMARY_CHARS = 500
VALUE_CHARS = 80


def summarise_arguments(args: Any, *, secrets: tuple[str, ...] = ()) -> str:
    """A short, secret-free JSON summary of call arguments for the audit log.

    Values under a key that names a secret become ``"***"``; any occurrence of a known secret
    value (the server's token) is masked; long strings keep their first characters and their
    length; long lists keep their first items and their length; the whole is cut at
    :data:`SUMMARY_CHARS`.
    """

    def walk(v: Any, d: int = 0) -> Any:
        if d > 4:
            return "…"
        if isinstance(v, Mapping):
            out: dict[str, Any] = {}
            for i, (k, x) in enumerate(v.items()):
                if i >= 20:
                    out["…"] = f"{len(v)} keys"
                    break
                out[str(k)[:40]] = "***" if _SECRET_NAMES.search(str(k)) else walk(x, d + 1)
            return out
        if isinstance(v, list | tuple):
            items = [walk(x, d + 1) for x in v[:5]]
            return items + [f"… {len(v)} items"] if len(v) > 5 else items
        if isinstance(v, str):
            for s in secrets:
                if s:
                    v = v.replace(s, "***")
            return v if len(v) <= VALUE_CHARS else f"{v[:VALUE_CHARS]}… ({len(v)} chars)"
        return v

    text = json.dumps(walk(args), default=str, ensure_ascii=False)
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"


def mask(text: str, *, secrets: tuple[str, ...] = (), limit: int = 500) -> str:
    """``text`` with every known secret value masked, cut at ``limit`` characters."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- report paths -------------------------------------------------------------------------------


class PathRefused(ValueError):
    """A report path that is not a file inside the reports folder."""


def resolve_report_path(root: Path, relative: str) -> Path:
    """The file ``relative`` names inside the reports folder ``root``.

    Raises:
        PathRefused: an absolute path, a ``..`` part, a NUL byte, a backslash, a path that
            resolves (symlinks followed) outside ``root``, or an unknown file type.
    """
    if not relative or len(relative) > MAX_PATH_CHARS:
        raise PathRefused(f"a report path has 1 to {MAX_PATH_CHARS} characters")
    if "\x00" in relative or "\\" in relative:
        raise PathRefused("a report path has no NUL bytes or backslashes")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("~") or re.match(r"^[A-Za-z]:", relative):
        raise PathRefused(f"{relative!r} is absolute: give a path relative to the reports folder")
    if ".." in pure.parts:
        raise PathRefused(f"{relative!r} leaves the reports folder ('..')")
    base = root.resolve()
    target = (base / pure).resolve()
    if not target.is_relative_to(base):
        raise PathRefused(f"{relative!r} resolves outside the reports folder")
    if target.suffix.lower() not in REPORT_SUFFIXES:
        raise PathRefused(
            f"{relative!r} is not a report (types: {', '.join(sorted(REPORT_SUFFIXES))})"
        )
    return target


__all__ = [
    "ALLOW_MUTATIONS_ENV",
    "HOST_ENV",
    "MAX_KEYS",
    "PORT_ENV",
    "TOKEN_ENV",
    "AssetKeyStr",
    "McpSettings",
    "PathRefused",
    "RunConfig",
    "StaticTokenVerifier",
    "bounded_json",
    "mask",
    "require_mutations",
    "resolve_report_path",
    "summarise_arguments",
]
