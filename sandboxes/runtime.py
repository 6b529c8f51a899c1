"""Whether a sandbox can run a language at all (`runtime_problem`): a known-good program, run once.

A correct program fails the same way as a wrong one when its runtime cannot start: a binary
missing from the sandbox (the Docker image has Python only, so ``node`` and ``gcc`` exit 127
there), or one that cannot start under the limits (V8 reserves more address space than the
default ``memory_bytes`` of 512 MiB allows, so locally ``node`` dies before running a line). A
judge must call that "could not judge", never "wrong": `runtime_problem` runs a hello-world
program in the language under the same memory, process and output limits and says why it did
not print ``ok``.

What each sandbox supports: Python (the fast path) always; ``python-exec`` and ``sh`` in both;
``c``, ``cpp`` and ``javascript`` locally when the host has ``gcc``, ``g++`` and ``node``
(``javascript`` only with ``Limits(memory_bytes=None, processes=None)`` or a few GiB), and in
Docker only with an image that has them (the default image does not).

Guarantees: the probe runs once per (sandbox, language, limits) and a definite answer is cached
for the sandbox's lifetime; Python is never probed; a language without a known-good program
(none of `LANGUAGES` lacks one) is assumed to work. Non-guarantees: a probe that ran out of time
(a loaded machine) is not cached, and says so; the probe proves the runtime starts, not that
every library a program may want is there.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from types import MappingProxyType

from assay.sandboxes.base import Limits, Sandbox

__all__ = ["HELLO", "PROBE_S", "runtime_problem"]

HELLO: Mapping[str, str] = MappingProxyType(
    {
        "python-exec": "print('ok')\n",
        "c": '#include <stdio.h>\nint main(void) { puts("ok"); return 0; }\n',
        "cpp": '#include <iostream>\nint main() { std::cout << "ok" << std::endl; return 0; }\n',
        "javascript": "console.log('ok');\n",
        "sh": "echo ok\n",
    }
)
"""A program per language that prints ``ok`` and exits 0 wherever the runtime works."""
PROBE_S = 30.0
"""Wall and CPU seconds a probe may take (a compile on a busy machine is slow)."""

_CACHE: weakref.WeakKeyDictionary[Sandbox, dict[tuple[str, Limits], str | None]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def runtime_problem(sandbox: Sandbox, language: str, limits: Limits) -> str | None:
    """Why ``sandbox`` cannot run ``language`` under ``limits`` (times aside), or None if it can.

    Raises `SandboxError` when the sandbox itself fails, as running any program would.
    """
    hello = HELLO.get(language)
    if hello is None:
        return None
    key = (language, limits.with_(wall_s=PROBE_S, cpu_s=PROBE_S))
    with _LOCK:
        known = _known(sandbox)
        if key in known:
            return known[key]
    result = sandbox.run(hello, language=language, limits=key[1])
    if result.ok and result.stdout.strip() == "ok":
        problem = None
    elif result.timed_out:
        return f"a hello-world {language} program did not finish within {PROBE_S:g} s"
    else:
        if result.compile_error:
            what = "its compile step failed"
        elif result.oom:
            what = "it ran out of memory"
        elif result.exit_code is None:
            what = f"it was killed by signal {result.signal}"
        else:
            what = f"it exited with status {result.exit_code}"
        tail = result.stderr.strip().splitlines()[-1:] or [""]
        problem = (
            f"the {sandbox.name} sandbox cannot run {language} under these limits "
            f"(memory_bytes={limits.memory_bytes}, processes={limits.processes}): "
            f"a hello-world program failed, {what}" + (f" ({tail[0][:200]})" if tail[0] else "")
        )
    with _LOCK:
        _known(sandbox)[key] = problem
    return problem


def _known(sandbox: Sandbox) -> dict[tuple[str, Limits], str | None]:
    """The answers cached for ``sandbox`` (a throwaway dict for one that takes no weak reference)."""
    try:
        return _CACHE.setdefault(sandbox, {})
    except TypeError:
        return {}
