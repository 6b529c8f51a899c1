"""The in-sandbox supervisor: a fork server that runs one job at a time.

This file is never imported by assay at run time: its *source* is shipped to a fresh
``python3 -I -S`` inside the sandbox (a Docker container, or the local launcher's namespaces) and
run there. It uses the standard library only and runs on Python 3.11+.

Processes inside a sandbox::

    supervisor  (PID 1 of the sandbox's PID namespace; talks to the host over fds 0/1)
      └─ forker (forked once at start-up, before any job data exists: its memory stays clean)
           └─ job (forked per execution; reads its spec from a pipe, drops privileges, runs)
                └─ ... anything the job starts (the forker is their child subreaper)

The supervisor never forks jobs itself: it holds every job's data (programs, stdin, channel
traffic), and a job forked from it could read earlier jobs' leftovers from its copy of the heap.
The forker only ever sees one-byte requests, so each job starts from the same pristine image.

Host <-> supervisor frames: ``>I`` payload length, one kind byte, payload.

host -> supervisor: ``S`` start a job (JSON spec), ``I`` bytes for the job's channel (fd 3),
``E`` end of channel input, ``K`` kill the job, ``Q`` quit.
supervisor -> host: ``R`` ready (JSON facts), ``O`` bytes the job wrote to its channel (fd 4),
``D`` the job's result (JSON), ``X`` a fatal supervisor error (text).
"""

import base64
import contextlib
import json
import os
import resource
import select
import selectors
import signal
import socket
import struct
import sys
import time
import types
from typing import Any

HEADER = struct.Struct(">IB")
U32 = struct.Struct(">I")
CHUNK = 65536
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
CAP_LAST = 63
try:
    from importlib.util import MAGIC_NUMBER

    MAGIC = MAGIC_NUMBER.hex()
except ImportError:  # pragma: no cover
    MAGIC = ""

# -- small helpers -------------------------------------------------------------------------


_LIBC: list[Any] = []


def _libc() -> Any:
    if not _LIBC:
        import ctypes

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _prctl(option: int, arg: int) -> bool:
    try:
        return int(_libc().prctl(option, arg, 0, 0, 0)) == 0
    except (ImportError, OSError):
        return False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except (InterruptedError, BlockingIOError):  # fd 1 may share a non-blocking socket with fd 0
            select.select([], [fd], [], 1.0)
            continue
        view = view[n:]


def _read_exact(fd: int, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError("pipe closed")
        buf += chunk
    return bytes(buf)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _wipe(path: str, *, keep_top: bool = True) -> None:
    """Remove everything under ``path`` (and ``path`` itself unless ``keep_top``)."""
    try:
        entries = os.listdir(path)
    except FileNotFoundError:
        return
    except PermissionError:
        os.chmod(path, 0o700)
        entries = os.listdir(path)
    for name in entries:
        full = os.path.join(path, name)
        try:
            st = os.lstat(full)
        except FileNotFoundError:
            continue
        if os.path.isdir(full) and not os.path.islink(full):
            if st.st_mode & 0o700 != 0o700:
                with contextlib.suppress(OSError):
                    os.chmod(full, 0o700)
            _wipe(full, keep_top=False)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(full)
    if not keep_top:
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(path)


# -- what outlives a job's processes --------------------------------------------------------------

IPC_RMID = 0


def _wipe_ipc(mqueue_dir: str | None) -> None:
    """Remove every System V IPC object and POSIX message queue in this (private) IPC namespace.

    They outlive the processes that made them, so the next job could read them. Only ever called
    where the sandbox has an IPC namespace of its own (never the host's).
    """
    libc = _libc()
    for kind in ("shm", "msg", "sem"):
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) < 2 or not fields[1].isdigit():
                continue
            ipc_id = int(fields[1])
            if kind == "shm":
                libc.shmctl(ipc_id, IPC_RMID, None)
            elif kind == "msg":
                libc.msgctl(ipc_id, IPC_RMID, None)
            else:
                libc.semctl(ipc_id, 0, IPC_RMID)
    if mqueue_dir:
        with contextlib.suppress(OSError):
            for name in os.listdir(mqueue_dir):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(mqueue_dir, name))


