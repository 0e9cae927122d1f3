"""service: the matching service. Encoded batches in; shared case ids, confidence, audit out.

It never holds a raw identifier or the agencies' secret. Public API::

    app = service.create_app()                       # FastAPI; `caselink serve` runs it
    with service.Client(url, api_key) as c:          # the Python client (httpx)
        c.upload(agreement_id, "unhcr.parquet")
        c.wait_run(agreement_id, c.start_run(agreement_id)["run_id"])
        rows = list(c.iter_cases(agreement_id))     # record_ref, case_id, confidence, ...
    service.get_settings()                           # CASELINK_* settings, cached

Errors: :class:`ClientError` (the service refused a call; status, code, every problem) and
:class:`ServiceError` (raised inside the service, answered as JSON), both
``bloom.CaselinkError``.

Names are imported on first use (PEP 562), as in :mod:`evaluation`: a process that needs one
part of the service does not load the others. A ``caselink`` command of the service imported
the web app, the console and the client with this package (``import service.cli``: 3.0 s of
CPU, 1.2 s with the names on first use, 2026-12-06), as did the index builder's worker
process (:mod:`service._index_process`), which needs none of them.
"""

from __future__ import annotations

import importlib
import typing
from typing import Any

if typing.TYPE_CHECKING:
    from service._process import ServiceProcess
    from service._settings import Settings, get_settings
    from service.api import create_app
    from service.api.errors import ServiceError
    from service.client import Client, ClientError

_EXPORTS = {  # public name -> its module: imported on first use
    "Client": "service.client",
    "ClientError": "service.client",
    "ServiceError": "service.api.errors",
    "ServiceProcess": "service._process",
    "Settings": "service._settings",
    "create_app": "service.api.app",  # its own module: service.api is lazy too
    "get_settings": "service._settings",
}

__all__ = [
    "Client",
    "ClientError",
    "ServiceError",
    "ServiceProcess",
    "Settings",
    "create_app",
    "get_settings",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'service' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
