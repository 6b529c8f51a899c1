"""Env sessions over a real socket: `RemoteEnv` (a gymnasium.Env), HTTP sessions, limits, auth,
and an OpenEnv client from ``openenv-core`` (in its own venv) driving an assay env."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time

import gymnasium as gym
import httpx
import pytest
import tiers

import assay
from assay.envs.remote import RemoteEnv, RemoteEnvError
from assay.serve.app import ServeConfig, create_app

pytest.importorskip("websockets")

ARITH = "assay/Arithmetic-v0"
ALMANAC = "assay/Almanac-v0"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(config):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def live(request):
    kwargs = getattr(request, "param", {})
    config = ServeConfig(
        envs=(ARITH, ALMANAC), token=kwargs.get("token"), threads=2, **kwargs.get("config", {})
    )
    server, thread, url = _serve(config)
    yield url
    server.should_exit = True
    thread.join(10)


def test_remote_env_matches_the_local_env_step_for_step(live):
    local = assay.make(ARITH).unwrapped
    remote = assay.make("assay-remote/Remote-v0", url=live, env=ARITH)
    for seed in (1, 2, 3):
        obs, info = remote.reset(seed=seed)
        assert (obs, info["task_id"]) == (lambda o, i: (o, i["task_id"]))(*local.reset(seed=seed))
        gold = local.gold(local.task)
        _, reward, terminated, truncated, info = remote.step(gold)
        assert (reward, terminated, truncated) == (1.0, True, False)
        assert info["verdict"].correct and info["verdict"] == local.step(gold)[4]["verdict"]
    remote.reset(options={"index": 4})
    assert remote.unwrapped.state()["task_id"] == local.task_at(4).id
    _, reward, *_ = remote.step("no idea")
    assert reward == 0.0
    remote.close()


def test_remote_env_passes_gymnasiums_check_env(live):
    from gymnasium.utils.env_checker import check_env

    env = RemoteEnv(live, ARITH)
    check_env(env, skip_render_check=True)
    env.close()


def test_tool_env_over_the_wire(live):
    env = RemoteEnv(live, ALMANAC)
    local = assay.make(ALMANAC).unwrapped
    obs, info = env.reset(options={"index": 0})
    assert obs == local.reset(options={"index": 0})[0] and info["tools"]
    total = 0.0
    for action in local.gold_actions(local.task):
        obs, reward, terminated, _, info = env.step(action)
        total += reward
    assert terminated and total == 1.0 and info["verdict"].correct
    env.close()


def test_make_vec_runs_remote_envs_unchanged(live):
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    envs = SyncVectorEnv(
        [lambda: RemoteEnv(live, ARITH) for _ in range(3)], autoreset_mode=AutoresetMode.DISABLED
    )
    obs, _ = envs.reset(seed=[5, 6, 7])
    local = assay.make(ARITH).unwrapped
    assert list(obs) == [local.reset(seed=s)[0] for s in (5, 6, 7)]
    envs.close()


def test_errors_are_replies_and_the_session_survives(live):
    env = RemoteEnv(live, ARITH)
    with pytest.raises(gym.error.ResetNeeded):
        env.step("x")
    with pytest.raises(RemoteEnvError) as e:
        env.reset(options={"task_id": "nope"})
    assert e.value.code == "VALIDATION_ERROR"
    env.reset(seed=1)
    assert env.step("1")[2]
    with pytest.raises(RemoteEnvError) as e:
        env._call("step", {"text": "again"})
    assert e.value.code == "RESET_NEEDED"
    with pytest.raises(RemoteEnvError):
        env._call("step", {"text": 5})
    env._ws.send("not json")
    assert json.loads(env._ws.recv(timeout=10))["data"]["code"] == "INVALID_JSON"
    assert env.reset(seed=2)[0]  # still alive
    env.close()
    with pytest.raises(RemoteEnvError) as e:
        RemoteEnv(live, "assay/GSM8K-v0")._call("state")  # not on the allow-list
    assert e.value.code in ("UNKNOWN_ENV", "CONNECTION")


@pytest.mark.parametrize("live", [{"token": "s3cret"}], indirect=True)
def test_websocket_and_http_sessions_need_the_token(live):
    with pytest.raises(RemoteEnvError):
        RemoteEnv(live, ARITH)
    with pytest.raises(RemoteEnvError):
        RemoteEnv(live, ARITH, token="wrong")
    env = RemoteEnv(live, ARITH, token="s3cret")
    assert env.reset(seed=0)[0]
    env.close()
    assert httpx.post(f"{live}/v1/sessions", json={"env": ARITH}).status_code == 401


@pytest.mark.parametrize(
    "live", [{"config": {"max_sessions_per_client": 2, "session_idle_s": 0.5}}], indirect=True
)
def test_session_limits_and_idle_timeout(live):
    a, b = RemoteEnv(live, ARITH), RemoteEnv(live, ARITH)
    a.reset(seed=0)
    with pytest.raises(RemoteEnvError) as e:
        RemoteEnv(live, ARITH).reset(seed=0)
    assert e.value.code in ("SESSION_LIMIT", "CONNECTION")
    b.close()
    c = RemoteEnv(live, ARITH)  # a closed session frees its slot
    c.reset(seed=0)
    time.sleep(6)  # idle past session_idle_s: the reaper closes all three
    with pytest.raises(RemoteEnvError):
        a.step("1")
    fresh = RemoteEnv(live, ARITH)
    assert fresh.reset(seed=0)[0]
    fresh.close()


def test_http_sessions_round_trip_and_are_private_to_their_client(live):
    with httpx.Client(base_url=live) as http:
        sid = http.post("/v1/sessions", json={"env": ARITH}).json()["session_id"]
        obs = http.post(f"/v1/sessions/{sid}/reset", json={"seed": 3}).json()
        assert obs["observation"]["text"] == assay.make(ARITH).unwrapped.reset(seed=3)[0]
        assert http.get(f"/v1/sessions/{sid}").json()["step_count"] == 0
        out = http.post(f"/v1/sessions/{sid}/step", json={"text": "7"}).json()
        assert out["done"] and out["observation"]["info"]["verdict"]["status"] in ("correct", "incorrect")
        assert http.post(f"/v1/sessions/{sid}/step", json={"text": "7"}).status_code == 409
        bad = http.post("/v1/sessions", json={"env": ARITH, "env_kwargs": {"max_chars": 5}})
        assert bad.status_code == 422  # env settings are the operator's
        assert http.post("/v1/sessions", json={"env": "assay/GSM8K-v0"}).status_code == 404
        assert http.delete(f"/v1/sessions/{sid}").status_code == 200
        assert http.get(f"/v1/sessions/{sid}").status_code == 404


OPENENV_SCRIPT = """
import json, sys
from openenv.core import GenericEnvClient
url, gold_seed = sys.argv[1], int(sys.argv[2])
out = []
with GenericEnvClient(base_url=url).sync() as env:
    r = env.reset(seed=gold_seed)
    out.append({"obs": r.observation["text"], "done": r.done})
    r = env.step({"text": sys.argv[3]})
    out.append({"reward": r.reward, "done": r.done, "status": r.observation["info"]["verdict"]["status"]})
    out.append(env.state())
print(json.dumps(out))
"""


def test_an_openenv_client_drives_an_assay_env(live):
    openenv_python = tiers.peer_python("openenv")
    local = assay.make(ARITH).unwrapped
    local.reset(seed=11)
    gold = local.gold(local.task)
    done = subprocess.run(
        [openenv_python, "-c", OPENENV_SCRIPT, f"{live}/v1/envs/{ARITH}", "11", gold],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    reset, step, state = json.loads(done.stdout.strip().splitlines()[-1])
    assert reset == {"obs": local.task.prompt, "done": False}
    assert step == {"reward": 1.0, "done": True, "status": "correct"}
    assert state["step_count"] == 1 and state["task_id"] == local.task.id
