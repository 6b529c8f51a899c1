"""``assay sandbox``: build the Docker sandbox image offline, check what the sandboxes need."""

from __future__ import annotations

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
) -> None:
    """Debootstrap a minimal Debian with python3 and `docker import` it (nothing is pulled)."""
    from assay.sandboxes.errors import SandboxUnavailable
    from assay.sandboxes.image import build_image

    try:
        how = build_image(tag, force=force, mirror=mirror, log=typer.echo)
    except SandboxUnavailable as e:
        raise CliError(str(e)) from e
    typer.echo(f"{tag}: {how}")


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
