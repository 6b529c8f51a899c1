"""LocalSandbox: the Sandbox contract on the embedded sandbox (outcomes are values)."""

import os
import shutil
import signal
import sys
import time

import pytest

from assay.sandboxes import ExecResult, Limits, LocalSandbox, SandboxError, get_sandbox
from assay.sandboxes.base import LANGUAGES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="LocalSandbox needs Linux")


@pytest.fixture(scope="module")
def box():
    sandbox = LocalSandbox(workers=2)
    yield sandbox
    sandbox.close()


def test_runs_a_program_and_returns_its_output(box):
    r = box.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert isinstance(r, ExecResult)
    assert (r.exit_code, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert not r.timed_out and not r.oom and not r.ok
    assert r.duration_s > 0


def test_stdin_argv_files_and_a_scrubbed_env(box, monkeypatch):
    monkeypatch.setenv("ASSAY_HOST_SECRET", "s3cret")
    src = (
        "import os, sys\n"
        "print(sys.stdin.read().upper(), sys.argv[1:], open('data/x.txt').read())\n"
        "print(sorted(os.environ))\n"
        "print(os.environ.get('EXTRA'))\n"
    )
    r = box.run(src, stdin="hello", argv=["a", "b"], files={"data/x.txt": "filedata"}, env={"EXTRA": "1"})
    lines = r.stdout.splitlines()
    assert lines[0] == "HELLO ['a', 'b'] filedata"
    assert "ASSAY_HOST_SECRET" not in r.stdout and "s3cret" not in r.stdout
    assert lines[2] == "1"


def test_an_uncaught_exception_is_a_traceback_and_exit_1(box):
    r = box.run("def f():\n    raise ValueError('boom')\nf()")
    assert r.exit_code == 1
    assert "ValueError: boom" in r.stderr and 'File "main.py", line 2' in r.stderr


def test_the_program_runs_as_main_with_atexit_and_threads(box):
    src = (
        "import atexit, threading, time\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "t = threading.Thread(target=lambda: (time.sleep(0.05), print('thread done')))\n"
        "t.start()\n"
        "print(__name__)\n"
    )
    r = box.run(src)
    assert r.stdout.split("\n")[:3] == ["__main__", "thread done", "atexit ran"]


def test_wall_limit_kills_a_sleeper_promptly(box):
    t0 = time.monotonic()
    r = box.run("import time\ntime.sleep(60)", limits=Limits(wall_s=0.5))
    assert r.timed_out and r.exit_code is None
    assert time.monotonic() - t0 < 0.5 + 2


def test_cpu_limit_counts_as_timed_out(box):
    r = box.run("while True:\n    pass", limits=Limits(wall_s=60, cpu_s=1))  # a loaded machine is slow
    assert r.timed_out and r.signal in (signal.SIGXCPU, signal.SIGKILL)
    assert r.cpu_s >= 0.9 and r.duration_s < 60


def test_memory_limit_reports_oom(box):
    r = box.run("x = bytearray(400 * 2**20)", limits=Limits(memory_bytes=256 * 2**20))
    assert r.oom and r.exit_code == 1 and "MemoryError" in r.stderr


def test_output_is_capped_and_the_flooder_killed(box):
    t0 = time.monotonic()
    r = box.run("while True:\n    print('x' * 999)", limits=Limits(wall_s=20, output_bytes=10_000))
    assert r.output_truncated and not r.timed_out
    assert len(r.stdout) + len(r.stderr) <= 10_000
    assert time.monotonic() - t0 < 10


def test_file_size_limit(box):
    r = box.run(
        "try:\n    open('big', 'wb').write(b'x' * 3_000_000)\nexcept OSError as e:\n    print('refused', e.errno)",
        limits=Limits(file_size_bytes=1_000_000),
    )
    assert r.stdout.startswith("refused"), r


def test_a_session_exchanges_messages_over_the_channel(box):
    src = (
        "import os\n"
        "def read(n):\n"
        "    b = b''\n"
        "    while len(b) < n:\n"
        "        c = os.read(3, n - len(b))\n"
        "        if not c: return None\n"
        "        b += c\n"
        "    return b\n"
        "while True:\n"
        "    h = read(4)\n"
        "    if h is None: break\n"
        "    m = read(int.from_bytes(h, 'big'))\n"
        "    print('debug output never mixes with the channel')\n"
        "    out = m[::-1]\n"
        "    os.write(4, len(out).to_bytes(4, 'big') + out)\n"
    )
    with box.session(src) as s:
        for word in (b"abc", b"", b"x" * 100_000):
            s.send(word)
            assert s.recv(5) == word[::-1]
        result = s.result()
    assert result.exit_code == 0 and result.stdout.count("debug") == 3


def test_session_recv_times_out_and_kill_ends_it(box):
    with box.session("import time\ntime.sleep(30)") as s:
        with pytest.raises(TimeoutError):
            s.recv(0.2)
        s.kill()
        assert s.recv(5) is None
        assert s.result().exit_code is None


def test_languages_beyond_python(box):
    r = box.run("echo hi from sh; echo $1", language="sh", argv=["arg"])
    assert r.stdout == "hi from sh\narg\n"
    if shutil.which("gcc"):
        c = box.run(
            '#include <stdio.h>\nint main(){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a+b);}',
            language="c",
            stdin="2 40",
        )
        assert c.stdout == "42\n", c
        bad = box.run("int main(){ syntax error }", language="c")
        assert bad.compile_error and "error" in bad.stderr
    if shutil.which("g++"):
        cpp = box.run("#include <iostream>\nint main(){std::cout << 6 * 7 << std::endl;}", language="cpp")
        assert cpp.stdout == "42\n", cpp
    if shutil.which("node"):
        js = box.run(
            "console.log(require('fs').readFileSync(0, 'utf8').trim().split(' ').map(Number).reduce((a, b) => a + b))",
            language="javascript",
            stdin="40 2",
            limits=Limits(memory_bytes=None, processes=None),  # V8: a big address space, many threads
        )
        assert js.stdout == "42\n", js
    assert set(LANGUAGES) >= {"python", "c", "cpp", "javascript"}


def test_bad_arguments_raise_value_errors(box):
    with pytest.raises(ValueError, match="relative"):
        box.run("pass", files={"../escape": "x"})
    with pytest.raises(ValueError, match="unknown language"):
        box.run("pass", language="cobol")
    with pytest.raises(ValueError, match="wall_s"):
        Limits(wall_s=0)


def test_explicit_isolation_level_none_still_runs_and_says_so():
    with LocalSandbox(isolation="none", workers=1) as weak:
        assert weak.isolation == "none"
        r = weak.run("print(6 * 7)")
        assert r.stdout == "42\n"
        # descendants are killed even without namespaces (the forker is their subreaper)
        r = weak.run(
            "import os, time\nchild = os.fork()\nif child == 0:\n    os.setsid()\n    time.sleep(60)\n"
            "    os._exit(0)\nprint(child)"
        )
        child = int(r.stdout)
        assert os.path.exists("/proc") and not _alive(child)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespaces level needs root")
def test_root_gets_the_namespaces_level(box):
    assert box.isolation == "namespaces"


def test_a_closed_sandbox_refuses_work():
    s = LocalSandbox(workers=1)
    s.run("pass")
    s.close()
    with pytest.raises(SandboxError, match="closed"):
        s.run("pass")


def test_get_sandbox_is_shared_per_process_and_validates():
    assert get_sandbox("local") is get_sandbox("local")
    assert get_sandbox("local").name == "local"
    mine = LocalSandbox(workers=1)
    assert get_sandbox(mine) is mine
    mine.close()
    with pytest.raises(ValueError, match="sandbox must be"):
        get_sandbox("vm")


def test_host_compiles_only_our_own_sources():
    """Item 15 of the trust issue: candidate source is compiled in the sandbox, never here."""
    from assay.sandboxes.worker import _bytecode, build_spec, mark_own

    def spec(source):
        return build_spec(
            source, language="python", stdin="", argv=(), env=None, files=None, limits=Limits(), channel=False
        )

    candidate = "print('candidate')\n"
    assert all(_bytecode(spec(candidate)) is None for _ in range(5))
    ours = "print('ours, test_host_compiles_only_our_own_sources')\n"
    mark_own(ours)
    assert _bytecode(spec(ours)) is not None
