"""The host side of the supervisor protocol: one `Worker` per sandbox slot.

A worker owns one supervisor (inside a Docker container, or under the local launcher) and talks
to it over a byte stream: it ships the supervisor's source, sends job specs and channel bytes,
and reads results. A reader thread drains the stream continuously, so neither side can block
the other however much a program writes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import marshal
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from importlib import util as importlib_util
from pathlib import Path
from typing import Any, Protocol

from assay.sandboxes.base import DEFAULT_ENV, LANGUAGES, ExecResult, Language, Limits, Session
from assay.sandboxes.errors import SandboxError

__all__ = [
    "BOOT",
    "PYTHON_FLAGS",
    "SUPERVISOR_ENV",
    "Transport",
    "Worker",
    "WorkerSession",
    "build_spec",
    "mark_own",
    "supervisor_source",
]

HEADER = struct.Struct(">IB")
FRAME = struct.Struct(">I")
GRACE_S = 10.0
"""How long past a job's wall limit the host waits for the supervisor before declaring it dead."""

BOOT = (
    "import os\n"
    "def _r(n):\n"
    "    b = b''\n"
    "    while len(b) < n:\n"
    "        c = os.read(0, n - len(b))\n"
    "        if not c:\n"
    "            raise SystemExit(3)\n"
    "        b += c\n"
    "    return b\n"
    "g = {'__name__': '__assay__'}\n"
    "exec(compile(_r(int.from_bytes(_r(4), 'big')), '<assay-supervisor>', 'exec'), g)\n"
    "g['__assay_entry__']()\n"
)
"""``python3 -P -s -S -c BOOT`` reads a length-prefixed source on stdin and runs its entry point."""

