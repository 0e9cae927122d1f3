"""The `caselink` command: one subcommand per job, each owned by its package.

Each package's commands are imported only when one of them runs: ``caselink --help`` and
``caselink encode`` never load FastAPI, SQLAlchemy or Ray, and a command of the service (a
client of its HTTP API) not the encoder's numerics either (numba, pandas, pyarrow).
:data:`COMMANDS` names, for every top-level command, the module that registers it (its
``register(app)``) and the line ``caselink --help`` shows for it — the first line of the
command's own help, which a test holds them to.

Shell completion (``caselink --install-completion``, ``--show-completion``; the shell asks
through ``_CASELINK_COMPLETE``) walks the same lazy group: a command's package is imported
only once the words typed reach into it. The conventions every command keeps (``--json``,
``-`` for stdin and stdout, no type shown beside a flag) are :mod:`caselink_output`'s;
tests/test_cli_conventions.py holds every command to them, and docs/cli.md, the reference,
is written from the commands by docs/cli_reference.py.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from caselink_errors import CaselinkError
from caselink_output import hide_flag_types

hide_flag_types()  # typer shows `<bool>` beside every flag otherwise

# command -> (module whose register(app) adds it, the line `caselink --help` shows)
COMMANDS: dict[str, tuple[str, str]] = {
    "keygen": (
        "bloom.cli",
        "Make a new 32-byte shared secret. Share it only with the agencies of the agreement.",
    ),
    "encode": (
        "bloom.cli",
        "Encode a register into keyed Bloom filters, on this machine, in bounded memory.",
    ),
    "inspect": (
        "bloom.cli",
        "Show a batch's metadata and bit-density figures (nothing that identifies anyone).",
    ),
    "privacy": (
        "bloom.cli",
        "What an encoded batch lets whoever holds it learn (offline, no plaintext, no secret).",
    ),
    "link": (
        "linkage.cli",
        "Link batches into cases; every input record gets a case id and a confidence.",
    ),
    "demo": (
        "evaluation.cli",
        "The main job end to end: FEBRL4 linked offline, then three agencies via the service.",
    ),
    "evaluate": (
        "evaluation.cli",
        "Encode, link and score a labelled dataset; write a report with tables and plots.",
    ),
    "bench": (
        "evaluation.cli",
        "Speed benchmarks (encoder, kernels, blocking); figures go to a JSON file.",
    ),
    "serve": (
        "service.cli",
        "Run the matching service (uvicorn) until stopped (Ctrl-C or SIGTERM).",
    ),
    "upload": (
        "service.cli",
        "Upload encoded batches to an agreement; each is stored whole or refused whole.",
    ),
    "run": (
        "service.cli",
        "Linkage runs: start one and follow it, or see how the latest went.",
    ),
    "cases": (
        "service.cli",
        "Your records' case ids, confidence and the other agencies holding the same case.",
    ),
    "summary": (
        "service.cli",
        "An agreement's figures (evaluators, stewards): records, cases, confidence; no records.",
    ),
    "withdraw": (
        "service.cli",
        "Withdraw records from an agreement (one, or a file of refs) and print the receipts.",
    ),
    "query": (
        "service.cli",
        "Is this person known anywhere? Case ids, confidence and the agencies holding them.",
    ),
    "consent": (
        "service.cli",
        "Consent scopes of your agency's records: what they may be used for.",
    ),
    "review": (
        "service.cli",
        "Clerical review: your side of the uncertain links, your decisions, the labels.",
    ),
    "admin": ("service.cli", "Operate the service's database directly (no key needed)."),
    "agency": ("service.cli", "Agencies and keys (admins; stewards for their own agency)."),
    "keys": ("service.cli", "API keys: list, rotate, revoke (admins, stewards; a key itself)."),
    "agreement": (
        "service.cli",
        "Data-sharing agreements: create and amend (stewards), list and show (parties and "
        "auditors).",
    ),
    "audit": ("service.cli", "The audit chains: read, verify, keep signed checkpoints."),
}

_LOADED: dict[str, dict[str, Any]] = {}  # module -> the commands it registers, by name


def commands_of(module: str) -> dict[str, Any]:
    """The commands ``module``'s ``register(app)`` adds, by name (imported once, on first
    use; typer's own click objects)."""
    if module not in _LOADED:
        sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        sub.callback()(lambda: None)  # a group, however few commands the module adds
        importlib.import_module(module).register(sub)
        group = typer.main.get_command(sub)
        _LOADED[module] = dict(group.commands)  # type: ignore[attr-defined]
    return _LOADED[module]


