"""Logic families: pinned puzzles, determinism across processes, levels, ids, partial credit."""

import hashlib
import pickle
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import gymnasium as gym
import numpy as np
import pytest

import assay
from assay.envs.logic.countdown import CountdownEnv
from assay.envs.logic.cryptarithm import CryptarithmEnv
from assay.envs.logic.graph_coloring import GraphColoringEnv
from assay.envs.logic.knights_knaves import KnightsKnavesEnv
from assay.envs.logic.nonogram import NonogramEnv
from assay.envs.logic.puzzle import Draws, PuzzleEnv, puzzle_rng, sample
from assay.envs.logic.sat import SatEnv
from assay.envs.logic.seeding import HASH_A, HASH_B, SeedStream
from assay.envs.logic.sudoku import SudokuEnv
from assay.envs.logic.syllogism import SyllogismEnv
from assay.envs.logic.zebra import ZebraEnv
from assay.errors import UnknownTask
from assay.verifiers.base import Status, Task

PINNED = {
    ("assay/KnightsKnaves-v0", 0): "04b7f8b734e4c5dd",
    ("assay/KnightsKnaves-v0", 12345): "9d4f6c83d10e9d32",
    ("assay/Sudoku-v0", 0): "68096a0b62f458eb",
    ("assay/Sudoku-v0", 12345): "b1170d5a1906d63d",
    ("assay/Zebra-v0", 0): "172d09454ba6e3e5",
    ("assay/Zebra-v0", 12345): "71afd965c8718012",
    ("assay/Countdown-v0", 0): "480265b764a0f91a",
    ("assay/Countdown-v0", 12345): "426810e6f7a6e36c",
    ("assay/GraphColoring-v0", 0): "913706e3304e409d",
    ("assay/GraphColoring-v0", 12345): "e275ba6a40ffa363",
    ("assay/SAT-v0", 0): "13b2c5bb2496edaa",
    ("assay/SAT-v0", 12345): "30266cbc65e658d2",
    ("assay/Maze-v0", 0): "beeb148e979cfe88",
    ("assay/Maze-v0", 12345): "30ac6de240e2f340",
    ("assay/Cryptarithm-v0", 0): "8157eb74ab6b63d5",
    ("assay/Cryptarithm-v0", 12345): "24b5c7c422c6278d",
    ("assay/Nonogram-v0", 0): "04f57bada2b2c220",
    ("assay/Nonogram-v0", 12345): "8c5095f25fd26b53",
    ("assay/Sequence-v0", 0): "e55be790e86bf2f1",
    ("assay/Sequence-v0", 12345): "b1f153a7b9b6bf46",
    ("assay/Syllogism-v0", 0): "2f995884845c7c0c",
    ("assay/Syllogism-v0", 12345): "2b2e7e425652d07a",
    ("assay/Entailment-v0", 0): "2b0ed535992dea4c",
    ("assay/Entailment-v0", 12345): "eb651e87a210edce",
}
LOGIC_IDS = sorted({env_id for env_id, _ in PINNED})


def digest(task: Task) -> str:
    return hashlib.sha256((task.prompt + "\0" + (task.answer or "")).encode()).hexdigest()[:16]


def test_at_least_ten_logic_families_are_registered():
    assert len(LOGIC_IDS) >= 10
    assert set(LOGIC_IDS) <= set(assay.list_envs())


@pytest.mark.parametrize(("env_id", "index"), sorted(PINNED))
def test_pinned_puzzles_are_unchanged(env_id, index):
    assert digest(gym.make(env_id).unwrapped.task_at(index)) == PINNED[env_id, index]


