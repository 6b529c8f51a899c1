"""SFT, offline DPO-family, reward-model and online DPO trainers on a tiny model (a few steps);
the reference under the policy's autocast, sampled ids in online DPO, where the reward is read."""

import math
import pickle

import gymnasium as gym
import pytest
import torch

from assay.agents.preference import dpo as dpo_module
from assay.agents.preference.config import DPOConfig, OnlineDPOConfig, RMConfig, SFTConfig, load_train_config
from assay.agents.preference.data import BinaryRecord, PreferencePair, SFTRecord, save_jsonl
from assay.agents.preference.dpo import DPO, OnlineDPO, load_preference_file
from assay.agents.preference.offline import split_indices
from assay.agents.preference.rm import RewardModel, RewardModelTrainer, env_selector, load_reward_model
from assay.agents.preference.sequences import collate, completion_logps, encode
from assay.agents.preference.sft import SFT
from assay.agents.tiny import keep_unknown_bytes
from assay.envs import SingleTurnEnv, Task
from assay.rewards.base import Rubric
from assay.verifiers.base import Status, Verdict
from assay.verifiers.match import NumberMatch
from assay.verifiers.sampler import Sample

FAST = dict(progress=False, num_threads=1)
PAIRS = [PreferencePair(f"{a}+{b}=", str(a + b), str(a + b + 1)) for a in range(4) for b in range(3)]


def logps(model, tok, prompt, completion):
    with torch.no_grad():
        total, _ = completion_logps(model, collate([encode(tok, prompt, completion)], tok.pad_token_id))
    return total.item()


def margins(model, tok, pairs):
    return [logps(model, tok, p.prompt, p.chosen) - logps(model, tok, p.prompt, p.rejected) for p in pairs]


def test_split_indices_hold_out_whole_prompts():
    keys = ["a", "a", "b", "c", "c", "d", "e"]
    train, held = split_indices(keys, 0.4, seed=0)
    assert sorted(train + held) == list(range(7))
    assert not {keys[i] for i in train} & {keys[i] for i in held}
    assert len({keys[i] for i in held}) == 2
    assert split_indices(keys, 0.0, 0) == (list(range(7)), [])
    assert split_indices(["a", "a"], 0.5, 0) == ([0, 1], [])  # one prompt cannot be split
    assert split_indices(keys, 0.4, 0) == (train, held)


def test_configs_validate_and_load(tmp_path):
    with pytest.raises(ValueError, match="loss must be one of"):
        DPOConfig(loss="nope")
    with pytest.raises(ValueError, match="eval_fraction"):
        SFTConfig(eval_fraction=1.0)
    with pytest.raises(ValueError, match="min_margin"):
        OnlineDPOConfig(pairs="margin")
    path = tmp_path / "c.yaml"
    path.write_text("lr: 0.01\nadam_betas: [0.8, 0.9]\n")
    cfg = load_train_config(
        DPOConfig, path, {"loss": "ipo", "env_kwargs": None} if False else {"loss": "ipo"}
    )
    assert (cfg.lr, cfg.adam_betas, cfg.loss) == (0.01, (0.8, 0.9), "ipo")
    assert not DPOConfig(loss="simpo").needs_reference and DPOConfig(loss="kto").needs_reference
    with pytest.raises(ValueError, match="has no setting 'lrr'"):
        load_train_config(SFTConfig, None, {"lrr": 1})
    online = load_train_config(OnlineDPOConfig, None, {"env_kwargs": '{"level": "easy"}'})
    assert online.env_kwargs == {"level": "easy"}


def test_sft_learns_the_completions_and_trains_only_on_them(tiny, tmp_path):
    model, tok = tiny
    records = [SFTRecord(f"{a}+{b}=", f"<{a + b}>") for a in range(5) for b in range(5)]
    before = sum(logps(model, tok, r.prompt, r.completion) for r in records)
    prompt_before = logps(model, tok, "0", "+0=")  # a prompt's own continuation
    cfg = SFTConfig(out_dir=str(tmp_path), lr=3e-3, batch_size=8, epochs=6, eval_fraction=0.2, **FAST)
    rows = SFT(cfg, records, model=model, tokenizer=tok).train()
    after = sum(logps(model, tok, r.prompt, r.completion) for r in records)
    assert after > before + 10
    assert rows[-1]["eval/loss"] < rows[0]["loss"]
    assert (tmp_path / "model" / "config.json").exists() and (tmp_path / "metrics.jsonl").exists()
    assert abs(logps(model, tok, "0", "+0=") - prompt_before) < abs(after - before) / 10


