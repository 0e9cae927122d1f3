"""Linkage runs: start one (it runs in the background, on Ray), follow its progress."""

from __future__ import annotations

from fastapi import APIRouter

from service._audit import append
from service._runs import queue_run
from service.api.access import open_agreement
from service.api.deps import EngineDep, ExecutorDep, MetricsDep, PrincipalDep, PurposeDep
from service.api.errors import ServiceError, named_id, well_formed
from service.api.models import RunPublic
from service.repositories import runs as repo
from service.repositories.runs import RunRow

router = APIRouter(prefix="/v1/agreements/{agreement_id}/runs", tags=["runs"])
RUNNERS = ("submitter", "steward")


def _public(row: RunRow) -> RunPublic:
    return RunPublic(
        run_id=row.id,
        agreement_id=row.agreement_id,
        status=row.status,
        stage=row.stage,
        progress=row.progress,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        stats=row.stats,
    )


@router.post(
    "",
    response_model=RunPublic,
    status_code=202,
    summary="Start a linkage run",
    response_description="The run queued; follow it with Read a run.",
)
def start_run(
    agreement_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
    executor: ExecutorDep,
    metrics: MetricsDep,
) -> RunPublic:
    """Queue a linkage run: the agreement's pending batches are linked into cases, in the
    background. One run at a time per agreement: 409 while another is not finished. Follow
    it with `GET .../runs/{run_id}`.

    A `submitter` or `steward` key of a party agency may call it. Audited in the
    agreement's chain."""
    _, why = open_agreement(engine, principal, agreement_id, "run.start", RUNNERS, purpose)
    with engine.begin() as conn:
        active = repo.active_run(conn, agreement_id)
        if active is not None:
            raise ServiceError(
                409,
                "conflict",
                f"run {active} of this agreement is not "
                "finished yet; wait for it, then start another",
            )
        run_id = queue_run(conn, agreement_id, principal.agency_id)
        append(
            conn, agreement_id, principal.actor, "run.start", purpose=why, details={"run": run_id}
        )
        row = repo.run(conn, run_id)
    assert row is not None  # queued in this transaction
    metrics.runs.labels("started").inc()
    executor.submit(run_id)
    return _public(row)


@router.get(
    "",
    response_model=list[RunPublic],
    summary="List runs",
    response_description="The agreement's runs, newest first.",
)
def list_runs(
    agreement_id: str, engine: EngineDep, principal: PrincipalDep, purpose: PurposeDep
) -> list[RunPublic]:
    """The agreement's linkage runs, newest first, with their status and figures.

    A `submitter` or `steward` key of a party agency may call it. Audited in the
    agreement's chain."""
    _, why = open_agreement(engine, principal, agreement_id, "run.list", RUNNERS, purpose)
    with engine.begin() as conn:
        rows = repo.runs_of(conn, agreement_id)
        append(conn, agreement_id, principal.actor, "run.list", purpose=why)
    return [_public(r) for r in rows]


@router.get(
    "/{run_id}",
    response_model=RunPublic,
    summary="Read a run",
    response_description="The run's status, stage and progress; its figures once done.",
)
def get_run(
    agreement_id: str,
    run_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    purpose: PurposeDep,
) -> RunPublic:
    """One run's status, stage and progress; once it succeeded, its figures (records
    linked, cases touched, the threshold used); if it failed, why.

    A `submitter` or `steward` key of a party agency may call it. Audited in the
    agreement's chain."""
    _, why = open_agreement(engine, principal, agreement_id, "run.read", RUNNERS, purpose)
    with engine.begin() as conn:
        row = None
        if well_formed("run", run_id):  # any other string names no run
            row = repo.run(conn, run_id, agreement_id)
        if row is None:
            raise ServiceError(404, "not_found", f"no {named_id('run', run_id)} in this agreement")
        append(
            conn, agreement_id, principal.actor, "run.read", purpose=why, details={"run": run_id}
        )
    return _public(row)
