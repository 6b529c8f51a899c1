"""An assay env as TRL's ``environment_factory`` (`to_trl_environment`).

TRL's ``GRPOTrainer(environment_factory=f)`` calls ``f()`` once per concurrent rollout and keeps
the instances in a pool. On each instance it calls ``reset(**row)`` with the dataset row's columns
(a returned string is appended to the prompt's last user message), exposes every public method
other than ``reset`` and ``get_reward`` to the model as a tool (name, type hints and Google-style
docstring are read), and, when the class defines ``get_reward()``, adds it as a reward source
(weight 1, logged under the class name).

`to_trl_environment(env_id)` builds such a class for one registered env:

- ``reset`` pins the row's task (its ``task_index`` column, else ``task_id``; with neither, a
  task drawn from the env's own RNG, seeded by a ``seed`` column when there is one) and returns its
  prompt. When the row's prompt already ends with the task's prompt (a `to_trl_dataset` row) it
  returns None, so the prompt is not doubled; when the row's prompt has no system message and the
  env has a system prompt, the system prompt comes first in the returned text.
- Each tool of a `ToolEnv` becomes a method with the tool's parameters (JSON types mapped back to
  Python hints), its description and its argument docs. A call is one `ToolEnv.step` with that one
  call (so ``max_turns`` counts calls, schemas are validated, process tools keep their timeouts),
  and returns the tool's result text. ``final_answer(answer)`` ends the episode with its verdict.
- Two ways to take the answer (``answer=``):

  - ``"tool"`` (the default for tool envs): the answer is ``final_answer``'s argument, and the
    class has ``get_reward()`` (the rubric's total plus turn rewards; a rollout that never called
    ``final_answer`` gets the rubric's reward for a NO_ANSWER verdict).
  - ``"text"`` (the only way for single-turn envs): the answer is the text of the rollout's last
    assistant message. TRL's ``get_reward`` takes no arguments and never sees the completion, so
    the class has no ``get_reward``; pass ``reward_funcs=factory.reward_funcs`` (a reward function
    that hands each rollout's last message to its env through TRL's ``environments`` keyword).

``factory.dataset(n)`` gives the rows to train on: ``prompt`` (the env's system prompt, if any,
then an empty user turn that ``reset`` fills), ``task_index`` and ``task_id``.

Not guaranteed: the model sees exactly what assay's own rollouts show (TRL renders tool schemas
and results with the tokenizer's chat template, not the env's ``call_format``); a tool whose
schema has no Python equivalent (e.g. ``anyOf`` of objects) is typed ``Any``.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

from assay.registry import make
from assay.verifiers.base import Status, Verdict

__all__ = ["TRLEnvironment", "TRLEnvironmentFactory", "to_trl_environment"]

Answer = Literal["tool", "text"]

_PY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = frozenset({"reset", "get_reward"})


def _annotation(schema: Mapping[str, Any]) -> Any:
    """The Python type hint that transformers' ``get_json_schema`` turns back into ``schema``."""
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    if "anyOf" in schema:
        return Union[tuple(_annotation(s) for s in schema["anyOf"])]  # noqa: UP007 - built at run time
    kind = schema.get("type")
    if kind == "string":
        return str
    if kind == "integer":
        return int
    if kind == "number":
        return float
    if kind == "boolean":
        return bool
    if kind == "null":
        return type(None)
    if kind == "array":
        items = schema.get("items")
        return list[_annotation(items)] if isinstance(items, Mapping) and items else list  # type: ignore[misc]
    if kind == "object":
        values = schema.get("additionalProperties")
        return dict[str, _annotation(values)] if isinstance(values, Mapping) and values else dict  # type: ignore[misc]
    return Any


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _docstring(description: str, parameters: Mapping[str, Any]) -> str:
    """A Google-style docstring: what transformers' ``get_json_schema`` parses."""
    lines = [description.strip() or "A tool of this environment."]
    props = parameters.get("properties", {})
    if props:
        lines += ["", "Args:"]
        for name, schema in props.items():
            lines.append(f"    {name}: {_one_line(str(schema.get('description') or name))}")
    lines += ["", "Returns:", "    The tool's result as text."]
    return "\n".join(lines)


