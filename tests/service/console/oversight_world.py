"""What the oversight and public pages' tests add to the console's test world
(:func:`~tests.service.console.inprocess.console_world`): an auditor key of the outsider
agency named on the agreement, a second agreement it is not named on, and months of past
entries in the agreement's chain (appended with their own past times, the chain kept whole)
so that the public page has complete months to show — some cells of 10 or more, some from 1
to 9 — and withdrawal entries naming a known case id.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service._audit import Actor, Pending, append_many
from service._tables import agreements
from tests.service.console.inprocess import AGENCIES, OUTSIDER, World, call
from tests.service.servers import agreement_body

SUBMITTER = Actor("agency-a", "submitter", None)
SERVICE = Actor("caselink", "service")


@dataclass(frozen=True)
class History:
    auditor: str  # the key name in World.keys
    other_agreement: str
    months: tuple[str, str]  # YYYY-MM of the two planted months, oldest first
    last_day: tuple[str, str]  # YYYY-MM-DD: the last day of each
    case_ids: tuple[str, ...]  # every case id of agency-a's records
    receipt_id: str
    planted_actions: frozenset[str]


def _month_back(now: datetime, months: int) -> tuple[int, int]:
    index = now.year * 12 + now.month - 1 - months
    return index // 12, index % 12 + 1


def _at(year: int, month: int, k: int) -> str:
    return datetime(year, month, 1 + k % 27, 12, 0, k % 60, tzinfo=UTC).isoformat(
        timespec="microseconds"
    )


def _pending(year: int, month: int, case_id: str, big: bool) -> list[Pending]:
    """One month: uploads (12, or 3), tracing queries (3, or 11), refusals, withdrawals, a
    purge."""
    out: list[Pending] = []
    uploads, queries = (12, 3) if big else (3, 11)
    out += [
        Pending(
            SUBMITTER, "batch.upload", "linkage", "ok", {"batch": f"bat_{k}"}, _at(year, month, k)
        )
        for k in range(uploads)
    ]
    out += [
        Pending(SUBMITTER, "query", "tracing", "ok", {"matches": 1}, _at(year, month, k))
        for k in range(queries)
    ]
    out += [
        Pending(SUBMITTER, "query", "tracing", "forbidden", {"status": 403}, _at(year, month, k))
        for k in range(4 if big else 14)
    ]
    receipt = {
        "receipt_id": f"wdr_{'ab' * 8}" if big else f"wdr_{'cd' * 8}",
        "agency": "agency-a",
        "reason": "consent",
        "status": "linked",
        "former_case_id": case_id,
        "remaining_records": 1,
        "remaining_agencies": 1,
        "split_off_cases": 0,
    }
    out += [
        Pending(SUBMITTER, "record.withdraw", "linkage", "ok", receipt, _at(year, month, k))
        for k in range(2)
    ]
    purged = {"records_purged": 15 if big else 4}
    out.append(Pending(SERVICE, "retention.purge", None, "ok", purged, _at(year, month, 20)))
    return out


def past_entries(now: datetime, case_id: str) -> list[Pending]:
    """The entries of the two months planted: three and two months before ``now``'s."""
    first, second = _month_back(now, 3), _month_back(now, 2)
    return _pending(*first, case_id, big=True) + _pending(*second, case_id, big=False)


def plant_history(world: World, schema: Any) -> History:
    keys = world.keys
    r = call(
        world.app, "POST", f"/v1/agencies/{OUTSIDER}/keys", keys["admin"], json={"role": "auditor"}
    )
    assert r.status_code == 201, r.text
    keys[f"{OUTSIDER}/auditor"] = r.json()["api_key"]
    amend = world.call(
        "agency-a/steward",
        "PATCH",
        f"/v1/agreements/{world.agreement_id}",
        json={"add_auditors": [OUTSIDER]},
    )
    assert amend.status_code == 200, amend.text
    body = agreement_body(schema, list(AGENCIES), name="unwatched")
    other = world.call("agency-a/steward", "POST", "/v1/agreements", json=body)
    assert other.status_code == 201, other.text
    cases = world.call("agency-a/submitter", "GET", f"/v1/agreements/{world.agreement_id}/cases")
    assert cases.status_code == 200, cases.text
    case_ids = tuple(sorted({c["case_id"] for c in cases.json()["items"]}))

    now = datetime.now(UTC)
    first, second = _month_back(now, 3), _month_back(now, 2)
    pending = past_entries(now, case_ids[0])
    with world.state.engine.begin() as conn:
        conn.execute(
            agreements.update()
            .where(agreements.c.id == world.agreement_id)
            .values(created_at=now - timedelta(days=150))
        )
        append_many(conn, world.agreement_id, pending)
    months = tuple(f"{y:04d}-{m:02d}" for y, m in (first, second))
    last_day = tuple(
        f"{y:04d}-{m:02d}-{calendar.monthrange(y, m)[1]:02d}" for y, m in (first, second)
    )
    return History(
        auditor=f"{OUTSIDER}/auditor",
        other_agreement=other.json()["agreement_id"],
        months=months,  # type: ignore[arg-type]
        last_day=last_day,  # type: ignore[arg-type]
        case_ids=case_ids,
        receipt_id=f"wdr_{'ab' * 8}",
        planted_actions=frozenset(p.action for p in pending),
    )
