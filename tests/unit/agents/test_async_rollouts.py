"""Async rollouts: a worker samples batch k + 1 while GRPO trains on batch k.

Checked: every batch is exactly one update stale (its sampler log-probs are those of the
weights after update k - 1, not of any other weights), truncated importance sampling is on,
runs are deterministic and resume exactly, the same whether the trainer or the worker samples
a batch (start-up hand-over), and a dead worker is an error, not a hang.
"""

import pytest

torch = pytest.importorskip("torch")

from assay.agents.config import GRPOConfig, PPOConfig  # noqa: E402
from assay.agents.grpo import GRPO  # noqa: E402
from assay.agents.policy import token_logprobs  # noqa: E402
from assay.agents.ppo import PPO  # noqa: E402
from assay.agents.rollout import to_batch  # noqa: E402

STRIP = lambda rs: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rs]  # noqa: E731


def _cfg(arith_dir, tmp_path, add_kwargs, **kw):
    base = dict(
        model=str(arith_dir), env="assay/Arithmetic-v0", env_kwargs=add_kwargs, out_dir=str(tmp_path / "run"),
        num_prompts=4, group_size=4, max_new_tokens=4, progress=False, plot=False, num_threads=1, lr=5e-3,
        log_kl=False, async_rollouts=True, async_handover=0,
    )  # fmt: skip
    base.update(kw)
    return GRPOConfig(**base)


def _gap(model, tokenizer, episodes):
    b = to_batch(episodes, tokenizer.pad_token_id)
    with torch.no_grad():
        lp = token_logprobs(model, b.input_ids, b.attention_mask)
    return (((lp - b.sampler_logprobs).abs() * b.loss_mask).sum() / b.loss_mask.sum()).item()


@pytest.mark.parametrize("handover", [0, 2])
def test_each_batch_is_sampled_with_the_weights_one_update_old(
    arith_dir, tmp_path, add_kwargs, handover, flexible_add_env
):
    trainer = GRPO(
        _cfg(
            arith_dir,
            tmp_path,
            add_kwargs,
            filter_groups=False,
            async_handover=handover,
            env=flexible_add_env,
        )
    )
    snapshot = lambda: {k: v.clone() for k, v in trainer.model.state_dict().items()}  # noqa: E731
    batches, thetas = [], [snapshot()]  # thetas[i]: the weights after i updates
    rollout = trainer.rollout

    def spy(seed):
        batches.append(rollout(seed))
        return batches[-1]

    trainer.rollout = spy
    rows = []
    for _ in range(4):
        rows.append(trainer.step())
        thetas.append(snapshot())
    model, tok = trainer.model, trainer.tokenizer
    assert any(r["skipped"] == 0.0 for r in rows[:3])  # the weights did move
    for j in range(4):
        model.load_state_dict(thetas[max(j - 1, 0)])
        assert _gap(model, tok, batches[j]) < 1e-5, j
        if j >= 2 and rows[j - 1]["skipped"] == 0.0:
            model.load_state_dict(thetas[j])  # the weights batch j was trained on, not sampled with
            assert _gap(model, tok, batches[j]) > 1e-4, j
    assert all(r["tis"] == 1.0 for r in rows[2:] if r["skipped"] == 0.0)
    trainer.close()