_KEYRING_SYSCALLS = {  # add_key, request_key, keyctl; the audit arch of the native ABI
    "x86_64": (0xC000003E, (248, 249, 250)),
    "aarch64": (0xC00000B7, (217, 218, 219)),
}


_KEYRING_FILTER: list[Any] = []


def _keyring_filter() -> Any:
    """The seccomp program of `_deny_keyrings` (built once, in the forker: a job only installs it),
    or None where the machine is not one of the known architectures."""
    if not _KEYRING_FILTER:
        import ctypes

        known = _KEYRING_SYSCALLS.get(os.uname().machine)
        if known is None:
            _KEYRING_FILTER.append(None)
            return None
        arch, calls = known

        class Filter(ctypes.Structure):
            _fields_ = [
                ("code", ctypes.c_ushort),
                ("jt", ctypes.c_ubyte),
                ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32),
            ]

        class Program(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

        ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JSET|K, BPF_RET|K
        allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
        n = len(calls)
        code = [
            (ld, 0, 0, 4),  # arch
            (jeq, 1, 0, arch),
            (ret, 0, 0, enosys),
            (ld, 0, 0, 0),  # syscall number
            (jset, n + 2, 0, 0x40000000),  # an x32 call: to the last instruction
        ]
        code += [(jeq, n - i, 0, nr) for i, nr in enumerate(calls)]  # a keyring call: to eperm
        code += [(ret, 0, 0, allow), (ret, 0, 0, eperm), (ret, 0, 0, enosys)]
        insns = (Filter * len(code))(*[Filter(*c) for c in code])
        _KEYRING_FILTER.append((Program(len(code), insns), insns, ctypes.byref))
    return _KEYRING_FILTER[0]


def _deny_keyrings() -> bool:
    """A seccomp filter: the kernel keyring calls fail with EPERM (keys outlive jobs).

    The user keyring belongs to a uid, not a process, so a key added by one job would be found by
    the next one running as the same uid. Calls of another ABI than the native one (x32, i386 via
    ``int 0x80``) fail with ENOSYS: nothing honest here makes them. Needs ``no_new_privs``.
    Returns False where the machine is not one of the known architectures.
    """
    built = _keyring_filter()
    if built is None:
        return False
    prog, _, byref = built
    PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
    return int(_libc().prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, byref(prog), 0, 0)) == 0


# -- the job process -------------------------------------------------------------------------


