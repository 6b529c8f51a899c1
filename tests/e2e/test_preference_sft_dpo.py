"""The post-training floors on single-digit addition, with a tiny model trained from scratch on CPU.

1. SFT cold start: formatted traces (``<think>3+4</think><answer>7</answer>``) teach the format;
   the format reward on held-out prompts goes from below 10% to above 90%.
2. Iterative DPO from that checkpoint (pairs of a verified-correct over an incorrect sample of
   the current policy, the reference refreshed each round) raises the verifier pass rate on
   held-out prompts over rounds, against a no-training control (the same policy, not trained,
   evaluated with the same seed). Measured (6 rounds of 128 prompts): 0.41 -> 0.46-0.50 over
   the last three rounds; the gain builds over rounds.

"Held-out" means the prompt text never appears in any training data (the SFT set and every
DPO round exclude it), not only another task index. One torch thread.
"""

import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from assay.agents.policy import load_policy
from assay.agents.preference.config import OnlineDPOConfig, SFTConfig
from assay.agents.preference.data import SFTRecord, generate_groups
from assay.agents.preference.dpo import OnlineDPO
from assay.agents.preference.sft import SFT
from assay.agents.sampler import HFSampler
from assay.agents.tiny import init_tiny
from assay.rewards.format import tags

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENV = "assay/Arithmetic-v0"
ENV_KWARGS = {"num_operands": 2, "operations": "+", "max_operand": 10, "prompt_template": "{expr}="}
ALPHABET = "0123456789+= <>/thinkaswer"
FORMAT = tags("think", "answer")


def trace(task):
    expr = task.meta["expression"].replace(" ", "")
    return f"<think>{expr}</think><answer>{task.answer}</answer>"


def online_config(tmp_path, **kw):
    return OnlineDPOConfig(
        env=ENV,
        env_kwargs=ENV_KWARGS,
        out_dir=str(tmp_path / "dpo"),
        max_new_tokens=40,
        eval_prompts=48,
        eval_samples=8,
        num_threads=1,
        progress=False,
        **kw,
    )


def format_rate(online, model, tok):
    groups = generate_groups(
        online.env,
        HFSampler(model, tok),
        [online.task_at(i) for i in online.eval_indices],
        n=4,
        max_new_tokens=40,
        seed=3,
    )
    cands = [(c.text, g.task) for g in groups for c in g.candidates]
    return sum(FORMAT.evaluate(text, task, None)[0] == 1.0 for text, task in cands) / len(cands)


@pytest.fixture(scope="module")
def cold_start(tmp_path_factory):
    """A tiny model from scratch, SFT'd on traces of training prompts only."""
    tmp = tmp_path_factory.mktemp("sft")
    model, tok = load_policy(init_tiny(tmp / "init", alphabet=ALPHABET, seed=0))
    online = OnlineDPO(online_config(tmp), model=model, tokenizer=tok)
    held_out = online.eval_prompts
    records = []
    for i in range(4000):
        task = online.task_at(i)
        if task.prompt not in held_out:
            records.append(SFTRecord(task.prompt, trace(task)))
        if len(records) == 1500:
            break
    before = format_rate(online, model, tok)
    start = time.perf_counter()
    cfg = SFTConfig(
        out_dir=str(tmp / "run"),
        lr=3e-3,
        batch_size=32,
        max_steps=300,
        epochs=100,
        warmup_steps=10,
        num_threads=1,
        progress=False,
    )
    SFT(cfg, records, model=model, tokenizer=tok).train()
    seconds = time.perf_counter() - start
    after = format_rate(online, model, tok)
    online.close()
    print(
        f"SFT cold start: {len(records)} records, 300 steps, {seconds:.1f} s; held-out format {before:.3f} -> {after:.3f}"
    )
    return tmp / "run" / "model", before, after, held_out


@pytest.mark.timeout(300)
def test_sft_cold_start_teaches_the_format(cold_start):
    _, before, after, held_out = cold_start
    assert len(held_out) >= 25
    assert before < 0.10
    assert after > 0.90


@pytest.mark.timeout(300)
def test_iterative_dpo_raises_the_held_out_pass_rate(cold_start, tmp_path):
    model_dir, _, _, held_out = cold_start
    model, tok = load_policy(model_dir)
    cfg = online_config(
        tmp_path,
        rounds=6,
        prompts_per_round=128,
        samples_per_prompt=8,
        max_pairs_per_prompt=4,
        pairs="correct_vs_incorrect",
        loss="dpo",
        beta=1.0,
        lr=3e-5,
        batch_size=16,
        ref_refresh="round",
    )
    online = OnlineDPO(cfg, model=model, tokenizer=tok)
    assert online.eval_prompts == held_out
    start = time.perf_counter()
    rows = online.train()
    seconds = time.perf_counter() - start
    online.close()
    control_model, control_tok = load_policy(model_dir)
    control = OnlineDPO(cfg, model=control_model, tokenizer=control_tok)
    control_rate = control.evaluate()["eval/pass_rate"]
    control.close()
    rates = [r["eval/pass_rate"] for r in rows]
    print(
        f"iterative DPO: {seconds:.1f} s; held-out pass rate by round {[round(x, 3) for x in rates]}; no-training control {control_rate:.3f}"
    )
    assert rates[0] == control_rate  # round 0 is the untrained policy
    # measured here (torch 2.13, transformers 5.25): control 0.411, rounds 0.42, 0.46, 0.46, 0.46,
    # 0.50, 0.48: the gain builds over rounds. (With transformers 5.1x the same recipe measured
    # control 0.508 and 0.58-0.61 from round 1 on, at 64 prompts a round for 4 rounds.)
    assert sum(rates[-3:]) / 3 >= control_rate + 0.04  # the last three rounds, not one lucky one
    assert rates[-1] >= control_rate + 0.04