def test_sft_resume_reproduces_the_uninterrupted_run(tiny_dir, tmp_path):
    records = [SFTRecord(f"{a}=", f"{a}{a}") for a in range(10)]
    base = dict(model=str(tiny_dir), lr=1e-3, batch_size=3, epochs=3, seed=1, **FAST)
    full = SFT(SFTConfig(out_dir=str(tmp_path / "full"), **base), records)
    full.train()
    part = SFT(SFTConfig(out_dir=str(tmp_path / "part"), max_steps=4, **base), records)
    part.train()
    resumed = SFT(SFTConfig(out_dir=str(tmp_path / "part"), **base), records)
    rows = resumed.train(resume=True)
    assert resumed.step_count == full.step_count == 12
    assert [r["step"] for r in rows if "loss" in r] == list(range(1, 13))
    for a, b in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("loss", ["dpo", "ipo", "simpo", "orpo", "kto"])
def test_each_loss_moves_the_policy_towards_the_chosen(tiny, tmp_path, loss):
    model, tok = tiny
    before = margins(model, tok, PAIRS)
    chosen_before = sum(logps(model, tok, p.prompt, p.chosen) for p in PAIRS)
    cfg = DPOConfig(out_dir=str(tmp_path), loss=loss, lr=3e-3, batch_size=6, epochs=4, beta=0.5, **FAST)
    rows = DPO(cfg, PAIRS, model=model, tokenizer=tok).train(persist=False)
    after = margins(model, tok, PAIRS)
    gained = sum(a - b for a, b in zip(after, before, strict=True)) / len(PAIRS)
    assert gained > 0.1, (loss, gained)  # chosen over rejected: 0.12 (ORPO) to 0.7 nats measured
    if loss == "orpo":  # mostly an NLL on the chosen completion
        assert sum(logps(model, tok, p.prompt, p.chosen) for p in PAIRS) > chosen_before + 5
    first = rows[0]
    if loss == "dpo":
        assert first["loss"] == pytest.approx(0.6931, abs=1e-3)  # pi == ref before the first update
        assert rows[-1]["rewards/accuracy"] > 0.5
    if loss == "kto":
        assert "kl" in first


def test_reference_logps_are_computed_once_and_cached(tiny_dir, tmp_path, monkeypatch):
    path = save_jsonl(PAIRS, tmp_path / "pairs.jsonl")
    cfg = DPOConfig(model=str(tiny_dir), data=str(path), out_dir=str(tmp_path / "run"), **FAST)
    first = DPO(cfg)
    assert (tmp_path / "run" / "reference_logps.pt").exists()
    # the cached reference equals the starting policy's log-probs
    p = PAIRS[0]
    assert first.ref["chosen"][0].item() == pytest.approx(
        logps(first.model, first.tokenizer, p.prompt, p.chosen), abs=1e-4
    )

    def boom(*a, **k):
        raise AssertionError("the reference pass ran again")

    monkeypatch.setattr(dpo_module, "reference_logps", boom)
    again = DPO(cfg)
    assert torch.equal(again.ref["rejected"], first.ref["rejected"])
    save_jsonl(PAIRS[:-1], path)  # other data: the cache does not apply
    with pytest.raises(AssertionError, match="ran again"):
        DPO(cfg)
    simpo = DPO(
        DPOConfig(model=str(tiny_dir), data=str(path), out_dir=str(tmp_path / "s"), loss="simpo", **FAST)
    )
    assert simpo.ref == {}  # reference-free: nothing computed


