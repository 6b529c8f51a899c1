"""One-step off-policy rollouts: a worker process samples batch ``k + 1`` while the trainer
learns from batch ``k``.

Synchronous RL alternates two phases that each leave hardware idle: the policy samples while
the optimizer waits, then the optimizer runs while the sampler waits. `AsyncRollouts` overlaps
them. A worker process owns the environments and a sampling copy of the policy; the trainer
only trains. Batch ``j`` is sampled with the weights after ``j - 1`` updates (batches 0 and 1
with the initial weights), so every batch is exactly one update stale, and the run stays
deterministic for a given seed: the worker waits for the weights it needs, never takes whatever
happens to be there. The trainer corrects for the staleness with truncated importance sampling
(``w = min(pi_train / pi_behaviour, cap)`` per token, `assay.agents.losses.truncated_is_weights`),
which GRPO switches on whenever the behaviour log-probs differ from the trainer's by more than
``tis_threshold``.

Weights travel through two shared-memory copies of the policy (``share_memory``): the weights
after update ``i`` go into copy ``i % 2``. When the trainer publishes update ``k + 1`` the worker
is busy with batch ``k + 1``, which reads the other copy, so nothing is ever overwritten while it
is read. That costs two extra copies of the weights: this is for policies that fit in memory a
few times over (small models on CPU); at scale the sampler is a vLLM engine.

The worker is a ``spawn`` process (no fork after torch's thread pools exist). It rebuilds the
environments from their Gymnasium spec, so envs registered at run time travel too, as long as
their entry point can be pickled (a class or a ``"module:Class"`` string). The tokenizer travels
as the files ``save_pretrained`` writes and is loaded with ``AutoTokenizer``, as the trainer's
was: a pickled tokenizer is its ``tokenizers`` JSON, which keeps one string per id, so a
vocabulary where several strings share an id (`assay.agents.tiny`'s ``<unk>``) would decode
that id to a different string in every worker process.

Start-up: a spawned worker takes seconds to import torch and transformers. Until it reports
ready, the trainer samples each batch itself, with the same stale weights, seeds and code, so
the batches (and the run) are the same whoever samples them; the batch after the one during
which the worker reports ready is the worker's. ``handover=k`` fixes that point at batch ``k``
instead (tests use it to show the two paths agree).
"""

from __future__ import annotations

import queue
import traceback
from typing import Any

import gymnasium as gym

__all__ = ["AsyncRollouts"]


def _worker(
    models: tuple[Any, Any],
    tokenizer_files: dict[str, bytes],
    spec: Any,
    env_kwargs: dict[str, Any],
    rollout_kwargs: dict[str, Any],
    seeds_of: Any,
    start: int,
    num_threads: int | None,
    published: Any,
    out: Any,
    sampler_kwargs: dict[str, Any] | None = None,
) -> None:
    """Report ready, then sample batches ``k, k + 1, ...`` from the ``("start", k)`` message on;
    batch ``j`` waits for the weights of update ``j - 1`` (``published`` counts the updates
    whose weights are in shared memory; ``start`` are there from the beginning)."""
    try:
        import torch

        from assay.agents.chat import ChatFormat
        from assay.agents.rollout import collect_episodes
        from assay.agents.sampler import HFSampler
        from assay.envs.vector import make_vec

        if num_threads is not None:
            torch.set_num_threads(num_threads)
        tokenizer = _load_tokenizer(tokenizer_files)
        chat = rollout_kwargs.pop("chat", None)
        if chat is not None:  # ("chat", system prompt): rendered with the tokenizer loaded here
            rollout_kwargs["chat"] = ChatFormat(tokenizer, chat[1])
        if spec.id not in gym.registry:
            gym.registry[spec.id] = spec  # registered at run time in the trainer process
        num_envs = rollout_kwargs.pop("num_envs")
        envs = make_vec(spec.id, num_envs=num_envs, vectorization_mode="sync", **env_kwargs)
        samplers = [HFSampler(m, tokenizer, **(sampler_kwargs or {})) for m in models]
        out.put(("ready", -1, None))
        have = start  # weights of updates 0..have are published
        j = -1
        while j < 0:  # the trainer says which batch is ours first
            msg = published.get()
            if msg is None:
                return
            if isinstance(msg, tuple):
                j = int(msg[1])
            else:
                have = int(msg)
        while True:
            need = max(j - 1, 0)
            while have < need:
                msg = published.get()
                if msg is None:
                    return
                have = int(msg)
            seeds, seed = seeds_of(j)
            episodes = collect_episodes(
                envs, samplers[need % 2], tokenizer, seeds=seeds, seed=seed, **rollout_kwargs
            )
            out.put(("batch", j, episodes))
            j += 1
    except BaseException:  # noqa: BLE001 - reported to the trainer, which raises it
        out.put(("error", -1, traceback.format_exc()))


