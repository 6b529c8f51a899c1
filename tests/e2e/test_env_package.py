"""Envs as packages: a package made by ``assay env init``, pip-installed into a throwaway venv,
shows in ``assay list`` there (and not here) and trains with ``assay train grpo --env``."""

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from tiers import require_or_skip

try:
    import torch  # noqa: F401
    import transformers  # noqa: F401
except ImportError as e:
    require_or_skip("e2e", f"e2e tier needs the train extra: {e}", module=True)

from assay.agents.tiny import init_tiny

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **kw)


@pytest.fixture
def venv(tmp_path):
    """A venv without pip that sees this interpreter's packages (a .pth), so nothing is downloaded."""
    root = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    assert made.returncode == 0, made.stderr
    python = root / "bin" / "python"
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # addsitedir, not bare paths: the parent's own .pth files (the editable install's finder) must run too
    lines = [f"import site; site.addsitedir({p!r})" for p in sorted(ours)]
    Path(site, "parent_env.pth").write_text("\n".join(lines) + "\n")
    return python


def test_an_env_init_package_installs_lists_and_trains(tmp_path, venv):
    cli = [sys.executable, "-m", "assay.cli"]
    init = _run([*cli, "env", "init", "my-envs", "--dir", str(tmp_path)])
    assert init.returncode == 0, init.stderr
    package = tmp_path / "my-envs"
    assert (package / "pyproject.toml").read_text().count('[project.entry-points."assay.envs"]') == 1

    install = _run(
        [sys.executable, "-m", "pip", "--python", str(venv), "install", "--no-deps", "--no-index",
         "--no-build-isolation", "--quiet", str(package)]
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]

    # the package's own test (check_text_env + gold) passes in the venv where it is installed
    own = _run(
        [str(venv), "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")], cwd=tmp_path
    )
    assert own.returncode == 0, own.stdout[-3000:] + own.stderr[-2000:]

    env = {**os.environ, "COLUMNS": "200"}
    listed = _run([str(venv), "-m", "assay.cli", "list"], env=env)
    assert listed.returncode == 0 and "my_envs/Reverse-v0" in listed.stdout, listed.stdout + listed.stderr
    here = _run([*cli, "list"], env=env)  # not installed in this interpreter's environment
    assert here.returncode == 0 and "my_envs/Reverse-v0" not in here.stdout

    model = init_tiny(tmp_path / "tiny", seed=1)
    out = tmp_path / "run"
    train = _run(
        [str(venv), "-m", "assay.cli", "train", "grpo", "--env", "my_envs/Reverse-v0", "--model", str(model),
         "--out", str(out), "--steps", "2", "--seed", "0", "--quiet", "--eval", "0",
         "-s", "num_prompts=2", "-s", "group_size=2", "-s", "max_new_tokens=4", "-s", "num_threads=1",
         "-s", "plot=false"]
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all("reward/mean" in r or any(k.startswith("reward") for k in r) for r in rows)


def test_a_broken_plugin_is_a_warning_not_a_crash(tmp_path, venv):
    pkg = tmp_path / "broken"
    (pkg / "broken_envs").mkdir(parents=True)
    (pkg / "broken_envs" / "__init__.py").write_text("raise RuntimeError('plugin bug')\n")
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "broken-envs"\nversion = "0.1"\n'
        '[project.entry-points."assay.envs"]\nbroken_envs = "broken_envs"\n'
        '[tool.setuptools]\npackages = ["broken_envs"]\n'
    )
    install = _run(
        [sys.executable, "-m", "pip", "--python", str(venv), "install", "--no-deps", "--no-index",
         "--no-build-isolation", "--quiet", str(pkg)]
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    listed = _run([str(venv), "-m", "assay.cli", "list"], env={**os.environ, "COLUMNS": "200"})
    assert listed.returncode == 0 and "assay/Arithmetic-v0" in listed.stdout
    assert "PluginWarning" in listed.stderr and "plugin bug" in listed.stderr
