"""Liveness: the process answers and its database does."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from service.api.deps import EngineDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(engine: EngineDep) -> dict[str, str]:
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"status": "ok"}