def _tokenizer_files(tokenizer: Any) -> dict[str, bytes]:
    """What ``tokenizer.save_pretrained`` writes (the tiny char tokenizer's ``<unk>`` entries
    restored, `assay.agents.tiny.keep_unknown_bytes`), by file name."""
    import tempfile
    from pathlib import Path

    from assay.agents.tiny import keep_unknown_bytes

    with tempfile.TemporaryDirectory(prefix="assay-tokenizer-") as d:
        tokenizer.save_pretrained(d)
        keep_unknown_bytes(d)
        return {p.name: p.read_bytes() for p in Path(d).iterdir() if p.is_file()}


def _load_tokenizer(files: dict[str, bytes]) -> Any:
    """``AutoTokenizer`` over `_tokenizer_files` (written to a temporary directory)."""
    import tempfile
    from pathlib import Path

    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="assay-tokenizer-") as d:
        for name, data in files.items():
            (Path(d) / name).write_bytes(data)
        return AutoTokenizer.from_pretrained(d)


class _Seeds:
    """Picklable ``j -> (reset seeds, sampling seed)`` of a run (the synchronous trainer's)."""

    def __init__(self, seed: int, num_prompts: int, group_size: int) -> None:
        self.seed, self.num_prompts, self.group_size = seed, num_prompts, group_size

    def __call__(self, j: int) -> tuple[list[int], int]:
        from assay.agents.rollout import step_seed
        from assay.registry import group_seeds

        s = step_seed(self.seed, j)
        return group_seeds(s, self.num_prompts, self.group_size), s


