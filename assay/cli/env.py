"""``assay env``: env packages. ``assay env init NAME`` scaffolds one (`assay.cli.scaffold`)."""

from __future__ import annotations

from pathlib import Path

import typer

from assay.cli.errors import UsageError

__all__ = ["app"]

app = typer.Typer(
    help="Env packages: scaffold one that pip installs into `assay list`.", no_args_is_help=True
)


@app.command("init")
def init_cmd(
    name: str = typer.Argument(..., help="Package name, e.g. my-envs (module my_envs)."),
    directory: str = typer.Option(".", "--dir", help="Where to create the package folder."),
) -> None:
    """Create NAME/: pyproject (assay.envs entry point), an env module, a contract test, a README."""
    from assay.cli.scaffold import scaffold_env_package

    try:
        written = scaffold_env_package(name, Path(directory))
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from None
    for path in written:
        typer.echo(str(path))
    typer.echo(f"next: pip install -e {written[0].parent} && assay list")
