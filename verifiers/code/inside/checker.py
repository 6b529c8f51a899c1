"""Test side of the call harness: run assert-style tests against a proxy of the candidate.

Runs in the *test runner*, a separate sandboxed process that never runs candidate code; the
source of ``values.py`` precedes this file. The test code (e.g. HumanEval's ``check``) arrives
over the channel, so it is never written where a candidate could read it. Each name in
``names`` is bound to a proxy: calling it sends the plain-data arguments out; the host relays
them to the candidate's process and relays back its plain-data result, which the proxy decodes
into built-in values. The expected values stay here; the candidate only ever sees arguments.

Messages in: ``{"setup": code, "cases": [code, ...], "names": [...]}``, then replies to calls:
``{"ok": true, "value": ...}``, ``{"ok": false, "error": {"type", "message"}}`` or
``{"gone": why}`` (the candidate died or timed out). A reply may carry ``"after": {"args": [...],
"kwargs": {...}}`` (only when the tests asked for ``"mutations": "visible"``): the arguments as
the call left them, written back into the test's own arguments (see `_write_back`). Messages out:
``{"call": name, "args": [...], "kwargs": {...}}``, ``{"case": i, "passed": bool, "error": str}``,
``{"harness_error": str}`` (the tests could not run: not the candidate's fault), ``{"done": true}``.
"""

import builtins
import json
import os
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time the source of values.py precedes this file
    from assay.verifiers.code.values import ValueRejected, decode, encode

_IN, _OUT = 3, 4


class CandidateGone(BaseException):
    """The candidate's process is gone (crashed, exited, timed out): no further call can pass."""


class HarnessError(BaseException):
    """The test code itself cannot be run across the boundary (e.g. it passes a function)."""


def _read(n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = os.read(_IN, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _recv() -> Any:
    head = _read(4)
    if head is None:
        raise CandidateGone("the host closed the channel")
    body = _read(int.from_bytes(head, "big"))
    if body is None:
        raise CandidateGone("the host closed the channel")
    return json.loads(body)


def _send(obj: Any) -> None:
    data = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(_OUT, data) :]


def _exception(error: Any) -> BaseException:
    """The candidate's exception, as a built-in exception class of the same name when one exists."""
    name = str(error.get("type", "Exception")) if isinstance(error, dict) else "Exception"
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    cls = getattr(builtins, name, None)
    if (
        isinstance(cls, type)
        and issubclass(cls, Exception)
        and cls.__module__ == "builtins"
        and not issubclass(cls, (StopIteration, StopAsyncIteration))
    ):
        try:
            return cls(message)
        except TypeError:
            pass
    return RuntimeError(f"the candidate raised {name}: {message}")


def _write_back(mine: Any, theirs: Any) -> None:
    """Make the test's argument ``mine`` equal ``theirs`` in place, where its type allows.

    Lists are updated item by item (so a nested list the test holds changes too), dicts and sets
    are cleared and refilled; immutable values cannot have changed.
    """
    if type(mine) is list and type(theirs) is list:
        if len(mine) != len(theirs):
            mine[:] = theirs
            return
        for i, (a, b) in enumerate(zip(mine, theirs, strict=True)):
            if type(a) in (list, dict, set) and type(a) is type(b):
                _write_back(a, b)
            else:
                mine[i] = b
    elif type(mine) is type(theirs) and type(mine) in (dict, set):
        mine.clear()
        mine.update(theirs)


class Proxy:
    """Stands for the candidate's function ``name`` inside the tests."""

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            request = {
                "call": self.__name__,
                "args": [encode(a) for a in args],
                "kwargs": {str(k): encode(v) for k, v in kwargs.items()},
            }
        except ValueRejected as e:
            raise HarnessError(f"the test passes a value that cannot cross the boundary: {e}") from None
        _send(request)
        reply = _recv()
        if "gone" in reply:
            raise CandidateGone(str(reply["gone"]))
        after = reply.get("after")
        if isinstance(after, dict):
            for mine, theirs in zip(args, decode(after.get("args", [])), strict=False):
                _write_back(mine, theirs)
            new_kwargs = decode(after.get("kwargs", {}))
            for k, v in kwargs.items():
                if k in new_kwargs:
                    _write_back(v, new_kwargs[k])
        if reply.get("ok") is True:
            return decode(reply.get("value"))
        raise _exception(reply.get("error"))

    def __repr__(self) -> str:
        return f"<candidate {self.__name__}>"


def _where(e: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename.startswith("<test")]
    if not frames:
        return ""
    f = frames[-1]
    return f" at {f.filename} line {f.lineno}: {(f.line or '').strip()[:200]}"


def _main() -> None:
    job = _recv()
    ns: dict[str, Any] = {"__name__": "__tests__", "__builtins__": builtins}
    try:
        exec(compile(job["setup"], "<test setup>", "exec", dont_inherit=True), ns)
    except BaseException as e:  # noqa: BLE001 - broken test code is a harness error, reported as data
        _send({"harness_error": f"the test setup failed: {type(e).__name__}: {e}"})
        return
    for name in job["names"]:
        ns[name] = Proxy(name)
    for i, case in enumerate(job["cases"]):
        try:
            exec(compile(case, f"<test {i}>", "exec", dont_inherit=True), ns)
        except CandidateGone as e:
            _send({"case": i, "passed": False, "error": f"the program is gone: {e}", "gone": True})
            break
        except HarnessError as e:
            _send({"harness_error": str(e)})
            return
        except AssertionError as e:
            detail = f": {str(e)[:300]}" if str(e) else ""
            _send({"case": i, "passed": False, "error": f"assertion failed{_where(e)}{detail}"})
        except BaseException as e:  # noqa: BLE001 - any other failure fails this case
            _send({"case": i, "passed": False, "error": f"{type(e).__name__}: {str(e)[:300]}{_where(e)}"})
        else:
            _send({"case": i, "passed": True})
    _send({"done": True})


_main()
