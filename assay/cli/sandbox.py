"""``assay sandbox``: build the Docker sandbox image offline, check what the sandboxes need."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from assay.cli.errors import CliError
from assay.sandboxes.image import DEFAULT_IMAGE, DEFAULT_MIRROR

__all__ = ["app"]

app = typer.Typer(
    help="Build and check the code-execution sandboxes.", no_args_is_help=True, add_completion=False
)


@app.command("build")
def build(
    tag: str = typer.Option(DEFAULT_IMAGE, "--tag", help="Image name:tag to build."),
    force: bool = typer.Option(False, "--force", help="Rebuild from the Debian packages even if cached."),
    mirror: str = typer.Option(DEFAULT_MIRROR, "--mirror", help="Debian mirror for debootstrap."),
    repo_tasks: bool = typer.Option(
        False,
        "--repo-tasks",
        help="Also build the RepoRepair bundle: pinned sdists, pytest, and the assay-repo image.",
    ),
) -> None:
    """Debootstrap a minimal Debian with python3 and `docker import` it (nothing is pulled)."""
    from assay.sandboxes.errors import SandboxUnavailable
    from assay.sandboxes.image import build_image

    try:
        how = build_image(tag, force=force, mirror=mirror, log=typer.echo)
    except SandboxUnavailable as e:
        raise CliError(str(e)) from e
    typer.echo(f"{tag}: {how}")
    if repo_tasks:
        from assay.envs.errors import EnvError
        from assay.envs.repo.bundle import build_bundle

        try:
            path = build_bundle(force_image=force, log=typer.echo)
        except (EnvError, SandboxUnavailable) as e:
            raise CliError(str(e)) from e
        typer.echo(f"RepoRepair bundle: {path}")


@app.command("repo-tasks")
def repo_tasks_cmd(
    out: str = typer.Option(..., "--out", help="JSONL file to write the validated tasks to."),
    seed: int = typer.Option(0, "--seed", help="Chooses mutations, test samples and issue wording."),
    sandbox: str = typer.Option("local", "--sandbox", help="local or docker."),
    package: list[str] | None = typer.Option(None, "--package", help="Only these packages (repeatable)."),  # noqa: B008 - typer reads it
    singles: int = typer.Option(64, "--singles", help="Single-mutation tasks to keep per package."),
    tries: int = typer.Option(110, "--tries", help="Candidate mutations to run per package."),
    combos: int = typer.Option(16, "--combos", help="Multi-mutation tasks to keep per package."),
    threads: int = typer.Option(4, "--threads", help="Packages validated at once."),
) -> None:
    """Validate mutations of the RepoRepair packages against their own tests; write the task set.

    Prints, per package, the mutations tried and kept. Needs `assay sandbox build --repo-tasks`.
    """
    from assay.envs.errors import EnvError
    from assay.envs.repo.bundle import IMAGE_SITE, REPO_IMAGE, site_dir
    from assay.envs.repo.taskset import build_tasks, save_tasks
    from assay.sandboxes.errors import SandboxUnavailable

    sb: Any
    try:
        if sandbox == "docker":
            from assay.sandboxes.docker import DockerSandbox

            sb = DockerSandbox(REPO_IMAGE, workers=1, workspaces=threads)
            site, python = IMAGE_SITE, "python3"
        elif sandbox == "local":
            from assay.sandboxes.local import LocalSandbox

            site = str(site_dir())
            sb = LocalSandbox(workers=1, workspaces=threads, extra_binds=[site])
            python = sb.python
        else:
            raise CliError(f"--sandbox must be local or docker, got {sandbox!r}")
        with sb:
            tasks, stats = build_tasks(
                sb,
                site=site,
                python=python,
                seed=seed,
                packages=package or None,
                singles=singles,
                tries=tries,
                combos=combos,
                threads=threads,
                log=typer.echo,
            )
    except (EnvError, SandboxUnavailable) as e:
        raise CliError(str(e)) from e
    save_tasks(tasks, out)
    table = Table(title=f"RepoRepair tasks (seed {seed})")
    for col in ("package", "baseline tests", "mutations tried", "kept", "multi tried", "multi kept"):
        table.add_column(col)
    for s in stats:
        table.add_row(
            s.package,
            str(s.baseline_tests),
            str(s.tried),
            str(s.kept),
            str(s.combos_tried),
            str(s.combos_kept),
        )
    Console().print(table)
    typer.echo(f"{len(tasks)} tasks written to {out}")


@app.command("doctor")
def doctor(image: str = typer.Option(DEFAULT_IMAGE, "--image", help="Image to look for.")) -> None:
    """Say what the sandboxes need, what is missing, and how to fix it (exit 1 if Docker is not ready)."""
    from assay.sandboxes.image import doctor as run_checks

    checks = run_checks(image)
    table = Table(title="assay sandboxes")
    for col in ("check", "ok", "detail", "fix"):
        table.add_column(col)
    for c in checks:
        table.add_row(c.name, "yes" if c.ok else "NO", c.detail, "" if c.ok else c.fix)
    Console().print(table)
    docker_ok = all(c.ok for c in checks if c.name in ("docker SDK", "Docker daemon", "sandbox image"))
    raise typer.Exit(0 if docker_ok else 1)


@app.command("reap")
def reap(
    everything: bool = typer.Option(False, "--all", help="Remove every assay sandbox container."),
) -> None:
    """Remove leftover sandbox containers (those whose owning process is gone)."""
    from assay.sandboxes.docker import reap_orphans

    typer.echo(f"removed {reap_orphans(everything=everything)} container(s)")
