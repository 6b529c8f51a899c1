"""The local launcher: puts the supervisor into fresh Linux namespaces and a minimal root.

Like `_supervisor`, this file's *source* is shipped to a fresh ``python -I -S`` (appended to the
supervisor's source); it uses the standard library only. `local_main` reads the config frame,
then, by ``cfg["isolation"]``:

- ``"namespaces"`` (root): ``unshare`` mount, network, IPC, UTS and PID namespaces, fork; the
  child is PID 1 of the new PID namespace, builds a minimal read-only root (the host's ``/usr``
  and the Python prefix, read-only; fresh ``/proc``, ``/dev``, ``/etc``; size-capped tmpfs for
  ``/tmp``, ``/work``, ``/dev/shm``), ``pivot_root``s into it, brings ``lo`` up, and runs the
  supervisor. Jobs run as a per-slot unprivileged uid.
- ``"userns"`` (unprivileged, where the kernel allows user namespaces): the same inside a new
  user namespace; jobs run as the namespace's uid 0 with every capability dropped.
- ``"none"``: the supervisor runs as a plain child process (rlimits, private work dir,
  scrubbed environment, subreaper kill only).
"""

import contextlib
import ctypes
import fcntl
import os
import platform
import signal
import socket
import struct
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # at run time both files share one namespace
    from assay.sandboxes.inside.supervisor import _libc, read_config, run_supervisor

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}
LAUNCH_HEADER = struct.Struct(">IB")


def _c() -> Any:
    return _libc()


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(
        _c().mount(
            src.encode() if src else None,
            dst.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {src} on {dst}",
    )


def _locked_flags(path: str) -> int:
    """Flags of the mount holding ``path`` that a bind remount must keep (user namespaces)."""
    f = os.statvfs(path).f_flag
    out = 0
    for st, ms in ((2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC), (1024, MS_NOATIME), (2048, MS_NODIRATIME)):
        if f & st:
            out |= ms
    if f & 4096:
        out |= MS_RELATIME
    return out


def _bind(src: str, dst: str, *, readonly: bool = True) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "a"):
            pass
    _mount(src, dst, None, MS_BIND | MS_REC)
    if readonly:
        _mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(src))


def _fail(message: str) -> None:
    payload = message.encode()
    os.write(1, LAUNCH_HEADER.pack(len(payload), ord("X")) + payload)
    os._exit(3)


def _loopback_up() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, ifreq)[:18])[1]  # SIOCGIFFLAGS
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14s", b"lo", flags | 1, b""))  # SIOCSIFFLAGS, IFF_UP
    finally:
        s.close()


def _build_root(cfg: dict[str, Any]) -> None:
    """Mount a minimal root at cfg['root_dir'] and pivot into it."""
    new = cfg["root_dir"]
    sizes = cfg["tmpfs"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", new, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for path in cfg["binds"]:
        if not os.path.lexists(path):
            continue
        target = new + path
        if os.path.islink(path) and os.path.dirname(path) == "/":
            os.symlink(os.readlink(path), target)
        else:
            _bind(path, target)
    os.makedirs(new + "/dev", exist_ok=True)
    _mount("tmpfs", new + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for dev in ("null", "zero", "full", "random", "urandom"):
        _bind("/dev/" + dev, f"{new}/dev/{dev}", readonly=False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
    ):
        os.symlink(target, f"{new}/dev/{name}")
    os.symlink("/proc/self/fd/2", f"{new}/dev/stderr")
    os.mkdir(new + "/dev/mqueue")  # this IPC namespace's POSIX message queues, wiped after each job
    _mount("mqueue", new + "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.mkdir(new + "/dev/shm")
    _mount("tmpfs", new + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={sizes['shm']},mode=1777")
    os.mkdir(new + "/proc")
    try:
        _mount("proc", new + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except OSError:
        if cfg["isolation"] == "namespaces":
            raise
    for d, size, mode in (("/tmp", sizes["tmp"], "1777"), ("/work", sizes["work"], "755")):
        os.mkdir(new + d)
        _mount("tmpfs", new + d, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode={mode},nr_inodes=16k")
    os.makedirs(new + "/etc", exist_ok=True)
    uid, gid = cfg.get("uid"), cfg.get("gid")
    uid = 0 if uid is None else uid
    gid = 0 if gid is None else gid
    with open(new + "/etc/passwd", "w") as f:
        f.write(f"root:x:0:0:root:/root:/bin/sh\nsandbox:x:{uid}:{gid}:sandbox:/work:/bin/sh\n")
    with open(new + "/etc/group", "w") as f:
        f.write(f"root:x:0:\nsandbox:x:{gid}:\n")
    with open(new + "/etc/hosts", "w") as f:
        f.write("127.0.0.1 localhost\n::1 localhost\n")
    for path in ("/etc/ld.so.cache", "/etc/alternatives"):
        if os.path.exists(path):
            _bind(path, new + path)
    os.chdir(new)
    os.mkdir(".old")
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None or _c().syscall(number, b".", b".old") != 0:
        raise OSError(ctypes.get_errno(), "pivot_root failed")
    os.chdir("/")
    _check(_c().umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _mount(None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)


def local_main() -> None:
    """Set up the isolation named in the config, then run the supervisor."""
    cfg = read_config()
    iso = cfg["isolation"]
    if cfg.get("oom_file"):  # the worker's memory cgroup, opened while the host's /sys is visible
        with contextlib.suppress(OSError):
            cfg["oom_fd"] = os.open(cfg["oom_file"], os.O_RDONLY)
    if iso in ("namespaces", "userns"):
        flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID
        outer_uid, outer_gid = os.getuid(), os.getgid()
        if iso == "userns":
            flags |= CLONE_NEWUSER
        try:
            _check(_c().unshare(flags), "unshare")
            if iso == "userns":
                with open("/proc/self/setgroups", "w") as f:
                    f.write("deny")
                with open("/proc/self/uid_map", "w") as f:
                    f.write(f"0 {outer_uid} 1")
                with open("/proc/self/gid_map", "w") as f:
                    f.write(f"0 {outer_gid} 1")
        except OSError as e:
            _fail(f"cannot create namespaces ({iso}): {e}")
        pid = os.fork()
        if pid != 0:  # the launcher: wait for the sandbox's PID 1, then go
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            _, status = os.waitpid(pid, 0)
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
        try:
            _c().prctl(1, signal.SIGKILL, 0, 0, 0)
            _build_root(cfg)
            _c().sethostname(b"sandbox", 7)
            _loopback_up()
        except OSError as e:
            _fail(f"cannot set up the sandbox's root ({iso}): {e}")
        cfg["sys_path"] = [p for p in sys.path if p]
    run_supervisor(cfg)