def _tool_method(tool: Any) -> Callable[..., str]:
    """A method named after ``tool`` whose signature and docstring describe it to TRL."""
    name = tool.name
    params = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", ()))
    bad = [p for p in params if not _PY_NAME.match(p)]
    if not _PY_NAME.match(name) or bad or name in _RESERVED or name.startswith("_"):
        raise ValueError(
            f"tool {name!r} cannot be a TRL environment method: its name and parameter names must be "
            f"Python identifiers (bad: {bad or [name]}), not reset/get_reward, not starting with '_'"
        )

    def method(self: TRLEnvironment, **arguments: Any) -> str:
        return self._call(name, arguments)

    ordered = sorted(params, key=lambda p: p not in required)  # required before optional
    signature = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {}
    for p in ordered:
        hint = _annotation(params[p])
        annotations[p] = hint
        default = inspect.Parameter.empty if p in required else params[p].get("default")
        signature.append(
            inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=hint)
        )
    annotations["return"] = str
    method.__name__ = method.__qualname__ = name
    method.__doc__ = _docstring(tool.description, tool.parameters)
    method.__signature__ = inspect.Signature(signature, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    return method


def _last_assistant_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    for message in reversed(list(completion)):
        if isinstance(message, Mapping) and message.get("role") == "assistant":
            content = message.get("content") or ""
            if isinstance(content, list):
                return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
            return str(content)
    return ""


def _user_text(prompt: Any) -> tuple[str, bool]:
    """The prompt's last user message, and whether it has a system message."""
    if not isinstance(prompt, list):
        return (prompt if isinstance(prompt, str) else ""), False
    has_system = any(isinstance(m, Mapping) and m.get("role") == "system" for m in prompt)
    users = [m for m in prompt if isinstance(m, Mapping) and m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    return (content if isinstance(content, str) else ""), has_system


class TRLEnvironment:
    """Base of the classes `to_trl_environment` makes: one assay env, one rollout at a time.

    Public methods other than ``reset`` and ``get_reward`` are tools (TRL's contract), so this base
    keeps everything else private. ``env`` is the unwrapped assay env.
    """

    env_id: str = ""
    env_kwargs: Mapping[str, Any] = {}
    answer_mode: Answer = "text"

    def __init__(self) -> None:
        self.env: Any = make(self.env_id, **dict(self.env_kwargs)).unwrapped
        self._done = False
        self._reward = 0.0
        self._verdict: Verdict | None = None

    def reset(self, **row: Any) -> str | None:
        """Start an episode on the row's task; the prompt text to append (None: already there)."""
        options: dict[str, Any] = {}
        if row.get("task_index") is not None:
            options["index"] = int(row["task_index"])
        elif row.get("task_id") not in (None, ""):
            options["task_id"] = str(row["task_id"])
        seed = row.get("seed")
        observation, _ = self.env.reset(seed=None if seed is None else int(seed), options=options or None)
        self._done, self._reward, self._verdict = False, 0.0, None
        shown, has_system = _user_text(row.get("prompt"))
        task_prompt = self.env.current_task().prompt
        if shown and shown.rstrip().endswith(task_prompt.rstrip()):
            return None
        system = getattr(self.env, "system_prompt", None)
        return f"{system}\n\n{observation}" if system and not has_system else str(observation)

    def _step(self, action: str) -> tuple[str, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self._reward += float(reward)
        if terminated or truncated:
            self._done = True
            self._verdict = info.get("verdict")
        return str(observation), info

    def _call(self, name: str, arguments: Mapping[str, Any]) -> str:
        if self._done:
            return "error: the episode is over (the answer was given or the turn limit reached)"
        action = self.env.call_format.render_calls([(name, dict(arguments))], self.env.turn + 1)
        observation, info = self._step(action)
        if self._done:
            if (
                self._verdict is not None
                and self._verdict.status is Status.NO_ANSWER
                and name != "final_answer"
            ):
                return "error: turn limit reached; the episode is over"
            return "answer received; the episode is over"
        results = info.get("tool_results") or []
        return "\n".join(str(r["content"]) for r in results) if results else observation

    def _finish(self, text: str) -> float:
        """Score ``text`` as the final answer (once; later calls return the same reward)."""
        if not self._done:
            self._step(text)
        if not self._done:  # a multi-turn env that wants more turns: no answer
            self._close_unanswered()
        return self._reward

    def _close_unanswered(self) -> None:
        verdict = Verdict(Status.NO_ANSWER, reason="the rollout ended without a final answer")
        self._reward += float(self.env.rubric("", self.env.current_task(), verdict).total)
        self._verdict, self._done = verdict, True

    def _episode_reward(self) -> float:
        if not self._done:
            self._close_unanswered()
        return self._reward

    @property
    def verdict(self) -> Verdict | None:
        """The episode's verdict (None until it ends)."""
        return self._verdict

    def __del__(self) -> None:
        env = getattr(self, "env", None)
        if env is not None:
            with contextlib.suppress(Exception):  # at interpreter shutdown nothing is left to report to
                env.close()


def _get_reward(self: TRLEnvironment) -> float:
    """The episode's reward: the rubric's total for the ``final_answer`` given, plus turn rewards."""
    return self._episode_reward()


_get_reward.__name__ = _get_reward.__qualname__ = "get_reward"


@dataclass(frozen=True)
class TRLEnvironmentFactory:
    """What `to_trl_environment` returns: call it for a fresh env (TRL's ``environment_factory``).

    Attributes:
        env_id: The registered env.
        env_kwargs: Passed to ``assay.make`` for every instance (and for `dataset`).
        answer: ``"tool"`` or ``"text"`` (module docstring).
        cls: The generated class (named after the env, e.g. ``AlmanacEnvironment``).
    """

    env_id: str
    env_kwargs: Mapping[str, Any]
    answer: Answer
    cls: type[TRLEnvironment] = field(repr=False)

    def __call__(self) -> TRLEnvironment:
        return self.cls()

    @property
    def reward_funcs(self) -> list[Callable[..., list[float | None]]]:
        """The reward functions to pass to TRL beside this factory: ``[]`` when the class has
        ``get_reward`` (``answer="tool"``), else one that scores each rollout's last message."""
        return [] if self.answer == "tool" else [self.reward]

    def reward(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        environments: Sequence[Any] | None = None,
        **_: Any,
    ) -> list[float | None]:
        """TRL reward function (``answer="text"``): each rollout's env scores its last message.

        Raises `ValueError` without ``environments`` (TRL passes them when the trainer has this
        factory as its ``environment_factory``). Rollouts of other env classes get None.
        """
        if environments is None:
            raise ValueError(
                f"{self.cls.__name__} reward needs TRL's environments: pass this factory as environment_factory"
            )
        return [
            e._finish(_last_assistant_text(c)) if type(e) is self.cls else None
            for e, c in zip(environments, completions, strict=True)
        ]

    def dataset(self, n: int | None = None) -> Any:
        """``n`` rows (every task of a dataset env when None) of ``prompt``, ``task_index``,
        ``task_id``: deterministic; ``reset`` fills the user turn with the task's prompt."""
        import datasets

        env: Any = make(self.env_id, **dict(self.env_kwargs)).unwrapped
        try:
            total = env.num_tasks
            if n is None and total is None:
                raise ValueError(f"{self.env_id} is procedural (unbounded): give n, the number of tasks")
            count = total if n is None else n
            if count < 0 or (total is not None and count > total):
                raise ValueError(f"n={n}: {self.env_id} has {total} tasks")
            system = getattr(env, "system_prompt", None)
            head = [{"role": "system", "content": system}] if system else []
            rows: dict[str, list[Any]] = {"prompt": [], "task_index": [], "task_id": []}
            for index in range(count):
                rows["prompt"].append([*head, {"role": "user", "content": ""}])
                rows["task_index"].append(index)
                rows["task_id"].append(env.task_at(index).id)
        finally:
            env.close()
        return datasets.Dataset.from_dict(rows)


def _class_name(env_id: str) -> str:
    base = env_id.rpartition("/")[2].rsplit("-v", 1)[0]
    name = "".join(ch for ch in base if ch.isalnum()) or "Assay"
    return f"{name}Environment" if name[0].isalpha() else f"Env{name}Environment"


def to_trl_environment(
    env_id: str, *, answer: Answer | None = None, **env_kwargs: Any
) -> TRLEnvironmentFactory:
    """Registered env ``env_id`` as TRL's ``environment_factory`` (module docstring).

    ``answer`` defaults to ``"tool"`` for envs with tools and ``"text"`` otherwise;
    ``env_kwargs`` go to ``assay.make`` (e.g. ``split=``). Makes one env up front to read its tools
    and raises `ValueError` for ``answer="tool"`` on an env without a ``final_answer`` tool, or for
    a tool whose name or parameters are not Python identifiers.

    Example::

        factory = to_trl_environment("assay/Almanac-v0")
        trainer = GRPOTrainer(model, reward_funcs=factory.reward_funcs, environment_factory=factory,
                              train_dataset=factory.dataset(64), args=GRPOConfig(...))
    """
    probe = make(env_id, **env_kwargs).unwrapped
    try:
        tools = list(getattr(probe, "tool_list", ()))
        needs = ("reset", "step", "current_task", "rubric")
        if not all(hasattr(probe, a) for a in needs):
            raise ValueError(f"{env_id} is not an assay text env")
        if tools and not hasattr(probe, "call_format"):
            raise ValueError(f"{env_id} has tools but no call_format: not a ToolEnv")
        has_final = any(t.name == "final_answer" for t in tools)
        mode: Answer = answer or ("tool" if has_final else "text")
        if mode not in ("tool", "text"):
            raise ValueError(f"answer must be 'tool' or 'text', got {answer!r}")
        if mode == "tool" and not has_final:
            raise ValueError(f"{env_id} has no final_answer tool: use answer='text'")
        namespace: dict[str, Any] = {
            "env_id": env_id,
            "env_kwargs": dict(env_kwargs),
            "answer_mode": mode,
            "__doc__": f"{env_id} for TRL's GRPOTrainer (answer={mode!r}); see assay.envs.trl_environment.",
            "__module__": __name__,
        }
        for tool in tools:
            namespace[tool.name] = _tool_method(tool)
        if mode == "tool":
            namespace["get_reward"] = _get_reward
        cls = type(_class_name(env_id), (TRLEnvironment,), namespace)
    finally:
        probe.close()
    return TRLEnvironmentFactory(env_id, dict(env_kwargs), mode, cls)
