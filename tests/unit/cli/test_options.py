"""`assay.cli.options`: one spelling of env arguments, and the env-id check."""

import pytest

from assay.cli.errors import BadInput, UsageError
from assay.cli.options import check_env, check_env_id, env_args, input_file, model_dir, parse_env_args


def test_key_value_pairs_are_json_decoded_when_they_parse():
    got = parse_env_args(['data=my.jsonl,answer=label,verifier=math,n=3,flag=true,level="easy"'])
    assert got == {
        "data": "my.jsonl",
        "answer": "label",
        "verifier": "math",
        "n": 3,
        "flag": True,
        "level": "easy",
    }


def test_a_json_object_is_taken_whole():
    assert parse_env_args(['{"n": 3, "ops": ["+", "-"]}']) == {"n": 3, "ops": ["+", "-"]}


def test_a_comma_not_followed_by_a_key_stays_in_the_value():
    assert parse_env_args(["operations=+,-,max_operand=5"]) == {"operations": "+,-", "max_operand": 5}
    assert parse_env_args(['ops=["+","-"],n=2']) == {"ops": ["+", "-"], "n": 2}


def test_repeated_values_merge_later_wins():
    assert parse_env_args(["a=1,b=2", '{"b": 3}', "c=x"]) == {"a": 1, "b": 3, "c": "x"}


@pytest.mark.parametrize("bad", ["level", "=easy", '{"n": 3', "[1, 2]", "{}x"])
def test_malformed_env_args_are_a_usage_error(bad):
    with pytest.raises(UsageError, match="--env-args"):
        parse_env_args([bad])


def test_deprecated_spellings_feed_the_same_parser_and_warn(capsys):
    got = env_args(["c=3"], env_kwargs='{"a": 1, "c": 0}', env_arg=['b="x"'])
    assert got == {"a": 1, "b": "x", "c": 3}
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert "--env-kwargs is deprecated" in err[0] and "--env-arg is deprecated" in err[1]
    assert all("use --env-args" in line for line in err)


def test_no_env_args_is_none_not_empty(capsys):
    assert env_args(None) is None and env_args([]) is None
    assert capsys.readouterr().err == ""


def test_unknown_env_id_names_the_closest_ids():
    with pytest.raises(UsageError) as info:
        check_env_id("assay/Arithmatic-v0")
    message = str(info.value)
    assert "unknown env id 'assay/Arithmatic-v0'" in message
    assert message.index("assay/Arithmetic-v0") < message.index("assay list")


def test_env_id_check_is_case_insensitive_for_suggestions():
    with pytest.raises(UsageError, match="did you mean assay/GSM8K-v0"):
        check_env_id("assay/gsm8k-v0")


def test_module_prefixed_id_imports_the_module_first():
    check_env_id("assay.envs:assay/Arithmetic-v0")
    with pytest.raises(UsageError, match="cannot import 'no_such_module_xyz'"):
        check_env_id("no_such_module_xyz:x/Y-v0")


def test_constructor_errors_are_bad_env_arguments():
    check_env("assay/Arithmetic-v0", {"level": "easy"})
    with pytest.raises(UsageError, match=r"bad env arguments for assay/Arithmetic-v0.*level"):
        check_env("assay/Arithmetic-v0", {"level": "eazy"})
    with pytest.raises(UsageError, match=r"bad env arguments.*no_such_kwarg"):
        check_env("assay/Arithmetic-v0", {"no_such_kwarg": 1})
    with pytest.raises(UsageError, match="--env is required"):
        check_env(None, None)


def test_missing_paths_are_bad_input_and_absent_options_usage_errors(tmp_path):
    (tmp_path / "f.jsonl").write_text("{}\n")
    assert input_file(tmp_path / "f.jsonl", option="--data") == tmp_path / "f.jsonl"
    assert model_dir(str(tmp_path)) == tmp_path
    with pytest.raises(BadInput, match="--data"):
        input_file(tmp_path / "none.jsonl", option="--data")
    with pytest.raises(BadInput, match="--model must be a local model directory"):
        model_dir(str(tmp_path / "f.jsonl"))
    with pytest.raises(UsageError, match="--model is required"):
        model_dir(None)
    with pytest.raises(UsageError, match="--data is required"):
        input_file(None, option="--data")
