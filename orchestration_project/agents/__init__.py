"""The agent runtime: agents, tools and the action recorder (``runtime``), the planner
(``planning``), the route chooser (``routing``) and agent coordination (``coordination``: bus,
shared context, conflict resolution). Every workflow domain builds on it; it imports none."""

from orchestration_project.agents.runtime import (
    ActionRecorder,
    Agent,
    AgentAction,
    FunctionTool,
    Tool,
    ToolResult,
)

__all__ = ["ActionRecorder", "Agent", "AgentAction", "FunctionTool", "Tool", "ToolResult"]
