"""The public transparency figures for arbitrary audit histories (hypothesis), on a real
migrated database: no published number is from 1 to 9; every number is the count the chain
holds for its cell (complete months only, nothing of other actions or chains); and nothing
can be recovered by subtraction — two histories that differ only inside suppressed cells
publish exactly the same page, so no sum or difference of the numbers shown can tell them
apart."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service._audit import Actor, Pending, append_many
from service._db import make_engine, migrate
from service._tables import agreements
from service._transparency import (
    KINDS,
    UNSTATED,
    Count,
    TransparencyCache,
    month_window,
    transparency,
)
from service.api.models_transparency import public_transparency
from service.repositories import agreements as agreements_repo
from service.repositories.agencies import add_agency
from tests.service.servers import make_database

NOW = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
CREATED = datetime(2025, 5, 20, 9, 30, tzinfo=UTC)
MONTHS = ["2025-05", "2025-06", *month_window(NOW, CREATED), "2026-07"]  # two early, one late
SHOWN = month_window(NOW, CREATED)
PURPOSES = ["linkage", "tracing", "evaluation", None]
SUBMITTER = Actor("north", "submitter", "key_00000000000000aa")
SERVICE = Actor("caselink", "service")
Cell = tuple[str, ...]  # ("access", action, purpose) | ("refusal",) | ("withdrawal",) | ("purge",)

CELLS: list[Cell] = [
    *(("access", a, p or "") for a, p in itertools.product(KINDS, PURPOSES)),
    ("refusal",),
    ("withdrawal",),
    ("purge",),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory) -> Iterator[sa.Engine]:
    """A migrated database: a SQLite file, or a fresh PostgreSQL schema (skipped if none)."""
    with make_database(request.param, request, tmp_path_factory.mktemp("suppression")) as db:
        made = make_engine(db.url)
        migrate(made)
        with made.begin() as conn:
            add_agency(conn, "north")
        yield made
        made.dispose()


def _at(month: str, k: int) -> str:
    """The k-th entry's time in ``month``: its first and last instants among them."""
    start = datetime(int(month[:4]), int(month[5:]), 1, tzinfo=UTC)
    end = datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)
    when = (
        start
        if k == 0
        else end - timedelta(microseconds=1)
        if k == 1
        else start + timedelta(days=k % 27, seconds=k)
    )
    return when.isoformat(timespec="microseconds")