def test_async_runs_are_deterministic_and_resume_exactly(arith_dir, tmp_path, add_kwargs):
    full = GRPO(_cfg(arith_dir, tmp_path / "a", add_kwargs, steps=4, save_every=2, keep_checkpoints=5))
    rows = full.train()
    full.close()
    again = GRPO(_cfg(arith_dir, tmp_path / "a2", add_kwargs, steps=4))
    assert STRIP(again.train()) == STRIP(rows)
    again.close()
    part = GRPO(_cfg(arith_dir, tmp_path / "b", add_kwargs, steps=2, save_every=2, async_handover=None))
    part.train()
    part.close()
    resumed = GRPO(_cfg(arith_dir, tmp_path / "b", add_kwargs, steps=4, save_every=2, async_handover=3))
    rows_b = resumed.train(resume=True)
    resumed.close()
    assert len(rows) == 4 and STRIP(rows_b) == STRIP(rows)
    for (k, v), (k2, v2) in zip(full.model.named_parameters(), resumed.model.named_parameters(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_the_run_is_the_same_whoever_samples_each_batch(arith_dir, tmp_path, add_kwargs, flexible_add_env):
    """Hand-over at batch 0 (the worker samples all), 3 (the trainer samples 0-2), never within
    the run (the trainer samples all), or when the worker is up: the same metrics and weights."""
    runs = {}
    for handover in (0, 3, 100, None):
        trainer = GRPO(
            _cfg(
                arith_dir,
                tmp_path / str(handover),
                add_kwargs,
                steps=5,
                async_handover=handover,
                env=flexible_add_env,
            )
        )
        runs[handover] = (STRIP(trainer.train()), [p.detach().clone() for p in trainer.model.parameters()])
        trainer.close()
    rows, params = runs[0]
    assert any(r["skipped"] == 0.0 for r in rows)
    for handover, (rows_h, params_h) in runs.items():
        assert rows_h == rows, handover
        assert all(torch.equal(a, b) for a, b in zip(params, params_h, strict=True)), handover


@pytest.mark.parametrize("handover", [0, None])
def test_a_dead_worker_is_an_error_not_a_hang(arith_dir, tmp_path, add_kwargs, handover):
    trainer = GRPO(_cfg(arith_dir, tmp_path, add_kwargs, async_handover=handover))
    trainer.step()
    trainer._async.process.kill()
    trainer._async.process.join()
    with pytest.raises(RuntimeError, match="worker died"):  # noqa: PT012 - a batch may be queued already
        for _ in range(3):
            trainer.step()
    trainer.close()


def test_async_rollouts_are_refused_where_unsupported(arith_dir, tmp_path, add_kwargs):
    with pytest.raises(ValueError, match="GRPO-only"):
        PPO(
            PPOConfig(
                model=str(arith_dir),
                env="assay/Arithmetic-v0",
                env_kwargs=add_kwargs,
                out_dir=str(tmp_path),
                num_prompts=2,
                progress=False,
                plot=False,
                async_rollouts=True,
            )
        )
    with pytest.raises(ValueError, match="sampler='hf'"):
        GRPO(_cfg(arith_dir, tmp_path, add_kwargs, sampler="vllm"))


def test_an_env_registered_at_run_time_reaches_the_worker(arith_dir, tmp_path, add_kwargs):
    import gymnasium as gym

    gym.register("assay-test/RuntimeArithmetic-v0", entry_point="assay.envs.math.arithmetic:ArithmeticEnv")
    try:
        trainer = GRPO(_cfg(arith_dir, tmp_path, add_kwargs, env="assay-test/RuntimeArithmetic-v0"))
        row = trainer.step()
        trainer.close()
        assert 0.0 <= row["reward/mean"] <= 1.0
    finally:
        del gym.registry["assay-test/RuntimeArithmetic-v0"]


@pytest.mark.parametrize("which", ["arith_dir", "tiny_dir"])
def test_the_worker_decodes_every_token_as_the_trainer_does(which, request):
    """The worker's tokenizer comes from ``save_pretrained`` files, not a pickle: a pickled tiny
    tokenizer decoded ``<unk>``'s id to a random byte in each process (rewards then differed)."""
    from transformers import AutoTokenizer

    from assay.agents.async_rollout import _load_tokenizer, _tokenizer_files

    tok = AutoTokenizer.from_pretrained(request.getfixturevalue(which))
    loaded = _load_tokenizer(_tokenizer_files(tok))
    assert type(loaded) is type(tok) and loaded.chat_template == tok.chat_template
    ids = sorted(set(tok.get_vocab().values()))
    assert [loaded.decode([i]) for i in ids] == [tok.decode([i]) for i in ids]
    assert loaded.decode([2]) == "<unk>"
    text = "12 + 3 = é\n"
    assert loaded(text)["input_ids"] == tok(text)["input_ids"]


def test_chat_prompts_are_the_same_whoever_samples(tiny_dir, tmp_path, add_kwargs):
    """With a chat template the worker renders prompts with its own tokenizer: same run."""
    runs = []
    for handover in (0, 100):
        trainer = GRPO(
            _cfg(tiny_dir, tmp_path / str(handover), add_kwargs, steps=2, async_handover=handover,
                 prompt_format="chat", system_prompt="Add.", max_new_tokens=6)
        )  # fmt: skip
        assert trainer.chat is not None
        runs.append(STRIP(trainer.train()))
        trainer.close()
    assert runs[0] == runs[1]


def test_truncated_sampling_runs_in_the_worker_too(arith_dir, tmp_path, add_kwargs):
    """top-k in the worker as in the trainer: the same run whoever samples, and each batch's
    log-probs are the truncated distribution's (above the stale policy's own)."""
    runs, batches = {}, []
    for handover in (0, 100):
        trainer = GRPO(
            _cfg(arith_dir, tmp_path / str(handover), add_kwargs, steps=3, top_k=2, async_handover=handover)
        )
        rollout = trainer.rollout
        trainer.rollout = lambda seed, r=rollout: (batches.append(r(seed)), batches[-1])[1]
        theta0 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        runs[handover] = STRIP(trainer.train())
        trainer.close()
    assert runs[0] == runs[100]
    model, tok = trainer.model, trainer.tokenizer
    model.load_state_dict(theta0)  # batch 0 was sampled with the initial weights
    b = to_batch(batches[0], tok.pad_token_id)
    with torch.no_grad():
        full = token_logprobs(model, b.input_ids, b.attention_mask)
    gap = ((b.sampler_logprobs - full) * b.loss_mask).sum() / b.loss_mask.sum()
    assert gap > 0.5  # log(1 / mass of the top 2): the tiny model spreads mass over ~20 tokens
