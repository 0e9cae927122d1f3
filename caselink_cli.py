"""The `caselink` command: one subcommand per job, each owned by its package."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from bloom import CaselinkError
from bloom.cli import register as register_bloom

app = typer.Typer(
    name="caselink",
    help="Link records across agencies without sharing names.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
register_bloom(app)


@app.command("demo")
def demo() -> None:
    """The main job end to end on embedded data (FEBRL4 as two agencies)."""
    from evaluation import run_demo

    run_demo()


def main() -> None:
    try:
        app(standalone_mode=False)
    except CaselinkError as e:
        Console(stderr=True, soft_wrap=True).print(
            f"[red]error:[/red] {escape(str(e))}", highlight=False
        )
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(1)
        raise
