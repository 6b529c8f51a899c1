"""`DockerSandbox`: a warm pool of locked-down containers, each running a fork server.

Guarantees (per container, enforced by Docker/the kernel, not by the program's good will):
no network (``--network none``: only a loopback interface); read-only root filesystem; a
size-capped tmpfs ``/work`` and ``/tmp`` (``/dev/shm`` capped too); runs as ``65534:65534``,
never root; every capability dropped; ``no-new-privileges``; memory (no swap), pids and CPU
caps; private IPC namespace with SysV message queues and semaphore sets disabled and shared
memory removed with its last user; label ``assay.sandbox`` (and the owner's host and pid) so
`reap_orphans` can remove leftovers, and ``auto_remove`` so a container whose supervisor exits
disappears. The host talks to each container's supervisor over a unix socket in a directory
bind-mounted read-only at ``/run/assay``: the supervisor connects once at start-up, before any
job exists, and the host then closes the listener and deletes the socket file (a job finds the
directory empty); the daemon's attach stream is kept only to notice the daemon's death. Inside,
one execution runs at a time: each starts from a pristine pre-forked
process (see ``inside/supervisor.py``), gets rlimits (address space, CPU, file size), a fresh work dir and
an empty environment; when it ends every process it left is killed (``kill(-1)`` in the
container's PID namespace) and ``/work``, ``/tmp``, ``/dev/shm`` are wiped, so nothing carries
over. The supervisor and forker are non-dumpable (no ptrace, no ``/proc/<pid>/mem``) and PID 1
ignores signals from inside. No daemon or no image raises `SandboxUnavailable`: there is never a
silent fallback to `LocalSandbox`.

Non-guarantees: the kernel is shared with the host (Docker's default seccomp profile applies,
no gVisor); the pids cap and the memory cap are per container (set when the pool starts), while
the per-execution ``processes`` limit is not enforced separately; CPU time is shared between
containers by the CFS quota only; timing side channels are not closed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import uuid
from typing import Any

from assay.sandboxes.base import Limits
from assay.sandboxes.daemon import docker_client as _client
from assay.sandboxes.daemon import docker_sdk as _sdk
from assay.sandboxes.errors import SandboxError, SandboxUnavailable
from assay.sandboxes.image import DEFAULT_IMAGE
from assay.sandboxes.pooled import PooledSandbox, default_workers, pid_alive, remove_stale_dirs
from assay.sandboxes.worker import BOOT, PYTHON_FLAGS, SUPERVISOR_ENV, Worker, supervisor_source

__all__ = ["LABEL", "POOL_LABEL", "DockerSandbox", "docker_ready", "reap_orphans"]

LABEL = "assay.sandbox"
OWNER_LABEL = "assay.sandbox.owner"
POOL_LABEL = "assay.sandbox.pool"
SANDBOX_USER = "65534:65534"
MiB = 1 << 20


def docker_ready(image: str = DEFAULT_IMAGE) -> bool:
    """True when the docker SDK is installed, a daemon answers and ``image`` is present."""
    try:
        client = _client(timeout_s=3.0)
    except Exception:  # noqa: BLE001 - any daemon failure means the same here
        return False
    try:
        client.images.get(image)
        return True
    except Exception:  # noqa: BLE001 - any daemon failure means the same here
        return False
    finally:
        client.close()


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def reap_orphans(*, everything: bool = False) -> int:
    """Remove leftover sandbox containers: those whose owning process is gone (on this host),
    or every ``assay.sandbox`` container with ``everything=True``. Returns how many."""
    client = _client()
    removed = 0
    host = socket.gethostname()
    try:
        for c in client.containers.list(all=True, filters={"label": LABEL}, ignore_removed=True):
            owner = c.labels.get(OWNER_LABEL, "")
            owner_host, _, pid = owner.rpartition(":")
            alive = owner_host == host and pid.isdigit() and pid_alive(int(pid))
            if everything or not alive:
                try:
                    c.remove(force=True)
                    removed += 1
                except Exception:  # noqa: BLE001 - any daemon failure means the same here
                    pass
    finally:
        client.close()
    return removed


SOCKET_DIR = "/run/assay"
BOOT_DOCKER = (
    "import os, socket\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    f"s.connect('{SOCKET_DIR}/s')\n"
    "os.dup2(s.fileno(), 0)\n"
    "os.dup2(s.fileno(), 1)\n"
    "s.close()\n"
) + BOOT
"""Connect fds 0/1 to the host's one-shot socket, then boot as usual."""


