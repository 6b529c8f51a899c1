"""DPO-family training: offline on a preference file (`DPO`), and online iterative DPO (`OnlineDPO`).

Offline, one step: a batch of pairs (KTO: labelled completions); the policy's summed and
per-token mean log-probs of each completion (one forward over chosen and rejected together);
the reference model's log-probs, computed **once** for the whole dataset before training
(under the policy's autocast dtype, so the two agree exactly before the first update) and
cached (in memory, and in ``out_dir/reference_logps.pt`` when the reference is a directory, so a
rerun or resume on the same data skips the pass); the chosen loss from
`assay.agents.preference.losses`; AdamW. SimPO and ORPO need no reference and load none.

KTO's reference point ``z0`` is estimated from mismatched pairs: each record's prompt with the
completion of another record, fixed once by a seeded shuffle (so the reference side is cached
too). The policy's side of ``z0`` is computed per micro-batch without gradient (the paper does
not backpropagate through it).

Online (iterative DPO, as in Xiong et al. 2024 and the self-rewarding loop of Yuan et al. 2024):
each round samples ``samples_per_prompt`` completions of ``prompts_per_round`` fresh tasks from
the current policy, scores them with the env's verifier and rubric (or a reward model), builds
pairs, and runs one offline DPO pass on them, starting a fresh optimizer. Each completion is
trained on as the sampler's token ids (an EOS only where one was sampled; none on a completion
cut at ``max_new_tokens``), not re-tokenised from its text; two samples of one prompt with the
same text share one set of ids. The reference is the
policy at the start of the round (``ref_refresh="round"``: its log-probs are taken before the
round's first update, so no copy of the model is kept) or the starting policy throughout
(``"fixed"``). Before the first round and after each one, the pass rate on held-out tasks is
measured.

Simplifications, stated: pairs are rebuilt from scratch each round (no replay of earlier
rounds); single-turn envs only; no LoRA.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from assay.agents.chat import ChatSampler
from assay.agents.metrics import MetricsLog
from assay.agents.policy import load_policy
from assay.agents.preference.config import DPOConfig, OnlineDPOConfig
from assay.agents.preference.data import (
    BinaryRecord,
    Group,
    PreferencePair,
    best_vs_worst,
    correct_vs_incorrect,
    generate_groups,
    load_binary,
    load_pairs,
    margin_pairs,
    pairs_to_binary,
)
from assay.agents.preference.losses import (
    PreferenceLoss,
    dpo_loss,
    ipo_loss,
    kto_loss,
    kto_reference_point,
    orpo_loss,
    simpo_loss,
)
from assay.agents.preference.offline import OfflineTrainer
from assay.agents.preference.sequences import Encoded, collate, completion_logps, encode
from assay.agents.sampler import HFSampler
from assay.agents.trainer import Trainer
from assay.registry import make
from assay.rewards.base import RewardFn
from assay.verifiers.base import Status, Task
from assay.verifiers.sampler import Sampler

__all__ = ["DPO", "OnlineDPO", "load_preference_file", "reference_logps"]


def load_preference_file(path: str | Path, loss: str) -> list[PreferencePair] | list[BinaryRecord]:
    """Pairs from ``path``; for KTO, labelled records (a pair file becomes two records per pair)."""
    if loss != "kto":
        return load_pairs(path)
    with Path(path).open(encoding="utf-8") as f:
        first = next((line for line in f if line.strip()), "{}")
    try:
        columns = json.loads(first)
    except ValueError:
        columns = {}
    if isinstance(columns, dict) and "chosen" in columns:
        return pairs_to_binary(load_pairs(path))
    return load_binary(path)


def reference_logps(
    model: Any,
    sequences: Sequence[Encoded],
    pad_id: int,
    *,
    batch_size: int = 32,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """``(sum, count)`` of each sequence's completion log-probs under ``model`` (no grad, eval
    mode), computed in batches of ``batch_size``; CPU tensors of shape ``(len(sequences),)``.

    ``dtype`` other than float32 runs the forward passes under autocast to it: pass the policy's
    (`Trainer.dtype`), so that before any update the reference and the policy agree exactly."""
    sums, counts = [], []
    was_training = model.training
    model.eval()
    amp = (
        torch.autocast(device_type=torch.device(device).type, dtype=dtype)
        if dtype != torch.float32
        else nullcontext()
    )
    try:
        with torch.no_grad(), amp:
            for start in range(0, len(sequences), batch_size):
                batch = collate(sequences[start : start + batch_size], pad_id).to(device)
                s, c = completion_logps(model, batch)
                sums.append(s.float().cpu())
                counts.append(c.float().cpu())
    finally:
        model.train(was_training)
    if not sums:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(sums), torch.cat(counts)


def _mismatch(n: int, seed: int) -> list[int]:
    """``partner[i] != i`` for ``n >= 2``: a seeded cyclic shift over a shuffled order."""
    if n < 2:
        return list(range(n))
    order = np.random.default_rng([seed, 0x4B70]).permutation(n)
    partner = [0] * n
    for k in range(n):
        partner[int(order[k])] = int(order[(k + 1) % n])
    return partner


def _weights_stamp(path: str) -> str:
    """Identity of a model directory's weights: file names, sizes and mtimes."""
    root = Path(path)
    files = sorted(p for p in root.iterdir() if p.suffix in (".safetensors", ".bin")) if root.is_dir() else []
    return json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files])


