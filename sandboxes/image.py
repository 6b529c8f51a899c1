"""The sandbox image: built offline from Debian packages, never pulled from a registry.

`build_image` debootstraps a minimal Debian (``--variant=minbase``) with ``python3``, trims
documentation and package caches, and ``docker import``s the tree under a versioned tag
(`DEFAULT_IMAGE`; bump `RECIPE_VERSION` when the recipe changes). Three caches make rebuilds
quick: an image already in the daemon is kept; the root filesystem tarball is kept under
``~/.cache/assay/sandbox`` (a new daemon only needs an import, ~3 s); the downloaded ``.deb``
files are kept there too (a rebuild needs no download). `doctor` says what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.sandboxes.errors import SandboxUnavailable

__all__ = [
    "DEFAULT_IMAGE",
    "RECIPE_VERSION",
    "Check",
    "build_image",
    "cache_dir",
    "doctor",
]

SUITE = "bookworm"
PACKAGES: tuple[str, ...] = ("python3",)
"""``python3-minimal`` lacks json, ctypes, decimal, fractions, statistics: programs need them."""
RECIPE_VERSION = 1
DEFAULT_IMAGE = f"assay-sandbox:{SUITE}-py3-v{RECIPE_VERSION}"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/cache/debconf",
    "var/log",
)


def cache_dir() -> Path:
    """Where rootfs tarballs and .deb files are kept (``$ASSAY_CACHE/sandbox``, default ~/.cache)."""
    base = os.environ.get("ASSAY_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "assay"
    )
    return Path(base) / "sandbox"


def _tarball(tag: str) -> Path:
    return cache_dir() / (tag.replace("/", "_").replace(":", "_") + ".tar")


def _import(client: Any, tarball: Path, tag: str) -> None:
    repository, _, version = tag.rpartition(":")
    client.api.import_image_from_file(
        str(tarball),
        repository=repository,
        tag=version,
        changes=[
            "ENV PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8",
            f"LABEL assay.sandbox.recipe={RECIPE_VERSION}",
            'CMD ["python3"]',
        ],
    )


def _debootstrap(root: Path, *, mirror: str, packages: Sequence[str], log: Callable[[str], None]) -> None:
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise SandboxUnavailable("debootstrap is not installed: apt-get install -y debootstrap")
    if os.geteuid() != 0:
        raise SandboxUnavailable("building the sandbox image runs debootstrap, which needs root")
    debs = cache_dir() / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    cmd = [
        debootstrap,
        "--variant=minbase",
        f"--include={','.join(packages)}",
        f"--cache-dir={debs}",
        SUITE,
        str(root),
        mirror,
    ]
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise SandboxUnavailable(f"debootstrap failed (exit {proc.returncode}):\n{tail}")
    for rel in ("proc", "sys"):  # in case debootstrap left them mounted
        if os.path.ismount(root / rel):
            subprocess.run(["umount", "-R", str(root / rel)], capture_output=True, check=False)
    for rel in TRIM:
        shutil.rmtree(root / rel, ignore_errors=True)


def build_image(
    tag: str = DEFAULT_IMAGE,
    *,
    force: bool = False,
    mirror: str = DEFAULT_MIRROR,
    packages: Sequence[str] = PACKAGES,
    log: Callable[[str], None] = lambda _: None,
) -> str:
    """Make sure image ``tag`` exists in the Docker daemon; build it if needed. Returns how.

    Returns ``"present"`` (already in the daemon), ``"imported"`` (from the cached rootfs
    tarball) or ``"built"`` (debootstrap). ``force`` rebuilds from the packages.
    """
    from assay.sandboxes.daemon import docker_client

    client = docker_client(timeout_s=600.0)
    try:
        if not force:
            try:
                client.images.get(tag)
                log(f"{tag} is already in the daemon")
                return "present"
            except Exception:  # noqa: BLE001 - ImageNotFound or a daemon error: reported, not raised
                pass
        tarball = _tarball(tag)
        if tarball.exists() and not force:
            log(f"importing cached root filesystem {tarball}")
            _import(client, tarball, tag)
            return "imported"
        cache_dir().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="assay-rootfs-") as tmp:
            root = Path(tmp) / "root"
            _debootstrap(root, mirror=mirror, packages=packages, log=log)
            partial = tarball.with_suffix(".partial")
            log(f"packing {tarball}")
            subprocess.run(
                [
                    "tar",
                    "--numeric-owner",
                    "--exclude=./proc/*",
                    "--exclude=./sys/*",
                    "--exclude=./dev/*",
                    "-C",
                    str(root),
                    "-cf",
                    str(partial),
                    ".",
                ],
                check=True,
                capture_output=True,
            )
            partial.replace(tarball)
        log(f"importing {tarball} as {tag}")
        _import(client, tarball, tag)
        return "built"
    finally:
        client.close()


@dataclass(frozen=True, slots=True)
class Check:
    """One line of `doctor`'s report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def doctor(image: str = DEFAULT_IMAGE) -> list[Check]:
    """What the sandboxes need, what is there, and how to fix what is not."""
    checks: list[Check] = []
    try:
        import docker  # noqa: F401

        checks.append(Check("docker SDK", True, "installed"))
        sdk = True
    except ImportError:
        checks.append(Check("docker SDK", False, "not installed", 'pip install "assay[docker]"'))
        sdk = False
    daemon = False
    if sdk:
        from assay.sandboxes.daemon import docker_client

        try:
            client = docker_client(timeout_s=5.0)
            version = client.version().get("Version", "?")
            checks.append(Check("Docker daemon", True, f"answers (engine {version})"))
            daemon = True
        except SandboxUnavailable as e:
            checks.append(
                Check(
                    "Docker daemon",
                    False,
                    str(e).split(". Start")[0],
                    "apt-get install -y docker.io && dockerd --bridge=none --iptables=false &",
                )
            )
        if daemon:
            try:
                img = client.images.get(image)
                size = img.attrs.get("Size", 0) / 1e6
                checks.append(Check("sandbox image", True, f"{image} ({size:.0f} MB)"))
            except Exception:  # noqa: BLE001 - ImageNotFound or a daemon error: reported, not raised
                cached = _tarball(image)
                how = (
                    "imports the cached rootfs (seconds)" if cached.exists() else "debootstraps it (~1-2 min)"
                )
                checks.append(
                    Check("sandbox image", False, f"{image} missing", f"assay sandbox build  ({how})")
                )
            client.close()
    checks.append(
        Check(
            "debootstrap",
            shutil.which("debootstrap") is not None,
            "needed only to build the image",
            "apt-get install -y debootstrap",
        )
    )
    try:
        from assay.sandboxes.local import LocalSandbox

        with LocalSandbox(workers=1) as local:
            level = local.isolation
            result = local.run("print('ok')")
        good = result.stdout.strip() == "ok"
        detail = f"isolation={level!r}" + ("" if good else f", smoke test failed: {result}")
        fix = "" if level == "namespaces" else "run as root (or allow user namespaces) for stronger isolation"
        checks.append(Check("local sandbox", good, detail, fix))
    except Exception as e:  # noqa: BLE001 - ImageNotFound or a daemon error: reported, not raised
        checks.append(Check("local sandbox", False, f"{type(e).__name__}: {e}"))
    return checks
