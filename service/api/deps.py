"""Request dependencies: the database, the calling principal, its role, its agreement.

``EngineDep`` is the app's engine; ``PrincipalDep`` the agency and role behind the request's
``Authorization: Bearer`` key (401 without a valid, unrevoked key); :func:`need` narrows to
roles (403 otherwise). :func:`agreement_of` loads an agreement the caller is in — its agency
a party, or, for an ``auditor`` key, its agency named as the agreement's auditor — and
answers 404 — not 403 — to everyone else, so an outsider cannot even learn that it exists.
``PurposeDep`` is the one ``X-Caselink-Purpose`` header, if any (422 when sent twice or not
in the form of a purpose). ``MetricsReader`` admits the metrics token or an ``admin`` key.

The running service's parts (:class:`service.api.state.ServiceState`) reach a route as typed
dependencies, one alias each: ``ServiceDep`` (all of them), ``SettingsDep``, ``ExecutorDep``
(the run executor), ``IndexesDep`` (the tracing indexes), ``MetricsDep``, ``LimiterDep`` (the
query rate limiter), ``RefusalsDep``, ``AuditWriterDep``, ``ChangesDep`` (the change feed),
``FaultsDep``, ``CheckpointsDep``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request

from service._audit import Actor
from service._audit_writer import AuditWriter
from service._checkpoint_writer import CheckpointWriter
from service._events import ChangeFeed
from service._faults import Faults
from service._index_store import IndexStore
from service._keys import AUDITOR, hash_key
from service._metrics import Metrics
from service._ratelimit import RateLimiter
from service._refusals import RefusalAudit
from service._runs import RunExecutor
from service._settings import Settings
from service.api.errors import ServiceError, named_id, well_formed
from service.api.state import ServiceState
from service.repositories.agencies import key_by_hash
from service.repositories.agreements import AgreementRow, of_auditor, of_party

__all__ = [
    "AuditWriterDep",
    "ChangesDep",
    "CheckpointsDep",
    "EngineDep",
    "ExecutorDep",
    "FaultsDep",
    "IndexesDep",
    "LimiterDep",
    "MetricsDep",
    "MetricsReader",
    "Principal",
    "PrincipalDep",
    "PurposeDep",
    "RefusalsDep",
    "ServiceDep",
    "SettingsDep",
    "agreement_of",
    "need",
]

PURPOSE_HEADER = "X-Caselink-Purpose"
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # as an agreement's purposes are written


@dataclass(frozen=True)
class Principal:
    key_id: str
    agency_id: int
    agency: str
    role: str

    @property
    def actor(self) -> Actor:
        return Actor(agency=self.agency, role=self.role, key_id=self.key_id)


def get_service(request: Request) -> ServiceState:
    """The running service's parts (set at start-up by :func:`service.api.app.create_app`)."""
    state: ServiceState = request.app.state.service
    return state


ServiceDep = Annotated[ServiceState, Depends(get_service)]


def get_engine(service: ServiceDep) -> sa.Engine:
    return service.engine


EngineDep = Annotated[sa.Engine, Depends(get_engine)]


def get_reader(service: ServiceDep) -> sa.Engine:
    """The engine for pure reads: on SQLite it reads a WAL snapshot without taking the write
    lock that every transaction of :func:`get_engine`'s engine takes (``BEGIN IMMEDIATE``)."""
    return service.reader


def _part(name: str) -> Callable[[ServiceState], Any]:
    """A dependency answering one part of the running service (by its field's name)."""

    def part(service: ServiceDep) -> Any:
        return getattr(service, name)

    part.__name__ = f"get_{name}"
    return part


SettingsDep = Annotated[Settings, Depends(_part("settings"))]
ExecutorDep = Annotated[RunExecutor, Depends(_part("executor"))]
IndexesDep = Annotated[IndexStore, Depends(_part("indexes"))]
MetricsDep = Annotated[Metrics, Depends(_part("metrics"))]
LimiterDep = Annotated[RateLimiter, Depends(_part("query_limiter"))]
RefusalsDep = Annotated[RefusalAudit, Depends(_part("rate_refusals"))]
AuditWriterDep = Annotated[AuditWriter, Depends(_part("audit_writer"))]
ChangesDep = Annotated[ChangeFeed, Depends(_part("changes"))]
FaultsDep = Annotated[Faults, Depends(_part("faults"))]
CheckpointsDep = Annotated[CheckpointWriter, Depends(_part("checkpoints"))]


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ServiceError(
            401, "unauthorized", "send your API key as 'Authorization: Bearer <key>'"
        )
    return token.strip()