def test_same_puzzles_in_a_fresh_process_with_another_hash_seed():
    code = textwrap.dedent(
        """
        import hashlib, sys, gymnasium as gym, assay
        for env_id in sys.argv[1:]:
            t = gym.make(env_id).unwrapped.task_at(12345)
            print(env_id, hashlib.sha256((t.prompt + "\\0" + t.answer).encode()).hexdigest()[:16])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *LOGIC_IDS],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    ).stdout.split("\n")
    got = dict(line.split() for line in out if line)
    assert got == {env_id: PINNED[env_id, 12345] for env_id in LOGIC_IDS}


def test_puzzle_rng_is_the_index_th_child_of_the_salts_seedsequence():
    a = puzzle_rng(7, 3).random(4)
    b = np.random.Generator(np.random.Philox(np.random.SeedSequence(7).spawn(4)[3])).random(4)
    assert (a == b).all()
    assert not (puzzle_rng(7, 4).random(4) == a).any()
    assert not (puzzle_rng(8, 3).random(4) == a).any()


def draws(rng: np.random.Generator) -> list[float]:
    """Several kinds of draws, in an order that leaves Philox's buffer and uint32 cache part-used."""
    out = [*rng.random(3).tolist(), float(rng.integers(10**12)), float(rng.integers(2**32, dtype=np.uint32))]
    return [*out, *rng.random(9).tolist(), *(float(x) for x in rng.permutation(7))]


@pytest.mark.parametrize("salt", [0, 1, 7, 2**31, 2**32 - 1, 2**32, 2**40])
def test_seed_stream_gives_numpys_generator_state(salt):
    stream = SeedStream(salt)
    indices = [0, 1, 2, 3, 12345, 2**31 - 1, 2**32 - 1, 2**32, 2**45, *range(1000, 1040)]
    for index in indices:  # one shared generator, re-keyed each time
        assert draws(stream(index)) == draws(puzzle_rng(salt, index)), (salt, index)


def test_seed_stream_hash_constants_are_seedsequences():
    state = np.random.SeedSequence(12345, spawn_key=(678,))
    assert SeedStream(12345).philox_key(678) == tuple(state.generate_state(2, np.uint64).tolist())
    assert HASH_A[0] == 0x43B0D7E5 and HASH_B[0] == 0x8B51F9DD


def test_seed_stream_is_per_thread():
    env = SyllogismEnv("hard")
    want = [env.task_at(i) for i in range(300)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(env.task_at, range(300)))
    assert got == want


def test_draws_serve_the_generators_numbers_in_order():
    d = Draws(puzzle_rng(1, 2), block=4)
    got = [d.uniform() for _ in range(3)] + d.take(6) + [d.uniform(), d.uniform()] + d.take(2)
    assert got == puzzle_rng(1, 2).random(13).tolist()
    d = Draws(puzzle_rng(1, 3))
    below = [d.below(3) for _ in range(300)]
    between = [d.between(-2, 2) for _ in range(300)]
    assert set(below) == {0, 1, 2} and set(between) == {-2, -1, 0, 1, 2}


def test_graph_coloring_numpy_and_python_paths_draw_the_same_graphs(monkeypatch):
    import assay.envs.logic.graph_coloring as gc

    env = GraphColoringEnv("expert")
    python = [env.task_at(i) for i in range(30)]
    monkeypatch.setattr(gc, "VECTOR_PAIRS", 0)
    assert [env.task_at(i) for i in range(30)] == python


def test_sample_is_distinct_and_driven_by_the_draws():
    u = puzzle_rng(5, 5).random(26).tolist()
    letters = sample("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10, u)
    assert len(set(letters)) == 10 and letters == sample("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 10, u)
    assert sorted(sample(range(26), 26, u)) == list(range(26))
    assert sample(range(5), 3, [0.0, 0.0, 0.0]) == [0, 1, 2]
    assert sample(range(5), 2, [0.99, 0.99]) == [4, 0]  # swap 0<->4, then 1<->4


@pytest.mark.parametrize("env_id", LOGIC_IDS)
def test_constructs_quickly_and_every_level_works(env_id):
    start = time.perf_counter()
    env = gym.make(env_id).unwrapped
    assert time.perf_counter() - start < 0.5
    assert isinstance(env, PuzzleEnv)
    for level in env.level_names():
        assert env.set_level(level) == level
        task = env.task_at(1)
        assert task.id.startswith(f"{env.family}/{level}/")
        assert "<answer>" in task.prompt  # the prompt states the answer format
        assert env.verifier(env.gold(task), task).correct


@pytest.mark.parametrize("env_id", LOGIC_IDS)
def test_pickled_env_gives_the_same_tasks_and_stays_small(env_id):
    env = gym.make(env_id).unwrapped
    tasks = [env.task_at(i) for i in range(5)]
    data = pickle.dumps(env)
    assert len(data) < 50_000  # prebuilt tables are rebuilt, not shipped
    assert [pickle.loads(data).task_at(i) for i in range(5)] == tasks


def test_levels_by_position_clamp():
    env = SudokuEnv()
    assert env.set_level(0) == "easy"
    assert env.set_level(99) == env.level_names()[-1]


def test_task_by_id_rebuilds_any_named_level():
    env = KnightsKnavesEnv("easy")
    hard = KnightsKnavesEnv("hard").task_at(42)
    assert env.task_by_id(hard.id) == hard
    assert env.level == "easy" and env.task_at(1).id == "knights_knaves/easy/1"
    prompt, info = env.reset(options={"task_id": hard.id})
    assert info["task_id"] == hard.id and prompt == hard.prompt


def test_custom_knobs_get_their_own_ids_and_streams():
    env = SudokuEnv("easy", clues=6)
    task = env.task_at(3)
    assert task.id.startswith("sudoku/c") and task.id != SudokuEnv("easy").task_at(3).id
    assert env.task_by_id(task.id) == task
    with pytest.raises(UnknownTask):
        SudokuEnv("easy").task_by_id(task.id)
    with pytest.raises(UnknownTask):
        env.task_by_id("zebra/easy/3")


def test_bad_knobs_are_rejected():
    with pytest.raises(ValueError, match="level"):
        SudokuEnv("impossible")
    with pytest.raises(ValueError, match="size"):
        SudokuEnv(size=5)
    with pytest.raises(ValueError, match="forms"):
        KnightsKnavesEnv(forms=["xor"])
    with pytest.raises(ValueError, match="partial credit"):
        KnightsKnavesEnv(partial_credit=True)


def test_neighbouring_indices_share_no_puzzles():
    env = SatEnv("hard")
    prompts = {env.task_at(i).prompt for i in range(200)}
    assert len(prompts) == 200


# -- verifiers: formats, malformed answers, partial credit ------------------------------


def test_malformed_answers_are_no_answer_with_a_reason():
    cases = [
        (SudokuEnv("easy"), "12\n34"),
        (KnightsKnavesEnv(), "Zed: knight"),
        (ZebraEnv("easy"), "the first house is red"),
        (CountdownEnv(), "((3 + 4)"),
        (GraphColoringEnv(), "1, 2"),
        (SatEnv(), "x1=1"),
        (CryptarithmEnv(), "A=1"),
        (NonogramEnv(), "#."),
    ]
    for env, text in cases:
        v = env.verifier(f"<answer>{text}</answer>", env.task_at(0))
        assert v.status is Status.NO_ANSWER and v.reason, (type(env).__name__, v)


def test_oversized_answer_is_no_answer():
    env = SudokuEnv()
    v = env.verifier("<answer>" + "1" * 30_000 + "</answer>", env.task_at(0))
    assert v.status is Status.NO_ANSWER and "longer" in v.reason


def test_partial_credit_is_off_by_default_and_scores_fractions_when_on():
    task = SudokuEnv("easy").task_at(5)
    n = 4
    grid = [int(ch) for ch in task.answer if ch.isdigit()]
    blank = next(i for i in range(n * n) if not task.meta["givens"][i])
    grid[blank] = grid[blank] % n + 1
    text = (
        "<answer>" + "\n".join("".join(map(str, grid[r * n : (r + 1) * n])) for r in range(n)) + "</answer>"
    )
    off, on = SudokuEnv("easy"), SudokuEnv("easy", partial_credit=True)
    off.reset(options={"task": task})
    on.reset(options={"task": task})
    _, r_off, *_, i_off = off.step(text)
    _, r_on, *_, i_on = on.step(text)
    assert i_off["verdict"].status is Status.INCORRECT and r_off == 0.0
    assert i_on["verdict"].status is Status.INCORRECT and r_on == pytest.approx(9 / 12)
    on.reset(options={"task": task})
    assert on.step(on.gold(task))[1] == 1.0 and on.rubric.bounds == (0.0, 1.0)


def test_zebra_partial_credit_counts_right_cells():
    env = ZebraEnv("easy", partial_credit=True)
    task = env.task_at(2)
    lines = task.answer.splitlines()
    lines[0], lines[1] = lines[1].replace("2:", "1:"), lines[0].replace("1:", "2:")
    v = env.verifier("<answer>" + "\n".join(lines) + "</answer>", task)
    assert v.status is Status.INCORRECT and v.score == pytest.approx(1 / 3)


def test_cryptarithm_accepts_a_second_solution():
    # AB + CD = EF has many solutions; each one is accepted
    task = Task(
        "cryptarithm/x/0",
        "p",
        "A=1, B=2, C=3, D=5, E=4, F=7",
        {"words": ["AB", "CD"], "result": "EF", "letters": list("ABCDEF")},
    )
    assert CryptarithmEnv.check("A=1, B=2, C=3, D=5, E=4, F=7", task).correct  # 12 + 35 = 47
    assert CryptarithmEnv.check("A=2, B=1, C=3, D=6, E=5, F=7", task).correct  # 21 + 36 = 57
    assert CryptarithmEnv.check("A=1, B=2, C=3, D=4, E=4, F=7", task).status is Status.INCORRECT
    assert CryptarithmEnv.check("A=0, B=2, C=3, D=4, E=3, F=6", task).status is Status.INCORRECT  # leading 0


def test_countdown_rules():
    task = Task(
        "countdown/x/0", "p", "(2 + 3) * 4", {"numbers": [2, 3, 4, 4], "target": 20, "use_all": False}
    )
    check = CountdownEnv.check
    assert check("4 * (3 + 2)", task).correct
    assert check("4 × (3 + 2) = 20", task).correct
    assert check("(4 + 4) * 2 + 4", task).status is Status.INCORRECT  # 4 used three times
    assert check("4 / (3 - 3)", task).status is Status.INCORRECT
    assert check("-4 * -5", task).status is Status.NO_ANSWER
    assert check("eval('20')", task).status is Status.NO_ANSWER
    strict = Task("countdown/x/1", "p", "2 + 3", {"numbers": [2, 3, 4], "target": 5, "use_all": True})
    assert check("2 + 3", strict).status is Status.INCORRECT and "all" in check("2 + 3", strict).reason


@pytest.mark.parametrize("env_id", LOGIC_IDS)
def test_huge_numbers_and_odd_text_never_break_a_checker(env_id):
    env = gym.make(env_id).unwrapped
    task = env.task_at(0)
    for text in [
        "9" * 5000,
        "x1=" + "1" * 5000,
        "0: " + "7" * 5000,
        "1: " + "9" * 5000,
        "\x00\u202e",
        "<answer>",
    ]:
        v = env.verifier(f"<answer>{text}</answer>", task)
        assert v.status in (Status.NO_ANSWER, Status.INCORRECT), (env_id, text[:10], v)