class DPO(OfflineTrainer):
    """``DPO(config).train()``: offline DPO, IPO, SimPO, KTO or ORPO on ``config.data``.

    Args:
        config: A `DPOConfig`.
        records: Pairs (or, for KTO, labelled records or pairs) instead of reading ``config.data``.
        model, tokenizer: The policy, instead of loading ``config.model`` (trained in place).
        reference: The reference model, instead of loading ``config.reference``. With neither,
            the reference is the policy as it is now (its log-probs are cached before training,
            so no copy is made).
        completion_ids: Token ids of sampled completions, by ``(prompt, completion text)``: a
            completion found here is trained on as sampled (`encode`'s ``completion_ids``), not
            re-tokenised from its text (online DPO).
    """

    name = "dpo"
    config: DPOConfig

    def __init__(
        self,
        config: DPOConfig,
        records: Sequence[PreferencePair] | Sequence[BinaryRecord] | None = None,
        *,
        model: Any = None,
        tokenizer: Any = None,
        reference: Any = None,
        completion_ids: Mapping[tuple[str, str], Sequence[int]] | None = None,
    ) -> None:
        self.name = config.loss
        if records is None:
            if not config.data:
                raise ValueError("config.data is empty: pass a JSONL preference file")
            records = load_preference_file(config.data, config.loss)
        rows: list[Any] = list(records)
        if config.loss == "kto" and rows and isinstance(rows[0], PreferencePair):
            rows = pairs_to_binary(rows)
        if not rows:
            raise ValueError("no preference records")
        want = BinaryRecord if config.loss == "kto" else PreferencePair
        if not all(isinstance(r, want) for r in rows):
            raise TypeError(f"loss={config.loss!r} trains on {want.__name__} records")
        super().__init__(config, model=model, tokenizer=tokenizer)
        tokenizer = self.tokenizer
        self.records = rows
        ml = config.max_length
        sampled = completion_ids or {}

        def enc(prompt: str, completion: str, source_prompt: str) -> Encoded:
            ids = sampled.get((source_prompt, completion))
            return encode(tokenizer, prompt, completion, max_length=ml, completion_ids=ids, chat=self.chat)

        if config.loss == "kto":
            self.completions = [enc(r.prompt, r.completion, r.prompt) for r in rows]
            partner = _mismatch(len(rows), config.seed)
            self.mismatched = [
                enc(r.prompt, rows[partner[i]].completion, rows[partner[i]].prompt)
                for i, r in enumerate(rows)
            ]
            self.desirable = torch.tensor([bool(r.label) for r in rows])
        else:
            self.chosen = [enc(r.prompt, r.chosen, r.prompt) for r in rows]
            self.rejected = [enc(r.prompt, r.rejected, r.prompt) for r in rows]
        self.setup([r.prompt for r in rows])
        self.ref: dict[str, Tensor] = {}
        if config.needs_reference:
            self.ref = self._reference(reference)

    # -- the reference, computed once ------------------------------------------------------

    def _sequences(self) -> dict[str, list[Encoded]]:
        if self.config.loss == "kto":
            return {"completion": self.completions, "mismatched": self.mismatched}
        return {"chosen": self.chosen, "rejected": self.rejected}

    def _fingerprint(self, label: str) -> str:
        h = hashlib.sha256()
        c = self.config
        h.update(json.dumps([c.loss, c.max_length, c.seed, str(self.dtype), label]).encode())
        for name, seqs in self._sequences().items():
            h.update(name.encode())
            for e in seqs:
                h.update(json.dumps([e.prompt_len, list(e.ids)]).encode())
        return h.hexdigest()

    def _reference(self, reference: Any) -> dict[str, Tensor]:
        c = self.config
        label = ""
        if reference is None and c.reference:
            label = f"{Path(c.reference).resolve()}|{_weights_stamp(c.reference)}"
        elif reference is None and self.loaded_from:
            label = f"{Path(self.loaded_from).resolve()}|{_weights_stamp(self.loaded_from)}"
        cache = self.out_dir / "reference_logps.pt"
        fingerprint = self._fingerprint(label) if label else ""
        if fingerprint and cache.exists():
            saved = torch.load(cache, weights_only=True)
            if saved.get("fingerprint") == fingerprint:
                return {k: v for k, v in saved.items() if k != "fingerprint"}
        ref_model = reference
        if ref_model is None and c.reference:
            ref_model, _ = load_policy(c.reference, device=c.device)
        if ref_model is None:
            ref_model = self.model  # the policy before any update
        out: dict[str, Tensor] = {}
        for name, seqs in self._sequences().items():
            out[name], _ = reference_logps(ref_model, seqs, self.pad_id, device=c.device, dtype=self.dtype)
        if fingerprint:
            cache.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"fingerprint": fingerprint, **out}, cache)  # type: ignore[dict-item]
        return out

    # -- the loss --------------------------------------------------------------------------

    def losses(self, idx: Sequence[int]) -> tuple[Tensor, dict[str, Tensor]]:
        if self.config.loss == "kto":
            return self._kto(idx)
        c = self.config
        n = len(idx)
        batch = collate([self.chosen[i] for i in idx] + [self.rejected[i] for i in idx], self.pad_id)
        total, count = completion_logps(self.model, batch.to(self.device))
        avg = total / count.clamp(min=1.0)
        pc, pr, ac, ar = total[:n], total[n:], avg[:n], avg[n:]
        out: PreferenceLoss
        if c.loss in ("dpo", "ipo"):
            rows = torch.tensor(list(idx))
            rc, rr = self.ref["chosen"][rows].to(pc), self.ref["rejected"][rows].to(pc)
            if c.loss == "dpo":
                out = dpo_loss(pc, pr, rc, rr, beta=c.beta, label_smoothing=c.label_smoothing)
            else:
                out = ipo_loss(pc, pr, rc, rr, beta=c.beta)
        elif c.loss == "simpo":
            out = simpo_loss(
                ac, ar, beta=c.simpo_beta, gamma=c.simpo_gamma, label_smoothing=c.label_smoothing
            )
        else:
            out = orpo_loss(ac, ar, lam=c.orpo_lambda)
        losses = out.losses
        if c.sft_weight:
            losses = losses - c.sft_weight * ac
        metrics = {
            "rewards/chosen": out.chosen_rewards,
            "rewards/rejected": out.rejected_rewards,
            "rewards/margin": out.chosen_rewards - out.rejected_rewards,
            "rewards/accuracy": (out.chosen_rewards > out.rejected_rewards).float(),
            "logps/chosen": pc.detach(),
            "logps/rejected": pr.detach(),
        }
        return losses, metrics

    def _kto(self, idx: Sequence[int]) -> tuple[Tensor, dict[str, Tensor]]:
        c = self.config
        rows = torch.tensor(list(idx))
        batch = collate([self.completions[i] for i in idx], self.pad_id).to(self.device)
        total, count = completion_logps(self.model, batch)
        with torch.no_grad():
            mm = collate([self.mismatched[i] for i in idx], self.pad_id).to(self.device)
            policy_mm, _ = completion_logps(self.model, mm)
        z0 = kto_reference_point(policy_mm.float(), self.ref["mismatched"][rows].to(policy_mm))
        desirable = self.desirable[rows].to(self.device)
        out = kto_loss(
            total,
            self.ref["completion"][rows].to(total),
            desirable,
            z0,
            beta=c.beta,
            desirable_weight=c.kto_desirable_weight,
            undesirable_weight=c.kto_undesirable_weight,
        )
        losses = out.losses
        if c.sft_weight:
            losses = losses - c.sft_weight * torch.where(desirable, total / count.clamp(min=1.0), 0.0)
        metrics = {
            "rewards/chosen": out.chosen_rewards,
            "rewards/rejected": out.rejected_rewards,
            "kl": z0.expand(len(idx)),
        }
        return losses, metrics


