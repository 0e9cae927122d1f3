"""The HTTP API of the matching service (FastAPI): :func:`create_app`.

:func:`create_app` is imported on first use (PEP 562): a module of this package that another
part needs (``service.cli_consent`` reads a limit of :mod:`service.api.models_consent`) does
not bring the whole app with it.
"""

from __future__ import annotations

import importlib
import typing
from typing import Any

if typing.TYPE_CHECKING:
    from service.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name != "create_app":
        raise AttributeError(f"module 'service.api' has no attribute {name!r}")
    value = importlib.import_module("service.api.app").create_app
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
