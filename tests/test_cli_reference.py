"""docs/cli.md is what docs/cli_reference.py writes from the commands as they are now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _reference():
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_up_to_date():
    reference = _reference()
    written = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert written == reference.render(), "docs/cli.md is stale: run python docs/cli_reference.py"


def test_the_reference_holds_every_command_with_its_options():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    paths = [path for path, _ in _reference().walk()]
    assert {"caselink run status", "caselink keys rotate", "caselink agreement amend"} <= set(paths)
    for path in paths:
        assert f"\n## {path}\n" in text, path
    assert "| `--refs-file` | path |" in text and "| `--wait` / `--no-wait` |" in text
