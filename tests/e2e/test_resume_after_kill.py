"""A training run killed mid-way (SIGKILL) resumes from its checkpoint and reproduces the
uninterrupted run's metrics exactly (same seed, CPU), through the ``assay train`` CLI."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiers import require_or_skip

try:
    import torch  # noqa: F401
    import transformers  # noqa: F401
except ImportError as e:
    require_or_skip("e2e", f"e2e tier needs the train extra: {e}", module=True)

from assay.agents.tiny import ARITHMETIC_ALPHABET, init_tiny

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENV_KWARGS = json.dumps({"level": "easy", "operations": "+", "max_operand": 5, "prompt_template": "{expr}="})


def _cmd(model: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "assay.cli", "train", "grpo", "--env", "assay/Arithmetic-v0", "--model", str(model),
        "--env-args", ENV_KWARGS, "--out", str(out), "--steps", str(steps), "--seed", "3", "--quiet", "--eval", "0",
        "-s", "num_prompts=4", "-s", "group_size=8", "-s", "max_new_tokens=4", "-s", "lr=1e-3", "-s", "save_every=2",
        "-s", "keep_checkpoints=100", "-s", "num_threads=1", "-s", "plot=false", *extra,
    ]  # fmt: skip


def _metrics(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


@pytest.mark.timeout(900)
def test_killed_run_resumes_and_reproduces_the_metrics(tmp_path):
    model = init_tiny(tmp_path / "init", alphabet=ARITHMETIC_ALPHABET, seed=1)
    steps = 16
    full = subprocess.run(
        _cmd(model, tmp_path / "full", steps), capture_output=True, text=True, timeout=600, check=False
    )
    assert full.returncode == 0, full.stderr[-3000:]

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _cmd(model, out, steps), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 600
    try:  # kill it as soon as it has written its second checkpoint (step 4), mid-run
        while not (out / "checkpoints" / "step_00000004").exists():
            assert proc.poll() is None, (
                f"run ended before it could be killed: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
            )
            assert time.monotonic() < deadline, "no checkpoint within 600 s"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    done = sorted(p.name for p in (out / "checkpoints").glob("step_*"))
    assert done and done[-1] < f"step_{steps:08d}", done  # it really stopped part-way

    resumed = subprocess.run(
        _cmd(model, out, steps, "--resume"), capture_output=True, text=True, timeout=600, check=False
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _metrics(out) == _metrics(tmp_path / "full")
    assert len(_metrics(out)) == steps
