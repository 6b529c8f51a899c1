"""A memory cgroup per local worker: a bound that counts kernel memory too.

``RLIMIT_AS`` bounds a process's address space, not what the kernel holds for it: socket buffers
and pipe pages are outside it (7,000 socket pairs held 1.5 GiB under a 256 MiB limit). A memory
cgroup charges those to the worker, so its whole process tree (supervisor, jobs and anything they
start) stays under one bound and the kernel OOM-kills inside it instead of draining the host.

Uses cgroup v2 (``memory.max``) where the process's own cgroup can delegate the memory
controller, else the v1 memory hierarchy (``memory.limit_in_bytes``; kernel memory is charged
there too). Needs write access to the cgroup file system: in practice root. Where neither is
available `MemoryCgroup.create` returns None and the caller says so (`LocalSandbox.kernel_memory_bound`).
"""

from __future__ import annotations

import contextlib
import os
import time

__all__ = ["MemoryCgroup", "remove_stale_cgroups"]

_ROOT = "/sys/fs/cgroup"
PREFIX = "assay-"
"""Cgroups made here are named ``assay-<host pid>-<n>``."""


def _own_path(controller: str) -> str:
    """This process's cgroup path in ``controller``'s hierarchy ("" for v2's unified one)."""
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path
    return "/"


def _parents() -> list[tuple[str, str]]:
    """Candidate parent directories with the file that sets a memory limit, v2 first."""
    out = []
    v2 = os.path.join(_ROOT, _own_path("").lstrip("/"))
    if os.path.exists(os.path.join(_ROOT, "cgroup.controllers")):
        out.append((v2, "memory.max"))
    v1 = os.path.join(_ROOT, "memory")
    own = os.path.join(v1, _own_path("memory").lstrip("/"))
    out.append((own if os.path.isdir(own) else v1, "memory.limit_in_bytes"))
    return out


class MemoryCgroup:
    """One cgroup with a memory limit; processes added to it (and their children) are bound by it."""

    def __init__(self, path: str, limit_file: str) -> None:
        self.path = path
        self.limit_file = limit_file
        self.version = 2 if limit_file == "memory.max" else 1

    @classmethod
    def create(cls, name: str, limit_bytes: int) -> MemoryCgroup | None:
        """A new cgroup ``name`` limited to ``limit_bytes``, or None where this machine has none to give."""
        for parent, limit_file in _parents():
            path = os.path.join(parent, name)
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                pass
            except OSError:
                continue
            try:
                if limit_file == "memory.max" and not os.path.exists(os.path.join(path, limit_file)):
                    with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                        f.write("+memory")
                with open(os.path.join(path, limit_file), "w") as f:
                    f.write(str(int(limit_bytes)))
                if limit_file == "memory.max" and os.path.exists(os.path.join(path, "memory.swap.max")):
                    with open(os.path.join(path, "memory.swap.max"), "w") as f:
                        f.write("0")
            except OSError:
                with contextlib.suppress(OSError):
                    os.rmdir(path)
                continue
            return cls(path, limit_file)
        return None

    def add(self, pid: int) -> None:
        """Move process ``pid`` into this cgroup (its later children are born in it)."""
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(pid))

    @property
    def oom_file(self) -> str:
        """The file whose ``oom_kill N`` line counts OOM kills in this cgroup."""
        return os.path.join(self.path, "memory.events" if self.version == 2 else "memory.oom_control")

    def remove(self, timeout_s: float = 5.0) -> None:
        """Kill whatever still runs in the cgroup, then remove it."""
        deadline = time.monotonic() + timeout_s
        with contextlib.suppress(OSError), open(os.path.join(self.path, "cgroup.procs")) as f:
            for pid in f.read().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), 9)
        while True:
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)


def remove_stale_cgroups() -> None:
    """Remove empty ``assay-<pid>-*`` cgroups whose process is gone (a crash skipped their removal)."""
    for parent, _ in _parents():
        with contextlib.suppress(OSError):
            for name in os.listdir(parent):
                parts = name.split("-")
                if name.startswith(PREFIX) and len(parts) == 3 and parts[1].isdigit():
                    try:
                        os.kill(int(parts[1]), 0)
                    except ProcessLookupError:
                        with contextlib.suppress(OSError):
                            os.rmdir(os.path.join(parent, name))
                    except PermissionError:
                        pass
