"""``assay verify math``: one JSON object, exit status by verdict."""

import json

from typer.testing import CliRunner

from assay.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["verify", "math", *args])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def test_correct_response():
    code, out = run("--gold", "7425000", "--response", "so it is \\boxed{7,425,000}.")
    assert code == 0
    assert out["status"] == "correct" and out["score"] == 1.0 and out["extracted"] == "7,425,000"
    assert {"status", "score", "extracted", "reason", "details"} <= set(out)


def test_incorrect_and_no_answer_exit_1():
    assert run("--gold", "42", "--response", "the answer is 41")[0] == 1
    code, out = run("--gold", "42", "--response", "I really do not know how to do this one.")
    assert code == 1 and out["status"] == "no_answer" and out["extracted"] is None


def test_no_number_is_picked_out_of_prose_unless_last_number_is_asked_for():
    code, out = run("--gold", "42", "--response", "I think 41 or 42")
    assert code == 1 and out["status"] == "no_answer"
    code, out = run("--gold", "42", "--response", "I think 41 or 42", "--last-number")
    assert code == 0 and out["extracted"] == "42"
    code, out = run("--gold", "7", "--response", "7", "--no-fallback")
    assert code == 1 and out["status"] == "no_answer"


def test_unreadable_reference_is_an_error_exit_2():
    code, out = run("--gold", "\\zzz{1}", "--response", "\\boxed{1}")
    assert code == 2 and out["status"] == "error"


def test_pathological_answer_is_a_timeout():
    code, out = run("--gold", "5", "--response", "\\boxed{10^{10^{10^{10}}}}", "--timeout", "1")
    assert code == 1 and out["status"] == "timeout"


def test_bare_answers_and_response_file(tmp_path):
    assert run("--gold", "x \\in [0, 1)", "--response", "0 \\le x < 1", "--bare")[1]["status"] == "correct"
    path = tmp_path / "r.txt"
    path.write_text("Adding up, we get \\boxed{\\frac{3}{4}}")
    assert run("--gold", "0.75", "--response-file", str(path))[1]["status"] == "correct"


def test_exactly_one_response_source():
    result = runner.invoke(app, ["verify", "math", "--gold", "1"])
    assert result.exit_code != 0 and "exactly one" in result.output
