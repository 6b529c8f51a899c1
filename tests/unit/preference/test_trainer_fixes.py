"""Regression tests for issue 17 item 5 in the preference trainers: the reference runs under the
policy's autocast, online DPO trains on the sampled token ids, and the reward model reads its
score where its docstring says."""

import math

import gymnasium as gym
import pytest
import torch

from assay.agents.preference import dpo as dpo_module
from assay.agents.preference.config import DPOConfig, OnlineDPOConfig
from assay.agents.preference.data import PreferencePair
from assay.agents.preference.dpo import DPO, OnlineDPO
from assay.agents.preference.rm import RewardModel, load_reward_model
from assay.agents.preference.sequences import collate, encode
from assay.envs import SingleTurnEnv, Task
from assay.verifiers.match import NumberMatch
from assay.verifiers.sampler import Sample

FAST = dict(progress=False, num_threads=1)
PAIRS = [PreferencePair(f"{a}+{b}=", str(a + b), str(a + b + 1)) for a in range(4) for b in range(3)]


@pytest.mark.parametrize("loss", ["dpo", "ipo", "kto"])
def test_the_reference_runs_under_the_policys_autocast(tiny, tmp_path, loss):
    model, tok = tiny
    cfg = DPOConfig(
        out_dir=str(tmp_path), loss=loss, lr=0.0, batch_size=12, max_steps=1, dtype="bfloat16", **FAST
    )
    first = DPO(cfg, PAIRS, model=model, tokenizer=tok).train(persist=False)[0]
    # pi == ref before any update: every implicit reward is exactly 0
    assert first["rewards/chosen"] == 0.0 and first["rewards/rejected"] == 0.0
    if loss == "dpo":
        assert first["loss"] == pytest.approx(math.log(2), abs=1e-6) and first["rewards/accuracy"] == 0.0


ENV = "preffix/Add-v0"


class _AddEnv(SingleTurnEnv):
    num_tasks = 60

    def __init__(self, **kwargs):
        super().__init__(verifier=NumberMatch(), **kwargs)

    def task_at(self, index: int) -> Task:
        a, b = index % 3, (index // 3) % 3
        return Task(id=f"add/{index}", prompt=f"{a}+{b}=", answer=str(a + b))


if ENV not in gym.registry:
    gym.register(ENV, entry_point=_AddEnv)


class _Cut:
    """Right answers that stop (EOS sampled) and wrong ones cut at ``max_new_tokens``."""

    def __init__(self, tokenizer):
        self.tok = tokenizer

    def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
        out = []
        for p in prompts:
            a, b = p.rstrip("=").split("+")
            right = self.tok(str(int(a) + int(b)), add_special_tokens=False)["input_ids"]
            wrong = self.tok("9" * (max_new_tokens + 2), add_special_tokens=False)["input_ids"][
                :max_new_tokens
            ]
            good = Sample(
                str(int(a) + int(b)), [*right, self.tok.eos_token_id], [0.0] * (len(right) + 1), "stop"
            )
            bad = Sample(self.tok.decode(wrong), wrong, [0.0] * len(wrong), "length")
            out.append([good if j % 2 == 0 else bad for j in range(n)])
        return out


def test_online_dpo_trains_on_the_sampled_ids_without_eos_on_cut_completions(tiny, tmp_path, monkeypatch):
    model, tok = tiny
    cfg = OnlineDPOConfig(
        env=ENV, out_dir=str(tmp_path), rounds=1, prompts_per_round=3, samples_per_prompt=2,
        max_new_tokens=3, pairs="best_vs_worst", eval_prompts=3, eval_samples=1, lr=0.0, **FAST,
    )  # fmt: skip
    stages = []
    real = dpo_module.DPO

    def capture(*a, **k):
        stages.append(real(*a, **k))
        return stages[-1]

    monkeypatch.setattr(dpo_module, "DPO", capture)
    online = OnlineDPO(cfg, model=model, tokenizer=tok, sampler=_Cut(tok))
    online.step()
    online.close()
    (stage,) = stages
    eos = tok.eos_token_id
    for chosen, rejected in zip(stage.chosen, stage.rejected, strict=True):
        assert chosen.ids[-1] == eos  # it stopped: the sampled EOS is a target
        cut = rejected.ids[rejected.prompt_len :]
        assert eos not in cut and len(cut) == 3  # cut at max_new_tokens: no EOS made up


def _pooled_at_eos(model, batch):
    hidden = model.base_model(
        input_ids=batch.input_ids, attention_mask=batch.attention_mask
    ).last_hidden_state
    last = batch.attention_mask.sum(dim=1) - 1
    return model.score(hidden[torch.arange(len(last)), last]).squeeze(-1)


def test_the_reward_model_reads_its_score_at_the_eos_token(tiny_dir):
    torch.manual_seed(0)
    model, tok = load_reward_model(tiny_dir)
    with torch.no_grad():
        torch.nn.init.normal_(model.score.weight)
    # pad == eos (as for many tokenizers without a pad token): the EOS must still be read, not
    # the token before it
    tok.pad_token = tok.eos_token
    model.config.pad_token_id = tok.eos_token_id
    rm = RewardModel(model, tok)
    prompts, completions = ["1+2=", "2+2="], ["3", "40"]
    got = rm.score(prompts, completions)
    batch = collate([encode(tok, p, c) for p, c in zip(prompts, completions, strict=True)], tok.pad_token_id)
    with torch.no_grad():
        want = _pooled_at_eos(model, batch).tolist()
    assert got == pytest.approx(want, abs=1e-5)
