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
"""

from service._process import ServiceProcess
from service._settings import Settings, get_settings
from service.api import create_app
from service.api.errors import ServiceError
from service.client import Client, ClientError

__all__ = [
    "Client",
    "ClientError",
    "ServiceError",
    "ServiceProcess",
    "Settings",
    "create_app",
    "get_settings",
]
