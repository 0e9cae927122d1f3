"""A run's first step: screen its pending batches; a batch that cannot be linked is set aside.

A batch accepted before uploads checked its layout, or stored some other way, may declare a
segment layout other than the agreement's, or hold filters of another width. Linked with the
others it would fail the run — and every later run, since it stays pending. So each pending
batch is checked first:

- its layout ``[[name, bits], ...]`` is well formed (unique names, each segment a positive
  multiple of 64 bits) and adds up to the agreement's ``filter_bits``;
- it equals the agreement's layout: ``agreements.segments``, or for an agreement made before
  that column (NULL) the layout of its first linked batch, else of its first well-formed
  pending batch;
- every record holds a filter of exactly ``filter_bits`` bits.

A batch that fails is quarantined by the run (status ``quarantined``, with the reason) in
the run's own transaction; the others are linked. Reasons hold counts only, never a segment
name or any other value from the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from linkage.sealing import OVERHEAD
from service._tables import batch_records, batches
from service.repositories.agreements import AgreementRow

__all__ = ["Screened", "screen"]

Layout = tuple[tuple[str, int], ...]
_AGAIN = "; re-encode the register with the agreement's schema and upload it again"


@dataclass
class Screened:
    """The pending batches a run links, and those it sets aside with their reasons."""

    good: list[Any] = field(default_factory=list)
    quarantined: dict[str, str] = field(default_factory=dict)  # batch id -> reason


def _layout(value: object) -> Layout | None:
    """``[[name, bits], ...]`` as a tuple, or None when malformed."""
    if not isinstance(value, list | tuple) or not value:
        return None
    out = []
    for seg in value:
        if not isinstance(seg, list | tuple) or len(seg) != 2:
            return None
        name, bits = seg
        if not isinstance(name, str) or isinstance(bits, bool) or not isinstance(bits, int):
            return None
        if bits <= 0 or bits % 64:
            return None
        out.append((name, bits))
    if len({n for n, _ in out}) != len(out):
        return None
    return tuple(out)


def _describe(layout: Layout) -> str:
    return f"{len(layout)} segments, {sum(b for _, b in layout)} bits"


def _reference(conn: sa.Connection, agreement: AgreementRow, rows: Sequence[Any]) -> Layout | None:
    """The layout every batch must have (see the module docstring); None: none known."""
    known = _layout(getattr(agreement, "segments", None))
    if known is not None:
        return known
    b = batches.c
    linked = conn.execute(
        sa.select(b.segments)
        .where(b.agreement_id == agreement.id, b.status == "linked")
        .order_by(b.received_at, b.id)
        .limit(1)
    ).scalar()
    if (known := _layout(linked)) is not None:
        return known
    for row in rows:
        layout = _layout(row.segments)
        if layout is not None and sum(bits for _, bits in layout) == agreement.filter_bits:
            return layout
    return None


def _layout_problem(row: Any, reference: Layout | None, filter_bits: int) -> str | None:
    layout = _layout(row.segments)
    if layout is None:
        return (
            "its segment layout is malformed (each segment needs a unique name and a "
            "positive multiple of 64 bits)" + _AGAIN
        )
    bits = sum(b for _, b in layout)
    if bits != filter_bits:
        return f"its layout adds up to {bits} bits; the agreement's filters have {filter_bits}"
    if reference is not None and layout != reference:
        return (
            f"its segment layout ({_describe(layout)}) is not the agreement's "
            f"({_describe(reference)}): another filter layout" + _AGAIN
        )
    return None


def _bad_filters(
    conn: sa.Connection, ids: list[str], filter_bits: int, sealed: bool
) -> dict[str, int]:
    """Per batch: how many records have no filter or one of another width (a filter sealed at
    rest is :data:`linkage.sealing.OVERHEAD` bytes longer than its plain width)."""
    if not ids:
        return {}
    br = batch_records.c
    width = filter_bits // 8 + (OVERHEAD if sealed else 0)
    wrong = sa.or_(br.bloom.is_(None), sa.func.length(br.bloom) != width)
    rows = conn.execute(
        sa.select(br.batch_id, sa.func.count())
        .where(br.batch_id.in_(ids), wrong)
        .group_by(br.batch_id)
    ).all()
    return {batch_id: int(n) for batch_id, n in rows}


def screen(
    conn: sa.Connection, agreement: AgreementRow, rows: Sequence[Any], *, sealed: bool = False
) -> Screened:
    """Split pending batch ``rows`` (in the order they are linked) into good and set aside."""
    out = Screened()
    bits = int(agreement.filter_bits)
    reference = _reference(conn, agreement, rows)
    shaped = []
    for row in rows:
        problem = _layout_problem(row, reference, bits)
        if problem is None:
            shaped.append(row)
        else:
            out.quarantined[row.id] = problem
    bad = _bad_filters(conn, [r.id for r in shaped], bits, sealed)
    for row in shaped:
        if bad.get(row.id):
            out.quarantined[row.id] = (
                f"{bad[row.id]} of its records have no filter or one that is not {bits} bits "
                "wide" + _AGAIN
            )
        else:
            out.good.append(row)
    return out
