import time

import gymnasium as gym
import pytest

import assay
from assay.envs import ChatObservation, Status, Task, Verdict
from assay.envs.logic.guess_number import GuessNumberEnv
from assay.envs.math.arithmetic import ArithmeticEnv, evaluate
from assay.errors import UnknownTask


def test_step_before_reset_raises_reset_needed():
    with pytest.raises(gym.error.ResetNeeded):
        ArithmeticEnv().step("1")
    with pytest.raises(gym.error.ResetNeeded):
        gym.make("assay/Arithmetic-v0").step("1")


def test_non_string_action_gets_zero_reward_with_reason():
    env = ArithmeticEnv()
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(42)
    assert reward == 0.0 and terminated and not truncated
    assert info["verdict"].status is Status.NO_ANSWER
    assert "must be str" in info["verdict"].reason


def test_ten_megabyte_action_is_rejected_quickly():
    env = gym.make("assay/Arithmetic-v0")
    env.reset(seed=0)
    start = time.perf_counter()
    _, reward, terminated, _, info = env.step("9" * 10_000_000)
    assert time.perf_counter() - start < 1.0
    assert reward == 0.0 and terminated
    assert "max_chars" in info["verdict"].reason


def test_lone_surrogate_is_no_answer_not_a_crash():
    env = ArithmeticEnv()
    env.reset(seed=0)
    _, reward, _, _, info = env.step("\ud800 \\boxed{1}")
    assert reward == 0.0 and info["verdict"].status is Status.NO_ANSWER


def test_same_seed_same_task_across_instances():
    a, b = ArithmeticEnv(), ArithmeticEnv()
    assert a.reset(seed=123)[0] == b.reset(seed=123)[0]
    assert a.reset(seed=1)[1]["task_id"] != a.reset(seed=2)[1]["task_id"]


def test_reset_without_seed_continues_the_env_rng():
    env = ArithmeticEnv()
    env.reset(seed=5)
    ids = {env.reset()[1]["task_id"] for _ in range(10)}
    assert len(ids) == 10


def test_options_pin_a_task_by_index_id_and_object():
    env = ArithmeticEnv()
    _, info = env.reset(options={"index": 7})
    assert info["task_id"].endswith("/7")
    prompt, info2 = env.reset(seed=99, options={"task_id": info["task_id"]})
    assert info2["task_id"] == info["task_id"]
    task = Task(id="custom/1", prompt="Compute 2 + 2.", answer="4")
    assert env.reset(options={"task": task})[0] == "Compute 2 + 2."
    assert env.step("\\boxed{4}")[1] == 1.0


def test_unknown_task_id_and_bad_options_are_clear_errors():
    env = ArithmeticEnv()
    with pytest.raises(UnknownTask, match="no task with id"):
        env.reset(options={"task_id": "nope/3"})
    with pytest.raises(UnknownTask, match="out of range"):
        env.reset(options={"index": -1})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"difficulty": 3})


def test_step_info_has_stable_keys_and_breakdown():
    env = ArithmeticEnv()
    env.reset(seed=3)
    *_, info = env.step(env.gold(env.task))
    assert set(info) == {"task_id", "turn", "verdict", "reward_terms"}
    assert info["reward_terms"] == {"correct": 1.0}
    assert isinstance(info["verdict"], Verdict)


@pytest.mark.parametrize(
    ("completion", "status"),
    [
        ("\\boxed{525}", Status.CORRECT),
        ("<answer>525</answer>", Status.CORRECT),
        ("525", Status.CORRECT),
        ("so it is 525", Status.NO_ANSWER),  # no number is picked out of prose (TRUST 18)
        ("The answer is 525.", Status.CORRECT),
        ("\\boxed{524}", Status.INCORRECT),
        ("\\boxed{525 or 526}", Status.INCORRECT),
        ("no idea", Status.NO_ANSWER),
    ],
)
def test_arithmetic_answer_formats(completion, status):
    env = ArithmeticEnv()
    task = Task(id="t/0", prompt="Compute 86 * 7 - 77.", answer="525")
    env.reset(options={"task": task})
    assert env.step(completion)[4]["verdict"].status is status


def test_evaluate_respects_precedence_and_fractions():
    from fractions import Fraction

    assert evaluate([2, 3, 4], ["+", "*"]) == 14
    assert evaluate([7, 2], ["/"]) == Fraction(7, 2)
    assert evaluate([1, 2, 3], ["-", "-"]) == -4


def test_fraction_answers_accept_equivalent_forms():
    env = ArithmeticEnv()
    env.reset(options={"task": Task(id="t/1", prompt="Compute 7 / 2.", answer="7/2")})
    for form in ("\\boxed{3.5}", "\\boxed{\\frac{7}{2}}", "\\boxed{7/2}", "\\boxed{\\dfrac{7}{2}}"):
        assert env.step(form)[1] == 1.0, form


def test_arithmetic_rejects_bad_config():
    with pytest.raises(ValueError, match="digits"):
        ArithmeticEnv(digits=0)
    with pytest.raises(ValueError, match="operations"):
        ArithmeticEnv(operations="^")
    with pytest.raises(ValueError, match="level"):
        ArithmeticEnv(level="impossible")


def test_levels_change_the_tasks():
    easy, hard = ArithmeticEnv("easy"), ArithmeticEnv("hard")
    assert easy.task_at(0).id != hard.task_at(0).id
    assert len(easy.task_at(0).meta["expression"]) < len(hard.task_at(0).meta["expression"])


def test_chat_observation_wrapper_gives_messages():
    env = ChatObservation(ArithmeticEnv(system_prompt="Think step by step."))
    obs, _ = env.reset(seed=0)
    assert [m["role"] for m in obs] == ["system", "user"]
    assert obs in env.observation_space
    env2 = ChatObservation(GuessNumberEnv())
    env2.reset(seed=0)
    obs, *_ = env2.step("<answer>1</answer>")
    assert [m["role"] for m in obs][-2:] == ["assistant", "user"]


def test_multi_turn_truncates_at_max_turns():
    env = GuessNumberEnv(high=1000, max_turns=3)
    env.reset(seed=0)
    secret = int(env.task.answer)
    wrong = str(1 if secret != 1 else 2)
    for turn in range(1, 4):
        obs, reward, terminated, truncated, info = env.step(wrong)
        assert info["turn"] == turn and not terminated
    assert truncated and info["verdict"].status is Status.NO_ANSWER
    with pytest.raises(gym.error.ResetNeeded):
        env.step(wrong)


def test_multi_turn_bisection_wins():
    env = GuessNumberEnv(high=100, max_turns=7)
    env.reset(seed=4)
    lo, hi = 1, 100
    for _ in range(7):
        guess = (lo + hi) // 2
        obs, reward, terminated, truncated, info = env.step(f"<answer>{guess}</answer>")
        if terminated:
            break
        lo, hi = (guess + 1, hi) if obs == "higher" else (lo, guess - 1)
    assert terminated and reward == 1.0 and info["verdict"].status is Status.CORRECT


def test_render_ansi():
    env = ArithmeticEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step("\\boxed{1}")
    assert "[assistant]" in env.render()


def test_make_vec_and_group_seeds_are_exported():
    assert len(assay.group_seeds(0, 3, 4)) == 12