class _SocketTransport:
    """A unix socket straight to the container's supervisor, bypassing the daemon.

    The host listens on a socket in a directory bind-mounted read-only into the container,
    accepts exactly one connection (the supervisor's, made before any job exists), then closes
    the listener and deletes the socket file, so no job can ever connect. The daemon's attach
    stream stays open only as a watch: when it ends (the daemon died, or the container), the
    data socket is shut down, so a run in flight ends with a clear error instead of hanging.
    """

    def __init__(self, container: Any, conn: socket.socket, attach: Any, sockdir: str) -> None:
        self.container = container
        self.conn = conn
        self.holder = attach  # keeps the HTTP response (and so the attach socket) alive
        self.attach: socket.socket = getattr(attach, "_sock", attach)
        self.sockdir = sockdir
        self._lock = threading.Lock()
        self.stderr = bytearray()
        self.lost: str | None = None
        self.error: str | None = None
        threading.Thread(target=self._watch, name="assay-docker-watch", daemon=True).start()

    def _watch(self) -> None:
        pending = bytearray()
        while True:
            try:
                data = self.attach.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            while len(pending) >= 8:
                size = int.from_bytes(pending[4:8], "big")
                if len(pending) < 8 + size:
                    break
                self.stderr += pending[8 : 8 + size]
                del self.stderr[:-4096]
                del pending[: 8 + size]
        self.lost = "the daemon's stream to the container ended"
        with contextlib.suppress(OSError):
            self.conn.shutdown(socket.SHUT_RDWR)

    def write(self, data: bytes) -> None:
        with self._lock:
            self.conn.sendall(data)

    def read(self) -> bytes:
        try:
            return self.conn.recv(1 << 16)
        except OSError as e:
            self.error = str(e)
            return b""

    def close(self) -> None:
        for sock in (self.conn, self.attach):
            with contextlib.suppress(OSError):
                sock.close()
        with contextlib.suppress(Exception):
            self.holder.close()  # the attach response: else its socket outlives the sandbox
        with contextlib.suppress(Exception):
            self.container.remove(force=True)
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def describe_eof(self) -> str:
        why = []
        if self.error:
            why.append(f"socket error: {self.error}")
        try:
            client = _client(timeout_s=2.0)
            client.close()
            why.append("the container's supervisor exited")
        except SandboxUnavailable:
            why.append("lost the connection to the Docker daemon: it is not answering (killed or restarted?)")
        if self.stderr:
            why.append("stderr: " + self.stderr[-1000:].decode("utf-8", "replace").strip())
        return "; ".join(why)


