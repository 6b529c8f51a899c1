"""Tool use: `ToolEnv`, tools from typed functions, call formats, built-in tools, task families.

See the README's "Tool use" section. Importing this package is light: jsonschema, sympy and
bm25s are imported when a tool is defined or first used.
"""

from assay.envs.tools.calls import CallFormat, JsonCalls, ParsedAction, TagCalls, ToolCall, ToolResult
from assay.envs.tools.chat import ChatRequest, ToolChat
from assay.envs.tools.env import FINAL_ANSWER, ToolEnv, final_answer_tool
from assay.envs.tools.runner import ToolRunner
from assay.envs.tools.tool import Stateful, Tool, ToolError, tool
from assay.envs.tools.trajectory import ScriptedPolicy, Trajectory, Turn, read_jsonl, rollout, write_jsonl

__all__ = [
    "FINAL_ANSWER",
    "CallFormat",
    "ChatRequest",
    "JsonCalls",
    "ParsedAction",
    "ScriptedPolicy",
    "Stateful",
    "TagCalls",
    "Tool",
    "ToolCall",
    "ToolChat",
    "ToolEnv",
    "ToolError",
    "ToolResult",
    "ToolRunner",
    "Trajectory",
    "Turn",
    "final_answer_tool",
    "read_jsonl",
    "rollout",
    "tool",
    "write_jsonl",
]