# -- online ---------------------------------------------------------------------------------


class OnlineDPO(Trainer):
    """Iterative DPO on an env (module docstring). ``OnlineDPO(config).train()`` runs it.

    Args:
        config: An `OnlineDPOConfig`.
        model, tokenizer: The policy, instead of loading ``config.model`` (trained in place).
        sampler: Samples from the policy (default: `HFSampler` on ``model``; it must follow
            the policy's weights as they change).
        scorer: Rank samples by this reward function instead of the env's reward (default: the
            reward model in ``config.reward_model`` if set).

    Rounds are not checkpointed: `train` always starts at round 0 (``save`` and ``resume``,
    from the `Trainer` base, hold the policy's weights only).
    """

    config: OnlineDPOConfig

    def __init__(
        self,
        config: OnlineDPOConfig,
        *,
        model: Any = None,
        tokenizer: Any = None,
        sampler: Sampler | None = None,
        scorer: RewardFn | None = None,
    ) -> None:
        super().__init__(config, model=model, tokenizer=tokenizer)
        if sampler is None:  # in chat format, prompts are rendered as the pairs' prompts will be
            policy = HFSampler(self.model, self.tokenizer)
            sampler = policy if self.chat is None else ChatSampler(policy, self.chat)
        self.sampler: Sampler = sampler
        if scorer is None and config.reward_model:
            from assay.agents.preference.rm import RewardModel

            scorer = RewardModel.load(config.reward_model, device=config.device)
        self.scorer = scorer
        self.env = make(config.env, **dict(config.env_kwargs))
        base: Any = self.env.unwrapped
        self.task_at = base.task_at
        finite = base.num_tasks
        if finite is not None:
            if finite <= config.eval_prompts:
                raise ValueError(
                    f"{config.env} has {finite} tasks: too few to hold out {config.eval_prompts}"
                )
            self.train_range = finite - config.eval_prompts
            self.eval_indices = list(range(self.train_range, finite))
        else:
            self.train_range = config.eval_offset
            self.eval_indices = list(range(config.eval_offset, config.eval_offset + config.eval_prompts))
        self.eval_prompts = {self.task_at(i).prompt for i in self.eval_indices}
        self.reference: Any = None
        if config.ref_refresh == "fixed" and config.needs_reference:
            if config.reference:
                self.reference, _ = load_policy(config.reference, device=config.device)
            else:
                self.reference = self.frozen_copy()
        self.round = 0

    def train_tasks(self, round_index: int) -> list[Task]:
        """The tasks of round ``round_index``: drawn without replacement from the training range,
        seeded by ``(seed, round)``, skipping any task whose prompt is a held-out prompt (a
        procedural env can draw the same problem at two indices; held-out means never trained
        on). Fewer than ``prompts_per_round`` come back only when the range runs out."""
        c = self.config
        rng = np.random.default_rng([c.seed, 0x0D70, round_index])
        out: list[Task] = []
        seen: set[int] = set()
        while len(out) < c.prompts_per_round and len(seen) < self.train_range:
            want = min(2 * (c.prompts_per_round - len(out)), self.train_range - len(seen))
            for i in rng.choice(self.train_range, size=want, replace=False):
                if int(i) in seen or len(out) == c.prompts_per_round:
                    continue
                seen.add(int(i))
                task = self.task_at(int(i))
                if task.prompt not in self.eval_prompts:
                    out.append(task)
        return out

    def evaluate(self, seed: int | None = None) -> dict[str, float]:
        """Pass rate, no-answer rate and mean reward of the current policy on the held-out tasks
        (``eval_samples`` each, sampled at ``temperature`` with a fixed seed)."""
        c = self.config
        if not self.eval_indices:
            return {}
        groups = generate_groups(
            self.env,
            self.sampler,
            [self.task_at(i) for i in self.eval_indices],
            n=c.eval_samples,
            max_new_tokens=c.max_new_tokens,
            temperature=c.temperature,
            seed=c.seed + 7919 if seed is None else seed,
            batch_size=32,
        )
        cands = [x for g in groups for x in g.candidates]
        return {
            "eval/pass_rate": sum(x.status is Status.CORRECT for x in cands) / len(cands),
            "eval/no_answer": sum(x.status is Status.NO_ANSWER for x in cands) / len(cands),
            "eval/reward": sum(x.reward for x in cands) / len(cands),
        }

    def build_pairs(self, groups: Sequence[Group]) -> list[PreferencePair]:
        """The round's pairs, as ``config.pairs`` says."""
        c = self.config
        if c.pairs == "correct_vs_incorrect":
            return correct_vs_incorrect(groups, max_pairs=c.max_pairs_per_prompt, seed=c.seed + self.round)
        if c.pairs == "best_vs_worst":
            return best_vs_worst(groups, min_margin=c.min_margin)
        return margin_pairs(groups, min_margin=c.min_margin, max_pairs=c.max_pairs_per_prompt)

    def step(self) -> dict[str, Any]:
        """One round: generate, score, pair, optimise. Returns the round's metrics."""
        c = self.config
        t0 = time.perf_counter()
        groups = generate_groups(
            self.env,
            self.sampler,
            self.train_tasks(self.round),
            n=c.samples_per_prompt,
            max_new_tokens=c.max_new_tokens,
            temperature=c.temperature,
            seed=c.seed * 1_000_003 + self.round,
            scorer=self.scorer,
        )
        pairs = self.build_pairs(groups)
        cands = [x for g in groups for x in g.candidates]
        row: dict[str, Any] = {
            "round": self.round + 1,
            "train/pass_rate": sum(x.status is Status.CORRECT for x in cands) / len(cands),
            "train/reward": sum(x.reward for x in cands) / len(cands),
            "pairs": len(pairs),
            "time/generate": time.perf_counter() - t0,
        }
        t1 = time.perf_counter()
        if pairs:
            shared = {f.name: getattr(c, f.name) for f in dataclasses.fields(DPOConfig)}
            shared.update(out_dir=str(self.out_dir / f"round_{self.round + 1:03d}"), progress=False, data="")
            stage = DPOConfig(**shared)
            records: list[Any] = pairs_to_binary(pairs) if c.loss == "kto" else pairs
            sampled = {
                (g.task.prompt, x.text): x.token_ids for g in groups for x in g.candidates if x.token_ids
            }
            trainer = DPO(
                stage,
                records,
                model=self.model,
                tokenizer=self.tokenizer,
                reference=self.reference,
                completion_ids=sampled,
            )
            rows = trainer.train(persist=False)
            last = [r for r in rows if "loss" in r]
            if last:
                row["loss"] = sum(r["loss"] for r in last) / len(last)
                acc = [float(r["rewards/accuracy"]) for r in last if r.get("rewards/accuracy") is not None]
                if acc:
                    row["rewards/accuracy"] = sum(acc) / len(acc)
            row["steps"] = trainer.step_count
        else:
            row["steps"] = 0
        row["time/train"] = time.perf_counter() - t1
        self.round += 1
        return row

    def train(self) -> list[dict[str, Any]]:
        """All rounds, with the held-out evaluation before the first and after each; metrics to
        ``out_dir/metrics.jsonl``; the final policy to ``out_dir/model``."""
        c = self.config
        log = MetricsLog(self.out_dir / "metrics.jsonl", report_to=c.report_to)
        rows: list[dict[str, Any]] = []
        first = {"step": 0, "round": 0, **self.evaluate()}
        log.log(first)
        rows.append(first)
        while self.round < c.rounds:
            row = self.step()
            row.update(self.evaluate())
            row["step"] = self.round
            log.log(row)
            rows.append(row)
            if c.progress:
                from rich.console import Console

                Console(stderr=True).print(
                    f"round {self.round}/{c.rounds}: pairs {row['pairs']}, "
                    f"held-out pass rate {row.get('eval/pass_rate', float('nan')):.3f}"
                )
        log.close()
        self.export(self.out_dir / "model")
        return rows

    def close(self) -> None:
        """Close the env."""
        self.env.close()
