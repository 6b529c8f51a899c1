"""The wheel built by `python -m build` contains every subpackage and runs an env when installed."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_built_wheel_installs_and_runs_an_env(tmp_path):
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("assay-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in (
        "assay/__init__.py",
        "assay/envs/base.py",
        "assay/verifiers/base.py",
        "assay/rewards/base.py",
    ):
        assert module in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    code = (
        "import gymnasium, assay, sys;"
        f"assert assay.__file__.startswith({str(target)!r}), assay.__file__;"
        "env = gymnasium.make('assay/Arithmetic-v0'); obs, info = env.reset(seed=0);"
        "r = env.step(env.unwrapped.gold(env.unwrapped.task))[1]; assert r == 1.0; print('ok', info['task_id'])"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("ok arithmetic/")
