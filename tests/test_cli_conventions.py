"""Every command keeps the command line's conventions (caselink_output): help on every
argument and option, no ``<bool>`` beside a flag in any help, ``--json`` on every command that
reads, and shell completion through the lazy top-level group.

The commands are each package's own (``caselink_cli.commands_of``), groups walked down; a new
command is held to these rules the moment its package registers it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import caselink_cli

# Commands that read and print what they read: each takes --json.
READS = {
    "inspect",
    "privacy check",
    "cases",
    "summary",
    "query",
    "run status",
    "run list",
    "agency list",
    "keys list",
    "agreement list",
    "agreement show",
    "audit show",
    "audit verify",
    "admin data-keys",
    "admin verify-audit",
    "review list",
    "review labels",
}
# Commands that change something and print a machine-usable result with --json too.
WRITES_WITH_JSON = {"withdraw", "agreement amend", "consent set", "review decide"}


def _walk(path: str, command) -> list[tuple[str, object]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _walk(f"{path} {name}", sub)
    return found


COMMANDS = [
    found
    for module in dict.fromkeys(m for m, _ in caselink_cli.COMMANDS.values())
    for name, command in caselink_cli.commands_of(module).items()
    for found in _walk(name, command)
]
PATHS = [path for path, _ in COMMANDS]


def _options(command) -> set[str]:
    return {o for p in command.params for o in getattr(p, "opts", ())}


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=PATHS)
def test_every_argument_and_option_says_what_it_is_for(path, command):
    assert (command.help or "").strip(), f"caselink {path} has no help"
    bare = [p.name for p in command.params if not (p.help or "").strip()]
    assert not bare, f"caselink {path}: no help for {bare}"


@pytest.mark.parametrize("path", ["", *PATHS], ids=["caselink", *PATHS])
def test_no_help_shows_a_type_beside_a_flag(path):
    result = CliRunner().invoke(caselink_cli.app, [*path.split(), "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output and "<bool>" not in result.output, result.output


def test_every_read_command_takes_json_and_no_other_lacks_a_reason_to():
    assert set(PATHS) >= READS | WRITES_WITH_JSON, sorted((READS | WRITES_WITH_JSON) - set(PATHS))
    with_json = {path for path, command in COMMANDS if "--json" in _options(command)}
    assert with_json >= READS, f"read commands without --json: {sorted(READS - with_json)}"
    assert with_json == READS | WRITES_WITH_JSON, sorted(with_json - READS - WRITES_WITH_JSON)


def _completions(*words: str) -> list[str]:
    """What bash completion offers for ``caselink WORDS`` (the last word incomplete), asked
    of the installed script through the _CASELINK_COMPLETE protocol, as the shell asks."""
    env = {
        **os.environ,
        "_CASELINK_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(["caselink", *words]),
        "COMP_CWORD": str(len(words)),
    }
    script = Path(sys.executable).with_name("caselink")
    done = subprocess.run(
        [str(script)], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout.split()


def test_bash_completes_commands_subcommands_and_options_through_the_lazy_group():
    assert _completions("ag") == ["agency", "agreement"]
    assert _completions("agreement", "") == ["create", "list", "show", "amend"]
    assert "--run-id" in _completions("run", "status", "--r")
