"""Curriculum controller and wrappers, the safe arithmetic parser, the reasoning-gym interop."""

from fractions import Fraction

import gymnasium as gym
import pytest

import assay
from assay.envs.curriculum import Curriculum, CurriculumVectorEnv, CurriculumWrapper
from assay.envs.logic.sudoku import SudokuEnv
from assay.verifiers.arithmetic import MAX_DEPTH, ExpressionError, parse_arithmetic
from assay.verifiers.base import Status

# -- Curriculum -------------------------------------------------------------------------


def test_curriculum_moves_up_on_high_pass_rate_and_down_on_low():
    c = Curriculum(["a", "b", "c"], target=0.5, window=4, band=0.1)
    assert not c.update([True, True, True])
    assert c.update([True]) and c.level == "b"
    assert not c.update([True, False, True, False])  # 0.5: within the band
    assert c.update([False] * 4) and c.level == "a"
    assert c.history == [("a", 1.0), ("b", 0.0)]


def test_curriculum_stays_within_its_levels():
    c = Curriculum(["a", "b"], window=2)
    c.update([True] * 20)
    assert c.level == "b"
    c.update([False] * 20)
    assert c.level == "a"


def test_curriculum_rejects_bad_settings():
    with pytest.raises(ValueError, match="target"):
        Curriculum(["a"], target=1.0)
    with pytest.raises(ValueError, match="band"):
        Curriculum(["a"], target=0.5, band=0.6)
    with pytest.raises(ValueError, match="levels"):
        Curriculum([])


def test_wrapper_changes_the_level_of_a_single_env():
    env = CurriculumWrapper(gym.make("assay/Sudoku-v0"), window=2, start="easy")
    base = env.unwrapped
    for _ in range(2):
        env.reset(seed=0)
        _, _, _, _, info = env.step(base.gold(base.task))
    assert info["level"] == "medium" and base.level == "medium"
    prompt, _ = env.reset(seed=0)
    assert "6x6" in prompt


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_curriculum_sets_one_level_in_every_worker(mode):
    envs = CurriculumVectorEnv(assay.make_vec("assay/Sudoku-v0", 2, vectorization_mode=mode), window=4)
    try:
        ref = SudokuEnv()
        levels = []
        for _ in range(2):  # a perfect policy: 4 passes -> harder
            envs.reset(seed=[5, 5])
            tasks = envs.env.get_attr("task")
            envs.step([ref.gold(t) for t in tasks])
            levels.append(envs.curriculum.level)
        assert levels == ["easy", "medium"]
        assert tuple(envs.env.get_attr("level")) == ("medium", "medium")
        prompts, _ = envs.reset(seed=[9, 9])
        assert prompts[0] == prompts[1] and "6x6" in prompts[0]  # a GRPO group is still one task
        for _ in range(2):  # a hopeless policy: 4 failures -> easier
            envs.reset(seed=[1, 2])
            envs.step(["<answer>no</answer>"] * 2)
        assert tuple(envs.env.get_attr("level")) == ("easy", "easy")
    finally:
        envs.close()


# -- Safe arithmetic parser -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "numbers"),
    [
        ("1 + 2 * 3", 7, (1, 2, 3)),
        ("(1 + 2) * 3", 9, (1, 2, 3)),
        ("8 / 3 / 2", Fraction(4, 3), (8, 3, 2)),
        ("10 - 4 - 3", 3, (10, 4, 3)),
        ("6 × 7", 42, (6, 7)),
        ("((((5))))", 5, (5,)),
    ],
)
def test_parse_arithmetic_values_and_numbers(text, value, numbers):
    parsed = parse_arithmetic(text)
    assert parsed.value == value and parsed.numbers == numbers


@pytest.mark.parametrize(
    "text",
    ["", "1 +", "(1 + 2", "1 2", "2 ** 3", "__import__('os')", "1e5", "-3", "(" * (MAX_DEPTH + 2) + "1"],
)
def test_parse_arithmetic_rejects(text):
    with pytest.raises(ExpressionError):
        parse_arithmetic(text)


def test_parse_arithmetic_division_by_zero_and_limits():
    with pytest.raises(ZeroDivisionError):
        parse_arithmetic("1 / (2 - 2)")
    assert parse_arithmetic("-3", unary_minus=True).value == -3
    with pytest.raises(ExpressionError):
        parse_arithmetic("9" * 13)
    with pytest.raises(ExpressionError, match="longer"):
        parse_arithmetic(" * ".join(["999999999999"] * 400))
    big = " * ".join(["999999999999"] * 66)  # the largest product that fits: exact and cheap
    assert parse_arithmetic(big).value == 999999999999**66


# -- reasoning-gym interop --------------------------------------------------------------


@pytest.fixture(scope="module")
def rg():
    return pytest.importorskip("reasoning_gym", reason='needs the extra: pip install "assay[reasoning-gym]"')


@pytest.mark.parametrize(
    ("name", "config"), [("knights_knaves", {"n_people": 3}), ("mini_sudoku", {}), ("countdown", {})]
)
def test_from_reasoning_gym_passes_the_contract(rg, name, config):
    env = assay.envs.from_reasoning_gym(name, size=20, seed=1, **config)
    assay.envs.check_text_env(env)
    assert env.num_tasks == 20 and env.task_at(3).id == f"reasoning_gym/{name}/s1/3"


def test_from_reasoning_gym_uses_reasoning_gyms_scorer(rg):
    env = assay.envs.from_reasoning_gym("countdown", size=5, seed=2)
    task = env.task_at(0)
    entry = rg.create_dataset("countdown", size=5, seed=2)[0]
    assert task.prompt.startswith(entry["question"])
    assert env.verifier(f"<answer>{entry['answer']}</answer>", task).status is Status.CORRECT
    wrong = env.verifier("<answer>1 + 1</answer>", task)
    assert wrong.status is Status.INCORRECT and wrong.score == rg.create_dataset(
        "countdown", size=5, seed=2
    ).score_answer("1 + 1", entry)
    assert env.verifier("no tags here", task).status is Status.NO_ANSWER


def test_from_reasoning_gym_works_in_a_vector_env(rg):
    envs = gym.vector.SyncVectorEnv([lambda: assay.envs.from_reasoning_gym("mini_sudoku", size=10)] * 2)
    prompts, infos = envs.reset(seed=[3, 3])
    assert prompts[0] == prompts[1] and infos["task_id"][0].startswith("reasoning_gym/mini_sudoku/")
    envs.close()
