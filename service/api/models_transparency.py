"""Models of an agreement's publication and of its public transparency figures.

The public figures hold counts only, each 0, at least 10, or "fewer than 10"
(:class:`PublicCount`); never a record ref, a case id or any agency's own figure
(:mod:`service._transparency` says why no number can be recovered from others).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from service._transparency import Count, Transparency

__all__ = [
    "AccessPublic",
    "MonthPublic",
    "PublicCount",
    "Publication",
    "TransparencyPublic",
    "VerificationPublic",
    "public_transparency",
]

_WHEN = "(UTC, ISO 8601)"


class Publication(BaseModel):
    """Whether an agreement's transparency page is published, and where the public reads it."""

    agreement_id: str = Field(description="The agreement's id (`agr_` and 16 hex digits).")
    published: bool = Field(description="True while anyone may read the page, without a key.")
    changed: bool = Field(description="False when it was already so before this call.")
    public_path: str = Field(
        description="Where the public reads the figures as JSON: a path on this service."
    )


class PublicCount(BaseModel):
    """A count as the public sees it: 0, at least 10, or fewer than 10 (never the number)."""

    shown: int | None = Field(
        description="The count when it is 0 or at least 10; null when it is from 1 to 9."
    )
    fewer_than_10: bool = Field(description="True when the count is from 1 to 9: not shown.")


class AccessPublic(BaseModel):
    """Accesses of one kind, for one purpose, in one month."""

    kind: str = Field(
        description="`upload` (a batch uploaded), `run` (a linkage run started), `case_read` "
        "(an agency read its records' case ids) or `tracing_query` (a tracing query answered)."
    )
    purpose: str = Field(description="The purpose the calls stated or had by default.")
    count: PublicCount = Field(description="How many such calls were answered.")


class MonthPublic(BaseModel):
    """One complete month's figures. There are no totals: each number counts calls no other
    number counts, so none can be worked out from the others."""

    month: str = Field(description="The month, as `YYYY-MM` (UTC).")
    accesses: list[AccessPublic] = Field(
        description="One count per kind and purpose listed in `columns`, in that order."
    )
    refusals: PublicCount = Field(
        description="Calls under the agreement that were refused (role, purpose, bad input, "
        "rate limit)."
    )
    withdrawals: PublicCount = Field(description="Records withdrawn on request (honoured).")
    purged_records: PublicCount = Field(
        description="Records deleted because their retention period ended."
    )


class VerificationPublic(BaseModel):
    """The newest verification of the agreement's audit chain."""

    verified_at: datetime = Field(description=f"When it was verified {_WHEN}.")
    ok: bool = Field(description="True when no entry was found edited, removed or reordered.")
    via: str = Field(
        description="`api` or `console` (a steward or auditor through the service) or `cli` "
        "(the operator, on the database)."
    )
    against_checkpoints: bool = Field(
        description="True when the chain was also held to signed checkpoints kept outside."
    )


class TransparencyPublic(BaseModel):
    """What happens to the data shared under an agreement: who shares it, for what, for how
    long, how often it was used, refused, withdrawn and purged, and whether its audit holds.
    Counts from 1 to 9 are never shown."""

    agreement_id: str = Field(description="The agreement's id (`agr_` and 16 hex digits).")
    name: str = Field(description="The name people know the agreement by.")
    parties: list[str] = Field(description="The agencies sharing records under it.")
    purposes: list[str] = Field(description="The purposes its records may be used for.")
    retention_days: int = Field(description="How many days records are kept after they arrive.")
    columns: list[list[str]] = Field(
        description="The kinds and purposes of access counted, as `[kind, purpose]`: those "
        "with an access in one of the months shown."
    )
    months: list[MonthPublic] = Field(
        description="Complete months, oldest first: a month is shown once it has ended and a "
        "day has passed, and never changes after."
    )
    figures_until: datetime = Field(
        description=f"The end of the last month shown {_WHEN}: later calls are not counted yet."
    )
    last_verification: VerificationPublic | None = Field(
        description="The newest verification of the agreement's audit chain; null if never."
    )


def _count(c: Count) -> PublicCount:
    return PublicCount(shown=c.shown, fewer_than_10=c.fewer_than_10)


def public_transparency(t: Transparency) -> TransparencyPublic:
    """The published form of :class:`Transparency`."""
    last = t.last_verification
    return TransparencyPublic(
        agreement_id=t.agreement_id,
        name=t.name,
        parties=list(t.parties),
        purposes=list(t.purposes),
        retention_days=t.retention_days,
        columns=[[k, p] for k, p in t.columns],
        months=[
            MonthPublic(
                month=m.month,
                accesses=[
                    AccessPublic(kind=a.kind, purpose=a.purpose, count=_count(a.count))
                    for a in m.accesses
                ],
                refusals=_count(m.refusals),
                withdrawals=_count(m.withdrawals),
                purged_records=_count(m.purged_records),
            )
            for m in t.months
        ],
        figures_until=t.figures_until,
        last_verification=None
        if last is None
        else VerificationPublic(
            verified_at=last.verified_at,
            ok=last.ok,
            via=last.via,
            against_checkpoints=last.against_checkpoints,
        ),
    )