class DockerSandbox(PooledSandbox):
    """A pool of warm containers; each execution costs a fork inside one, not a `docker run`.

    See the module docstring for the guarantees and non-guarantees.

    Args:
        image: The sandbox image (build it with ``assay sandbox build``).
        workers: Containers in the pool = concurrent executions (default: CPUs, at least 2).
        limits: Default per-execution limits. ``memory_bytes`` also sizes each container's memory
            cap (plus room for the supervisor and the tmpfs); ``processes`` sizes its pids cap.
        cpus: CPU cap per container.
        tmpfs_size: Size of the container's ``/work`` and ``/tmp`` (each).
        warm: Start every container now rather than on first use.
        workspaces: Workspaces open at once (`PooledSandbox.workspace`): each holds a
            container of its own.

    Raises:
        SandboxUnavailable: No docker SDK, no daemon, or no image. Never falls back.
    """

    name = "docker"

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        *,
        workers: int | None = None,
        limits: Limits | None = None,
        cpus: float = 1.0,
        tmpfs_size: str = "64m",
        warm: bool = False,
        workspaces: int = 8,
    ) -> None:
        super().__init__(workers=workers or default_workers(), limits=limits, workspaces=workspaces)
        self.image = image
        self.pool_id = uuid.uuid4().hex[:12]
        """Label value (``assay.sandbox.pool``) of this pool's containers."""
        self.cpus = cpus
        self.tmpfs_size = tmpfs_size
        self._client_lock = threading.Lock()
        self._client = _client()
        try:
            self._client.images.get(image)
        except Exception as e:
            raise SandboxUnavailable(
                f"the sandbox image {image!r} is not available ({type(e).__name__}): "
                "build it with `assay sandbox build`"
            ) from e
        self._source = supervisor_source("main")
        remove_stale_dirs("assay-docker-")  # socket dirs of sandboxes whose process died
        if warm:
            self.warm()

    # -- containers ------------------------------------------------------------------------

    def _new_container(self, sockdir: str) -> Any:
        """Create (not start) one sandbox container through the low-level API."""
        docker = _sdk()
        api = self._client.api
        memory = (self.limits.memory_bytes or 512 * MiB) + 256 * MiB
        host_config = api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={
                "/work": f"size={self.tmpfs_size},mode=0755,uid=65534,gid=65534,exec,nr_inodes=16384",
                "/tmp": f"size={self.tmpfs_size},mode=1777,nr_inodes=16384",
            },
            shm_size=16 * MiB,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            mem_limit=memory,
            memswap_limit=memory,
            pids_limit=(self.limits.processes or 32) + 8,
            nano_cpus=int(self.cpus * 1e9),
            ipc_mode="private",
            sysctls={"kernel.msgmni": "0", "kernel.sem": "0 0 0 0", "kernel.shm_rmid_forced": "1"},
            ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
            auto_remove=True,
            binds={sockdir: {"bind": SOCKET_DIR, "mode": "ro"}},
        )
        created = api.create_container(
            self.image,
            command=["python3", *PYTHON_FLAGS, "-c", BOOT_DOCKER],
            stdin_open=True,  # not detached: StdinOnce, so the stdin closes when we disconnect
            detach=False,
            tty=False,
            user=SANDBOX_USER,
            working_dir="/work",
            hostname="sandbox",
            environment=dict(SUPERVISOR_ENV),
            labels={LABEL: "1", OWNER_LABEL: _owner(), POOL_LABEL: self.pool_id},
            host_config=host_config,
        )
        return self._client.containers.get(created["Id"])

    def _create(self, slot: int) -> Worker:
        docker = _sdk()
        sockdir = tempfile.mkdtemp(prefix=f"assay-docker-{os.getpid()}-")
        os.chmod(sockdir, 0o711)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(sockdir, "s")
        listener.bind(path)
        os.chmod(path, 0o666)
        listener.listen(1)
        listener.settimeout(60.0)
        container = None
        try:
            try:
                container = self._new_container(sockdir)
            except docker.errors.ImageNotFound as e:
                raise SandboxUnavailable(
                    f"the sandbox image {self.image!r} is gone: run `assay sandbox build`"
                ) from e
            except (docker.errors.DockerException, OSError) as e:  # the daemon may have restarted: reconnect
                with self._client_lock:
                    with contextlib.suppress(Exception):
                        self._client.close()
                    self._client = _client()
                try:
                    container = self._new_container(sockdir)
                except Exception as e2:  # noqa: BLE001 - any daemon failure means the same here
                    raise SandboxUnavailable(f"cannot create a sandbox container: {e2}") from e
            try:
                attach = self._client.api.attach_socket(
                    container.id, params={"stdout": 1, "stderr": 1, "stream": 1}
                )
                container.start()
                conn, _ = listener.accept()  # the supervisor, before any job can exist
            except Exception as e:
                raise SandboxUnavailable(f"cannot start a sandbox container: {e}") from e
        except BaseException:
            if container is not None:
                with contextlib.suppress(Exception):
                    container.remove(force=True)
            shutil.rmtree(sockdir, ignore_errors=True)
            raise
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # nobody else can ever connect
        conn.settimeout(None)
        transport = _SocketTransport(container, conn, attach, sockdir)
        worker = Worker(transport, name=f"docker-{slot}-{container.short_id}")
        cfg = {
            "workdir": "/work",
            "scratch": ["/work", "/tmp", "/dev/shm"],
            "pidns": True,
            "rlimit_nproc": False,
            "require_undumpable": True,
            "private_ipc": True,  # ipc_mode="private": the container's own IPC namespace
            "mqueue": "/dev/mqueue",
            "deny_keyrings": True,  # Docker's default seccomp profile denies them too
        }
        try:
            worker.boot(self._source, cfg, timeout_s=60.0)
        except SandboxError:
            worker.close()
            raise
        return worker

    def close(self) -> None:
        super().close()
        with contextlib.suppress(Exception):
            self._client.close()

    def __repr__(self) -> str:
        return f"DockerSandbox(image={self.image!r}, workers={self._pool.size})"
