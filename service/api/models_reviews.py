"""Models of clerical review: an agency's side of its review items, a decision, the reviewed
pairs as labels for evaluation, and the band an agreement queues.

An item shows its agency's own record_ref and the other agency's name — never the other
agency's ref; the labels hold no ref and no id at all (:mod:`service._review`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BAND_DESCRIPTION",
    "DEFAULT_REVIEW_BAND",
    "Decision",
    "LABELS_FORMAT",
    "ReviewBand",
    "ReviewDecision",
    "ReviewItemPublic",
    "ReviewLabel",
    "ReviewLabels",
    "ReviewPage",
    "Status",
    "band_problems",
]

_WHEN = "(UTC, ISO 8601)"
LABELS_FORMAT = "caselink.review-labels/1"
STORED_FROM = 0.01  # the registry keeps links from this probability on
DEFAULT_REVIEW_BAND = (0.05, 0.9)  # chosen by measurement: service._review's docstring
Decision = Literal["same", "different", "unsure"]
Status = Literal["open", "unsure", "disagreed", "same", "different"]
ReviewBand = Annotated[
    list[Annotated[float, Field(ge=0.0, le=1.0)]], Field(min_length=2, max_length=2)
]
BAND_DESCRIPTION = (
    "The band of match probability `[low, high]` whose links go to clerical review after "
    "each run: the links between records of two agencies with a probability inside it are "
    "queued for both agencies to decide (0.01 <= low < high <= 1); null: no review queue. "
    "The default, [0.05, 0.9], was measured to hold three quarters of the wrong decisions a "
    "band can hold while queueing about 22 pairs per 1,000 records."
)


def band_problems(band: list[float] | None) -> list[str]:
    """What is wrong with a band (none for null: no queue)."""
    if band is None:
        return []
    low, high = band
    problems = []
    if not STORED_FROM <= low < high <= 1:
        problems.append(
            "review_band: [low, high] with 0.01 <= low < high <= 1 (links below 0.01 are not "
            "kept, so a band cannot reach below it)"
        )
    return problems


def checked_band(band: list[float] | None) -> list[float] | None:
    """A band as an agreement stores it: 0.01 <= low < high <= 1 (ValueError naming the
    rule otherwise, as a pydantic validator raises), each bound to six significant digits."""
    problems = band_problems(band)
    if problems:
        raise ValueError(problems[0].split(": ", 1)[1])
    return None if band is None else [float(format(x, ".6g")) for x in band]


class ReviewItemPublic(BaseModel):
    """One uncertain link as your agency sees it: your record, the other agency's name, the
    probability, your decision and where the item stands. Never the other agency's ref."""

    review_id: str = Field(description="The item's id (`rev_` and 16 hex digits), to quote.")
    record_ref: str = Field(description="Your agency's own ref of the record in question.")
    other_agency: str = Field(description="The agency holding the other record (its name).")
    probability: float = Field(
        description="The match probability of the two records now (the link as the registry "
        "holds it)."
    )
    probability_queued: float = Field(description="The match probability when it was queued.")
    your_decision: Decision | None = Field(
        description="Your agency's decision: `same` person, `different` people or `unsure`; "
        "null until you decide."
    )
    decided_at: datetime | None = Field(description=f"When your agency decided {_WHEN}.")
    status: Status = Field(
        description="`open`: an agency has not decided; `same` or `different`: both agreed and "
        "the registry holds the constraint (later runs keep the pair in one case, or apart); "
        "`disagreed`: one said same, the other different — no constraint, either may decide "
        "again; `unsure`: both decided, one or both unsure — no constraint."
    )
    queued_at: datetime = Field(description=f"When a run queued it {_WHEN}.")
    resolved_at: datetime | None = Field(
        description=f"When both agreed and the constraint was made {_WHEN}; null until then."
    )


class ReviewPage(BaseModel):
    """A page of your agency's review items, oldest first."""

    items: list[ReviewItemPublic] = Field(description="The items of this page.")
    total: int = Field(description="How many items match the status asked for, in all.")
    offset: int = Field(description="How many items come before this page.")
    limit: int = Field(description="The most items a page of this size holds.")
    next_offset: int | None = Field(
        description="The offset of the next page; null on the last page."
    )


class ReviewDecision(BaseModel):
    """Your agency's decision on one item, once it has resolved the pair through its own
    channels (for example by asking the person)."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision = Field(
        description="`same`: the two records are one person; `different`: two people; "
        "`unsure`: you could not tell. Both agencies saying `same` (or `different`) makes a "
        "must-link (cannot-link) constraint that every later run respects."
    )


class ReviewLabel(BaseModel):
    """One reviewed pair as a label for evaluation: probabilities and decision, no ref."""

    agencies: list[str] = Field(description="The two agencies holding the records, by name.")
    probability_queued: float = Field(description="The match probability when it was queued.")
    probability_latest: float | None = Field(
        description="The match probability now; null if the registry no longer holds the link."
    )
    decision: Literal["same", "different", "unsure", "disagreed"] = Field(
        description="What the two agencies decided: `same` and `different` are labels (both "
        "agreed); `unsure` and `disagreed` are not."
    )
    queued_at: datetime = Field(description=f"When a run queued the pair {_WHEN}.")
    resolved_at: datetime | None = Field(
        description=f"When both agreed {_WHEN}; null for `unsure` and `disagreed`."
    )


class ReviewLabels(BaseModel):
    """The agreement's reviewed pairs (both agencies decided), for evaluation: `caselink
    evaluate --labels` reads this document. No ref, no record, no review id."""

    format: str = Field(description=f"`{LABELS_FORMAT}`.")
    agreement_id: str = Field(description="The agreement the pairs come from.")
    pairs: list[ReviewLabel] = Field(description="The reviewed pairs, oldest first.")