def _set_limits(limits: dict[str, Any], *, nproc: bool, nproc_offset: int = 0) -> None:
    def cap(which: int, soft: int, hard: int | None = None) -> None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (soft, soft if hard is None else hard))

    cap(resource.RLIMIT_CORE, 0)
    if limits.get("memory_bytes"):
        cap(resource.RLIMIT_AS, int(limits["memory_bytes"]))
    if limits.get("cpu_s"):
        secs = max(1, int(-(-float(limits["cpu_s"]) // 1)))
        cap(resource.RLIMIT_CPU, secs, secs + 1)
    if limits.get("file_size_bytes"):
        cap(resource.RLIMIT_FSIZE, int(limits["file_size_bytes"]))
    if nproc and limits.get("processes"):
        cap(resource.RLIMIT_NPROC, int(limits["processes"]) + nproc_offset)
    if limits.get("open_files"):
        cap(resource.RLIMIT_NOFILE, int(limits["open_files"]))


def _drop_capabilities() -> None:
    """Empty the bounding, effective, permitted and inheritable capability sets."""
    import ctypes

    libc = _libc()
    for cap in range(CAP_LAST + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _python_streams() -> None:
    import io

    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8", errors="backslashreplace"
    )
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding="utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    for name in ("stdin", "stdout", "stderr"):
        setattr(sys, f"__{name}__", getattr(sys, name))


def _exit_code(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{code}\n")
    return 1


def _run_python(spec: dict[str, Any], status_fd: int) -> int:
    """Run the program in this (forked, warm) interpreter, as ``python3 main.py`` would."""
    import builtins
    import marshal

    path = os.path.join(os.getcwd(), spec["filename"])
    module = types.ModuleType("__main__")
    module.__file__ = path
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    sys.argv = [spec["filename"], *spec.get("argv", [])]
    sys.path[:] = [os.getcwd(), *spec["sys_path"]]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGALRM, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    _python_streams()
    code = 0
    try:
        if spec.get("bytecode") and spec.get("magic") == MAGIC:
            program = marshal.loads(base64.b64decode(spec["bytecode"]))
        else:
            with open(path, "rb") as f:
                program = compile(f.read(), spec["filename"], "exec", dont_inherit=True, optimize=0)
        exec(program, module.__dict__)
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException as e:  # noqa: BLE001 - the program's own failure: never the supervisor's
        if isinstance(e, MemoryError):
            with contextlib.suppress(OSError):
                os.write(status_fd, b"oom\n")
        with contextlib.suppress(BaseException):
            sys.excepthook(type(e), e, e.__traceback__)
        code = 1
    code = _shutdown(code)
    os._exit(code)


def _shutdown(code: int) -> int:
    """What the interpreter does at exit: join threads, run atexit, flush the streams."""
    threading = sys.modules.get("threading")
    if threading is not None:
        with contextlib.suppress(BaseException):
            threading._shutdown()
    import atexit

    try:
        atexit._run_exitfuncs()
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:  # noqa: BLE001 - the program's own failure: never the supervisor's
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the program's own failure: never the supervisor's
            code = code or 120
    return code


def _which(name: str, path: str) -> str | None:
    if "/" in name:
        return name
    for d in path.split(":"):
        full = os.path.join(d, name)
        if os.access(full, os.X_OK) and not os.path.isdir(full):
            return full
    return None


def _exec_program(spec: dict[str, Any], env: dict[str, str], status_fd: int) -> int:
    """Compile (if the language needs it) and exec the program's command."""
    lang = spec["language"]
    search = env.get("PATH", "/usr/bin:/bin")
    if lang.get("compile"):
        argv = [a.format(file=spec["filename"]) for a in lang["compile"]]
        exe = _which(argv[0], search)
        if exe is None:
            os.write(2, f"assay: {argv[0]}: compiler not found in this sandbox\n".encode())
            os.write(status_fd, b"compile_error\n")
            return 127
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(2, 1)
                os.execve(exe, argv, env)
            finally:
                os._exit(127)
        _, status = os.waitpid(pid, 0)
        if status != 0:
            os.write(status_fd, b"compile_error\n")
            return 1
    argv = [a.format(file=spec["filename"]) for a in lang["run"]] + list(spec.get("argv", []))
    exe = _which(argv[0], search)
    if exe is None:
        os.write(2, f"assay: {argv[0]}: not found in this sandbox\n".encode())
        return 127
    try:
        os.execve(exe, argv, env)
    except OSError as e:
        os.write(2, f"assay: cannot run {argv[0]}: {e.strerror}\n".encode())
        return 126
    return 126  # not reached


def job_main(fds: list[int], cfg: dict[str, Any]) -> None:
    """Entry of a freshly forked (spare) job process. Never returns.

    Everything that does not depend on the job is done before its spec arrives (new session,
    work dir, dropped privileges, the fd layout), so a job start costs only what it must.
    """
    code = 125
    try:
        import fcntl

        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]  # no clash while renumbering
        for fd in fds:
            os.close(fd)
        for dst, src in enumerate(
            high
        ):  # 0 stdin, 1 stdout, 2 stderr, 3 chan in, 4 chan out, 5 status, 6 ctrl
            os.dup2(src, (6, 0, 1, 2, 3, 4, 5)[dst])
        os.closerange(7, 65536)
        os.setsid()
        with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
        jobdir = os.path.join(cfg["workdir"], "job")
        os.mkdir(jobdir, 0o700)
        uid: int | None = cfg.get("uid")
        gid: int = cfg.get("gid") or 0
        if uid is not None:
            os.chown(jobdir, uid, gid)
        os.chdir(jobdir)
        if uid is not None:
            for fd in (0, 1, 2):  # the job may reopen its streams (/dev/stdin is /proc/self/fd/0)
                with contextlib.suppress(OSError):
                    os.fchown(fd, uid, gid)
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        if cfg.get("drop_caps"):
            _drop_capabilities()
        _prctl(PR_SET_NO_NEW_PRIVS, 1)
        if cfg.get("deny_keyrings") and not _deny_keyrings():
            raise OSError("could not install the keyring filter")
        # -- wait for the job ---------------------------------------------------------------
        size = U32.unpack(_read_exact(6, 4))[0]
        spec = json.loads(_read_exact(6, size))
        os.close(6)
        spec["sys_path"] = cfg.get("sys_path", [])
        for name, b64 in spec.get("files", {}).items():
            if os.path.dirname(name):
                os.makedirs(os.path.dirname(name), exist_ok=True)
            with open(name, "wb") as f:
                f.write(base64.b64decode(b64))
        _set_limits(
            spec.get("limits", {}),
            nproc=bool(cfg.get("rlimit_nproc")),
            nproc_offset=int(cfg.get("nproc_offset", 0)),
        )
        env = {str(k): str(v) for k, v in spec.get("env", {}).items()}
        os.environ.clear()
        os.environ.update(env)
        if spec["language"]["name"] == "python" and not spec["language"].get("run"):
            code = _run_python(spec, 5)
        else:
            code = _exec_program(spec, env, 5)
    except BaseException as e:  # noqa: BLE001 - the program's own failure: never the supervisor's
        with contextlib.suppress(OSError):
            os.write(2, f"assay sandbox: job setup failed: {type(e).__name__}: {e}\n".encode())
    os._exit(code)


PRELOAD = (
    "re",
    "math",
    "collections",
    "functools",
    "itertools",
    "heapq",
    "bisect",
    "string",
    "typing",
    "traceback",
    "copy",
    "operator",
    "marshal",
)
"""Imported once in the forker, so jobs find them loaded (``random`` is not: each job seeds its own)."""


def _warm_up() -> None:
    """Run once what every job runs, so that lazily built interpreter state exists before the
    first fork (built in each job instead, it costs ~3 ms of CPU per execution)."""
    import importlib
    import io

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    _keyring_filter()  # jobs only install it
    _libc()

    source = "def f(x):\n    return [i * 2 for i in range(x)]\nprint(f(3), {1: 'a'}, file=out)\n"
    stream = io.TextIOWrapper(io.BufferedWriter(io.BytesIO()), encoding="utf-8", errors="backslashreplace")
    exec(compile(source, "warm.py", "exec", dont_inherit=True), {"out": stream})
    stream.flush()
    json.loads(json.dumps({"a": [1, 2.5, "x", None, True]}))
    base64.b64decode(base64.b64encode(b"warm"))


# -- the forker ------------------------------------------------------------------------------


class Forker:
    """Forks jobs on request; reaps everything; kills every job process on request."""

    def __init__(self, sock: socket.socket, cfg: dict[str, Any]) -> None:
        self.sock = sock
        self.cfg = cfg
        self.main_pid = 0
        self.spare: tuple[int, list[int]] | None = None
        with contextlib.suppress(ImportError, OSError):  # load now what every job needs
            _libc()
        _warm_up()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)

    def run(self) -> None:
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        _prctl(PR_SET_CHILD_SUBREAPER, 1)
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        sel.register(self.wake_r, selectors.EVENT_READ)
        import gc

        gc.collect()
        gc.freeze()  # jobs then do not walk (and copy-on-write) the forker's objects
        self.prefork()
        while True:
            for key, _ in sel.select():
                if key.fileobj is self.sock:
                    try:
                        msg = self.sock.recv(64)
                    except InterruptedError:
                        continue
                    if not msg:
                        os._exit(0)
                    if msg == b"spawn":
                        self.spawn()
                    elif msg == b"killall":
                        self.drop_spare()
                        self.killall()
                        self.sock.send(b"cleaned")
                    elif msg == b"prefork" and self.spare is None:
                        self.prefork()
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.wake_r, 4096)
                    self.reap()

    def prefork(self) -> None:
        """Fork the next job process now, so a job start costs no fork (it waits for its spec)."""
        pipes = [os.pipe() for _ in range(7)]
        # child ends: ctrl_r, stdin_r, stdout_w, stderr_w, chan_in_r, chan_out_w, status_w
        child = [pipes[0][0], pipes[1][0], pipes[2][1], pipes[3][1], pipes[4][0], pipes[5][1], pipes[6][1]]
        parent = [pipes[0][1], pipes[1][1], pipes[2][0], pipes[3][0], pipes[4][1], pipes[5][0], pipes[6][0]]
        pid = os.fork()
        if pid == 0:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in parent:
                os.close(fd)
            self.sock.close()
            job_main(child, self.cfg)
        for fd in child:
            os.close(fd)
        self.spare = (pid, parent)

    def drop_spare(self) -> None:
        if self.spare is not None:
            for fd in self.spare[1]:
                os.close(fd)
            self.spare = None

    def spawn(self) -> None:
        if self.spare is None:
            self.prefork()
        assert self.spare is not None
        pid, parent = self.spare
        self.spare = None
        self.main_pid = pid
        socket.send_fds(self.sock, [json.dumps({"pid": pid, "t0": time.monotonic()}).encode()], parent)
        for fd in parent:
            os.close(fd)

    def reap(self) -> None:
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare[0]:
                self.drop_spare()
            elif pid == self.main_pid:
                self.main_pid = 0
                msg = {
                    "pid": pid,
                    "status": status,
                    "t1": time.monotonic(),
                    "cpu_s": usage.ru_utime + usage.ru_stime,
                    "maxrss_kb": usage.ru_maxrss,
                }
                self.sock.send(b"exit" + json.dumps(msg).encode())

    def _children(self) -> list[int]:
        me = str(os.getpid())
        found: list[int] = []
        try:
            with open(f"/proc/{me}/task/{me}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            pass
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 1 and fields[1] == me:
                found.append(int(name))
        return found

    def killall(self) -> None:
        """Kill every process of the finished job (and reap them), then return."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            if self.cfg.get("pidns"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)  # all but PID 1 (the supervisor) and ourselves
            else:
                for pid in self._children():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            self.reap()
            if not self._children():
                return
            time.sleep(0.001)


# -- the supervisor --------------------------------------------------------------------------


class Job:
    """The supervisor's view of the running job."""

    def __init__(self, spec: dict[str, Any], pid: int, t0: float, fds: list[int]) -> None:
        self.spec = spec
        self.pid = pid
        self.t0 = t0
        (
            self.ctrl,
            self.stdin_w,
            self.stdout_r,
            self.stderr_r,
            self.chan_in_w,
            self.chan_out_r,
            self.status_r,
        ) = fds
        limits = spec.get("limits", {})
        self.deadline = time.monotonic() + float(limits.get("wall_s") or 3600.0)
        self.cpu_limit = float(limits.get("cpu_s") or 0.0)
        self.output_cap = int(limits.get("output_bytes") or 1 << 30)
        self.channel_cap = int(limits.get("channel_bytes") or 1 << 30)
        self.stdin = base64.b64decode(spec.get("stdin", ""))
        self.chan_in = bytearray()
        self.chan_in_eof = False
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.status = bytearray()
        self.output_total = 0
        self.channel_total = 0
        self.truncated = False
        self.timed_out = False
        self.killed_by_us = False
        self.ended_at: float | None = None
        self.exit: dict[str, Any] | None = None
        self.open_reads = {self.stdout_r, self.stderr_r, self.chan_out_r, self.status_r}


class Supervisor:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.inbuf = bytearray()
        self.job: Job | None = None
        self.sel = selectors.DefaultSelector()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            parent.close()
            try:
                Forker(child, cfg).run()
            finally:
                os._exit(1)
        child.close()
        self.forker_pid = pid
        self.forker = parent
        self.forker.settimeout(10.0)
        self.forker_dead = False
        os.set_blocking(0, False)
        self.sel.register(0, selectors.EVENT_READ, "host")
        self.sel.register(self.forker, selectors.EVENT_READ, "forker")

    # host I/O
    def send(self, kind: bytes, payload: bytes) -> None:
        _write_all(1, HEADER.pack(len(payload), kind[0]) + payload)

    def host_frames(self) -> list[tuple[int, bytes]]:
        frames = []
        while len(self.inbuf) >= HEADER.size:
            n, kind = HEADER.unpack_from(self.inbuf)
            if len(self.inbuf) < HEADER.size + n:
                break
            frames.append((kind, bytes(self.inbuf[HEADER.size : HEADER.size + n])))
            del self.inbuf[: HEADER.size + n]
        return frames

    def serve(self) -> None:
        facts = {"pid": os.getpid(), "python": sys.version.split()[0], "magic": MAGIC}
        self.send(b"R", json.dumps(facts).encode())
        while True:
            timeout = None
            job = self.job
            if job is not None and job.exit is None:
                timeout = min(max(0.0, job.deadline - time.monotonic()), 0.5)
            events = self.sel.select(timeout)
            for key, mask in events:
                self.on_event(key.data, key.fd, mask)
            job = self.job
            if job is not None and job.exit is None:
                now = time.monotonic()
                if now >= job.deadline and not job.killed_by_us:
                    job.timed_out = True
                    self.kill_job()
                if self.unreaped(job, now):
                    self.forker_lost()  # the forker does not reap: stopped by the job
            if job is not None and job.exit is not None:
                self.finish()

    def unreaped(self, job: Job, now: float) -> bool:
        """The job ended (or was killed) over a second ago and the forker has not reported it."""
        try:
            with open(f"/proc/{job.pid}/stat") as f:
                zombie = f.read().rsplit(") ", 1)[1][:1] == "Z"
        except (OSError, IndexError):
            zombie = False
        if zombie or job.killed_by_us:
            if job.ended_at is None:
                job.ended_at = now
            return now - job.ended_at > 1.0
        return False

    def on_event(self, what: str, fd: int, mask: int) -> None:
        if what == "host":
            try:
                data = os.read(0, CHUNK)
            except BlockingIOError:
                return
            if not data:
                self.quit()
            self.inbuf += data
            for kind, payload in self.host_frames():
                self.on_host(kind, payload)
        elif what == "forker":
            self.on_forker()
        elif what == "write":
            self.on_writable(fd)
        else:
            self.on_readable(fd)

    def on_host(self, kind: int, payload: bytes) -> None:
        k = chr(kind)
        if k == "S":
            if self.job is not None:
                self.send(b"X", b"a job is already running")
                return
            self.start(json.loads(payload))
        elif k == "I" and self.job is not None:
            self.job.chan_in += payload
            self.want_write(self.job.chan_in_w)
        elif k == "E" and self.job is not None:
            self.job.chan_in_eof = True
            self.want_write(self.job.chan_in_w)
        elif k == "K" and self.job is not None:
            self.kill_job()
        elif k == "Q":
            self.quit()

    def quit(self) -> None:
        if self.job is not None:
            self.kill_job()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.forker_pid, signal.SIGKILL)
        os._exit(0)

    def on_forker(self) -> None:
        try:
            msg = self.forker.recv(4096)
        except (InterruptedError, BlockingIOError):
            return
        except OSError:
            msg = b""
        if not msg:
            self.forker_lost()
            return
        if msg.startswith(b"exit") and self.job is not None:
            info = json.loads(msg[4:])
            if info["pid"] == self.job.pid:
                self.job.exit = info

    def forker_lost(self) -> None:
        """The forker died or hung: only a job could have done that (same uid), so it fails that
        job, as a result, and then this supervisor exits to be replaced."""
        self.forker_dead = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.forker_pid, signal.SIGKILL)
        job = self.job
        if job is None:
            self.send(b"X", b"the forker died")
            os._exit(3)
        if job.exit is None:
            job.killed_by_us = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(job.pid, signal.SIGKILL)
            job.exit = {
                "pid": job.pid,
                "status": signal.SIGKILL,
                "t1": time.monotonic(),
                "cpu_s": 0.0,
                "maxrss_kb": 0,
            }
        job.status += b"forker_lost\n"

    def forker_call(self, request: bytes, expect: bytes) -> bytes | None:
        """A synchronous request to the forker (None if it is gone); queues a job-exit message."""
        try:
            self.forker.send(request)
            while True:
                msg = self.forker.recv(4096)
                if not msg:
                    break
                if msg.startswith(b"exit"):
                    info = json.loads(msg[4:])
                    if self.job is not None and info["pid"] == self.job.pid:
                        self.job.exit = info
                    continue
                if msg.startswith(expect):
                    return msg
        except OSError:  # timed out (a stopped forker) or gone
            pass
        self.forker_lost()
        return None

    def kill_everything(self) -> None:
        """Without a forker: kill every other process ourselves (PID 1 of the namespace)."""
        if self.cfg.get("pidns"):
            for _ in range(3):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(-1, signal.SIGKILL)
                time.sleep(0.01)
        elif self.job is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.job.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass

    def start(self, spec: dict[str, Any]) -> None:
        try:
            self.forker.send(b"spawn")
            while True:
                msg, fds, _, _ = socket.recv_fds(self.forker, 4096, 7)
                if not msg.startswith(b"exit"):
                    break
        except OSError:
            msg = b""
        if not msg or len(fds) != 7:
            self.send(b"X", b"the forker is gone; this sandbox worker must be replaced")
            os._exit(3)
        info = json.loads(msg)
        job = Job(spec, info["pid"], info["t0"], list(fds))
        self.job = job
        payload = json.dumps(spec).encode()
        with contextlib.suppress(OSError):
            _write_all(job.ctrl, U32.pack(len(payload)) + payload)
        os.close(job.ctrl)
        for fd in (job.stdin_w, job.chan_in_w, *job.open_reads):
            os.set_blocking(fd, False)
        for fd in job.open_reads:
            self.sel.register(fd, selectors.EVENT_READ, "read")
        self.want_write(job.stdin_w)
        if spec.get("channel") is not True:
            job.chan_in_eof = True
            self.want_write(job.chan_in_w)

    def want_write(self, fd: int) -> None:
        try:
            self.sel.register(fd, selectors.EVENT_WRITE, "write")
        except KeyError:
            pass
        except ValueError:  # closed already
            pass

    def on_writable(self, fd: int) -> None:
        job = self.job
        if job is None:
            return
        if fd == job.stdin_w:
            buf, eof = job.stdin, True
        else:
            buf, eof = bytes(job.chan_in), job.chan_in_eof
        try:
            n = os.write(fd, buf[:CHUNK]) if buf else 0
        except BlockingIOError:
            return
        except OSError:  # the job closed its end: drop what is left
            n = len(buf)
            eof = True
        if fd == job.stdin_w:
            job.stdin = job.stdin[n:]
            rest = job.stdin
        else:
            del job.chan_in[:n]
            rest = bytes(job.chan_in)
        if not rest:
            self.sel.unregister(fd)
            if eof:
                os.close(fd)
                if fd == job.stdin_w:
                    job.stdin_w = -1
                else:
                    job.chan_in_w = -1

    def on_readable(self, fd: int) -> None:
        job = self.job
        if job is None:
            return
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            job.open_reads.discard(fd)
            return
        if fd == job.chan_out_r:
            job.channel_total += len(data)
            if job.channel_total > job.channel_cap:
                job.truncated = True
                self.kill_job()
                return
            self.send(b"O", data)
        elif fd == job.status_r:
            job.status += data[:256]
        else:
            room = job.output_cap - job.output_total
            job.output_total += len(data)
            target = job.stdout if fd == job.stdout_r else job.stderr
            target += data[: max(room, 0)]
            if job.output_total > job.output_cap:
                job.truncated = True
                self.kill_job()

    def kill_job(self) -> None:
        job = self.job
        if job is None or job.exit is not None:
            return
        job.killed_by_us = True
        with contextlib.suppress(ProcessLookupError):
            os.kill(job.pid, signal.SIGKILL)

    def oom_kills(self) -> int:
        """OOM kills so far in this sandbox's memory cgroup (Docker's, or the local worker's)."""
        try:
            fd = self.cfg.get("oom_fd")
            if fd is not None:
                text = os.pread(fd, 4096, 0).decode()
            else:
                with open("/sys/fs/cgroup/memory/memory.oom_control") as f:
                    text = f.read()
        except OSError:
            return 0
        for line in text.splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def finish(self) -> None:
        job = self.job
        assert job is not None and job.exit is not None
        if self.forker_dead or self.forker_call(b"killall", b"cleaned") is None:
            self.kill_everything()
        # every writer is dead now: drain the pipes to EOF
        deadline = time.monotonic() + 2.0
        while job.open_reads and time.monotonic() < deadline:
            for key, _ in self.sel.select(0.05):
                if key.data == "read":
                    self.on_readable(key.fd)
        for fd in list(job.open_reads):
            self.sel.unregister(fd)
            os.close(fd)
        for fd in (job.stdin_w, job.chan_in_w):
            if fd >= 0:
                with contextlib.suppress(KeyError):
                    self.sel.unregister(fd)
                os.close(fd)
        for path in self.cfg.get("scratch", []):
            with contextlib.suppress(OSError):
                _wipe(path)
        if self.cfg.get("private_ipc"):
            _wipe_ipc(self.cfg.get("mqueue"))
        if not self.forker_dead:
            self.forker.send(b"prefork")  # the next job's process, forked now that the dirs are clean
        status = int(job.exit["status"])
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        cpu = float(job.exit["cpu_s"])
        notes = job.status.decode("ascii", "replace").split()
        timed_out = (
            job.timed_out
            or sig == signal.SIGXCPU
            or (sig == signal.SIGKILL and job.cpu_limit > 0 and cpu >= job.cpu_limit)
        )
        oom_now = self.oom_kills()
        oom = "oom" in notes or (
            sig == signal.SIGKILL and not job.killed_by_us and oom_now > self.cfg.get("_oom", 0)
        )
        self.cfg["_oom"] = oom_now
        result = {
            "exit_code": code,
            "signal": sig,
            "stdout": _b64(bytes(job.stdout)),
            "stderr": _b64(bytes(job.stderr)),
            "timed_out": bool(timed_out),
            "oom": bool(oom),
            "output_truncated": job.truncated,
            "compile_error": "compile_error" in notes,
            "duration_s": float(job.exit["t1"]) - job.t0,
            "cpu_s": cpu,
            "max_rss_kb": int(job.exit["maxrss_kb"]),
            "retire": self.forker_dead,
        }
        self.job = None
        self.send(b"D", json.dumps(result).encode())
        if self.forker_dead:
            os._exit(3)


