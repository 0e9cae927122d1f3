"""The ``caselink`` command loads a package only when one of its commands runs, and the list
``caselink --help`` shows is the commands' own (caselink_cli.COMMANDS, held to them here)."""

from __future__ import annotations

import pytest

import caselink_cli
from evaluation._bench_startup import packages, probe_once

HEAVY = ("fastapi", "sqlalchemy", "alembic", "ray", "scipy", "numba", "pyarrow", "pandas")
PACKAGES = ("bloom", "blocking", "linkage", "evaluation", "service")


def _loaded_after(*args: str) -> set[str]:
    """Top-level modules loaded by ``caselink ARGS`` in a fresh interpreter (exit 0)."""
    probe = (
        "from typer.testing import CliRunner\n"
        "import caselink_cli\n"
        f"r = CliRunner().invoke(caselink_cli.app, {list(args)!r})\n"
        "assert r.exit_code == 0, r.output\n"
    )
    return packages(probe_once(probe)[1])


def test_the_command_list_loads_no_package():
    loaded = _loaded_after("--help")
    assert loaded.isdisjoint(HEAVY + PACKAGES), sorted(loaded & set(HEAVY + PACKAGES))


def test_an_encoder_command_loads_neither_the_service_nor_linkage():
    loaded = _loaded_after("encode", "--help")
    assert "bloom" in loaded
    assert loaded.isdisjoint({"service", "linkage", "fastapi", "sqlalchemy", "ray", "alembic"})


def test_a_service_command_loads_neither_the_web_app_nor_the_database():
    """``service`` and ``service.api`` give their names on first use: a command of the
    service's CLI (the client's, or the admin's help) does not import the app with them."""
    loaded = _loaded_after("agreement", "--help")
    assert "service" in loaded
    web = {"fastapi", "starlette", "jinja2", "uvicorn", "sqlalchemy", "alembic", "linkage", "ray"}
    assert loaded.isdisjoint(web), sorted(loaded & web)


def test_a_service_command_loads_neither_the_encoder_nor_its_numerics():
    """A client command talks HTTP: it takes the error tree from ``caselink_errors`` and the
    consent rules of ``bloom`` only when a consent command runs, so its start-up imports
    neither ``bloom`` (whose package loads the whole encoder) nor numba, pandas or pyarrow."""
    loaded = _loaded_after("agreement", "--help") | _loaded_after("consent", "--help")
    encoder = {"bloom", "numba", "numpy", "pandas", "pyarrow", "scipy"}
    assert loaded.isdisjoint(encoder), sorted(loaded & encoder)


@pytest.mark.parametrize("name", list(caselink_cli.COMMANDS))
def test_each_listed_command_is_its_package_s_with_its_own_help_line(name):
    command = caselink_cli.real_command(name)
    own = (command.short_help or (command.help or "").strip().split("\n\n")[0]).strip()
    assert " ".join(own.split()) == caselink_cli.COMMANDS[name][1]


def test_no_command_a_package_registers_is_left_out_of_the_list():
    modules = {module for module, _ in caselink_cli.COMMANDS.values()}
    registered = {name for m in modules for name in caselink_cli.commands_of(m)}
    assert registered == set(caselink_cli.COMMANDS)


def test_the_version_is_the_installed_package_s():
    from importlib.metadata import version

    from typer.testing import CliRunner

    result = CliRunner().invoke(caselink_cli.app, ["--version"])
    assert result.exit_code == 0 and result.output == f"caselink {version('caselink')}\n"
    assert "--version" in CliRunner().invoke(caselink_cli.app, ["--help"]).output
