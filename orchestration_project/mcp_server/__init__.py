"""The platform's own MCP server: desktop assistants and IDEs list assets, follow lineage,
read reports, launch runs and handle incidents and reviews through it.

``python -m orchestration_project mcp`` (stdio) or ``... mcp --transport http`` (streamable
HTTP behind ``MCP_TOKEN``). Modules: :mod:`.server` (tools, resources, prompts, the audit
middleware), :mod:`.queries` (the queries and actions behind them), :mod:`.safety` (settings,
the mutation gate, the token verifier, argument limits, report paths), :mod:`.audit` (the
``operations.mcp_audit`` table), :mod:`.launch` (the child process that executes a launched
run).
"""

from orchestration_project.mcp_server.safety import McpSettings

__all__ = ["McpSettings"]