def read_config() -> dict[str, Any]:
    """Read the host's config frame (the first frame after the source)."""
    size, _ = HEADER.unpack(_read_exact(0, HEADER.size))
    cfg: dict[str, Any] = json.loads(_read_exact(0, size))
    sys.path[:] = [p for p in sys.path if p and os.path.isabs(p)]  # never import from the work dir
    cfg.setdefault("sys_path", list(sys.path))
    return cfg


def run_supervisor(cfg: dict[str, Any]) -> None:
    """Serve jobs until the host says quit or goes away. Never returns."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # PID 1 ignores default-action signals from inside
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if not _prctl(PR_SET_DUMPABLE, 0) and cfg.get("require_undumpable"):
        _write_all(1, HEADER.pack(25, ord("X")) + b"prctl(PR_SET_DUMPABLE) failed"[:25])
        os._exit(3)
    for path in cfg.get("scratch", []):
        with contextlib.suppress(OSError):
            _wipe(path)
    cfg["_oom"] = 0
    sup = Supervisor(cfg)
    cfg["_oom"] = sup.oom_kills()
    try:
        sup.serve()
    except BaseException as e:  # noqa: BLE001 - the program's own failure: never the supervisor's
        import traceback

        with contextlib.suppress(OSError):
            sup.send(b"X", f"supervisor crashed: {e!r}\n{traceback.format_exc()}".encode())
        with contextlib.suppress(ProcessLookupError):
            os.kill(sup.forker_pid, signal.SIGKILL)
    os._exit(3)


def main() -> None:
    """Entry point inside a Docker container."""
    run_supervisor(read_config())
