"""Tool use: `ToolEnv`, tools from typed functions, call formats, built-in tools, task families.

See the README's "Tool use" section. Importing this package is light: jsonschema, sympy and
bm25s are imported when a tool is defined or first used.
"""

from assay.envs.tools.calls import CallFormat, JsonCalls, ParsedAction, TagCalls, ToolCall, ToolResult
from assay.envs.tools.env import FINAL_ANSWER, ToolEnv, final_answer_tool
from assay.envs.tools.runner import ToolRunner
from assay.envs.tools.tool import Stateful, Tool, tool

__all__ = [
    "FINAL_ANSWER",
    "CallFormat",
    "JsonCalls",
    "ParsedAction",
    "Stateful",
    "TagCalls",
    "Tool",
    "ToolCall",
    "ToolEnv",
    "ToolResult",
    "ToolRunner",
    "final_answer_tool",
    "tool",
]
