"""The in-sandbox workspace agent: serves one workspace's requests over the session channel.

This file is never imported by assay at run time: its *source* is the program of a sandbox
session (`assay.sandboxes.workspace`), run inside the sandbox with the job's privileges and
limits. It uses the standard library only and runs on Python 3.11+.

Channel messages (fd 3 in, fd 4 out) are length-prefixed JSON objects; bytes travel as base64.
The agent answers each request before reading the next. Requests (``op``):

- ``exec``: run a shell command in a fresh ``bash`` that first restores the workspace's shell
  state (cwd, variables, functions) and saves it again on exit; its own process group; killed
  with that group at ``timeout_s``; stdout and stderr kept up to ``output_limit`` bytes together
  (the rest is read and dropped: the command is not killed for it).
- ``python``: run a cell in the workspace's persistent interpreter (started on first use).
  On timeout the interpreter gets SIGINT (state kept); if it does not answer within a second it
  is killed and the next cell starts a fresh one (state lost; the reply says so).
- ``write`` / ``read``: a file's bytes (paths relative to the workspace root, or absolute).
- ``snapshot`` / ``restore``: the workspace's files (a tar) and its shell state.

Output a background process writes after its call returned is read and dropped, so the process
never blocks or dies on a full pipe.
"""

import base64
import contextlib
import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import time
from typing import Any

LEN = struct.Struct(">I")
CHAN_IN, CHAN_OUT = 3, 4
SKIP_VARS = (
    "BASH BASHOPTS BASHPID BASH_ALIASES BASH_ARGC BASH_ARGV BASH_ARGV0 BASH_CMDS BASH_COMMAND "
    "BASH_LINENO BASH_SOURCE BASH_SUBSHELL BASH_VERSINFO BASH_VERSION BASH_LOADABLES_PATH "
    "BASH_REMATCH BASH_EXECUTION_STRING COLUMNS COMP_WORDBREAKS DIRSTACK EPOCHREALTIME EPOCHSECONDS "
    "EUID FUNCNAME GROUPS HISTCMD HOSTNAME HOSTTYPE IFS LINENO LINES MACHTYPE OLDPWD OPTERR OPTIND "
    "OSTYPE PIPESTATUS PPID PS4 PWD RANDOM SECONDS SHELLOPTS SHLVL SRANDOM UID _"
)

WRAPPER = r"""
__assay_save() {
    { for __assay_n in $(compgen -v); do
          case " $__ASSAY_SKIP $__ASSAY_CALL " in *" $__assay_n "*) continue;; esac
          case $__assay_n in __assay*|__ASSAY*) continue;; esac
          declare -p "$__assay_n" 2>/dev/null
      done
      declare -f
      printf 'cd -- %q 2>/dev/null\n' "$PWD"
    } > "$__ASSAY_STATE.new" 2>/dev/null && mv -f "$__ASSAY_STATE.new" "$__ASSAY_STATE"
}
trap __assay_save EXIT
if [ -f "$__ASSAY_STATE" ]; then . "$__ASSAY_STATE" 2>/dev/null; fi
. "$__ASSAY_CMD"
"""

REPL = r"""
import ast, json, linecache, os, signal, sys, traceback
CMD, STATUS = int(sys.argv[1]), int(sys.argv[2])
scope = {"__name__": "__main__", "__builtins__": __builtins__}
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, os.getcwd())
cmd = os.fdopen(CMD, "rb", buffering=0)
count = 0

def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = cmd.read(n - len(buf))
        if not chunk:
            raise SystemExit(0)
        buf += chunk
    return buf

def run(source):
    global count
    name = "<cell %d>" % count
    count += 1
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    tree = ast.parse(source, name, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, "exec"), scope)
    if last is not None:
        value = eval(compile(last, name, "eval"), scope)
        if value is not None:
            print(repr(value))

while True:
    try:
        size = int.from_bytes(read_exact(4), "big")
        source = read_exact(size).decode("utf-8", "replace")
    except KeyboardInterrupt:
        continue
    ok = True
    try:
        try:
            run(source)
        except SystemExit as e:
            if e.code not in (None, 0):
                print("SystemExit: %s" % (e.code,), file=sys.stderr)
                ok = False
        except BaseException as e:
            ok = False
            tb = e.__traceback__
            while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
                tb = tb.tb_next
            traceback.print_exception(type(e), e, tb)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    except KeyboardInterrupt:
        ok = False
    os.write(STATUS, b"ok\n" if ok else b"error\n")
"""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _safe_members(tar: Any) -> list[Any]:
    """Regular files, dirs and links with relative names that stay inside (no devices)."""
    out = []
    for m in tar.getmembers():
        parts = m.name.split("/")
        if m.name.startswith("/") or ".." in parts or not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            continue
        if (m.issym() or m.islnk()) and (m.linkname.startswith("/") or (m.islnk() and ".." in m.linkname)):
            continue
        m.mode &= 0o777
        out.append(m)
    return out


