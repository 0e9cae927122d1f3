"""An agreement's public transparency figures, counted from its audit chain, with small cells
suppressed.

What is published (no login; only once a steward of a party published it): the parties, the
purposes and the retention period; per month, the accesses by kind (uploads ``batch.upload``,
runs ``run.start``, case reads ``cases.read``, tracing queries ``query``) and purpose, the
refusals (every entry with an outcome other than ``ok``, a rate-limit window counting the
refusals it stands for), the withdrawals honoured (``record.withdraw``) and the records
purged by retention (``retention.purge``, its ``records_purged``); and when the chain was last
verified, with the result. Never a record ref, a case id, a batch or run id, an agency's
figures, or any detail of an entry.

**Small cells.** Every count is a :class:`Count`: 0, at least 10, or "fewer than 10"
(``shown`` is None) — never 1 to 9.

**Nothing can be recovered by subtraction.** A suppressed cell is safe only if no published
number, nor any sum or difference of them, pins it down. The rule that guarantees it: *no
published number is the sum of others*. Each access count is of one (month, kind, purpose)
cell — the cross table itself, with no row, column or month totals — and the refusals,
withdrawals and purged records are separate series of one cell per month, with no totals
over months either. Every published number counts its own set of audit entries, disjoint
from every other's, so no linear relation ties one published number to another: changing a
suppressed cell (any value from 1 to 9) changes no other number on the page. No
complementary suppression is needed because there is nothing to complement; a reader wanting
a total adds the cells and knows it is a lower bound where a cell says "fewer than 10".
(tests/service/console_data/test_suppression.py checks this for arbitrary audit histories:
two histories that differ only inside suppressed cells publish the same page.)

**Only complete months.** A month is published once it has ended and a day has passed
(:data:`SETTLE`: entries journaled during a busy run are folded into the chain with their
own time a moment later). A month's figures therefore never change once shown, so nobody can
learn a small count by comparing the page on two days; and they can be cached
(:class:`TransparencyCache`) — the public route reads only the agreement, its parties and
its newest verification per request, and counts a chain at most once per month and process.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from service._db import reader_engine
from service.api.errors import ServiceError, named_id, well_formed
from service.repositories import agreements as agreements_repo
from service.repositories import transparency as transparency_repo
from service.repositories.audit import entry_details, monthly_counts

__all__ = [
    "KINDS",
    "MIN_SHOWN",
    "MONTHS",
    "SETTLE",
    "UNSTATED",
    "AccessCell",
    "Count",
    "LastVerification",
    "MonthFigures",
    "Transparency",
    "TransparencyCache",
    "cache_for",
    "month_window",
    "transparency",
]

MIN_SHOWN = 10  # the smallest count shown as it is (but 0)
MONTHS = 12  # complete months shown
SETTLE = timedelta(days=1)  # how long after its end a month is published
UNSTATED = "unstated"  # the purpose column of an entry that recorded none
KINDS: dict[str, str] = {  # audit action -> kind of access, in the order shown
    "batch.upload": "upload",
    "run.start": "run",
    "cases.read": "case_read",
    "query": "tracing_query",
}
WITHDRAW, PURGE, RATE_LIMITED = "record.withdraw", "retention.purge", "rate_limited"


@dataclass(frozen=True)
class Count:
    """A count as the public sees it: ``shown`` is 0 or at least :data:`MIN_SHOWN`, or None
    for "fewer than 10" (a count from 1 to 9, never shown)."""

    shown: int | None

    def __post_init__(self) -> None:
        if self.shown is not None and not (self.shown == 0 or self.shown >= MIN_SHOWN):
            raise ValueError(f"a public count is 0, at least {MIN_SHOWN}, or suppressed")

    @classmethod
    def of(cls, n: int) -> Count:
        """``n`` as published: itself if 0 or at least 10, else suppressed."""
        if n < 0:
            raise ValueError("a count is never negative")
        return cls(n if n == 0 or n >= MIN_SHOWN else None)

    @property
    def fewer_than_10(self) -> bool:
        return self.shown is None


@dataclass(frozen=True)
class AccessCell:
    """Accesses of one kind for one purpose in one month."""

    kind: str  # upload | run | case_read | tracing_query
    purpose: str  # as the entries recorded it; UNSTATED if none
    count: Count


@dataclass(frozen=True)
class MonthFigures:
    """One complete month: ``accesses`` has a cell for each of the page's ``columns``."""

    month: str  # YYYY-MM
    accesses: tuple[AccessCell, ...]
    refusals: Count
    withdrawals: Count
    purged_records: Count

    def access(self, kind: str, purpose: str) -> Count:
        for cell in self.accesses:
            if (cell.kind, cell.purpose) == (kind, purpose):
                return cell.count
        return Count(0)


