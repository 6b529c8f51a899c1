"""Candidate side of the call harness: load the candidate's module and serve calls to it.

Runs *inside* the sandbox as the program, after the source of ``values.py`` (so ``encode``,
``decode`` and ``ValueRejected`` are defined). The candidate's code is ``solution.py`` in the work
dir, loaded as module ``solution`` (its ``if __name__ == "__main__"`` block does not run).

Nothing here is trusted: the candidate may rewrite any of it. What matters is what it *cannot*
do from this process: see expected values (they never enter it) or send anything but plain data
(the host decodes every reply as JSON into built-in values and decides outside).

Channel: fd 3 in, fd 4 out, each message a 4-byte big-endian length then JSON. Requests are
``{"id": n, "call": name, "args": [...], "kwargs": {...}}``; replies
``{"id": n, "ok": true, "value": ...}`` or ``{"id": n, "ok": false, "error": {"type", "message"}}``,
each with ``"after": {"args": [...], "kwargs": {...}}``, the arguments as the call left them
(omitted when they are no longer plain data).
The first message out is ``{"ready": true}``, or ``{"ready": false, "error": ...}`` when the
module failed to load.
"""

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time the source of values.py precedes this file
    from assay.verifiers.code.values import ValueRejected, decode, encode

_IN, _OUT = 3, 4


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
        return None
    body = _read(int.from_bytes(head, "big"))
    return None if body is None else json.loads(body)


def _send(obj: Any) -> None:
    data = json.dumps(obj, allow_nan=False, separators=(",", ":")).encode()
    data = len(data).to_bytes(4, "big") + data
    while data:
        data = data[os.write(_OUT, data) :]


def _describe(e: BaseException) -> dict[str, str]:
    name = type(e).__name__
    if isinstance(e, SystemExit):
        return {"type": "SystemExit", "message": f"exit({e.code!r}) while being tested"}
    return {"type": name, "message": str(e)[:2000]}


def _after(args: list[Any], kwargs: dict[str, Any]) -> Any:
    try:
        return {"args": [encode(a) for a in args], "kwargs": {k: encode(v) for k, v in kwargs.items()}}
    except BaseException:  # noqa: BLE001 - the call left something that is not plain data
        return None


def _serve() -> None:
    module: dict[str, Any] = {"__name__": "solution", "__file__": os.path.abspath("solution.py")}
    module["__builtins__"] = __builtins__
    try:
        with open("solution.py", "rb") as f:
            source = f.read()
        exec(compile(source, "solution.py", "exec", dont_inherit=True), module)
    except BaseException as e:  # noqa: BLE001 - the candidate failed to load: report it
        _send({"ready": False, "error": _describe(e)})
        return
    _send({"ready": True})
    while True:
        request = _recv()
        if request is None:
            return
        reply: dict[str, Any] = {"id": request.get("id")}
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        try:
            fn = module.get(request["call"])
            if not callable(fn):
                raise NameError(f"the program defines no function {request['call']!r}")
            args = [decode(a) for a in request.get("args", [])]
            kwargs = {str(k): decode(v) for k, v in request.get("kwargs", {}).items()}
            value = fn(*args, **kwargs)
            reply.update(ok=True, value=encode(value))
        except ValueRejected as e:
            reply.update(ok=False, error={"type": "ValueRejected", "message": str(e)})
        except BaseException as e:  # noqa: BLE001 - the candidate's exception is a result, reported as data
            reply.update(ok=False, error=_describe(e))
        after = _after(args, kwargs)
        if after is not None:
            reply["after"] = after
        try:
            _send(reply)
        except (TypeError, ValueError) as e:
            _send(
                {"id": request.get("id"), "ok": False, "error": {"type": "ValueRejected", "message": str(e)}}
            )
        sys.stdout.flush()


_serve()
