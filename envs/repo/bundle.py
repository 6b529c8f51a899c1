"""The RepoRepair bundle: pinned sdists, their unpacked sources, pytest, and a sandbox image.

`build_bundle` runs once per machine (``assay sandbox build --repo-tasks``); nothing is fetched
when an env runs. It downloads each `Package`'s sdist from PyPI (``pip download --no-binary
:all: --no-deps``, refused unless its SHA-256 matches the pin), unpacks it under
``$ASSAY_CACHE/repo/src/NAME-VERSION``, installs the pure-Python pytest wheels (`PYTEST_PINS`)
into ``$ASSAY_CACHE/repo/site``, and builds the Docker image `REPO_IMAGE` ``FROM`` the local
sandbox image with that site folder copied in (no pull). The local sandbox binds the same folder
read-only. Every step is skipped when its output is already there.

What the sandbox holds is pytest only: the packages' pristine sources stay on the host, so an
agent inside cannot read the code it is asked to repair from an installed copy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from assay.envs.errors import EnvError
from assay.envs.repo.packages import PACKAGES, PYTEST_PINS, Package
from assay.sandboxes.image import DEFAULT_IMAGE, cache_dir

__all__ = [
    "IMAGE_SITE",
    "REPO_IMAGE",
    "BundleMissing",
    "build_bundle",
    "build_image",
    "bundle_dir",
    "read_tree",
    "site_dir",
    "source_dir",
]

REPO_IMAGE = "assay-repo:v1"
"""The sandbox image with pytest; bump with `PYTEST_PINS` or the base image."""
IMAGE_SITE = "/opt/assay-repo/site"
"""Where pytest lives inside `REPO_IMAGE`."""


class BundleMissing(EnvError):
    """The RepoRepair bundle is not built on this machine (run ``assay sandbox build --repo-tasks``)."""


def bundle_dir() -> Path:
    """``$ASSAY_CACHE/repo`` (default ``~/.cache/assay/repo``)."""
    return cache_dir().parent / "repo"


def source_dir(pkg: Package) -> Path:
    """Where ``pkg``'s sdist is unpacked (raises `BundleMissing` when it is not)."""
    path = bundle_dir() / "src" / pkg.key
    if not (path / ".complete").exists():
        raise BundleMissing(f"{pkg.key} is not unpacked under {path}: run `assay sandbox build --repo-tasks`")
    return path


def site_dir() -> Path:
    """The folder holding pytest for the local sandbox (raises `BundleMissing` when absent)."""
    path = bundle_dir() / "site"
    if not (path / ".complete").exists():
        raise BundleMissing(f"pytest is not installed under {path}: run `assay sandbox build --repo-tasks`")
    return path


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".git"))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def read_tree(pkg: Package) -> dict[str, bytes]:
    """Every file of ``pkg``'s unpacked sdist, by path relative to its root (sorted)."""
    root = source_dir(pkg)
    out: dict[str, bytes] = {}
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        if rel != ".complete" and not rel.endswith((".pyc", ".pyo")):
            out[rel] = path.read_bytes()
    return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pip(*args: str, log: Callable[[str], None]) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise EnvError(f"pip failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-2000:]}")


def _fetch_sdist(pkg: Package, log: Callable[[str], None]) -> Path:
    sdists = bundle_dir() / "sdists"
    sdists.mkdir(parents=True, exist_ok=True)
    found = [p for p in sdists.glob("*.tar.gz") if _sha256(p) == pkg.sha256]
    if not found:
        with tempfile.TemporaryDirectory(prefix="assay-sdist-") as tmp:
            _pip(
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-d",
                tmp,
                f"{pkg.name}=={pkg.version}",
                log=log,
            )
            for path in Path(tmp).iterdir():
                if _sha256(path) != pkg.sha256:
                    raise EnvError(f"{path.name}: SHA-256 {_sha256(path)} is not the pinned {pkg.sha256}")
                found = [Path(shutil.move(str(path), sdists / path.name))]
    if not found:
        raise EnvError(f"pip download gave no sdist for {pkg.key}")
    return found[0]


def _unpack(pkg: Package, sdist: Path, log: Callable[[str], None]) -> None:
    dest = bundle_dir() / "src" / pkg.key
    if (dest / ".complete").exists():
        return
    shutil.rmtree(dest, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="assay-unpack-", dir=bundle_dir()) as tmp:
        with tarfile.open(sdist) as tar:
            tar.extractall(tmp, filter="data")
        roots = list(Path(tmp).iterdir())
        if len(roots) != 1:
            raise EnvError(f"{sdist.name} does not unpack into one folder")
        missing = [p for p in (*pkg.sources, *pkg.tests) if not (roots[0] / p).exists()]
        if missing:
            raise EnvError(f"{sdist.name} lacks {missing}")
        for egg in roots[0].glob("*.egg-info"):
            shutil.rmtree(egg)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(roots[0]), dest)
    (dest / ".complete").write_text(pkg.sha256)
    log(f"unpacked {sdist.name} into {dest}")


def _install_pytest(log: Callable[[str], None]) -> Path:
    site = bundle_dir() / "site"
    stamp = site / ".complete"
    if stamp.exists() and stamp.read_text() == " ".join(PYTEST_PINS):
        return site
    shutil.rmtree(site, ignore_errors=True)
    _pip("install", "--no-deps", "--only-binary", ":all:", "--target", str(site), *PYTEST_PINS, log=log)
    for bindir in (site / "bin",):
        shutil.rmtree(bindir, ignore_errors=True)
    stamp.write_text(" ".join(PYTEST_PINS))
    log(f"installed {', '.join(PYTEST_PINS)} into {site}")
    return site


def build_image(
    tag: str = REPO_IMAGE, *, force: bool = False, log: Callable[[str], None] = lambda _: None
) -> str:
    """Build ``tag`` ``FROM`` the local sandbox image with pytest copied in (no pull). Returns how."""
    from assay.sandboxes.daemon import docker_client

    site = _install_pytest(log)
    client = docker_client(timeout_s=600.0)
    try:
        if not force:
            try:
                client.images.get(tag)
                log(f"{tag} is already in the daemon")
                return "present"
            except Exception:  # noqa: BLE001 - ImageNotFound or a daemon error: we build
                pass
        with tempfile.TemporaryDirectory(prefix="assay-repo-image-") as ctx:
            shutil.copytree(site, Path(ctx) / "site", ignore=shutil.ignore_patterns(".complete"))
            (Path(ctx) / "Dockerfile").write_text(
                f"FROM {DEFAULT_IMAGE}\n"
                f"COPY site {IMAGE_SITE}\n"
                f"LABEL assay.repo.pytest={PYTEST_PINS[0].split('==')[1]}\n"
            )
            log(f"docker build -t {tag} (FROM {DEFAULT_IMAGE}, no pull)")
            client.images.build(path=ctx, tag=tag, pull=False, rm=True, forcerm=True)
        return "built"
    finally:
        client.close()


def build_bundle(
    *, image: bool = True, force_image: bool = False, log: Callable[[str], None] = lambda _: None
) -> Path:
    """Download, check and unpack every pinned sdist, install pytest, build the image. Cached."""
    bundle_dir().mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        _unpack(pkg, _fetch_sdist(pkg, log), log)
    _install_pytest(log)
    if image:
        log(f"{REPO_IMAGE}: {build_image(force=force_image, log=log)}")
    return bundle_dir()
