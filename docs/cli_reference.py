"""Write docs/cli.md, the command reference, from the commands themselves.

::

    python docs/cli_reference.py            # rewrite docs/cli.md
    python docs/cli_reference.py --check    # exit 1 if docs/cli.md is not what it would write

Every command of ``caselink`` (:data:`caselink_cli.COMMANDS`, each package's own commands,
groups walked down), with its help, its usage line and a table of its arguments and options:
what they take, their default and their help. tests/test_cli_reference.py holds the file to
the commands.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "cli.md"
HEADER = """\
# caselink command reference

Every command of `caselink`, generated from the commands themselves by
`python docs/cli_reference.py` (a test fails when this file falls behind them): do not edit it
by hand. `caselink COMMAND --help` shows the same. Conventions: every read command takes
`--json` (one JSON document on stdout, nothing else there); `-` in place of a file is stdin or
stdout where a command says so; the API key comes from `--api-key-file` or
`CASELINK_API_KEY`, the service from `--url` or `CASELINK_URL`. Shell completion:
`caselink --install-completion` (or `--show-completion` to see the script).
"""


def walk() -> Iterator[tuple[str, Any]]:
    """(``caselink ...`` path, click command) of every command and group, in the order
    ``--help`` lists them."""
    import caselink_cli

    def down(path: str, command: Any) -> Iterator[tuple[str, Any]]:
        yield path, command
        if hasattr(command, "commands"):
            for name in command.list_commands(None):
                yield from down(f"{path} {name}", command.commands[name])

    import typer

    yield "caselink", typer.main.get_command(caselink_cli.app)  # its own options only
    for name in caselink_cli.COMMANDS:
        yield from down(f"caselink {name}", caselink_cli.real_command(name))


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(param: Any) -> str:
    if param.required:
        return "required"
    value = param.default
    if getattr(param, "is_flag", False) and param.secondary_opts:
        return f"`{param.opts[0] if value else param.secondary_opts[0]}`"
    if value is None or value is False or value == [] or value == ():
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(f"`{v}`" for v in value)
    return f"`{value}`"


def _takes(param: Any, ctx: Any) -> str:
    """What the parameter takes: a type (``str``, ``path``, ``int range``), ``...`` after
    one that repeats; nothing for a flag."""
    if getattr(param, "is_flag", False):
        return ""
    shown = param.display_type(ctx).strip("<>").removesuffix(" range")
    if shown.startswith("list[") and shown.endswith("]"):
        shown = shown[len("list[") : -1] + " ..."
    bounds = param._get_number_range_help_str()  # typer's own words: "x>=1", "0<=x<=1"
    return shown.lower() + (f" ({bounds})" if bounds else "")


def _row(param: Any, ctx: Any) -> str:
    if param.param_type_name == "argument":
        name = f"`{param.display_name_raw.upper()}`"
    else:
        name = " / ".join(f"`{o}`" for o in (*param.opts, *param.secondary_opts))
    return f"| {name} | {_takes(param, ctx)} | {_default(param)} | {_cell(param.help or '')} |"


def _section(path: str, command: Any) -> list[str]:
    from typer import _click

    ctx = _click.Context(command, info_name=path)
    usage = " ".join([path, *command.collect_usage_pieces(ctx)])
    lines = [f"## {path}", "", inspect.cleandoc(command.help or ""), "", "```", usage, "```", ""]
    params = [p for p in command.params if not p.hidden]
    if params:
        lines += ["| argument or option | takes | default | what it does |", "|---|---|---|---|"]
        lines += [_row(p, ctx) for p in params]
        lines.append("")
    return lines


def render() -> str:
    """The whole reference, as docs/cli.md holds it."""
    commands = list(walk())
    lines = [HEADER, "## Commands", ""]
    for path, command in commands:
        depth = path.count(" ") - 1
        anchor = path.replace(" ", "-")
        short = _cell(inspect.cleandoc(command.help or "").split("\n\n")[0])
        lines.append(f"{'  ' * depth}- [{path}](#{anchor}) — {short}")
    lines.append("")
    for path, command in commands:
        lines += _section(path, command)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{OUT} is out of date: run python docs/cli_reference.py\n")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {OUT}\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