@dataclass(frozen=True)
class LastVerification:
    verified_at: datetime
    ok: bool
    via: str  # api | cli | console
    against_checkpoints: bool


@dataclass(frozen=True)
class Transparency:
    """Everything an agreement's public page shows."""

    agreement_id: str
    name: str
    parties: tuple[str, ...]
    purposes: tuple[str, ...]
    retention_days: int
    published: bool
    columns: tuple[tuple[str, str], ...]  # (kind, purpose) with an access in some month shown
    months: tuple[MonthFigures, ...]  # complete months, oldest first (none: too new)
    figures_until: datetime  # the end of the last month shown: the month in progress begins
    last_verification: LastVerification | None


# -- months -----------------------------------------------------------------------------------
def _month(when: datetime) -> tuple[int, int]:
    return when.year, when.month


def _shift(month: tuple[int, int], by: int) -> tuple[int, int]:
    index = month[0] * 12 + month[1] - 1 + by
    return index // 12, index % 12 + 1


def _start(month: tuple[int, int]) -> datetime:
    return datetime(month[0], month[1], 1, tzinfo=UTC)


def _text(month: tuple[int, int]) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"


def _first_unsettled(now: datetime) -> tuple[int, int]:
    """The oldest month not published at ``now``: the month in progress, or the one before
    it during the first :data:`SETTLE` of a month."""
    now = now.astimezone(UTC)
    end = _month(now)
    return _shift(end, -1) if now < _start(end) + SETTLE else end


def month_window(now: datetime, created_at: datetime, months: int = MONTHS) -> list[str]:
    """The complete months shown at ``now`` (``YYYY-MM``, oldest first): up to ``months``
    before the newest one that ended at least :data:`SETTLE` ago, none before the agreement's
    creation."""
    end = _first_unsettled(now)
    first = max(_shift(end, -months), _month(created_at.astimezone(UTC)))
    found = []
    while first < end:
        found.append(_text(first))
        first = _shift(first, 1)
    return found


# -- counting ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Figures:
    columns: tuple[tuple[str, str], ...]
    months: tuple[MonthFigures, ...]