def test_kto_takes_pairs_or_labelled_records(tmp_path, tiny):
    model, tok = tiny
    pairs_file = save_jsonl(PAIRS[:2], tmp_path / "p.jsonl")
    records = load_preference_file(pairs_file, "kto")
    assert [r.label for r in records] == [True, False, True, False]
    kto_file = save_jsonl(
        [BinaryRecord("1=", "1", True), BinaryRecord("1=", "2", False)], tmp_path / "k.jsonl"
    )
    assert len(load_preference_file(kto_file, "kto")) == 2
    with pytest.raises(TypeError, match="trains on PreferencePair"):
        DPO(
            DPOConfig(out_dir=str(tmp_path), **FAST),
            load_preference_file(kto_file, "kto"),
            model=model,
            tokenizer=tok,
        )
    trainer = DPO(DPOConfig(out_dir=str(tmp_path), loss="kto", **FAST), PAIRS[:2], model=model, tokenizer=tok)
    assert trainer.desirable.tolist() == [True, False, True, False]
    assert all(m.ids != c.ids for m, c in zip(trainer.mismatched, trainer.completions, strict=True))


def test_reward_model_learns_pairs_and_scores_as_a_reward_fn(tiny_dir, tmp_path, monkeypatch):
    pairs = [PreferencePair(f"{a}+{b}=", f"<{a + b}>", "<?>") for a in range(6) for b in range(6)]
    cfg = RMConfig(model=str(tiny_dir), out_dir=str(tmp_path), lr=3e-3, epochs=3, batch_size=8, **FAST)
    rows = RewardModelTrainer(cfg, pairs).train()
    assert rows[-1]["eval/accuracy"] == 1.0  # held-out prompts: "<?>" is always the loser
    rm = RewardModel.load(tmp_path / "model")
    task = Task("t", "9+9=", "18")
    good, bad = rm.score([task.prompt] * 2, ["<18>", "<?>"])
    assert good > bad
    verdict = Verdict(Status.CORRECT, 1.0)
    assert rm("<18>", task, verdict) == pytest.approx(good, abs=1e-5)
    assert rm.batch(["<18>", "<?>"], [task, task], [verdict, verdict]) == pytest.approx([good, bad], abs=1e-5)
    assert rm.select("<?>", task) == pytest.approx(bad, abs=1e-5)
    total, terms = Rubric([rm.term(low=-50, high=50)])("<18>", task, verdict)
    assert total == pytest.approx(good, abs=1e-5) and "reward_model" in terms
    assert RewardModel(rm.model, rm.tokenizer, max_length=3).score(["9+9="], ["x"]) == [None]  # no room
    monkeypatch.setenv("ASSAY_REWARD_MODEL", str(tmp_path / "model"))
    assert env_selector("<18>", task) == pytest.approx(good, abs=1e-5)
    model, _ = load_reward_model(tiny_dir)
    assert model.config.num_labels == 1


ENV = "preftest/Add-v0"


