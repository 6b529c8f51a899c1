"""The ``assay`` command line (typer): the root app, ``assay list``, and the one place every
command group is registered (``eval``, ``model``, ``sandbox``, ``serve``, ``train``, ``verify``).

A mistake the user can fix prints one ``error: ...`` line to stderr and exits with the code
`assay.cli.errors.ExitCode` documents (also in ``assay --help``); ``--debug`` or
``ASSAY_DEBUG=1`` prints the traceback before that line. Any other exception is a bug and keeps
its traceback.
"""

from __future__ import annotations

import os
import traceback
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

import assay
from assay.cli import env as env_group
from assay.cli import eval as eval_group
from assay.cli import mcp as mcp_group
from assay.cli import model as model_group
from assay.cli import sandbox as sandbox_group
from assay.cli import serve as serve_group
from assay.cli import train as train_group
from assay.cli import verify as verify_group
from assay.cli.errors import EPILOG, explain

__all__ = ["app", "main"]


def _debug_from_env() -> bool:
    return os.environ.get("ASSAY_DEBUG", "") not in ("", "0")


def _fail(exc: Exception, debug: bool) -> NoReturn:
    """Exit with one ``error:`` line for a user's mistake; re-raise anything else."""
    explained = explain(exc)
    if explained is None:
        raise exc
    code, message = explained
    if debug:
        traceback.print_exception(exc)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(int(code))


class _Root(TyperGroup):
    """The root command: turns a user's mistake anywhere below it into one line and an exit code."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as e:  # noqa: BLE001 - a bad root option (--debug is not parsed yet); _fail re-raises the rest
            _fail(e, _debug_from_env())

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as e:  # noqa: BLE001 - _fail re-raises everything it does not explain
            _fail(e, bool(ctx.params.get("debug")) or _debug_from_env())


app = typer.Typer(
    name="assay",
    cls=_Root,
    help="Gymnasium text environments with verifiable rewards for RL on language models.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"assay {assay.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="On an error, print the traceback too (or set ASSAY_DEBUG=1)."
    ),
) -> None:
    """Gymnasium text environments with verifiable rewards for RL on language models."""


@app.command("list")
def list_cmd(
    namespace: str | None = typer.Option(
        None, help="Only this Gymnasium namespace (default: assay's envs and installed env packages')."
    ),
) -> None:
    """List the registered environments (installed env packages included), one line each."""
    table = Table(title=f"{namespace}/* environments" if namespace else "environments")
    table.add_column("id", style="bold")
    table.add_column("description")
    for env_id in assay.list_envs(namespace):
        table.add_row(env_id, assay.describe(env_id))
    Console().print(table)


app.add_typer(env_group.app, name="env")
app.add_typer(eval_group.app, name="eval")
app.add_typer(mcp_group.app, name="mcp")
app.add_typer(model_group.app, name="model")
app.add_typer(sandbox_group.app, name="sandbox")
app.add_typer(serve_group.app, name="serve")
app.add_typer(train_group.app, name="train")
app.add_typer(verify_group.app, name="verify")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
