"""MultiHopQA: questions that need two to four searches over a shipped corpus.

``assay/MultiHopQA-v0``. The corpus and questions come from `assay.envs.tools.world` (a
fictional world generated from facts, so every answer is verifiable and no model can know it
beforehand). Tools: ``search`` (BM25), ``remember``/``recall``, ``final_answer``. The answer is
checked with `ExactMatch` on the ``<answer>`` tag outside reasoning blocks (case and spacing ignored). Pass
``corpus_path``/``questions_path`` to run the same env on your own files (questions: JSONL with
``question``, ``answer`` and, for the gold episode, ``queries``).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from assay.envs.tools.env import ToolEnv
from assay.envs.tools.memory import Memory
from assay.envs.tools.search import Corpus, search_tool
from assay.envs.tools.world import CORPUS_FILE, DATA_DIR, QUESTIONS_FILE
from assay.verifiers.base import Task
from assay.verifiers.extract import after_reasoning, tagged
from assay.verifiers.match import ExactMatch

__all__ = ["MultiHopQAEnv"]

INSTRUCTIONS = (
    "Answer the question using the search tool over the document collection; it needs several "
    "searches, one fact at a time. Reply with just the answer (a name or a number) in "
    "<answer></answer> tags."
)


@functools.lru_cache(maxsize=8)
def _corpus(path: str) -> Corpus:
    return Corpus.from_jsonl(path)


@functools.lru_cache(maxsize=8)
def _questions(path: str) -> tuple[dict[str, Any], ...]:
    with open(path, encoding="utf-8") as f:
        return tuple(json.loads(line) for line in f if line.strip())


class MultiHopQAEnv(ToolEnv):
    """Multi-hop question answering over a shipped corpus, with search and memory tools.

    Args:
        corpus_path: A JSONL corpus (default: the shipped fictional world).
        questions_path: A JSONL of questions (default: the shipped ones).
        call_format: ``"json"`` or ``"tag"`` (see `ToolEnv`).
        max_turns: Actions per episode (the hardest shipped question needs 4 searches + 1 answer).
        **kwargs: Passed on to `ToolEnv`.
    """

    def __init__(
        self,
        corpus_path: str | Path | None = None,
        questions_path: str | Path | None = None,
        *,
        call_format: str = "json",
        max_turns: int = 8,
        **kwargs: Any,
    ) -> None:
        corpus = _corpus(str(corpus_path or DATA_DIR / CORPUS_FILE))
        self.questions = _questions(str(questions_path or DATA_DIR / QUESTIONS_FILE))
        self.num_tasks = len(self.questions)
        tools = [search_tool(corpus), *Memory().tools()]
        super().__init__(
            tools,
            ExactMatch(extract=after_reasoning(tagged("answer"))),
            call_format=call_format,
            max_turns=max_turns,
            **kwargs,
        )

    def task_at(self, index: int) -> Task:
        q = self.questions[index]
        plan = [[["search", {"query": query}]] for query in q.get("queries", [])]
        return Task(
            id=f"multihop/{index}",
            prompt=f"{q['question']}\n{INSTRUCTIONS}",
            answer=str(q["answer"]),
            meta={"gold_plan": plan, "docs": list(q.get("docs", [])), "template": q.get("template", "")},
        )
