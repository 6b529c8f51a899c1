"""`assay.cli.errors`: which exceptions are a user's mistake, and their exit codes."""

import tomllib
from pathlib import Path

from gymnasium.error import DependencyNotInstalled

from assay.cli.errors import EPILOG, EXTRA_MODULES, BadInput, ExitCode, MissingDependency, UsageError, explain

ROOT = Path(__file__).resolve().parents[3]


def test_exit_codes_are_the_documented_ones():
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4]
    for code, words in ((1, "check"), (2, "usage"), (3, "dependency"), (4, "input")):
        assert f"{code} " in EPILOG and words in EPILOG


def test_our_errors_carry_their_code():
    assert explain(UsageError("bad")) == (ExitCode.USAGE, "bad")
    assert explain(MissingDependency("no x")) == (ExitCode.MISSING_DEPENDENCY, "no x")
    assert explain(BadInput("no file")) == (ExitCode.BAD_INPUT, "no file")


def test_messages_are_one_line():
    assert explain(UsageError("two\nlines  here")) == (ExitCode.USAGE, "two lines here")


def test_missing_dependency_and_extra_modules_exit_3():
    assert explain(DependencyNotInstalled('pip install "assay[docker]"')) == (
        ExitCode.MISSING_DEPENDENCY,
        'pip install "assay[docker]"',
    )
    err = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert explain(err) == (ExitCode.MISSING_DEPENDENCY, 'torch is not installed: pip install "assay[train]"')
    sub = ModuleNotFoundError("No module named 'transformers.models'", name="transformers.models")
    assert explain(sub) is not None and "assay[train]" in explain(sub)[1]


def test_an_import_error_of_no_extra_is_a_bug():
    assert explain(ModuleNotFoundError("No module named 'nope'", name="nope")) is None


def test_file_errors_with_a_name_are_bad_input_others_are_bugs():
    assert explain(FileNotFoundError(2, "No such file or directory", "x.yaml")) == (
        ExitCode.BAD_INPUT,
        "x.yaml: No such file or directory",
    )
    assert explain(FileNotFoundError("no filename")) is None
    assert explain(ValueError("internal")) is None
    assert explain(RuntimeError("internal")) is None


def _dist(requirement: str) -> str:
    name = requirement.split(";")[0]
    for stop in "<>=![ ":
        name = name.split(stop)[0]
    return name.strip().lower()


def test_extra_modules_match_pyproject():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installable = {
        e: {_dist(r) for r in reqs} for e, reqs in extras.items() if e not in ("all", "dev", "bench")
    }
    rename = {"pyyaml": "yaml"}
    for extra, dists in installable.items():
        for dist in dists:
            module = rename.get(dist, dist.replace("-", "_"))
            assert module in EXTRA_MODULES, f"{module} ({extra}) missing from EXTRA_MODULES"
            named = {rename.get(d, d.replace("-", "_")) for d in installable[EXTRA_MODULES[module]]}
            assert module in named, f"{module}: assay[{EXTRA_MODULES[module]}] does not install it"
