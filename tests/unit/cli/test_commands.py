"""Every command group: a user's mistake is one ``error:`` line on stderr and a documented exit
code, checked before any work; ``--debug`` adds the traceback; old spellings still work and warn."""

import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

import assay
from assay.cli import app

runner = CliRunner()
TYPO = "assay/Arithmatic-v0"


def run(*args, env=None):
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def one_error_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def no_work(monkeypatch):
    """Loading a model or starting a server fails the test."""

    def forbidden(*args, **kwargs):
        raise AssertionError("did work before checking the command line")

    import assay.agents.evaluation.backends as backends
    import assay.serve.server as server

    monkeypatch.setattr(backends, "load_sampler", forbidden)
    monkeypatch.setattr(server, "run", forbidden)
    return forbidden


@pytest.mark.parametrize(
    "command",
    [
        ["train", "grpo", "--env", TYPO, "--model", "no/such/dir"],
        ["train", "ppo", "--env", TYPO, "--model", "no/such/dir"],
        ["train", "dpo", "--online", "--env", TYPO, "--model", "no/such/dir"],
        ["train", "data", "--env", TYPO, "--model", "no/such/dir", "--out", "x.jsonl"],
        ["eval", "--env", TYPO, "--model", "http://127.0.0.1:9"],
        ["serve", "--env", TYPO],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_mistyped_env_id_is_one_line_exit_2_naming_the_closest(command, no_work):
    code, _, err = run(*command)
    line = one_error_line(err)
    assert code == 2
    assert f"unknown env id '{TYPO}'" in line and "did you mean assay/Arithmetic-v0" in line


def test_mistyped_env_id_in_a_config_file(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"env: {TYPO}\n")
    code, _, err = run("train", "grpo", "--config", str(cfg), "--model", "no/such/dir")
    assert code == 2 and "assay/Arithmetic-v0" in one_error_line(err)


@pytest.mark.parametrize(
    ("path", "extra", "words"),
    [
        (["train", "grpo"], ["--env-args", "level=eazy"], "level"),
        (["train", "data"], ["--env-args", "no_such_kwarg=1", "--out", "x"], "no_such_kwarg"),
        (["train", "ppo"], ["--env-args", "level"], "key=value"),
        (["eval"], ["--env-args", '{"level": ', "--model", "import:m:x"], "not a JSON object"),
        (["eval"], ["--split", "test", "--model", "import:m:x"], "split"),
    ],
    ids=["grpo value", "data keyword", "ppo malformed", "eval json", "eval split"],
)
def test_bad_env_args_are_exit_2(path, extra, words, no_work):
    code, _, err = run(*path, "--env", "assay/Arithmetic-v0", *extra)
    line = one_error_line(err)
    assert code == 2 and words in line


@pytest.mark.parametrize(
    "command",
    [
        ["train", "grpo", "--env", "assay/Arithmetic-v0", "--model", "{missing}"],
        ["train", "sft", "--model", "{tmp}", "--data", "{missing}"],
        ["train", "rm", "--config", "{missing}"],
        ["eval", "--env", "assay/Arithmetic-v0", "--model", "{missing}"],
        ["eval", "compare", "{missing}"],
        ["verify", "math", "--gold", "1", "--response-file", "{missing}"],
        ["verify", "code", "--tests", "{missing}", "--program", "{missing}"],
    ],
    ids=["grpo model", "sft data", "rm config", "eval model", "compare", "verify math", "verify code"],
)
def test_missing_input_file_is_exit_4(command, tmp_path, no_work):
    args = [a.format(missing=tmp_path / "missing", tmp=tmp_path) for a in command]
    code, out, err = run(*args)
    assert code == 4, err
    assert str(tmp_path / "missing") in one_error_line(err) and out == ""


def test_malformed_eval_log_is_exit_4(tmp_path):
    log = tmp_path / "a.jsonl"
    log.write_text('{"kind": "sample"}\n')
    code, _, err = run("eval", "compare", str(log))
    assert code == 4 and "header" in one_error_line(err)


def test_bad_setting_is_exit_2(tmp_path):
    code, _, err = run("train", "grpo", "--env", "assay/Arithmetic-v0", "--set", "no_such_setting=1")
    assert code == 2 and "no_such_setting" in one_error_line(err)
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [unclosed\n")
    code, _, err = run("train", "grpo", "--config", str(bad))
    assert code == 4 and "not valid YAML" in one_error_line(err)


def test_bad_option_is_one_line_exit_2():
    code, _, err = run("train", "grpo", "--no-such-option")
    assert code == 2 and "--no-such-option" in one_error_line(err)
    code, _, err = run("--no-such-option")
    assert code == 2 and "--no-such-option" in one_error_line(err)


def test_missing_extra_exit_3_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` now fails
    monkeypatch.delitem(sys.modules, "assay.serve.app", raising=False)
    code, _, err = run("serve", "--env", "assay/Arithmetic-v0")
    assert code == 3 and 'pip install "assay[serve]"' in one_error_line(err)


def test_dependency_not_installed_exit_3(monkeypatch):
    monkeypatch.setitem(sys.modules, "docker", None)
    code, _, err = run("sandbox", "reap")
    assert code == 3 and 'pip install "assay[docker]"' in one_error_line(err)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback_and_keeps_the_code(how):
    args = ["eval", "--env", TYPO, "--model", "x"]
    if how == "flag":
        code, _, err = run("--debug", *args)
    else:
        code, _, err = run(*args, env={"ASSAY_DEBUG": "1"})
    assert code == 2
    assert "Traceback (most recent call last)" in err and "UsageError" in err
    assert err.rstrip().splitlines()[-1].startswith("error: unknown env id")


def test_an_internal_error_keeps_its_traceback(monkeypatch):
    def broken(namespace="assay"):
        raise RuntimeError("a bug")

    monkeypatch.setattr(assay, "list_envs", broken)
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)


def test_old_train_spelling_env_kwargs_still_works_and_warns(tmp_path):
    code, _, err = run(
        "train", "grpo", "--env", "assay/Arithmetic-v0", "--env-kwargs", '{"level": "eazy"}', "--model", "x"
    )
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 2
    assert lines[0].startswith("warning: --env-kwargs is deprecated") and "eazy" in lines[1]
    code, _, err = run(
        "train", "grpo", "--env", "assay/Arithmetic-v0", "--env-kwargs", '{"level": "easy"}', "--model", "x"
    )
    assert code == 4 and "--model must be a local model directory" in err  # the arguments were accepted


SAMPLER = textwrap.dedent(
    """
    from assay.verifiers.sampler import Sample

    class Echo:
        def sample(self, prompts, *, n, max_new_tokens, temperature, seed):
            return [[Sample("\\\\boxed{0}", [1], [-0.5]) for _ in range(n)] for _ in prompts]
    """
)


def test_old_eval_spelling_env_arg_still_works_and_warns(tmp_path, monkeypatch):
    (tmp_path / "cli_echo_sampler.py").write_text(SAMPLER)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "run.jsonl"
    code, _, err = run(
        "eval", "--env", "assay/Arithmetic-v0", "--env-arg", 'level="easy"', "--env-args", "max_operand=5",
        "--model", "import:cli_echo_sampler:Echo", "-n", "2", "--limit", "2",
        "--no-plots", "--no-progress", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert err.startswith("warning: --env-arg is deprecated")
    header = json.loads(out.read_text().splitlines()[0])
    assert header["config"]["env_kwargs"] == {"level": "easy", "max_operand": 5}


def test_root_help_lists_the_exit_codes_and_every_group():
    code, out, _ = run("--help")
    assert code == 0
    for group in ("eval", "list", "model", "sandbox", "serve", "train", "verify"):
        assert group in out
    assert "Exit codes" in out and "missing optional dependency" in out


def test_end_to_end_a_typo_exits_2_before_importing_torch():
    """The real process: one stderr line, exit 2, and nothing heavy was imported first."""
    code = textwrap.dedent(
        f"""
        import sys
        from assay.cli import main
        sys.argv = ["assay", "train", "grpo", "--env", "{TYPO}", "--model", "runs/tiny"]
        try:
            main()
        except SystemExit as e:
            heavy = {{"torch", "transformers"}} & set(sys.modules)
            print(e.code, sorted(heavy))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.stdout.split() == ["2", "[]"], done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: unknown env id")