class AsyncRollouts:
    """A rollout worker one step ahead of the trainer.

    Args:
        model: The trained policy (its weights are copied into shared memory at every publish).
        previous: The weights before the last update (a resumed run's batch ``start`` was
            sampled with them); None at the start of a run.
        tokenizer: The policy's tokenizer.
        env_id: Registered env id; ``env_kwargs`` its keyword arguments.
        num_prompts, group_size: Batch shape (GRPO groups).
        seed: The run's seed (batch ``j`` uses the synchronous trainer's seeds for step ``j``).
        start: The first batch to sample (the trainer's step count).
        num_threads: Torch threads in the worker.
        local_envs: The trainer's vector env (the same env and size): the trainer samples with
            it while the worker starts up.
        handover: The first batch the worker samples (None: the one after it reports ready).
        timeout_s: Longest wait for one batch before giving up with an error.
        dtype: The samplers' autocast dtype (`HFSampler`'s ``dtype``: the trainer's training
            dtype, so sampled and recomputed log-probs are computed alike); None: none.
        top_k, top_p, min_p: Truncated sampling (`HFSampler`'s), in the worker and here alike.
        **rollout_kwargs: Passed to `collect_episodes` (``max_new_tokens``, ``temperature``...).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        env_id: str,
        env_kwargs: dict[str, Any],
        num_prompts: int,
        group_size: int,
        seed: int,
        start: int = 0,
        previous: dict[str, Any] | None = None,
        num_threads: int | None = 1,
        local_envs: Any = None,
        handover: int | None = None,
        timeout_s: float = 600.0,
        dtype: Any = None,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        **rollout_kwargs: Any,
    ) -> None:
        import copy

        if next(model.parameters()).device.type != "cpu":
            raise ValueError(
                "async rollouts share CPU memory with the worker: use device='cpu' (or vLLM on a GPU)"
            )
        self.timeout_s = timeout_s
        self.next_batch = start
        self.tokenizer = tokenizer
        self.seeds_of = _Seeds(seed, num_prompts, group_size)
        self.local_envs = local_envs
        self.handover = start if local_envs is None else handover
        self.handed_over = False
        self.rollout_kwargs = {**rollout_kwargs, "group_size": group_size}
        self._local_samplers: list[Any] | None = None
        self.sampler_kwargs: dict[str, Any] = dict(dtype=dtype, top_k=top_k, top_p=top_p, min_p=min_p)
        self.copies = (copy.deepcopy(model).eval(), copy.deepcopy(model).eval())
        for m in self.copies:
            m.requires_grad_(False)
            m.share_memory()
        # weights of update i live in copy i % 2: batch `start` needs update start - 1
        self.copies[start % 2].load_state_dict(model.state_dict())
        if start > 0:
            self.copies[(start - 1) % 2].load_state_dict(
                previous if previous is not None else model.state_dict()
            )
        chat = rollout_kwargs.get("chat")
        worker_kwargs = {**rollout_kwargs, "chat": None if chat is None else ("chat", chat.system_prompt)}
        import torch.multiprocessing as tmp  # its pickler passes shared tensors by handle

        ctx = tmp.get_context("spawn")
        self.published: Any = ctx.Queue()
        self.out: Any = ctx.Queue()
        self.process = ctx.Process(
            target=_worker,
            args=(
                self.copies,
                _tokenizer_files(tokenizer),
                gym.spec(env_id),
                dict(env_kwargs),
                {**worker_kwargs, "num_envs": num_prompts * group_size, "group_size": group_size},
                self.seeds_of,
                start,
                num_threads,
                self.published,
                self.out,
                self.sampler_kwargs,
            ),
            daemon=True,
            name="assay-rollouts",
        )
        self.process.start()

    def get(self) -> list[Any]:
        """The next batch's episodes (sampled here while the worker starts up, else by it)."""
        j = self.next_batch
        if not self.handed_over:
            if self.handover is None:  # hand over once the worker is up: batch j is still ours
                if self._receive(block=False) is not None:
                    self.published.put(("start", j + 1))
                    self.handed_over = True
                return self._local(j)
            if j < self.handover:
                return self._local(j)
            self._receive(block=True)  # the worker's "ready"
            self.published.put(("start", j))
            self.handed_over = True
        got = self._receive(block=True)
        if got is None or got[0] != j:
            raise RuntimeError(f"expected batch {j}, got {None if got is None else got[0]}")
        self.next_batch += 1
        episodes: list[Any] = got[1]
        return episodes

    def _local(self, j: int) -> list[Any]:
        """Batch ``j`` sampled in this process, exactly as the worker would (same weights copy)."""
        from assay.agents.rollout import collect_episodes
        from assay.agents.sampler import HFSampler

        if self._local_samplers is None:
            self._local_samplers = [HFSampler(m, self.tokenizer, **self.sampler_kwargs) for m in self.copies]
        seeds, seed = self.seeds_of(j)
        sampler = self._local_samplers[max(j - 1, 0) % 2]
        episodes = collect_episodes(
            self.local_envs, sampler, self.tokenizer, seeds=seeds, seed=seed, **self.rollout_kwargs
        )
        self.next_batch += 1
        return episodes

    def _receive(self, *, block: bool) -> tuple[int, Any] | None:
        """The worker's next message as ``(batch, episodes)`` (``(-1, None)`` for "ready"); None
        when not blocking and there is none. A failed or dead worker is an error."""
        waited = 0.0
        while True:
            try:
                kind, j, payload = self.out.get(timeout=1.0) if block else self.out.get_nowait()
                break
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError(
                        f"the rollout worker died (exit code {self.process.exitcode})"
                    ) from None
                if not block:
                    return None
                waited += 1.0
                if waited >= self.timeout_s:
                    raise TimeoutError(f"no rollout batch after {self.timeout_s:.0f} s") from None
        if kind == "error":
            raise RuntimeError(f"the rollout worker failed:\n{payload}")
        return int(j), payload

    def publish(self, model: Any, update: int) -> None:
        """Hand the weights after ``update`` updates to the worker (for batch ``update + 1``)."""
        self.copies[update % 2].load_state_dict(model.state_dict())
        self.published.put(update)

    def previous_weights(self, update: int) -> dict[str, Any]:
        """The published weights of ``update`` (what batch ``update + 1`` is sampled with)."""
        return {k: v.clone() for k, v in self.copies[update % 2].state_dict().items()}

    def close(self) -> None:
        """Stop the worker."""
        if self.process.is_alive():
            self.published.put(None)
            self.process.join(timeout=5)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(timeout=5)
        for q in (self.published, self.out):
            q.cancel_join_thread()
            q.close()