class AddEnv(SingleTurnEnv):
    """'a+b=' with a, b < 3: 9 distinct prompts over 60 indices."""

    num_tasks = 60

    def __init__(self, **kwargs):
        super().__init__(verifier=NumberMatch(), **kwargs)

    def task_at(self, index: int) -> Task:
        a, b = index % 3, (index // 3) % 3
        return Task(id=f"add/{index}", prompt=f"{a}+{b}=", answer=str(a + b))


if ENV not in gym.registry:
    gym.register(ENV, entry_point=AddEnv)


@pytest.mark.parametrize("refresh", ["round", "fixed"])
def test_online_dpo_runs_rounds_and_never_trains_on_held_out_prompts(tiny, tmp_path, refresh):
    model, tok = tiny
    cfg = OnlineDPOConfig(
        env=ENV,
        out_dir=str(tmp_path),
        rounds=2,
        prompts_per_round=6,
        samples_per_prompt=4,
        max_new_tokens=3,
        pairs="best_vs_worst",
        eval_prompts=3,
        eval_samples=2,
        lr=1e-3,
        ref_refresh=refresh,
        **FAST,
    )
    online = OnlineDPO(cfg, model=model, tokenizer=tok)
    held = online.eval_prompts
    assert online.eval_indices == [57, 58, 59] and held == {"0+1=", "1+1=", "2+1="}
    for r in range(3):
        assert not {t.prompt for t in online.train_tasks(r)} & held
    assert (online.reference is not None) == (refresh == "fixed")
    rows = online.train()
    online.close()
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert all(0.0 <= r["eval/pass_rate"] <= 1.0 for r in rows)
    assert rows[1]["pairs"] >= 0 and "train/pass_rate" in rows[1]
    assert (tmp_path / "model" / "config.json").exists()
    again = OnlineDPO(cfg, model=model, tokenizer=tok)
    assert again.evaluate() == again.evaluate()  # a fixed evaluation seed: a no-training control is exact
    again.close()


def test_online_dpo_refuses_a_finite_env_too_small_to_hold_out(tiny, tmp_path):
    model, tok = tiny
    with pytest.raises(ValueError, match="too few to hold out"):
        OnlineDPO(
            OnlineDPOConfig(env=ENV, eval_prompts=60, out_dir=str(tmp_path), **FAST),
            model=model,
            tokenizer=tok,
        )


def test_a_reward_model_is_a_reward_term_for_grpo(tiny_dir, tiny, tmp_path):
    """The reward model as a rubric term of the env that GRPO trains on (one step)."""
    from assay.agents import GRPO, GRPOConfig
    from assay.rewards.base import Term, correct

    model, tok = tiny
    scorer_model, scorer_tok = load_reward_model(tiny_dir)
    rm = RewardModel(scorer_model, scorer_tok)
    rubric = Rubric([Term("correct", correct), rm.term(weight=0.1, low=-5.0, high=5.0)])
    cfg = GRPOConfig(
        env=ENV,
        env_kwargs={"rubric": rubric},
        out_dir=str(tmp_path),
        steps=1,
        num_prompts=2,
        group_size=2,
        max_new_tokens=3,
        plot=False,
        log_kl=False,
        **FAST,
    )
    trainer = GRPO(cfg, model=model, tokenizer=tok)
    rows = trainer.train()
    trainer.close()
    assert len(rows) == 1
    assert rows[0]["reward/std"] > 0  # the reward model's score varies where correctness alone would not
    clone = pickle.loads(pickle.dumps(rm))  # an async vector env sends its rubric to workers
    task = Task("t", "1+1=", "2")
    assert clone.score(["1+1="], ["2"]) == pytest.approx(rm.score(["1+1="], ["2"]), abs=1e-6)
    assert rubric(task.prompt, task, Verdict(Status.CORRECT, 1.0)).terms["reward_model"] is not None


def test_a_reference_directory_and_a_reward_model_scorer(tiny_dir, tiny, tmp_path):
    model, tok = tiny
    cfg = DPOConfig(out_dir=str(tmp_path / "d"), reference=str(tiny_dir), **FAST)
    rows = DPO(cfg, PAIRS, model=model, tokenizer=tok).train(persist=False)
    assert rows[0]["loss"] == pytest.approx(0.6931, abs=1e-3)  # the reference directory is the start
    assert (tmp_path / "d" / "reference_logps.pt").exists()  # a directory reference is cached on disk

    rm_model, rm_tok = load_reward_model(tiny_dir)
    rm_model.save_pretrained(tmp_path / "rm")
    rm_tok.save_pretrained(tmp_path / "rm")
    keep_unknown_bytes(tmp_path / "rm")  # as the trainers' own exports do (else <unk> gets a new id)
    online_cfg = OnlineDPOConfig(
        env=ENV,
        out_dir=str(tmp_path / "o"),
        rounds=1,
        prompts_per_round=4,
        samples_per_prompt=3,
        max_new_tokens=3,
        pairs="best_vs_worst",
        eval_prompts=3,
        eval_samples=1,
        reward_model=str(tmp_path / "rm"),
        **FAST,
    )
    online = OnlineDPO(online_cfg, model=model, tokenizer=tok)
    assert isinstance(online.scorer, RewardModel)
    rows = online.train()
    online.close()
    assert rows[1]["pairs"] == 4  # a reward model's scores all differ: one pair per prompt


# -- issue 17 item 5: fixes, each with a test that failed before it ---------------------------


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