class Capture:
    """Reads a process's stdout and stderr into one capped buffer each (shared cap)."""

    def __init__(self, fds: dict[int, str], limit: int) -> None:
        self.fds = dict(fds)
        self.data = {name: bytearray() for name in fds.values()}
        self.limit = limit
        self.total = 0
        self.truncated = False
        for fd in fds:
            os.set_blocking(fd, False)

    def on_readable(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            del self.fds[fd]
            os.close(fd)
            return
        room = self.limit - self.total
        self.total += len(chunk)
        if room > 0:
            self.data[self.fds[fd]] += chunk[:room]
        if self.total > self.limit:
            self.truncated = True

    def drain(self, agent: "Agent", wait_s: float) -> None:
        """Read what is there now (waiting at most ``wait_s`` for more); later output is dropped."""
        end = time.monotonic() + wait_s
        while self.fds:
            ready, _, _ = select.select(list(self.fds), [], [], max(0.0, end - time.monotonic()))
            if not ready:
                break
            for fd in ready:
                self.on_readable(fd)
        agent.orphans.update(self.fds)
        self.fds.clear()


class Agent:
    def __init__(self) -> None:
        self.root = os.getcwd()
        self.private = self._private_dir()
        self.state = os.path.join(self.private, "shell.state")
        self.cmd = os.path.join(self.private, "cmd.sh")
        self.wrapper = os.path.join(self.private, "wrapper.sh")
        with open(self.wrapper, "w") as f:
            f.write(WRAPPER)
        self.inbuf = bytearray()
        self.orphans: set[int] = set()
        self.env = {k: v for k, v in os.environ.items()}
        self.env["HOME"] = self.root
        self.env.setdefault("TERM", "dumb")
        self.env["PAGER"] = "cat"
        self.env["GIT_PAGER"] = "cat"
        self.python: Any = None
        self.python_note = ""

    def _private_dir(self) -> str:
        for base in (os.path.dirname(self.root), "/tmp", self.root):
            path = os.path.join(base, ".assay-workspace")
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
                return path
            except OSError:
                continue
        raise OSError("no place for the workspace's private files")

    # -- channel -------------------------------------------------------------------------

    def send(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode()
        view = memoryview(LEN.pack(len(data)) + data)
        while view:
            try:
                view = view[os.write(CHAN_OUT, view) :]
            except BlockingIOError:
                select.select([], [CHAN_OUT], [], 1.0)

    def next_request(self) -> dict[str, Any] | None:
        while True:
            if len(self.inbuf) >= 4:
                (n,) = LEN.unpack_from(self.inbuf)
                if len(self.inbuf) >= 4 + n:
                    data = bytes(self.inbuf[4 : 4 + n])
                    del self.inbuf[: 4 + n]
                    return dict(json.loads(data))
            ready, _, _ = select.select([CHAN_IN, *self.orphans], [], [])
            for fd in ready:
                if fd == CHAN_IN:
                    chunk = os.read(CHAN_IN, 1 << 20)
                    if not chunk:
                        return None
                    self.inbuf += chunk
                else:
                    self.drop_orphan_output(fd)

    def drop_orphan_output(self, fd: int) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.orphans.discard(fd)
            os.close(fd)

    def wait(self, fds: dict[int, Any], timeout: float) -> list[int]:
        """Select on ``fds`` and the orphans; drop the orphans' output; return the ready ``fds``."""
        ready, _, _ = select.select([*fds, *self.orphans], [], [], max(0.0, timeout))
        out = []
        for fd in ready:
            if fd in fds:
                out.append(fd)
            else:
                self.drop_orphan_output(fd)
        return out

    # -- requests ------------------------------------------------------------------------

    def serve(self) -> None:
        self.send({"ready": True, "root": self.root, "pid": os.getpid()})
        while True:
            req = self.next_request()
            if req is None:
                return
            op = req.get("op")
            try:
                handler = getattr(self, "op_" + str(op))
            except AttributeError:
                self.send({"error": f"unknown op {op!r}"})
                continue
            try:
                self.send(handler(req))
            except OSError as e:
                self.send({"errno": e.errno or 0, "error": e.strerror or str(e), "path": req.get("path")})
            except Exception as e:  # noqa: BLE001 - reported to the host, never fatal here
                self.send({"error": f"{type(e).__name__}: {e}"})

    def path(self, name: str) -> str:
        return os.path.normpath(os.path.join(self.root, name))

    def op_exec(self, req: dict[str, Any]) -> dict[str, Any]:
        with open(self.cmd, "w") as f:
            f.write(str(req["cmd"]) + "\n")
        env = dict(self.env)
        env.update({str(k): str(v) for k, v in (req.get("env") or {}).items()})
        call_vars = " ".join(str(k) for k in (req.get("env") or {}))
        env.update(
            __ASSAY_STATE=self.state, __ASSAY_CMD=self.cmd, __ASSAY_SKIP=SKIP_VARS, __ASSAY_CALL=call_vars
        )
        stdin_path = os.path.join(self.private, "stdin")
        with open(stdin_path, "wb") as f:
            f.write(base64.b64decode(req.get("stdin", "")))
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        t0 = time.monotonic()
        script = ["-c", '. "$__ASSAY_CMD"'] if req.get("fresh") else [self.wrapper]
        with open(stdin_path, "rb") as stdin:
            proc = subprocess.Popen(
                ["bash", "--noprofile", "--norc", *script],
                stdin=stdin,
                stdout=out_w,
                stderr=err_w,
                cwd=self.root,
                env=env,
                process_group=0,
            )
        os.close(out_w)
        os.close(err_w)
        cap = Capture({out_r: "stdout", err_r: "stderr"}, int(req.get("output_limit", 1 << 20)))
        deadline = t0 + float(req.get("timeout_s", 30.0))
        timed_out = False
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            for fd in self.wait(cap.fds, min(left, 0.05)):
                cap.on_readable(fd)
        duration = time.monotonic() - t0
        # what the shell wrote is in the pipes already; a background process may hold them open
        cap.drain(self, 0.05 if timed_out else 0.0)
        code = proc.returncode
        return {
            "exit_code": None if code is None or code < 0 else code,
            "signal": -code if code is not None and code < 0 else None,
            "stdout": _b64(bytes(cap.data["stdout"])),
            "stderr": _b64(bytes(cap.data["stderr"])),
            "timed_out": timed_out,
            "output_truncated": cap.truncated,
            "duration_s": duration,
        }

    def op_write(self, req: dict[str, Any]) -> dict[str, Any]:
        path = self.path(req["path"])
        if os.path.dirname(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(req["data"]))
        if req.get("mode") is not None:
            os.chmod(path, int(req["mode"]))
        return {"ok": True}

    def op_read(self, req: dict[str, Any]) -> dict[str, Any]:
        path = self.path(req["path"])
        limit = req.get("limit")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            data = f.read(-1 if limit is None else int(limit))
        return {"data": _b64(data), "size": size}

    def op_snapshot(self, req: dict[str, Any]) -> dict[str, Any]:
        import tarfile  # only here: its import costs every workspace start ~10 ms

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name in sorted(os.listdir(self.root)):
                tar.add(os.path.join(self.root, name), arcname=name)
        state = ""
        with contextlib.suppress(OSError), open(self.state) as f:
            state = f.read()
        return {"tar": _b64(buf.getvalue()), "state": state}

    def op_restore(self, req: dict[str, Any]) -> dict[str, Any]:
        data = base64.b64decode(req.get("tar", ""))
        if data:
            import tarfile

            with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(self.root, filter="data")
                else:  # Python < 3.11.4 (e.g. Debian bookworm's): the same rules, by hand
                    tar.extractall(self.root, members=_safe_members(tar))
        if req.get("state"):
            with open(self.state, "w") as f:
                f.write(str(req["state"]))
        return {"ok": True}

    # -- the persistent interpreter ------------------------------------------------------

    def start_python(self) -> None:
        cmd_r, cmd_w = os.pipe()
        st_r, st_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        exe = sys.executable or "python3"
        with open(os.devnull, "rb") as null:
            proc = subprocess.Popen(
                [exe, "-P", "-s", "-S", "-u", "-c", REPL, str(cmd_r), str(st_w)],
                stdin=null,
                stdout=out_w,
                stderr=err_w,
                cwd=self.root,
                env=dict(self.env),
                pass_fds=(cmd_r, st_w),
                process_group=0,
            )
        for fd in (cmd_r, st_w, out_w, err_w):
            os.close(fd)
        for fd in (out_r, err_r):
            os.set_blocking(fd, False)
        self.python = {"proc": proc, "cmd": cmd_w, "status": st_r, "out": out_r, "err": err_r}

    def stop_python(self) -> None:
        py, self.python = self.python, None
        if py is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(py["proc"].pid, signal.SIGKILL)
        py["proc"].wait()
        for key in ("cmd", "status", "out", "err"):
            with contextlib.suppress(OSError):
                os.close(py[key])

    def op_python(self, req: dict[str, Any]) -> dict[str, Any]:
        fresh = self.python is None
        if fresh:
            self.start_python()
        py = self.python
        source = str(req["code"]).encode()
        limit = int(req.get("output_limit", 1 << 20))
        cap = Capture({py["out"]: "stdout", py["err"]: "stderr"}, limit)
        t0 = time.monotonic()
        deadline = t0 + float(req.get("timeout_s", 30.0))
        status = b""
        timed_out = interrupted = died = False
        try:
            os.write(py["cmd"], LEN.pack(len(source)) + source)
        except OSError:
            died = True
        watched = dict(cap.fds)
        watched[py["status"]] = "status"
        while not died and not status.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 and not interrupted:
                timed_out = interrupted = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(py["proc"].pid, signal.SIGINT)
                deadline = time.monotonic() + 1.0
                continue
            if left <= 0:
                died = True
                break
            for fd in self.wait(watched, min(left, 0.05)):
                if fd == py["status"]:
                    chunk = os.read(fd, 64)
                    if not chunk:
                        died = True
                    status += chunk
                else:
                    cap.on_readable(fd)
                    watched = {**cap.fds, py["status"]: "status"}
        duration = time.monotonic() - t0
        cap.drain(self, 0.0 if not died else 0.2)  # the cell's output precedes its status
        restarted = False
        if died:
            self.stop_python()
            restarted = True
        else:
            py["out"], py["err"] = self._reopen_capture(py)
        return {
            "ok": status.strip() == b"ok" and not timed_out,
            "stdout": _b64(bytes(cap.data["stdout"])),
            "stderr": _b64(bytes(cap.data["stderr"])),
            "timed_out": timed_out,
            "output_truncated": cap.truncated,
            "lost_state": restarted,
            "fresh": fresh,
            "duration_s": duration,
        }

    def _reopen_capture(self, py: dict[str, Any]) -> tuple[int, int]:
        """`Capture.drain` handed the interpreter's pipes to the orphans: take them back."""
        for fd in (py["out"], py["err"]):
            self.orphans.discard(fd)
        return py["out"], py["err"]

    def op_quiesce(self, req: dict[str, Any]) -> dict[str, Any]:
        """Kill every other process of this workspace (its session) and the interpreter."""
        self.stop_python()
        me, sid = os.getpid(), os.getsid(0)
        killed = 0
        for _ in range(3):
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) == me:
                    continue
                with contextlib.suppress(OSError):
                    if os.getsid(int(name)) == sid:
                        os.kill(int(name), signal.SIGKILL)
                        killed += 1
            time.sleep(0.01)
        return {"killed": killed}

    def op_python_reset(self, req: dict[str, Any]) -> dict[str, Any]:
        self.stop_python()
        return {"ok": True}


def workspace_main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.set_blocking(CHAN_OUT, True)
    for name in os.listdir("."):  # the agent's own program file: not part of the workspace
        if name == "main.py":
            os.unlink(name)
    agent = Agent()
    try:
        agent.serve()
    finally:
        agent.stop_python()


workspace_main()