def real_command(name: str) -> Any:
    """The command ``name`` itself, its package imported."""
    found = commands_of(COMMANDS[name][0]).get(name)
    if found is None:
        raise LookupError(f"{COMMANDS[name][0]} registers no command {name}")
    return found


class _Deferred(TyperCommand):
    """A command known by name and help line; its package is imported when it runs (or
    shows its own help), never to list it."""

    def __init__(self, name: str, help_line: str) -> None:
        super().__init__(name, help=help_line, short_help=help_line, add_help_option=False)

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        assert self.name is not None
        return real_command(self.name).make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """The top-level group: lists :data:`COMMANDS` without importing them."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        return _Deferred(cmd_name, COMMANDS[cmd_name][1])


app = typer.Typer(
    name="caselink",
    cls=LazyGroup,
    help="Link records across agencies without sharing names.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"caselink {version('caselink')}")
        except PackageNotFoundError:  # a source tree that is not installed
            typer.echo("caselink 0+unknown")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print caselink's version and exit.",
    ),
) -> None:
    """Link records across agencies without sharing names."""


# the extra that installs each optional dependency (pyproject.toml); the light install,
# `pip install caselink`, is the encoder alone
EXTRA_OF: dict[str, str] = {
    **dict.fromkeys(("sqlalchemy", "cryptography"), "link"),
    **dict.fromkeys(
        (
            "ray",
            "psycopg",
            "fastapi",
            "starlette",
            "uvicorn",
            "httpx",
            "alembic",
            "prometheus_client",
            "pydantic",
            "pydantic_settings",
        ),
        "service",
    ),
    **dict.fromkeys(("recordlinkage", "matplotlib", "scipy"), "evaluation"),
}


# the extra each command module needs whole (extras nest: evaluation > service > link)
COMMAND_EXTRA = {"linkage.cli": "link", "service.cli": "service", "evaluation.cli": "evaluation"}


def missing_extra(error: ModuleNotFoundError, argv: list[str]) -> str | None:
    """The extra to install when ``error`` stops the command of ``argv``: the command's own
    (all it may need) if it has one, else the missing module's; None when the module is not
    an optional dependency (a real error)."""
    extra = EXTRA_OF.get((error.name or "").split(".")[0])
    if extra is None:
        return None
    command = next((a for a in argv if a in COMMANDS), None)
    return COMMAND_EXTRA.get(COMMANDS[command][0], extra) if command else extra


def main() -> None:
    """Entry point: usage errors exit 2 via typer; caselink's own errors print plainly, exit 2;
    a command whose extra is not installed says which to install, exit 2."""
    err = Console(stderr=True, soft_wrap=True)
    try:
        app(prog_name="caselink")  # also as `python -m caselink_cli`: usage, completion
    except CaselinkError as e:
        err.print(f"[red]error:[/red] {escape(str(e))}", highlight=False)
        sys.exit(2)
    except ModuleNotFoundError as e:
        extra = missing_extra(e, sys.argv[1:])
        if extra is None:
            raise
        err.print(
            f"[red]error:[/red] this command needs caselink\\[{extra}] ({e.name} is not "
            f"installed; `pip install caselink` is the encoder alone): "
            f"pip install 'caselink\\[{extra}]'",
            highlight=False,
        )
        sys.exit(2)


if __name__ == "__main__":  # python -m caselink_cli, as the service's child processes run it
    main()
