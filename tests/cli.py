"""``caselink`` run in this process: the installed script's own entry function
(``caselink_cli.main``) with the given arguments, environment and working directory, its
stdout and stderr captured and the exit code it leaves, as ``subprocess.run`` would report.

The same code as the command, without the ~3–5 s of imports each fresh interpreter pays on
these machines. The installed script itself (its entry point, and ``serve``, which owns its
process) is still run as a subprocess where a test is about it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path


def caselink(
    *args: object,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    clean: bool = True,
) -> subprocess.CompletedProcess:
    """Run ``caselink ARGS``; ``clean`` drops this process's ``CASELINK_*`` variables first
    (as the subprocess tests do), and ``env`` is set on top."""
    from click.testing import CliRunner

    import caselink_cli
    from service._settings import get_settings

    overrides: dict[str, str | None] = {}
    if clean:
        overrides.update({k: None for k in os.environ if k.startswith("CASELINK_")})
    overrides.update(env or {})
    argv = ["caselink", *map(str, args)]
    get_settings.cache_clear()  # settings are read from the environment set here
    saved_argv = sys.argv
    with CliRunner().isolation(env=overrides) as (out, err, _):
        sys.argv = argv
        try:
            with contextlib.chdir(cwd or os.getcwd()):
                caselink_cli.main()
            code = 0
        except SystemExit as e:  # what the interpreter would exit with
            if e.code is None or isinstance(e.code, int):
                code = e.code or 0
            else:
                sys.stderr.write(f"{e.code}\n")
                code = 1
        except Exception:  # an uncaught exception: a traceback and exit status 1
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = saved_argv
            sys.stdout.flush()
            sys.stderr.flush()
        stdout, stderr = out.getvalue(), err.getvalue()
    get_settings.cache_clear()
    return subprocess.CompletedProcess(argv, code, stdout.decode(), stderr.decode())
