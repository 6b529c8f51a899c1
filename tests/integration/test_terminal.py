"""Terminal tools and assay/Terminal-v0, on the local sandbox and (docker tier) on Docker."""

import json

import pytest
from tiers import docker_or_skip

import assay
from assay.envs.checker import check_text_env
from assay.envs.tools import ToolResult
from assay.envs.tools.terminal import TerminalTools
from assay.envs.tools.terminal_env import FAMILIES, TerminalEnv
from assay.envs.tools.tool import ToolError
from assay.envs.tools.workspace import EpisodeWorkspace


@pytest.fixture(scope="module", params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def kind(request):
    if request.param == "docker":
        docker_or_skip()
    return request.param


@pytest.fixture
def term(kind):
    t = TerminalTools(kind, timeout_s=5.0)
    yield t
    t.close()


def test_bash_keeps_cwd_and_reports_exit_codes_and_timeouts(term):
    assert term.bash("mkdir -p a/b && cd a/b && export K=v") == "(no output)"
    assert term.bash("pwd; echo $K").splitlines()[1] == "v"
    assert term.bash("pwd").endswith("/a/b")
    assert term.bash("ls nope").endswith("[exit code 2]")
    assert "[timed out after 5 s" in term.bash("sleep 30")
    assert term.bash("echo still").strip() == "still"


def test_view_create_str_replace_insert_undo(term):
    assert "created" in term.create("src/m.py", "def f():\n    return 1\n\nx = f()\n")
    assert term.view("src/m.py") == "     1\tdef f():\n     2\t    return 1\n     3\t\n     4\tx = f()"
    assert term.view("src/m.py", [2, 2]) == "     2\t    return 1"
    assert term.view("src/m.py", [3, -1]).splitlines()[-1] == "     4\tx = f()"
    assert "src/m.py" in term.view("src")
    out = term.str_replace("src/m.py", "return 1", "return 2")
    assert "     2\t    return 2" in out
    with pytest.raises(ToolError, match="not found"):
        term.str_replace("src/m.py", "return 1", "z")
    term.create("dup.txt", "a\na\n")
    with pytest.raises(ToolError, match=r"occurs 2 times .*lines \[1, 2\]"):
        term.str_replace("dup.txt", "a", "b")
    term.insert("src/m.py", 0, "import os")
    assert term.view("src/m.py", [1, 2]) == "     1\timport os\n     2\tdef f():"
    assert "Undid" in term.undo_edit("src/m.py")
    assert term.view("src/m.py", [1, 1]) == "     1\tdef f():"
    term.undo_edit("src/m.py")
    assert "return 1" in term.view("src/m.py")
    assert "removed" in term.undo_edit("src/m.py")
    with pytest.raises(ToolError, match="does not exist"):
        term.view("src/m.py")
    with pytest.raises(ToolError, match="no edit"):
        term.undo_edit("src/m.py")
    with pytest.raises(ToolError, match="outside"):
        term.insert("dup.txt", 9, "x")


def test_the_editor_ignores_shell_functions_the_policy_defined(term):
    term.bash("find() { echo forged; }; cat() { echo forged; }")
    term.create("d/f.txt", "real\n")
    assert "d/f.txt" in term.view("d") and "forged" not in term.view("d")
    assert term.view("d/f.txt") == "     1\treal"


def test_python_and_bash_share_one_workspace(kind):
    from assay.envs.tools.python import PythonTool

    episode = EpisodeWorkspace(kind)
    term, py = TerminalTools(episode), PythonTool(episode)
    try:
        term.bash("echo 20 > n.txt")
        assert py("int(open('n.txt').read()) + 1").strip() == "21"
        py("open('out.txt', 'w').write('from python')")
        assert term.bash("cat out.txt") == "from python"
        term.reset()
        assert "No such file" in term.bash("cat out.txt")
    finally:
        episode.close()


@pytest.mark.parametrize("call_format", ["json", "tag"])
def test_terminal_env_passes_check_text_env(kind, call_format):
    env = TerminalEnv(sandbox=kind, call_format=call_format)
    try:
        check_text_env(env, seeds=(0, 1, 2, 3, 4))
    finally:
        env.close()


def test_registered_env_passes_the_contract_too():
    env = assay.make("assay/Terminal-v0")
    try:
        check_text_env(env, seeds=(0,))
    finally:
        env.close()


def test_gold_earns_one_and_a_noop_episode_earns_zero_on_every_family(kind):
    env = TerminalEnv(sandbox=kind)
    try:
        for index in range(2 * len(FAMILIES)):
            env.reset(options={"index": index})
            task = env.current_task()
            for action in env.gold_actions(task):
                *_, reward, terminated, _, info = env.step(action)
            assert (reward, terminated) == (1.0, True), (task.meta["family"], info["verdict"])
            env.reset(options={"index": index})
            _, reward, terminated, _, info = env.step(env.gold(task))  # submit at once
            assert (reward, terminated) == (0.0, True), task.meta["family"]
    finally:
        env.close()


def test_a_claim_without_the_work_earns_nothing_and_forged_tools_do_not_fool_the_check(kind):
    env = TerminalEnv(families=("script",), sandbox=kind)
    try:
        env.reset(options={"index": 0})
        task = env.current_task()
        name = task.meta["check"]["runs"][0][0].split()[0][2:]
        forge = f"printf '#!/bin/bash\\nexit 1\\n' > {name}; chmod +x {name}; {name.split('.')[0]}() {{ echo 1; }}"
        action = env.call_format.render_calls([("bash", {"command": forge})], turn=1)
        env.step(action)
        _, reward, *_ = env.step("I wrote the script; it prints the right numbers.")
        assert reward == 0.0
    finally:
        env.close()


def test_a_background_process_cannot_change_files_after_submit(kind):
    env = TerminalEnv(families=("data",), sandbox=kind)
    try:
        env.reset(options={"index": 0})
        task = env.current_task()
        gold = env.gold_actions(task)
        env.step(gold[0])
        sabotage = "(sleep 0.5; echo broken > totals.csv) &"
        env.step(env.call_format.render_calls([("bash", {"command": sabotage})], turn=2))
        *_, reward, _, _, info = env.step(env.gold(task))
        assert reward == 1.0, info["verdict"]
    finally:
        env.close()


def test_git_family_where_git_exists():
    env = TerminalEnv(families=("git",))  # local: the host's /usr is the sandbox's
    try:
        env.reset(options={"index": 0})
        task = env.current_task()
        for action in env.gold_actions(task):
            *_, reward, _, _, _ = env.step(action)
        assert reward == 1.0
    finally:
        env.close()


def test_tool_results_in_json_format_are_well_formed(kind):
    env = TerminalEnv(sandbox=kind)
    try:
        env.reset(options={"index": 1})
        action = json.dumps({"tool_calls": [{"function": {"name": "bash", "arguments": {"command": "ls"}}}]})
        _, _, terminated, _, info = env.step(action)
        assert not terminated
        (result,) = info["tool_results"]
        assert ToolResult(**result).content.strip() == "access.log"
    finally:
        env.close()
