"""Rollouts over vector envs: GRPO groups, exact token ids across turns, masks, truncation."""

import pytest

torch = pytest.importorskip("torch")

import assay  # noqa: E402
from assay.agents.policy import load_policy  # noqa: E402
from assay.agents.rollout import collect_episodes, to_batch  # noqa: E402
from assay.verifiers.base import Task  # noqa: E402

TASK = Task(id="guess/fixed", prompt="Guess 1..4.", answer="3")


def _guesses(prompt: str, i: int) -> str:
    turn = prompt.count("<answer>")  # earlier guesses are in the context
    return f"<answer>{turn + 1}</answer>"


def test_multi_turn_keeps_exact_token_ids_and_masks_observations(tiny_dir, token_script):
    _, tok = load_policy(tiny_dir)
    envs = assay.make_vec("assay/GuessNumber-v0", 2, vectorization_mode="sync", high=4, max_turns=5)
    sampler = token_script(tok, _guesses)
    eps = collect_episodes(
        envs, sampler, tok, options={"task": TASK}, max_new_tokens=32, format_observation=lambda o: f"\n{o}\n"
    )
    envs.close()
    ep = eps[0]
    assert (
        ep.terminated and not ep.truncated and ep.turns == 3 and ep.reward == 1.0 and ep.status == "correct"
    )
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    eos = [tok.eos_token_id]
    a1, a2, a3 = (enc(f"<answer>{k}</answer>") + eos for k in (1, 2, 3))
    o1 = enc("\nhigher\n")
    assert ep.prompt_ids == enc(TASK.prompt)
    assert ep.ids == a1 + o1 + a2 + o1 + a3
    assert ep.mask == [1] * len(a1) + [0] * len(o1) + [1] * len(a2) + [0] * len(o1) + [1] * len(a3)
    assert ep.logprobs == [-0.5] * len(a1) + [0.0] * len(o1) + [-0.5] * len(a2) + [0.0] * len(o1) + [
        -0.5
    ] * len(a3)
    # the second and third turns were prompted with the exact ids so far, not re-tokenised text
    assert sampler.calls[1][0] == ep.prompt_ids + a1 + o1
    assert sampler.calls[2][0] == ep.prompt_ids + a1 + o1 + a2 + o1


def test_env_truncation_ends_the_episode(tiny_dir, token_script):
    _, tok = load_policy(tiny_dir)
    envs = assay.make_vec("assay/GuessNumber-v0", 2, vectorization_mode="sync", high=4, max_turns=2)
    eps = collect_episodes(envs, token_script(tok, _guesses), tok, options={"task": TASK}, max_new_tokens=32)
    envs.close()
    assert all(e.truncated and not e.terminated and e.turns == 2 and e.reward == 0.0 for e in eps)
    assert all(e.status == "no_answer" for e in eps)


def test_context_limit_cuts_episodes(tiny_dir, token_script):
    _, tok = load_policy(tiny_dir)
    envs = assay.make_vec("assay/GuessNumber-v0", 1, vectorization_mode="sync", high=4, max_turns=5)
    eps = collect_episodes(
        envs,
        token_script(tok, _guesses),
        tok,
        options={"task": TASK},
        max_new_tokens=32,
        max_context_tokens=60,
    )
    envs.close()
    assert eps[0].truncated and eps[0].turns == 1


def test_episodes_that_end_early_do_not_block_the_others(tiny_dir, token_script):
    _, tok = load_policy(tiny_dir)
    envs = assay.make_vec("assay/GuessNumber-v0", 2, vectorization_mode="sync", high=4, max_turns=5)

    def reply(prompt: str, i: int) -> str:  # sub-env 0 guesses 3 at once; sub-env 1 counts up
        return "<answer>3</answer>" if i == 0 else _guesses(prompt, i)

    eps = collect_episodes(envs, token_script(tok, reply), tok, options={"task": TASK}, max_new_tokens=32)
    envs.close()
    assert [e.turns for e in eps] == [1, 3] and all(e.reward == 1.0 for e in eps)


def test_grpo_groups_sample_each_prompt_once_with_n_equal_group_size(arith_dir, token_script, add_kwargs):
    _, tok = load_policy(arith_dir)
    envs = assay.make_vec("assay/Arithmetic-v0", 6, vectorization_mode="sync", **add_kwargs)
    sampler = token_script(tok, lambda p, i: str(i % 10))
    eps = collect_episodes(
        envs, sampler, tok, seeds=assay.group_seeds(3, 2, 3), group_size=3, max_new_tokens=4
    )
    envs.close()
    assert len(sampler.calls) == 1 and len(sampler.calls[0]) == 2
    assert [e.group for e in eps] == [0, 0, 0, 1, 1, 1]
    assert len({e.task_id for e in eps[:3]}) == 1 and len({e.task_id for e in eps[3:]}) == 1


def test_group_layout_is_checked(arith_dir, token_script, add_kwargs):
    _, tok = load_policy(arith_dir)
    envs = assay.make_vec("assay/Arithmetic-v0", 4, vectorization_mode="sync", **add_kwargs)
    with pytest.raises(ValueError, match="group_seeds"):
        collect_episodes(envs, token_script(tok, lambda p, i: "1"), tok, seeds=[1, 2, 3, 4], group_size=2)
    envs.close()


def test_overlong_actions_are_flagged(arith_dir, token_script, add_kwargs):
    _, tok = load_policy(arith_dir)
    envs = assay.make_vec("assay/Arithmetic-v0", 2, vectorization_mode="sync", **add_kwargs)
    eps = collect_episodes(
        envs,
        token_script(tok, lambda p, i: "1234567" if i == 0 else "1"),
        tok,
        seeds=[0, 1],
        max_new_tokens=4,
    )
    envs.close()
    assert [e.overlong for e in eps] == [True, False]
    assert eps[0].action_tokens == [4] and eps[1].action_tokens == [2]


def test_to_batch_aligns_masks_and_logprobs_with_next_token_targets(tiny_dir, token_script):
    _, tok = load_policy(tiny_dir)
    envs = assay.make_vec("assay/GuessNumber-v0", 2, vectorization_mode="sync", high=4, max_turns=5)
    eps = collect_episodes(envs, token_script(tok, _guesses), tok, options={"task": TASK}, max_new_tokens=32)
    envs.close()
    b = to_batch(eps, tok.pad_token_id)
    ep = eps[0]
    p = len(ep.prompt_ids)
    seq = ep.prompt_ids + ep.ids
    assert b.input_ids[0, : len(seq)].tolist() == seq
    # entry j of the loss mask is about input_ids[j + 1]
    targets = [seq[j + 1] for j in range(len(seq) - 1) if b.loss_mask[0, j] == 1]
    assert targets == [t for t, m in zip(ep.ids, ep.mask, strict=True) if m]
    assert b.loss_mask[0, : p - 1].sum() == 0
    assert b.sampler_logprobs[0][b.loss_mask[0] == 1].tolist() == [-0.5] * sum(ep.mask)
