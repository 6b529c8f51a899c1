"""Adapters: an assay `Rubric` (plus an optional verifier) as another trainer's reward function.

- `to_trl(rubric, verifier)`: TRL's reward-function convention (``GRPOTrainer(reward_funcs=[...])``):
  ``fn(prompts, completions, completion_ids=None, **kwargs) -> list[float | None]``. Prompts and
  completions may be plain text or conversations (lists of ``{"role", "content"}`` messages: the
  completion's assistant messages are joined, the prompt's last user message is the task
  prompt). Dataset columns arrive as keyword lists (TRL repeats them per generation): the
  ``answer_key`` column becomes ``Task.answer``, the ``task_id_key`` column ``Task.id`` (else a
  hash of the prompt), the ``meta_key`` column (a JSON object as text, or a mapping) is decoded
  into ``Task.meta``, every other column is a ``Task.meta`` key of its own. Columns named in
  ``requires`` must come with every call: one missing raises `AssayError` naming it (without
  ``requires`` a verifier that reads a missing meta key raises, its verdict is ERROR, and TRL
  sees 0). Rewards are computed with
  `Rubric.batch` (judge terms send one batch). Each term's batch mean goes to TRL's
  ``log_metric`` as ``"<name>/<term>"`` and its per-sample values to ``log_extra`` (the
  completions table). A completion whose terms are all not applicable gets None (TRL turns it
  into NaN and leaves it out of the weighted sum). The object pickles (TRL's async workers send
  reward functions to a subprocess) when the rubric's functions do.
- `to_verl(rubric, verifier)`: verl's ``compute_score(data_source, solution_str, ground_truth,
  extra_info=None, **kwargs)``, called by keyword by its reward managers (``NaiveRewardManager``
  and the reward loop). Returns a dict with ``"score"`` (the total) and one key per term (NaN
  when not applicable), the same keys for every sample, as verl's ``reward_extra_info`` requires.
  Point verl's ``custom_reward_function.path`` at a file that sets ``compute_score =
  to_verl(...)`` and ``name`` at ``compute_score``.
- `to_trl_dataset(env_id, n)`: a single-turn env's tasks as a ``datasets.Dataset`` for TRL, with
  the columns `to_trl.for_env(env_id) <TRLReward.for_env>` requires: ``prompt`` (chat messages:
  the env's system prompt, if any, then the task prompt), ``task_id``, ``answer`` and ``meta``
  (``Task.meta`` as a JSON string, which Arrow stores whatever the meta's shape; `TRLReward`
  decodes it).

With no verifier the rubric sees ``Verdict(NO_ANSWER, reason="no verifier")`` (use `outcome`
terms inside the rubric instead); a verifier that raises gives an ``ERROR`` verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from assay.errors import AssayError
from assay.registry import make
from assay.rewards.base import Reward, Rubric
from assay.verifiers.base import Status, Task, Verdict, Verifier

__all__ = ["TRLReward", "VerlScore", "message_text", "to_trl", "to_trl_dataset", "to_verl"]

_NO_VERIFIER = Verdict(Status.NO_ANSWER, reason="no verifier")
_TRL_RESERVED = frozenset({"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"})


def message_text(value: Any, *, role: str | None = None, last: bool = False) -> str:
    """Text of a plain string or of a conversation (``[{"role", "content"}, ...]``).

    ``role`` keeps only that role's messages; ``last`` keeps only the last of them.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        value = [value]
    messages = [m for m in value if isinstance(m, Mapping) and (role is None or m.get("role") == role)]
    if not messages and role is not None:
        messages = [m for m in value if isinstance(m, Mapping)]
    if last:
        messages = messages[-1:]
    parts = []
    for m in messages:
        content = m.get("content", "")
        if isinstance(content, list):  # multimodal content parts
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        parts.append(str(content or ""))
    return "\n".join(parts)


def _verify(verifier: Verifier | None, completion: str, task: Task) -> Verdict:
    if verifier is None:
        return _NO_VERIFIER
    try:
        return verifier(completion, task)
    except Exception as e:  # noqa: BLE001 - a verifier that raises is an ERROR verdict
        return Verdict(Status.ERROR, reason=f"verifier raised {type(e).__name__}: {e}")


