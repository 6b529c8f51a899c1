"""Other ecosystems inside assay: a TextArena game and an OpenEnv server (openenv-core's own
classes, run in its venv) as assay Gymnasium envs, scored by their own rewards."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest
import tiers
from gymnasium.utils.env_checker import check_env

from assay.envs import from_openenv, from_textarena
from assay.envs.open_env import OpenEnvError
from assay.verifiers.base import Status

GUESS_SERVER = Path(__file__).parent / "peers" / "openenv_guess_server.py"


def _textarena():
    # textarena's pins fit ours: it is the "textarena" extra of the main venv (make setup).
    pytest.importorskip("textarena", reason="textarena is not installed: pip install 'assay[textarena]'")


def _play_guess_the_number(env, seed, hint_of, move="[{}]"):
    """Binary search, reading the game's own hints: the winning line."""
    obs, info = env.reset(seed=seed)
    lo, hi = 1, 20
    for _ in range(10):
        guess = (lo + hi) // 2
        obs, reward, terminated, truncated, info = env.step(move.format(guess))
        if terminated or truncated:
            return reward, info
        if hint_of(obs) == "higher":
            lo = guess + 1
        else:
            hi = guess - 1
    raise AssertionError("the game never ended")


def _ta_hint(obs):
    return "higher" if "higher" in obs.lower() else "lower"


def test_textarena_game_is_a_gymnasium_env_scored_by_textarenas_reward():
    _textarena()
    env = from_textarena("GuessTheNumber-v0")
    prompt, info = env.reset(seed=0)
    assert "Guess The Number" in prompt and info["task_id"].startswith("textarena/GuessTheNumber-v0/")
    reward, info = _play_guess_the_number(env, 0, _ta_hint)
    assert reward == 1.0 and info["verdict"].status is Status.CORRECT
    assert info["verdict"].reason == "peer reward 1"
    # Losing: ten out-of-range guesses (TextArena's own rules end it, reward below its best).
    env.reset(seed=1)
    for _ in range(env.max_turns):
        _, reward, terminated, truncated, info = env.step("[0]")
        if terminated or truncated:
            break
    assert reward == 0.0 and info["verdict"].status in (Status.INCORRECT, Status.NO_ANSWER)
    check_env(env, skip_render_check=True)


def test_textarena_same_seed_same_game_and_task_pinning():
    _textarena()
    env = from_textarena("GuessTheNumber-v0")
    a, ia = env.reset(seed=7)
    b, ib = env.reset(seed=7)
    assert (a, ia) == (b, ib)
    _, info = env.reset(options={"index": 3})
    assert info["task_id"] == "textarena/GuessTheNumber-v0/3"


def test_textarena_two_player_game_with_a_scripted_opponent():
    _textarena()

    def opponent(observation: str) -> str:
        return "[0]"  # TicTacToe: takes a cell; invalid ones are TextArena's to judge

    env = from_textarena("TicTacToe-v0", num_players=2, opponent=opponent)
    prompt, _ = env.reset(seed=0)
    assert "Tic" in prompt or "tic" in prompt
    moves = iter([f"[{i}]" for i in range(9)])
    for _ in range(env.max_turns):
        _, reward, terminated, truncated, info = env.step(next(moves, "[4]"))
        if terminated or truncated:
            break
    assert terminated and info["verdict"].status in (Status.CORRECT, Status.INCORRECT)
    with pytest.raises(ValueError, match="opponent"):
        from_textarena("TicTacToe-v0", num_players=2)


@pytest.fixture(scope="module")
def openenv_server():
    openenv_python = tiers.peer_python("openenv")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([openenv_python, str(GUESS_SERVER), str(port)])
    deadline = time.monotonic() + 120  # openenv-core imports slowly on a loaded machine
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None:
            pytest.fail("the OpenEnv server exited")
        time.sleep(0.5)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(30)


def test_openenv_server_env_is_a_gymnasium_env_scored_by_its_rubric(openenv_server):
    env = from_openenv(openenv_server, action_field="message")
    try:
        prompt, info = env.reset(seed=5)
        assert prompt.startswith("Guess my number") and info["task_id"].startswith("openenv/")
        reward, info = _play_guess_the_number(env, 5, lambda o: o, move="{}")
        assert reward == 1.0 and info["verdict"].status is Status.CORRECT
        assert env.state()["step_count"] >= 1
        env.reset(seed=6)
        for _ in range(6):
            _, reward, terminated, truncated, info = env.step("not a guess")
            if terminated:
                break
        assert terminated and reward == 0.0 and info["verdict"].status is Status.INCORRECT
        check_env(env, skip_render_check=True)
    finally:
        env.close()


def test_openenv_sessions_are_separate_and_a_refused_action_is_an_error_turn(openenv_server):
    a = from_openenv(openenv_server, action_field="message")
    b = from_openenv(openenv_server, action_field="wrong_field")
    try:
        a.reset(seed=1)
        b.reset(seed=2)
        obs, reward, terminated, _, _ = b.step("10")
        assert re.match("error: ", obs) and not terminated  # the server's schema refused it
        obs, _, _, _, _ = a.step("10")
        assert obs in ("higher", "lower", "")
    finally:
        a.close()
        b.close()
    with pytest.raises(OpenEnvError):
        from_openenv("http://127.0.0.1:9", timeout_s=2)


REPO = Path(__file__).resolve().parents[2]


def test_verifiers_tasks_are_an_assay_env_scored_by_verifiers_own_score(tmp_path):
    """Runs in verifiers' venv (its pins clash with ours), with this checkout on PYTHONPATH."""
    verifiers_python = tiers.peer_python("verifiers")
    tree = tmp_path / "tree" / "assay"  # the installed package's shape (as `make tree` builds it)
    tree.mkdir(parents=True)
    for entry in (REPO / "assay").iterdir():
        (tree / entry.name).symlink_to(entry)
    for name in ("envs", "verifiers", "rewards", "agents", "sandboxes"):
        (tree / name).symlink_to(REPO / name)
    run = subprocess.run(
        [verifiers_python, str(Path(__file__).parent / "peers" / "verifiers_play.py")],
        env={**os.environ, "PYTHONPATH": str(tree.parent), "PYTHONSAFEPATH": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "No module named 'gymnasium'" in run.stderr:
        pytest.skip("the verifiers venv lacks gymnasium: pip install 'gymnasium>=1.2,<2' there")
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["num_tasks"] == 5 and out["task_id"] == "verifiers/sums/2"
    assert out["prompt"].startswith("What is 2 + 3?")
    assert (out["right"], out["right_status"], out["rewards"]) == (1.0, "correct", {"boxed_match": 1.0})
    assert (out["wrong"], out["wrong_status"]) == (0.0, "incorrect")
    assert out["check_env"]
