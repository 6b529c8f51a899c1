"""A verifiers (legacy ``vf.StatefulToolEnv``) copy of ``assay/MultiHopQA-v0``, for ``benchmarks/eval.py``.

Runs in the verifiers venv, never in assay's: ``benchmarks/eval.py`` copies this file into a
temporary directory as the module ``assay_multihop_vf`` and points ``vf-eval`` at it. It imports
nothing from assay. Everything it serves comes from the JSON file that ``benchmarks/eval.py``
exports from assay's env: the task prompts and answers, assay's tool definitions (so both sides
send the same ``tools=[...]``) and the text assay's tools returned for each call of the gold
episodes. ``search`` replays those outputs (it is equivalent to assay's BM25 search on the calls
the scripted server makes, and says so for any other call); ``remember``/``recall`` keep a
per-episode dict; ``final_answer`` ends the episode. The rubric is exact match of the
``<answer>`` tag (or of the ``final_answer`` argument), case and spacing ignored, as assay's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from datasets import Dataset

import verifiers as vf

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _key(name: str, args: dict[str, Any]) -> str:
    return name + " " + json.dumps(args, sort_keys=True)


def _text(message: Any) -> str:
    content = getattr(message, "content", None)
    if content is None and isinstance(message, dict):
        content = message.get("content")
    if isinstance(content, list):
        return "".join(
            str(getattr(p, "text", None) or (p.get("text", "") if isinstance(p, dict) else ""))
            for p in content
        )
    return content or ""


class MultiHopReplayEnv(vf.StatefulToolEnv):
    """MultiHopQA with assay's recorded tool outputs (see the module docstring)."""

    def __init__(self, outputs: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.outputs = outputs
        self.add_tool(self.search)
        self.add_tool(self.remember, args_to_skip=["memory"])
        self.add_tool(self.recall, args_to_skip=["memory"])
        self.add_tool(self.final_answer, args_to_skip=["state"])

    async def search(self, query: str, k: int = 3) -> str:
        """Search the document collection."""
        args: dict[str, Any] = {"query": query} if k == 3 else {"query": query, "k": k}
        found = self.outputs.get(_key("search", args))
        return found if found is not None else "no recorded result for this query"

    async def remember(self, key: str, value: str, memory: dict[str, str]) -> str:
        """Store a value under a key."""
        memory[key] = value
        return f"remembered {key}"

    async def recall(self, key: str, memory: dict[str, str]) -> str:
        """The value stored under a key."""
        return memory.get(key, "") if key else ", ".join(sorted(memory))

    async def final_answer(self, answer: str, state: dict[str, Any]) -> str:
        """Submit the final answer."""
        state["final_answer"] = answer
        return "submitted"

    async def setup_state(self, state: Any) -> Any:
        state["memory"] = {}
        await super().setup_state(state)
        return state

    def update_tool_args(
        self, tool_name: str, tool_args: dict[str, Any], messages: Any, state: Any, **kwargs: Any
    ) -> dict[str, Any]:
        if tool_name in ("remember", "recall"):
            return {**tool_args, "memory": state["memory"]}
        if tool_name == "final_answer":
            return {**tool_args, "state": state}
        return tool_args

    @vf.stop
    async def answered(self, state: Any) -> bool:
        return "final_answer" in state


def exact_answer(completion: Any, answer: str, state: Any, **kwargs: Any) -> float:
    """1.0 when the final answer equals the reference (case and spacing ignored), else 0.0."""
    given = state.get("final_answer")
    if given is None:
        last = next((m for m in reversed(completion) if getattr(m, "role", None) == "assistant"), None)
        found = _ANSWER.findall(_text(last)) if last is not None else []
        given = found[-1] if found else None
    return float(given is not None and _norm(str(given)) == _norm(answer))


def load_environment(data_path: str) -> vf.Environment:
    with open(data_path, encoding="utf-8") as f:
        data = json.load(f)
    dataset = Dataset.from_list([{"question": t["prompt"], "answer": t["answer"]} for t in data["tasks"]])
    env = MultiHopReplayEnv(
        data["outputs"],
        eval_dataset=dataset,
        rubric=vf.Rubric(funcs=[exact_answer], weights=[1.0]),
        max_turns=data["max_turns"],
    )
    # assay's own tool definitions, so both sides send the same tools=[...]
    env.tool_defs = env._normalize_tool_defs(
        [{k: t["function"][k] for k in ("name", "description", "parameters")} for t in data["tools"]]
    )
    return env