PYTHON_FLAGS = ("-P", "-s", "-S")
"""No unsafe path first on ``sys.path`` (the work dir), no user site, no site: the standard library only.
Not ``-I``: it would ignore ``PYTHONHASHSEED``, and hashing must be the same in every run."""
SUPERVISOR_ENV = {"LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
"""The supervisor's whole environment (jobs get their own, see `DEFAULT_ENV`)."""


def supervisor_source(entry: str, *extra: str) -> bytes:
    """The supervisor's source (plus ``extra`` sibling modules), ending in its entry point."""
    inside = Path(__file__).parent / "inside"
    parts = [(inside / "supervisor.py").read_text()]
    parts += [(inside / name).read_text() for name in extra]
    parts.append(f"\n__assay_entry__ = {entry}\n")
    return "\n\n".join(parts).encode()


class Transport(Protocol):
    """A bidirectional byte stream to one supervisor."""

    def write(self, data: bytes) -> None: ...

    def read(self) -> bytes:
        """Blocking read of the next bytes; ``b""`` at end of stream."""
        ...

    def close(self) -> None: ...

    def describe_eof(self) -> str:
        """Why the stream ended, as far as the transport can tell (for error messages)."""
        ...


_HOST_MAGIC = importlib_util.MAGIC_NUMBER.hex()
_OWN: set[bytes] = set()
_BYTECODE: dict[bytes, str] = {}
_CACHE_LOCK = threading.Lock()


def _digest(source_b64: str) -> bytes:
    return hashlib.sha256(source_b64.encode("ascii")).digest()


def mark_own(source: str | bytes) -> None:
    """Declare ``source`` one of our own programs (a harness shipped into the sandbox, not a
    candidate's): a Python job whose program is exactly this text is compiled here, on the host,
    once, and shipped as bytecode (compiling a 20 KB harness costs ~12 ms per execution).

    Nothing else is ever compiled on the host: a candidate's program is compiled inside the
    sandbox, under its job's limits, every time, so the host never spends time on candidate text
    and the same program always meets the same limits.
    """
    key = _digest(base64.b64encode(_bytes(source)).decode("ascii"))
    with _CACHE_LOCK:
        _OWN.add(key)


def _bytecode(spec: Mapping[str, Any]) -> str | None:
    """Compiled bytecode of the job's program if it is one of ours (`mark_own`), else None."""
    source_b64 = spec["files"][spec["filename"]]
    key = _digest(source_b64)
    with _CACHE_LOCK:
        if key not in _OWN:
            return None
        found = _BYTECODE.get(key)
    if found is not None:
        return found
    try:
        code = compile(base64.b64decode(source_b64), spec["filename"], "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    data = base64.b64encode(marshal.dumps(code)).decode()
    with _CACHE_LOCK:
        if len(_BYTECODE) > 64:
            _BYTECODE.pop(next(iter(_BYTECODE)))
        _BYTECODE[key] = data
    return data


def _check_name(name: str) -> str:
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"file names must be relative paths without '..', got {name!r}")
    return name


def _bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


def build_spec(
    source: str | bytes,
    *,
    language: str | Language,
    stdin: str | bytes,
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    files: Mapping[str, str | bytes] | None,
    limits: Limits,
    channel: bool,
    base_env: Mapping[str, str] = DEFAULT_ENV,
) -> dict[str, Any]:
    """The JSON job spec the supervisor understands."""
    if isinstance(language, str):
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; one of {sorted(LANGUAGES)}")
        language = LANGUAGES[language]
    all_files = {_check_name(k): _bytes(v) for k, v in (files or {}).items()}
    all_files[language.filename] = _bytes(source)
    merged_env = {**base_env, **(env or {})}
    return {
        "filename": language.filename,
        "language": language.to_wire(),
        "argv": [str(a) for a in argv],
        "env": merged_env,
        "files": {k: base64.b64encode(v).decode() for k, v in all_files.items()},
        "stdin": base64.b64encode(_bytes(stdin)).decode(),
        "limits": limits.to_wire(),
        "channel": channel,
    }


def _result(payload: bytes) -> ExecResult:
    d = json.loads(payload)
    return ExecResult(
        exit_code=d["exit_code"],
        stdout=base64.b64decode(d["stdout"]).decode("utf-8", "replace"),
        stderr=base64.b64decode(d["stderr"]).decode("utf-8", "replace"),
        timed_out=bool(d["timed_out"]),
        oom=bool(d["oom"]),
        duration_s=float(d["duration_s"]),
        signal=d["signal"],
        output_truncated=bool(d["output_truncated"]),
        compile_error=bool(d["compile_error"]),
        cpu_s=float(d["cpu_s"]),
        max_rss_kb=int(d["max_rss_kb"]),
    )


class Worker:
    """One supervisor, one job at a time. Not thread-safe: a pool hands it to one user at a time."""

    def __init__(
        self, transport: Transport, *, name: str, on_close: Callable[[], None] | None = None
    ) -> None:
        self.transport = transport
        self.name = name
        self.info: dict[str, Any] = {}
        self.dead: str | None = None
        """Why this worker can no longer be used (None while healthy)."""
        self._on_close = on_close
        self._frames: deque[tuple[str, bytes]] = deque()
        self._cond = threading.Condition()
        self._eof = False
        self._buf = bytearray()
        self._reader = threading.Thread(target=self._read_loop, name=f"assay-{name}-reader", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        """Usable: not dead and its stream still open."""
        return self.dead is None and not self._eof

    # -- the stream ------------------------------------------------------------------------

    def _read_loop(self) -> None:
        try:
            while True:
                data = self.transport.read()
                if not data:
                    break
                self._buf += data
                frames = []
                while len(self._buf) >= HEADER.size:
                    n, kind = HEADER.unpack_from(self._buf)
                    if len(self._buf) < HEADER.size + n:
                        break
                    frames.append((chr(kind), bytes(self._buf[HEADER.size : HEADER.size + n])))
                    del self._buf[: HEADER.size + n]
                if frames:
                    with self._cond:
                        self._frames.extend(frames)
                        self._cond.notify_all()
        except Exception:  # noqa: BLE001 - any transport failure is an end of stream
            pass
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _send(self, kind: str, payload: bytes = b"") -> None:
        if self.dead is not None:
            raise SandboxError(f"{self.name}: {self.dead}")
        try:
            self.transport.write(HEADER.pack(len(payload), ord(kind)) + payload)
        except OSError as e:
            self._die(f"cannot write to the sandbox: {e}")
            raise SandboxError(f"{self.name}: {self.dead}") from e

    def _die(self, why: str) -> None:
        if self.dead is None:
            self.dead = why

    def next_frame(self, deadline: float) -> tuple[str, bytes]:
        """The next frame from the supervisor; `TimeoutError` at ``deadline`` (monotonic)."""
        with self._cond:
            while not self._frames:
                if self._eof:
                    self._die(f"the sandbox went away ({self.transport.describe_eof()})")
                    raise SandboxError(f"{self.name}: {self.dead}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self._cond.wait(left)
            kind, payload = self._frames.popleft()
        if kind == "X":
            self._die("supervisor error: " + payload.decode("utf-8", "replace"))
            raise SandboxError(f"{self.name}: {self.dead}")
        return kind, payload

    # -- life cycle ------------------------------------------------------------------------

    def boot(self, source: bytes, config: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """Ship the supervisor and its config; wait until it says it is ready."""
        self.transport.write(FRAME.pack(len(source)) + source)
        self._send("C", json.dumps(dict(config)).encode())
        try:
            kind, payload = self.next_frame(time.monotonic() + timeout_s)
        except TimeoutError:
            self._die(f"the supervisor did not start within {timeout_s:g} s")
            raise SandboxError(f"{self.name}: {self.dead}") from None
        if kind != "R":
            self._die(f"unexpected first frame {kind!r}")
            raise SandboxError(f"{self.name}: {self.dead}")
        self.info = json.loads(payload)
        return self.info

    def close(self) -> None:
        if self.dead is None:
            with contextlib.suppress(SandboxError):
                self._send("Q")
            self._die("closed")
        try:
            self.transport.close()
        finally:
            if self._on_close is not None:
                self._on_close()

    # -- jobs ------------------------------------------------------------------------------

    def start(self, spec: Mapping[str, Any]) -> None:
        spec = dict(spec)
        fast_python = spec["language"]["name"] == "python" and not spec["language"]["run"]
        if fast_python and self.info.get("magic") == _HOST_MAGIC:
            bytecode = _bytecode(spec)
            if bytecode is not None:
                spec.update(bytecode=bytecode, magic=_HOST_MAGIC)
        self._send("S", json.dumps(spec).encode())

    def wait_result(self, deadline: float, on_output: Callable[[bytes], None] | None = None) -> ExecResult:
        """Frames until the job's result; channel bytes go to ``on_output`` (or are dropped)."""
        while True:
            try:
                kind, payload = self.next_frame(deadline)
            except TimeoutError:
                self._die("the supervisor stopped answering (a job outlived its wall limit by far)")
                raise SandboxError(f"{self.name}: {self.dead}") from None
            if kind == "D":
                return self._done(payload)
            if kind == "O" and on_output is not None:
                on_output(payload)

    def _done(self, payload: bytes) -> ExecResult:
        if b'"retire": true' in payload:
            self._die("the job killed or stopped the sandbox's forker: this worker was retired")
        return _result(payload)

    def execute(self, spec: Mapping[str, Any]) -> ExecResult:
        """Run one job to completion."""
        self.start(spec)
        return self.wait_result(time.monotonic() + float(spec["limits"]["wall_s"]) + GRACE_S)


class WorkerSession(Session):
    """A running job with a message channel; releases its worker when it ends."""

    def __init__(self, worker: Worker, spec: Mapping[str, Any], release: Callable[[Worker], None]) -> None:
        self.worker = worker
        self._release = release
        self._wall = float(spec["limits"]["wall_s"])
        self._buf = bytearray()
        self._result: ExecResult | None = None
        self._closed_input = False
        self._released = False
        try:
            worker.start(spec)
        except BaseException:
            self._finish_release()
            raise
        self._deadline = time.monotonic() + self._wall + GRACE_S

    def _pop(self) -> bytes | None:
        if len(self._buf) < FRAME.size:
            return None
        (n,) = FRAME.unpack_from(self._buf)
        if len(self._buf) < FRAME.size + n:
            return None
        message = bytes(self._buf[FRAME.size : FRAME.size + n])
        del self._buf[: FRAME.size + n]
        return message

    def send(self, message: bytes) -> None:
        if self._result is not None:
            return
        self.worker._send("I", FRAME.pack(len(message)) + message)

    def recv(self, timeout_s: float) -> bytes | None:
        deadline = min(time.monotonic() + timeout_s, self._deadline)
        while True:
            message = self._pop()
            if message is not None:
                return message
            if self._result is not None:
                return None
            try:
                kind, payload = self.worker.next_frame(deadline)
            except TimeoutError:
                if time.monotonic() >= self._deadline:
                    self.worker._die("the supervisor stopped answering")
                    self._finish_release()
                    raise SandboxError(f"{self.worker.name}: {self.worker.dead}") from None
                raise
            except SandboxError:
                self._finish_release()
                raise
            if kind == "O":
                self._buf += payload
            elif kind == "D":
                self._result = self.worker._done(payload)

    def kill(self) -> None:
        if self._result is None and self.worker.dead is None:
            self.worker._send("K")

    def result(self, timeout_s: float | None = None) -> ExecResult:
        if self._result is None:
            if not self._closed_input:
                self._closed_input = True
                self.worker._send("E")
            deadline = self._deadline if timeout_s is None else time.monotonic() + timeout_s
            try:
                self._result = self.worker.wait_result(deadline, self._buf.extend)
            except SandboxError:
                self._finish_release()
                raise
        self._finish_release()
        return self._result

    def _finish_release(self) -> None:
        if not self._released:
            self._released = True
            self._release(self.worker)

    def __enter__(self) -> WorkerSession:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._result is None and self.worker.dead is None:
            try:
                self.kill()
                self.result()
            except SandboxError:
                pass
        self._finish_release()