def _entries(month: str, cell: Cell, value: int, split: int) -> list[Pending]:
    """Audit entries that make ``cell`` of ``month`` hold ``value`` (``split`` varies how:
    refusals as single entries and rate-limit windows, purges as several sweeps)."""
    kind = cell[0]
    if kind == "access":
        purpose = cell[2] or None
        return [
            Pending(SUBMITTER, cell[1], purpose, "ok", {"n": k}, at=_at(month, k))
            for k in range(value)
        ]
    if kind == "withdrawal":
        details = {"receipt_id": "wdr_x", "agency": "north", "reason": "consent"}
        return [
            Pending(SUBMITTER, "record.withdraw", "linkage", "ok", details, at=_at(month, k))
            for k in range(value)
        ]
    if kind == "refusal":
        single = min(value, split % 4)  # some refused calls, the rest in rate-limit windows
        out = [
            Pending(SUBMITTER, "query", "tracing", "forbidden", {"status": 403}, at=_at(month, k))
            for k in range(single)
        ]
        rest, k = value - single, single
        while rest:
            n = min(rest, 1 + split % 7)
            details = {"status": 429, "refusals": n}
            out.append(
                Pending(SUBMITTER, "query", "tracing", "rate_limited", details, _at(month, k))
            )
            rest, k = rest - n, k + 1
        return out
    parts = [value] if split % 2 == 0 or value < 2 else [value // 2, value - value // 2]
    return [
        Pending(SERVICE, "retention.purge", None, "ok", {"records_purged": n}, at=_at(month, k))
        for k, n in enumerate(parts)
    ]


NOISE = [  # answered or refused calls that are no access, withdrawal, refusal or purge
    Pending(
        SUBMITTER, "agreement.read", "linkage", "ok", {}, at="2026-01-03T00:00:00.000000+00:00"
    ),
    Pending(SUBMITTER, "audit.read", "oversight", "ok", {}, at="2026-02-03T00:00:00.000000+00:00"),
    Pending(SERVICE, "run.finish", None, "ok", {"run": "r"}, at="2026-03-03T00:00:00.000000+00:00"),
    Pending(SUBMITTER, "summary.read", "evaluation", "ok", {}, "2026-04-03T00:00:00.000000+00:00"),
]


def _publish(engine: sa.Engine, history: dict[tuple[str, Cell], int], split: int) -> str:
    """A new agreement whose chain holds ``history`` (and the noise); its id."""
    agreement_id = "agr_" + secrets.token_hex(8)
    pending = list(NOISE)
    for (month, cell), value in sorted(history.items()):
        pending += _entries(month, cell, value, split)
    pending.sort(key=lambda p: p.at or "")
    with engine.begin() as conn:
        north = conn.execute(sa.text("SELECT id FROM agencies WHERE name = 'north'")).scalar_one()
        agreements_repo.add_agreement(
            conn,
            agreement_id,
            name="t",
            schema_fingerprint="blake3:" + "a" * 64,
            filter_bits=1024,
            segments=[],
            purposes=["linkage", "tracing", "evaluation"],
            retention_days=30,
            threshold="auto",
            allow_duplicates=False,
            created_by=north,
            party_ids=[north],
        )
        conn.execute(
            agreements.update()
            .where(agreements.c.id == agreement_id)
            .values(created_at=CREATED, transparency_published=True)
        )
        append_many(conn, agreement_id, pending)
        append_many(conn, "agr_" + secrets.token_hex(8), pending)  # another chain: not counted
    return agreement_id


def _page(engine: sa.Engine, agreement_id: str) -> dict[str, Any]:
    figures = transparency(engine, agreement_id, NOW, cache=TransparencyCache())
    page = public_transparency(figures).model_dump(mode="json")
    page.pop("agreement_id")
    return page


def _counts(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        if set(node) == {"shown", "fewer_than_10"}:
            yield node
        for v in node.values():
            yield from _counts(v)
    elif isinstance(node, list):
        for v in node:
            yield from _counts(v)


histories = st.dictionaries(
    st.tuples(st.sampled_from(MONTHS), st.sampled_from(CELLS)),
    st.one_of(st.integers(1, 9), st.integers(0, 30)),
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories, split=st.integers(0, 100), data=st.data())
def test_no_small_number_is_published_and_none_can_be_recovered(engine, history, split, data):
    agreement_id = _publish(engine, history, split)
    page = _page(engine, agreement_id)

    # 1. every number is 0 or at least 10; "fewer than 10" is all that is said of the rest
    counts = list(_counts(page))
    assert len(counts) == len(SHOWN) * (3 + len(page["columns"]))
    for c in counts:
        assert c["shown"] is None or c["shown"] == 0 or c["shown"] >= 10, c
        assert c["fewer_than_10"] == (c["shown"] is None)

    # 2. each number is its cell's count: complete months only, nothing else counted
    assert [m["month"] for m in page["months"]] == SHOWN
    truth = {key: v for key, v in history.items() if key[0] in SHOWN}
    columns = sorted(
        {(KINDS[c[1]], c[2] or UNSTATED) for (_, c), v in truth.items() if c[0] == "access" and v},
        key=lambda kp: (list(KINDS.values()).index(kp[0]), kp[1]),
    )
    assert [tuple(c) for c in page["columns"]] == columns
    for month in page["months"]:
        m = month["month"]
        expected = {
            (KINDS[c[1]], c[2] or UNSTATED): v
            for (mm, c), v in truth.items()
            if mm == m and c[0] == "access"
        }
        for cell in month["accesses"]:
            want = Count.of(expected.get((cell["kind"], cell["purpose"]), 0))
            assert cell["count"]["shown"] == want.shown, (m, cell)
        for name, key in (
            ("refusals", "refusal"),
            ("withdrawals", "withdrawal"),
            ("purged_records", "purge"),
        ):
            assert month[name]["shown"] == Count.of(truth.get((m, (key,)), 0)).shown, (m, name)

    # 3. a history that differs inside suppressed cells publishes the very same page
    small = sorted(key for key, v in truth.items() if 1 <= v <= 9)
    if not small:
        return
    changed = dict(history)
    for key in data.draw(st.lists(st.sampled_from(small), min_size=1, unique=True)):
        changed[key] = data.draw(st.integers(1, 9))
    other = _publish(engine, changed, data.draw(st.integers(0, 100)))
    assert _page(engine, other) == page


def test_months_are_published_a_day_after_they_end():
    created = datetime(2024, 1, 5, tzinfo=UTC)
    assert month_window(datetime(2026, 7, 1, 23, 59, tzinfo=UTC), created)[-1] == "2026-05"
    assert month_window(datetime(2026, 7, 2, 0, 0, tzinfo=UTC), created)[-1] == "2026-06"
    assert len(month_window(datetime(2026, 7, 2, tzinfo=UTC), created)) == 12
    assert month_window(datetime(2026, 1, 15, tzinfo=UTC), datetime(2025, 11, 30, tzinfo=UTC)) == [
        "2025-11",
        "2025-12",
    ]
    assert month_window(NOW, datetime(2026, 7, 1, tzinfo=UTC)) == []  # too new: nothing yet


def test_a_count_is_never_between_1_and_9():
    assert [Count.of(n).shown for n in (0, 1, 9, 10, 11)] == [0, None, None, 10, 11]
    assert Count.of(3).fewer_than_10 and not Count.of(0).fewer_than_10
    for bad in (1, 9, -1):
        with pytest.raises(ValueError):
            Count(bad)
    with pytest.raises(ValueError):
        Count.of(-1)


def test_complete_months_are_counted_once_then_served_from_the_cache(engine):
    agreement_id = _publish(engine, {("2026-01", ("withdrawal",)): 12}, 0)
    cache = TransparencyCache()
    first = transparency(engine, agreement_id, NOW, cache=cache)
    with engine.begin() as conn:  # a late entry in a published month changes nothing shown
        append_many(conn, agreement_id, _entries("2026-01", ("withdrawal",), 5, 0))
    again = transparency(engine, agreement_id, NOW, cache=cache)
    assert cache.counted == 1 and again.months == first.months
    assert first.months[SHOWN.index("2026-01")].withdrawals.shown == 12
    next_month = transparency(engine, agreement_id, NOW + timedelta(days=20), cache=cache)
    assert cache.counted == 2 and next_month.months[-1].month == "2026-07"
    assert next_month.months[SHOWN.index("2026-01") - 1].withdrawals.shown == 17
