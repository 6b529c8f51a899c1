"""Workspaces: files, shell state, background processes and the interpreter persist across calls;
each call has its own time and output limits; close destroys everything. Both sandboxes."""

import sys
import time

import pytest
from tiers import require_or_skip

from assay.sandboxes import Limits, LocalSandbox, SandboxError
from assay.sandboxes.workspace import Snapshot, Workspace, WorkspaceLost

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sandboxes need Linux")


def _docker():
    from assay.sandboxes import docker as docker_mod

    if not docker_mod.docker_ready():
        require_or_skip("docker", "no Docker daemon or sandbox image (run `assay sandbox build`)")
    return docker_mod.DockerSandbox(workers=1, workspaces=3)


@pytest.fixture(scope="module", params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def box(request):
    sandbox = LocalSandbox(workers=1, workspaces=3) if request.param == "local" else _docker()
    yield sandbox
    sandbox.close()


@pytest.fixture
def ws(box):
    with box.workspace(files={"data/in.txt": "hello\n"}) as w:
        yield w


def test_files_given_at_open_are_in_the_root_and_nothing_else(ws):
    assert isinstance(ws, Workspace)
    r = ws.exec("ls -A; cat data/in.txt")
    assert r.ok, r
    assert r.stdout == "data\nhello\n"
    assert ws.exec("pwd").stdout.strip() == ws.root


def test_cwd_variables_functions_and_files_persist_across_calls(ws):
    ws.exec("mkdir -p sub && cd sub && echo made > f.txt; export A=1; B='two words'; g() { echo g:$1; }")
    r = ws.exec('pwd; echo "$A|$B"; g x; cat f.txt; env | grep -c "^A=1$"')
    assert r.stdout.splitlines() == [ws.root + "/sub", "1|two words", "g:x", "made", "1"]


def test_a_background_process_survives_later_calls(ws):
    r = ws.exec("sleep 30 & echo $! > /tmp/bg.pid; echo started")
    assert r.stdout == "started\n" and r.duration_s < 5
    time.sleep(0.1)
    r = ws.exec("kill -0 $(cat /tmp/bg.pid) && echo alive")
    assert r.stdout == "alive\n"


def test_a_background_writer_never_blocks_the_next_call(ws):
    ws.exec("(for i in $(seq 1 2000); do echo line-$i-padding-padding-padding; done) & echo ok")
    r = ws.exec("echo next", timeout_s=5)
    assert r.ok and "next" in r.stdout


def test_each_call_has_its_own_timeout_and_the_shell_survives_it(ws):
    ws.exec("cd data; export KEEP=1")
    r = ws.exec("export LOST=1; sleep 10", timeout_s=0.5)
    assert r.timed_out and r.exit_code is None and r.duration_s < 3
    r = ws.exec("echo ${KEEP:-no} ${LOST:-no}; basename $PWD", timeout_s=5)
    assert r.stdout.split() == ["1", "no", "data"]


def test_a_timeout_kills_that_calls_background_processes_only(ws):
    ws.exec("sleep 60 & echo $! > /tmp/old.pid")
    ws.exec("sleep 60 & echo $! > /tmp/new.pid; sleep 10", timeout_s=0.5)
    r = ws.exec(
        "kill -0 $(cat /tmp/old.pid) && echo old; kill -0 $(cat /tmp/new.pid) 2>/dev/null || echo new-gone"
    )
    assert r.stdout.split() == ["old", "new-gone"]


def test_output_past_the_cap_is_dropped_not_the_command(ws):
    r = ws.exec("head -c 100000 /dev/zero | tr '\\0' x; echo; echo done >&2; exit 4", output_limit=1000)
    assert r.output_truncated
    assert len(r.stdout) + len(r.stderr) <= 1000
    assert r.exit_code == 4  # it ran to its end


def test_exit_status_and_stdin_and_per_call_env(ws):
    r = ws.exec("read x; echo got:$x:$EXTRA; exit 3", stdin="hi\n", env={"EXTRA": "e"})
    assert (r.exit_code, r.stdout) == (3, "got:hi:e\n")
    assert ws.exec("echo ${EXTRA:-unset}").stdout == "unset\n"


def test_read_write_and_missing_files(ws):
    ws.write("deep/dir/x.bin", b"\x00\x01")
    assert ws.read("deep/dir/x.bin") == b"\x00\x01"
    assert ws.exec("wc -c < deep/dir/x.bin").stdout.strip() == "2"
    with pytest.raises(FileNotFoundError):
        ws.read("nope.txt")


def test_python_state_persists_and_a_runaway_cell_is_interrupted(ws):
    first = ws.python("import math\nx = 41")
    assert first.ok and first.fresh
    r = ws.python("x + 1")
    assert (r.ok, r.stdout, r.fresh) == (True, "42\n", False)
    r = ws.python("while True:\n    pass", timeout_s=0.5)
    assert r.timed_out and not r.ok and "KeyboardInterrupt" in r.stderr and not r.lost_state
    assert ws.python("print(x, math.pi > 3)").stdout == "41 True\n"
    r = ws.python("1/0")
    assert not r.ok and "ZeroDivisionError" in r.stderr and "<cell" in r.stderr


def test_python_sees_the_shells_files(ws):
    ws.exec("echo 7 > n.txt")
    assert ws.python("int(open('n.txt').read()) * 6").stdout == "42\n"


def test_a_cell_that_kills_its_interpreter_loses_state_and_says_so(ws):
    ws.python("y = 1")
    r = ws.python("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert r.lost_state and not r.ok
    r = ws.python("'y' in globals()")
    assert r.fresh and r.stdout == "False\n"


def test_close_destroys_files_and_processes(box):
    ws = box.workspace()
    ws.exec("echo secret > s.txt; sleep 60 & echo $! > /tmp/p")
    ws.close()
    ws.close()  # idempotent
    with pytest.raises(SandboxError):
        ws.exec("true")
    with box.workspace() as fresh:
        r = fresh.exec("ls -A; ls /tmp; ps -e -o comm= 2>/dev/null | grep -c sleep")
        assert "s.txt" not in r.stdout and "/tmp/p" not in r.stdout
        assert r.stdout.split()[-1] == "0"


def test_killing_the_agent_loses_the_workspace(box):
    ws = box.workspace()
    with pytest.raises(WorkspaceLost):
        ws.exec("kill -9 $PPID; sleep 5")  # the agent is the shell's parent
    with pytest.raises(WorkspaceLost):
        ws.exec("true")
    ws.close()
    with box.workspace() as w2:  # the worker was replaced or reused cleanly
        assert w2.exec("echo ok").stdout == "ok\n"


def test_fork_copies_files_and_shell_state_but_not_later_changes(ws):
    ws.exec("mkdir proj && cd proj && echo v1 > f && export STAGE=prepared")
    with ws.fork() as child:
        r = child.exec("cat f; echo $STAGE; pwd")
        assert r.stdout.splitlines() == ["v1", "prepared", child.root + "/proj"]
        child.exec("echo v2 > f")
    assert ws.exec("cat f").stdout == "v1\n"


def test_a_snapshot_starts_many_workspaces(box, ws):
    ws.exec("echo base > b.txt; cd data")
    snap = ws.snapshot()
    assert isinstance(snap, Snapshot) and snap.size > 0
    opened = [box.workspace(snapshot=snap, files={"id": f"{i}\n"}) for i in range(2)]
    try:
        for i, w in enumerate(opened):
            assert w.exec("cat ../b.txt ../id; basename $PWD").stdout.split() == ["base", str(i), "data"]
    finally:
        for w in opened:
            w.close()


def test_no_network_inside(ws):
    r = ws.python("import socket\ns = socket.socket()\ns.settimeout(1)\ns.connect(('1.1.1.1', 53))")
    assert not r.ok and ("OSError" in r.stderr or "unreachable" in r.stderr.lower())


def test_workspace_lifetime_limit_ends_it(box):
    with box.workspace(limits=Limits(wall_s=1.0, cpu_s=None, processes=64)) as ws:
        time.sleep(1.5)
        with pytest.raises(WorkspaceLost):
            ws.exec("true")


def test_a_fresh_shell_ignores_the_workspaces_functions_and_quiesce_stops_its_processes(ws):
    ws.exec("cat() { echo forged; }; export V=1; (while true; do echo x >> tick.log; sleep 0.05; done) &")
    assert ws.exec("cat /dev/null").stdout == "forged\n"
    assert ws.exec("printf 'real\\n' > r.txt; cat r.txt", fresh=True).stdout == "real\n"
    assert ws.quiesce() >= 1
    size = ws.exec("wc -c < tick.log", fresh=True).stdout
    time.sleep(0.3)
    assert ws.exec("wc -c < tick.log", fresh=True).stdout == size