def _count(conn: sa.Connection, agreement_id: str, window: list[str]) -> _Figures:
    """The window's figures from the chain, suppressed (the database counts)."""
    if not window:
        return _Figures((), ())
    newest = (int(window[-1][:4]), int(window[-1][5:]))
    start, end = window[0], _text(_shift(newest, 1))
    cells: dict[tuple[str, str, str], int] = defaultdict(int)
    withdrawals: dict[str, int] = defaultdict(int)
    actions = (*KINDS, WITHDRAW)
    for month, action, purpose, n in monthly_counts(
        conn, agreement_id, start, end, actions=actions, ok=True
    ):
        if action == WITHDRAW:
            withdrawals[month] += n
        else:
            cells[month, KINDS[action], purpose or UNSTATED] += n
    refusals: dict[str, int] = defaultdict(int)
    for month, _, _, n in monthly_counts(
        conn, agreement_id, start, end, actions=None, ok=False, besides=(RATE_LIMITED,)
    ):
        refusals[month] += n
    for at, details in entry_details(conn, agreement_id, start, end, outcome=RATE_LIMITED):
        refusals[at[:7]] += int(details.get("refusals", 1))  # a window counts its refusals
    purged: dict[str, int] = defaultdict(int)
    for at, details in entry_details(conn, agreement_id, start, end, outcome="ok", action=PURGE):
        purged[at[:7]] += int(details.get("records_purged", 0))
    order = {kind: k for k, kind in enumerate(KINDS.values())}
    seen = {(k, p) for (_, k, p), n in cells.items() if n}
    columns = tuple(sorted(seen, key=lambda c: (order[c[0]], c[1])))
    months = tuple(
        MonthFigures(
            month=m,
            accesses=tuple(AccessCell(k, p, Count.of(cells.get((m, k, p), 0))) for k, p in columns),
            refusals=Count.of(refusals.get(m, 0)),
            withdrawals=Count.of(withdrawals.get(m, 0)),
            purged_records=Count.of(purged.get(m, 0)),
        )
        for m in window
    )
    return _Figures(columns, months)


class TransparencyCache:
    """The figures of complete months, per agreement and window: they never change once a
    month is published, so a chain is counted once per month and process. Bounded (least
    recently used first out); safe across threads."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._held: OrderedDict[tuple[str, str, str], _Figures] = OrderedDict()
        self._lock = threading.Lock()
        self.counted = 0  # chains counted (for tests)

    def figures(self, conn: sa.Connection, agreement_id: str, window: list[str]) -> _Figures:
        key = (agreement_id, window[0] if window else "", window[-1] if window else "")
        with self._lock:
            if key in self._held:
                self._held.move_to_end(key)
                return self._held[key]
        found = _count(conn, agreement_id, window)
        with self._lock:
            self.counted += 1
            self._held[key] = found
            while len(self._held) > self.size:
                self._held.popitem(last=False)
        return found


_CACHES: weakref.WeakKeyDictionary[sa.Engine, TransparencyCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def cache_for(engine: sa.Engine) -> TransparencyCache:
    """The cache of ``engine``'s database (one per engine, made on first use)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = TransparencyCache()
        return cache


def _not_found(agreement_id: str) -> ServiceError:
    return ServiceError(
        404,
        "not_found",
        f"no published transparency page for {named_id('agreement', agreement_id)}; its "
        "stewards may not have published it",
    )


def transparency(
    engine: sa.Engine,
    agreement_id: str,
    now: datetime,
    *,
    published_only: bool = True,
    months: int = MONTHS,
    cache: TransparencyCache | None = None,
) -> Transparency:
    """The agreement's public figures at ``now``; 404 (:class:`ServiceError`) if there is no
    such agreement or — with ``published_only``, the public's view — it is not published.
    ``published_only=False`` is a steward's preview: the caller checked who may see it. Not
    audited: it holds no linked data. ``cache``: default :func:`cache_for` the engine."""
    if not well_formed("agreement", agreement_id):
        raise _not_found(agreement_id)
    cache = cache or cache_for(engine)
    with reader_engine(engine).connect() as conn:
        row = agreements_repo.agreement(conn, agreement_id)
        published = row is not None and transparency_repo.is_published(conn, agreement_id)
        if row is None or (published_only and not published):
            raise _not_found(agreement_id)
        window = month_window(now, row.created_at, months)
        figures = cache.figures(conn, agreement_id, window)
        parties = agreements_repo.parties(conn, agreement_id)
        last = transparency_repo.latest_verification(conn, agreement_id)
    return Transparency(
        agreement_id=row.id,
        name=row.name,
        parties=tuple(parties),
        purposes=tuple(row.purposes),
        retention_days=row.retention_days,
        published=published,
        columns=figures.columns,
        months=figures.months,
        figures_until=_start(_first_unsettled(now)),
        last_verification=None
        if last is None
        else LastVerification(last.verified_at, last.ok, last.via, last.against_checkpoints),
    )