def _answer(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    item = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _encode_meta(task: Task) -> str:
    try:
        return json.dumps(dict(task.meta), default=_jsonable, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise AssayError(f"task {task.id!r}: meta cannot be stored as JSON ({e})") from e


def _decode_meta(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError as e:
            raise AssayError(f"column {key!r} is not valid JSON ({e})") from e
        if isinstance(decoded, dict):
            return decoded
    raise AssayError(f"column {key!r} must hold a JSON object or a mapping, got {type(value).__name__}")


def _single_turn_env(env_id: str, env_kwargs: dict[str, Any]) -> Any:
    """The unwrapped env ``env_id``; ValueError unless it is single-turn (one prompt, one verdict).

    Duck-typed (rewards sit below envs in the layers): a single-turn env has ``task_at``,
    ``messages``, ``verifier`` and ``rubric``, and no ``respond`` (`MultiTurnEnv`'s reply hook).
    """
    env = make(env_id, **env_kwargs).unwrapped
    needs = ("task_at", "messages", "verifier", "rubric")
    if callable(getattr(env, "respond", None)) or not all(hasattr(env, a) for a in needs):
        env.close()
        raise ValueError(
            f"{env_id} is not a single-turn env: TRL's dataset path needs one prompt, one verdict"
        )
    return env


def _prompt_id(prompt: str) -> str:
    return "h/" + hashlib.sha1(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class TRLReward:
    """A `Rubric` as a TRL reward function (see `to_trl`).

    ``requires`` names the dataset columns every call must carry (checked against ``dataset`` at
    construction when one is given, and on every call); ``meta_key`` names the column decoded into
    ``Task.meta``. `for_env` builds one from a registered env, requiring what `to_trl_dataset`
    writes.
    """

    def __init__(
        self,
        rubric: Rubric,
        verifier: Verifier | None = None,
        *,
        name: str = "assay",
        answer_key: str = "answer",
        task_id_key: str = "task_id",
        meta_key: str = "meta",
        requires: Collection[str] = (),
        dataset: Any = None,
        log_terms: bool = True,
    ) -> None:
        self.rubric = rubric
        self.verifier = verifier
        self.__name__ = name  # TRL names the reward column after it
        self.answer_key = answer_key
        self.task_id_key = task_id_key
        self.meta_key = meta_key
        self.requires = tuple(requires)
        self.log_terms = log_terms
        if dataset is not None:
            self.check_columns(dataset)

    @classmethod
    def for_env(
        cls,
        env_id: str,
        dataset: Any = None,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        name: str = "assay",
        log_terms: bool = True,
    ) -> TRLReward:
        """The reward of single-turn env ``env_id`` (its rubric and verifier) for TRL.

        Requires the ``answer`` and ``meta`` columns that `to_trl_dataset` writes; with ``dataset``
        given, a dataset without them raises `AssayError` here rather than at the first step.
        ``env_kwargs`` must match the ones the dataset was built with when they change the
        verifier or rubric (``partial_credit``, ``scoring``...). The env is made once and kept
        (the verifier may hold its sandbox).
        """
        env = _single_turn_env(env_id, dict(env_kwargs or {}))
        return cls(
            env.rubric,
            env.verifier,
            name=name,
            requires=("answer", "meta"),
            dataset=dataset,
            log_terms=log_terms,
        )

    def check_columns(self, dataset: Any) -> None:
        """Raise `AssayError` unless ``dataset`` (a ``datasets.Dataset``, a ``DatasetDict`` or
        anything with ``column_names``) has every column in ``requires``."""
        names = getattr(dataset, "column_names", None)
        if names is None:
            raise TypeError(
                f"dataset must have column_names (a datasets.Dataset), got {type(dataset).__name__}"
            )
        groups = names.values() if isinstance(names, Mapping) else [names]  # DatasetDict: one per split
        for columns in groups:
            self._require(columns)

    def _require(self, columns: Collection[str]) -> None:
        missing = [c for c in self.requires if c not in columns]
        if missing:
            raise AssayError(
                f"reward {self.__name__!r} needs dataset column(s) {missing}, which the dataset lacks "
                f"(it has {sorted(columns)}); build the dataset with "
                "assay.rewards.adapters.to_trl_dataset(env_id) so every task carries its answer and meta"
            )

    def tasks(self, prompts: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Task]:
        """The `Task` of each sample, from its prompt and dataset columns.

        Raises `AssayError` when a column in ``requires`` is missing or the ``meta_key`` column
        does not hold a JSON object (as text) or a mapping.
        """
        columns = {k: v for k, v in kwargs.items() if k not in _TRL_RESERVED and isinstance(v, (list, tuple))}
        self._require(columns)
        out = []
        for i, p in enumerate(prompts):
            prompt = message_text(p, role="user", last=True)
            row = {k: v[i] for k, v in columns.items() if i < len(v)}
            answer = _answer(row.pop(self.answer_key, None))
            task_id = row.pop(self.task_id_key, None)
            decoded = _decode_meta(row.pop(self.meta_key, None), self.meta_key)
            meta = {**row, **decoded}  # the meta column's keys win over same-named columns
            out.append(
                Task(str(task_id) if task_id not in (None, "") else _prompt_id(prompt), prompt, answer, meta)
            )
        return out

    def rewards(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[Reward]:
        """The full `Reward` (total and breakdown) of each sample."""
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        texts = [message_text(c, role="assistant") for c in completions]
        tasks = self.tasks(prompts, kwargs)
        verdicts = [_verify(self.verifier, c, t) for c, t in zip(texts, tasks, strict=True)]
        return self.rubric.batch(texts, tasks, verdicts)

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None, **kwargs: Any
    ) -> list[float | None]:
        rewards = self.rewards(prompts, completions, **kwargs)
        if self.log_terms:
            self._log(rewards, kwargs.get("log_metric"), kwargs.get("log_extra"))
        return [None if all(v is None for v in r.terms.values()) else r.total for r in rewards]

    def _log(self, rewards: Sequence[Reward], log_metric: Any, log_extra: Any) -> None:
        for term in self.rubric.terms:
            values = [r.terms[term.name] for r in rewards]
            present = [v for v in values if v is not None]
            key = f"{self.__name__}/{term.name}"
            if callable(log_metric) and present:
                log_metric(key, math.fsum(present) / len(present))
            if callable(log_extra):
                log_extra(key, values)

    def __repr__(self) -> str:
        return f"TRLReward({self.rubric!r}, verifier={self.verifier!r})"


to_trl = TRLReward
"""``to_trl(rubric, verifier, *, name, answer_key, task_id_key, meta_key, requires, dataset,
log_terms)``: ``rubric`` (with ``verifier``'s verdict) as a TRL reward function (module
docstring); the class under its verb. ``to_trl.for_env(env_id, dataset)`` takes an env's own."""


def to_trl_dataset(env_id: str, n: int | None = None, split: str | None = None, **env_kwargs: Any) -> Any:
    """The first ``n`` tasks (by index) of single-turn env ``env_id`` as a ``datasets.Dataset``.

    Columns: ``prompt`` (the env's chat messages: its system prompt, if any, then the task's
    prompt as the user turn), ``task_id``, ``answer`` and ``meta`` (``Task.meta`` as a JSON
    string; `TRLReward` decodes it back). Deterministic: the same arguments give the same rows.
    ``n=None`` takes every task of a dataset env; a procedural env needs ``n``. ``split`` and
    ``env_kwargs`` go to the env (``split`` only when given: procedural envs take none).

    Raises ValueError for a multi-turn env (its reward needs the env's replies, which a static
    dataset cannot give) or an ``n`` the env cannot serve, and `AssayError` when a task's meta is
    not JSON data. Needs the ``datasets`` package.

    Not guaranteed: a meta value round-trips as its JSON form (tuples come back as lists, mapping
    keys as strings); every registered single-turn env's verifier accepts that form (tested).
    """
    import datasets

    kwargs = dict(env_kwargs) if split is None else {**env_kwargs, "split": split}
    env = _single_turn_env(env_id, kwargs)
    try:
        total = env.num_tasks
        if n is None and total is None:
            raise ValueError(f"{env_id} is procedural (unbounded): give n, the number of tasks")
        count = total if n is None else n
        if count < 0 or (total is not None and count > total):
            raise ValueError(f"n={n}: {env_id} has {total} tasks")
        rows: dict[str, list[Any]] = {"prompt": [], "task_id": [], "answer": [], "meta": []}
        for index in range(count):
            task = env.task_at(index)
            rows["prompt"].append(env.messages(task))
            rows["task_id"].append(task.id)
            rows["answer"].append(task.answer)
            rows["meta"].append(_encode_meta(task))
    finally:
        env.close()
    return datasets.Dataset.from_dict(rows)


class VerlScore:
    """A `Rubric` as verl's ``compute_score`` (see `to_verl`)."""

    def __init__(self, rubric: Rubric, verifier: Verifier | None = None) -> None:
        names = [t.name for t in rubric.terms]
        if "score" in names:
            raise ValueError('a term named "score" would collide with verl\'s "score" key: rename it')
        self.rubric = rubric
        self.verifier = verifier
        self.__name__ = "compute_score"

    def task(self, data_source: str, ground_truth: Any, extra_info: Mapping[str, Any] | None) -> Task:
        info = dict(extra_info or {})
        prompt = info.get("prompt") or info.get("question") or ""
        prompt = message_text(prompt, role="user", last=True) if not isinstance(prompt, str) else prompt
        answer = _answer(ground_truth)
        index = info.get("task_id", info.get("index"))
        task_id = (
            f"{data_source}/{index}"
            if index is not None
            else f"{data_source}/{_prompt_id(prompt + (answer or ''))}"
        )
        return Task(task_id, prompt, answer, {"data_source": data_source, **info})

    def __call__(
        self,
        data_source: str,
        solution_str: str,
        ground_truth: Any,
        extra_info: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, float]:
        task = self.task(data_source, ground_truth, extra_info)
        verdict = _verify(self.verifier, solution_str, task)
        reward = self.rubric(solution_str, task, verdict)
        out = {"score": float(reward.total)}
        for name, value in reward.terms.items():
            out[name] = math.nan if value is None else float(value)
        return out


to_verl = VerlScore
"""``to_verl(rubric, verifier)``: ``rubric`` (with ``verifier``'s verdict) as verl's
``compute_score`` (module docstring); the class under its verb."""
