"""`scaffold_env_package`: the files of a new env package (``assay env init NAME``).

The package is installable with pip and registers its envs through the ``assay.envs`` entry
point (see `assay.registry`), so after ``pip install ./NAME`` its env shows in ``assay list`` and
trains with ``assay train grpo --env NAME/Reverse-v0``. It holds: ``pyproject.toml`` (with the
entry point), the module (``__init__.py`` registers, ``reverse.py`` is a 30-line example env to
replace), ``tests/test_<module>.py`` (``check_text_env`` and a gold-answer test) and a README.

Not guaranteed: the example env is a starting point (reverse a word), not a useful task.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

__all__ = ["names", "scaffold_env_package"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "assay environments: {dist}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["assay"]

# The line that makes `pip install {dist}` enough: assay imports this module when it needs envs.
[project.entry-points."assay.envs"]
{module} = "{module}"

[tool.setuptools]
packages = ["{module}"]
"""

_INIT = '''\
"""{dist}: assay environments. Importing this module registers them (assay does it for you)."""

import gymnasium as gym

from assay.registry import register

ENVS = {{
    "{module}/Reverse-v0": "{module}.reverse:ReverseEnv",
}}

for _id, _entry in ENVS.items():
    if _id not in gym.registry:  # importing twice (entry point, then by hand) is harmless
        register(_id, entry_point=_entry)
'''

_ENV = '''\
"""ReverseEnv: spell a short word backwards. Procedural, seed-deterministic, exact match.

Replace it with your task: implement `task_at` (index -> Task) and `gold` (a full-reward
completion); pick a verifier from `assay.verifiers` or write one (completion, task) -> Verdict.
"""

from assay.envs import SingleTurnEnv, Task
from assay.verifiers.extract import tagged
from assay.verifiers.match import ExactMatch

WORDS = ("apple", "birch", "cedar", "delta", "ember", "fjord", "gamma", "heron", "iris", "jade")


class ReverseEnv(SingleTurnEnv):
    """Spell a word backwards; answer in <answer></answer> tags."""

    def __init__(self, **kwargs):
        super().__init__(verifier=ExactMatch(extract=tagged("answer")), **kwargs)

    def task_at(self, index: int) -> Task:
        word = WORDS[index % len(WORDS)]
        return Task(
            id=f"reverse/{{index}}",
            prompt=f"Spell {{word}} backwards. Reply as <answer>...</answer>.",
            answer=word[::-1],
        )

    def gold(self, task: Task) -> str:
        return f"<answer>{{task.answer}}</answer>"
'''

_TEST = '''\
"""The env contract (gymnasium's check_env plus assay's gold/garbage/determinism checks)."""

import {module}  # noqa: F401 - registers the envs, installed or not

import assay
from assay.envs import check_text_env


def test_env_passes_the_contract():
    env = assay.make("{module}/Reverse-v0")
    check_text_env(env)
    env.close()


def test_gold_earns_full_reward():
    env = assay.make("{module}/Reverse-v0")
    for seed in range(5):
        env.reset(seed=seed)
        task = env.unwrapped.current_task()
        assert env.step(env.unwrapped.gold(task))[1] == 1.0
    env.close()
'''

_README = """\
# {dist}

assay environments, installed as a package: `pip install .` registers them through the
`assay.envs` entry point, so no import is needed.

```
pip install -e .
assay list                                  # shows {module}/Reverse-v0
pytest tests                                # check_text_env + the gold answer
assay train grpo --env {module}/Reverse-v0 --model MODEL_DIR --steps 10
```

Without installing: `--env {module}:{module}/Reverse-v0` imports `{module}` first.
"""


def names(name: str) -> tuple[str, str]:
    """(distribution name, module name) for ``name``; `ValueError` when it is not usable."""
    if not _NAME.match(name):
        raise ValueError(
            f"package name must start with a letter and use letters, digits, -, _ or .: {name!r}"
        )
    module = re.sub(r"[-.]+", "_", name).lower()
    if keyword.iskeyword(module) or module in ("assay", "gymnasium", "test", "tests"):
        raise ValueError(f"{name!r} would shadow a module ({module!r}); pick another name")
    return name, module


def scaffold_env_package(name: str, directory: Path) -> list[Path]:
    """Write the package ``name`` into ``directory / name``; the paths written, in order.

    Raises `FileExistsError` when the target exists and is not an empty directory.
    """
    dist, module = names(name)
    root = Path(directory) / dist
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists and is not empty")
    files = {
        root / "pyproject.toml": _PYPROJECT,
        root / "README.md": _README,
        root / module / "__init__.py": _INIT,
        root / module / "reverse.py": _ENV,
        root / "tests" / f"test_{module}.py": _TEST,
    }
    for path, template in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(dist=dist, module=module))
    return list(files)