def principal_of(engine: sa.Engine, token: str) -> Principal:
    """The principal behind an API key; 401 if it is unknown or revoked."""
    with engine.connect() as conn:
        row = key_by_hash(conn, hash_key(token))
    if row is None or row.revoked_at is not None:
        raise ServiceError(
            401,
            "unauthorized",
            "this API key is unknown or revoked; ask your steward for a new one",
        )
    return Principal(key_id=row.id, agency_id=int(row.agency_id), agency=row.name, role=row.role)


def get_principal(
    reader: Annotated[sa.Engine, Depends(get_reader)],
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """Every request's key lookup: a pure read, so it never waits for a writer."""
    return principal_of(reader, _bearer(authorization))


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def need(principal: Principal, *roles: str) -> Principal:
    """The principal, if its key has one of ``roles``; 403 otherwise."""
    if principal.role not in roles:
        raise ServiceError(
            403,
            "forbidden",
            f"this call needs a key with role {' or '.join(roles)}; yours has role "
            f"{principal.role}",
        )
    return principal


def purpose_header(
    request: Request,
    x_caselink_purpose: Annotated[
        str | None,
        Header(
            max_length=64,
            description="The purpose of this call, one the agreement lists; send it once. "
            "Without it, the call has its default purpose.",
        ),
    ] = None,
) -> str | None:
    """The purpose stated in the one ``X-Caselink-Purpose`` header; 422 if it is sent twice
    (no copy may silently win) or is not written as purposes are (never echoed)."""
    sent = request.headers.getlist(PURPOSE_HEADER)
    problem = None
    if len(sent) > 1:
        problem = f"header {PURPOSE_HEADER}: sent {len(sent)} times; send it once"
    elif x_caselink_purpose is not None and not _PURPOSE.fullmatch(x_caselink_purpose):
        problem = (
            f"header {PURPOSE_HEADER}: a purpose is 1-64 lowercase letters, digits, "
            "'-' or '_', as the agreement lists it"
        )
    if problem is not None:
        raise ServiceError(422, "invalid_request", problem.split(": ", 1)[1], [problem])
    return x_caselink_purpose


PurposeDep = Annotated[str | None, Depends(purpose_header)]


def agreement_of(conn: sa.Connection, principal: Principal, agreement_id: str) -> AgreementRow:
    """The agreement if the caller is in it; 404 for everyone else.

    An ``auditor`` key is in the agreements its agency is named on as auditor, and in no
    other (not even one its agency is a party to): it oversees what it was named to. Every
    other key is in the agreements its agency is a party to; its agency being named as an
    auditor gives it nothing."""
    auditor = principal.role == AUDITOR
    row = None
    if well_formed("agreement", agreement_id):  # any other string names no agreement
        find = of_auditor if auditor else of_party
        row = find(conn, agreement_id, principal.agency_id)
    if row is None:
        among = "named as auditor of" if auditor else "party to"
        raise ServiceError(
            404,
            "not_found",
            f"no {named_id('agreement', agreement_id)} among the agreements your agency is {among}",
        )
    return row


def read_metrics(
    service: ServiceDep, engine: EngineDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Admit the metrics token (``CASELINK_METRICS_TOKEN``/``_FILE``) or an ``admin`` key as
    a Bearer credential: 401 without a valid one, 403 for a key of another role."""
    token = _bearer(authorization)
    expected = service.metrics_token
    if expected is not None and secrets.compare_digest(token.encode(), expected.encode()):
        return
    principal = principal_of(engine, token)
    if principal.role != "admin":
        raise ServiceError(
            403,
            "forbidden",
            f"/metrics needs the metrics token or a key with role admin; yours has role "
            f"{principal.role}",
        )


MetricsReader = Depends(read_metrics)
