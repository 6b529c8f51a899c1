"""`spot_check`: greedy episodes on an env, verdicts counted (single- and multi-turn)."""

import pytest

pytest.importorskip("torch")

from assay.agents.policy import load_policy
from assay.agents.spot_check import spot_check


def test_spot_check_counts_a_perfect_policy_as_all_correct(arith_dir, token_script, add_kwargs):
    _, tok = load_policy(arith_dir)
    solver = token_script(tok, lambda prompt, i: str(eval(prompt.rstrip("="))))  # "a + b=" -> a + b
    result = spot_check("assay/Arithmetic-v0", solver, tok, env_kwargs=add_kwargs, num_tasks=6, seed=1)
    assert len(result.episodes) == 6
    assert result.counts == {"correct": 6} and result.accuracy == 1.0 and result.mean_reward == 1.0


def test_spot_check_counts_wrong_answers_as_incorrect(arith_dir, token_script, add_kwargs):
    _, tok = load_policy(arith_dir)
    wrong = token_script(tok, lambda prompt, i: str(eval(prompt.rstrip("=")) + 1))
    result = spot_check("assay/Arithmetic-v0", wrong, tok, env_kwargs=add_kwargs, num_tasks=4, seed=1)
    assert result.counts == {"incorrect": 4} and result.accuracy == 0.0


def test_spot_check_plays_multi_turn_envs_to_the_end(tiny_dir, token_script):
    _, tok = load_policy(tiny_dir)
    guesser = token_script(tok, lambda prompt, i: f"<answer>{prompt.count('<answer>') + 1}</answer>")
    result = spot_check("assay/GuessNumber-v0", guesser, tok, num_tasks=3, seed=0, max_turns=16)
    assert len(result.episodes) == 3
    assert all(e.turns >= 1 for e in result.episodes)
    assert sum(result.counts.values()) == 3


def test_spot_check_rejects_zero_tasks(arith_dir, token_script):
    _, tok = load_policy(arith_dir)
    with pytest.raises(ValueError, match="num_tasks"):
        spot_check("assay/Arithmetic-v0", token_script(tok, lambda p, i: "1"), tok, num_tasks=0)
