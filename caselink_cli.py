"""The `caselink` command: one subcommand per job, each owned by its package."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from bloom import CaselinkError
from bloom.cli import register as register_bloom
from evaluation.cli import register as register_evaluation
from linkage.cli import register as register_linkage
from service.cli import register as register_service

app = typer.Typer(
    name="caselink",
    help="Link records across agencies without sharing names.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
register_bloom(app)
register_linkage(app)
register_evaluation(app)
register_service(app)


def main() -> None:
    """Entry point: usage errors exit 2 via typer; caselink's own errors print plainly, exit 2."""
    try:
        app()
    except CaselinkError as e:
        Console(stderr=True, soft_wrap=True).print(
            f"[red]error:[/red] {escape(str(e))}", highlight=False
        )
        sys.exit(2)


if __name__ == "__main__":  # python -m caselink_cli, as the service's child processes run it
    main()
