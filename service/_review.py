"""Clerical review without names: uncertain links queued for both agencies, their decisions,
and the constraints agreeing decisions make.

**The queue.** After every successful run, in the run's own transaction, the cross-agency
links of the agreement's registry (the registry keeps every link of probability 0.01 or more)
whose probability is inside the agreement's band ``[low, high]`` and that are not queued yet
become review items (:func:`queue_reviews`, audited ``review.queue`` with the count). A pair
is queued once: an item stays with its decisions whatever its link's probability does later,
and goes only with one of its records (a withdrawal or a retention purge: the table's
``ON DELETE CASCADE``). Each agency sees its side only: the review id, its own record_ref, the
other agency's name, the probability, its own decision and the item's status — never the
other agency's ref.

**Decisions.** Each agency resolves the pair through its own channels (asking the person, say)
and records ``same``, ``different`` or ``unsure`` with a ``submitter`` key (audited
``review.decide`` with the review id, the decision and the status: never a ref). The status:

- ``open``: one agency or both have not decided;
- ``same`` / ``different``: both said so. A must-link (``same``) or cannot-link
  (``different``) constraint is stored in the registry in the same transaction (audited
  ``review.constraint``); the item is resolved, for good;
- ``disagreed``: one said ``same``, the other ``different`` — how disagreement shows: each
  agency sees its own decision and this status, no constraint is made, and either may change
  its decision;
- ``unsure``: both decided and one (or both) said ``unsure``; either may decide again.

**Runs.** Every run reads the registry's constraints and respects them
(:func:`linkage.plan_link` with ``constraints``); a run with no new batch applies them all
the same (:func:`linkage.enforce_constraints`). A must-link pair that would put two records
of one agency in one case stays apart; the run's figures say how many
(``must_links_apart_agency``) and the service's log names the pairs by registry id. The
constraints are labels too: a run with new batches fits them in its EM beside its candidates
(:mod:`linkage._review_labels`), and its figures count them (``labelled_pairs_used``).

**The default band**, :data:`DEFAULT_REVIEW_BAND` = [0.05, 0.90], was chosen by measurement
(``caselink bench --only review_band`` = ``evaluation._review_band.measure(people=5000,
seeds=(0, 1))``: the synthetic registers of ``evaluation.generate_synthetic`` and of
``evaluation.generate_households``, three agencies, 5,000 people, two seeds each, and FEBRL4;
47,091 records, linked with the default settings; 2026-12-05, 2-core machine;
``bench/results.json``). Of the 307 pairwise errors the runs made (false links and missed
links), 177 were stored links at all — the rest were pairs no candidate search scored, or
false links made through a third record, which no band can hold. Pooled over the datasets:

=============  =================  ==================  =========================
band           errors inside      of the reachable    pairs queued / 1,000 rec.
=============  =================  ==================  =========================
[0.10, 0.90]   41%                72%                 12.7
**[0.05, 0.90]** **44%**          **76%**             **14.7**
[0.02, 0.90]   48%                83%                 18.5
[0.01, 0.99]   56%                98%                 36.9
=============  =================  ==================  =========================

Inside [0.05, 0.90] a reviewer sees about 5 queued pairs per error found; widening it to 0.02
costs about 15 more pairs per extra error found, to [0.01, 0.99] about 21. FEBRL4 alone queues
nothing in any band: its links are all near 0 or 1. (A first measurement, before the household
generator spaced births and before the stratified household model, gave the same choice:
76% of reachable errors at 22.2 pairs per 1,000 records.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

import linkage
from service._audit import SERVICE_ACTOR, Actor, append
from service.api.errors import ServiceError
from service.api.models_reviews import DEFAULT_REVIEW_BAND
from service.repositories import reviews as repo
from service.repositories.agreements import AgreementRow
from service.repositories.reviews import Side, SideRow

__all__ = [
    "DECISIONS",
    "DEFAULT_REVIEW_BAND",
    "STATUSES",
    "agreement_band",
    "set_agreement_band",
    "apply_without_batches",
    "decide",
    "queue_reviews",
    "run_constraints",
    "run_figures",
    "status_of",
]

logger = logging.getLogger(__name__)
DECISIONS = ("same", "different", "unsure")
STATUSES = ("open", "unsure", "disagreed", "same", "different")
RESOLVED = {"same": "must", "different": "cannot"}  # status -> the constraint it makes


def status_of(a: str | None, b: str | None) -> str:
    """An item's status from its two decisions (the module docstring)."""
    if a is None or b is None:
        return "open"
    if a == b and a in RESOLVED:
        return a
    return "disagreed" if {a, b} == {"same", "different"} else "unsure"


def agreement_band(conn: sa.Connection, agreement_id: str) -> tuple[float, float] | None:
    """The agreement's band: the one its steward set, None for no queue, else the default."""
    found = repo.band(conn, agreement_id)
    return DEFAULT_REVIEW_BAND if found is None else found.band


def set_agreement_band(conn: sa.Connection, agreement_id: str, band: list[float] | None) -> None:
    """Set the agreement's band (None: no review queue)."""
    repo.set_band(conn, agreement_id, None if band is None else (band[0], band[1]))


def queue_reviews(conn: sa.Connection, agreement_id: str, run_id: str) -> int:
    """Queue the registry's links inside the band not queued yet, in the run's transaction;
    returns how many (audited ``review.queue`` when any)."""
    band = agreement_band(conn, agreement_id)
    if band is None:
        return 0
    found = repo.candidates(conn, agreement_id, *band)
    queued = repo.insert_items(conn, agreement_id, run_id, found, datetime.now(UTC))
    if queued:
        details = {"run": run_id, "queued": queued, "band": list(band)}
        append(conn, agreement_id, SERVICE_ACTOR, "review.queue", details=details)
    return queued


def _side(item: Any, agency: str) -> Side | None:
    if item.agency_a == agency:
        return Side("a")
    if item.agency_b == agency:
        return Side("b")
    return None


def decide(
    conn: sa.Connection,
    agreement_id: str,
    review_id: str,
    actor: Actor,
    decision: str,
    purpose: str,
) -> SideRow:
    """Record the caller's agency's ``decision`` on the item, in the caller's transaction;
    a constraint when both agencies agree (module docstring). 404: no such item on the
    agency's side; 409: the item is resolved already."""
    item = repo.item_for_update(conn, agreement_id, review_id)
    side = _side(item, actor.agency) if item is not None else None
    if item is None or side is None:
        raise ServiceError(
            404, "not_found", "no such review item on your agency's side of this agreement"
        )
    if item.status in RESOLVED:
        raise ServiceError(
            409,
            "conflict",
            f"this item is resolved ({item.status}): both agencies agreed and the registry "
            "holds the constraint; it is never reversed",
        )
    now = datetime.now(UTC)
    a = decision if side.name == "a" else item.decision_a
    b = decision if side.name == "b" else item.decision_b
    status = status_of(a, b)
    made = RESOLVED.get(status)
    repo.set_decision(conn, review_id, side, decision, status, now, resolved=made is not None)
    details = {"review": review_id, "decision": decision, "status": status}
    append(conn, agreement_id, actor, "review.decide", purpose=purpose, details=details)
    if made is not None:
        linkage.add_constraint(conn, agreement_id, item.rec_a, item.rec_b, made)
        append(
            conn,
            agreement_id,
            actor,
            "review.constraint",
            purpose=purpose,
            details={"review": review_id, "constraint": f"{made}-link"},
        )
    rows, _ = repo.page(conn, agreement_id, actor.agency, (), 0, 1, review_id=review_id)
    return rows[0]


def run_constraints(registry: linkage.Registry) -> linkage.Constraints | None:
    """The registry's constraints for a run (None: there are none)."""
    with registry.reader.connect() as conn:
        held = linkage.read_constraints(conn, registry.scope)
    return held if len(held) else None


def apply_without_batches(
    registry: linkage.Registry, agreement: AgreementRow
) -> linkage.LinkReport | None:
    """A run with no new batch: the constraints applied to the registry's cases with the
    stored links at or above the threshold its runs clustered with (as a withdrawal re-forms
    a case: :func:`service._withdraw.clustering_threshold`); None when there is nothing to
    apply them to."""
    from service._withdraw import clustering_threshold

    held = run_constraints(registry)
    if held is None:
        return None
    with registry.reader.connect() as conn:
        threshold = clustering_threshold(conn, agreement)
    if threshold is None:
        return None
    return linkage.enforce_constraints(
        registry.state(),
        held,
        threshold=threshold,
        allow_duplicates_within_agency=agreement.allow_duplicates,
    )


def run_figures(run_id: str, report: linkage.LinkReport | None) -> dict[str, int]:
    """The constraint figures of a run's stats (none without constraints); a must-link pair
    left apart is logged by registry ids, never a ref."""
    outcome = report.constraints if report is not None else None
    if outcome is None:
        return {}
    for rec_a, rec_b, why in outcome.must_apart:
        reason = "two records of one agency" if why == "agency" else "a cannot-link pair"
        logger.warning(
            "run %s: must-link pair of registry records %s and %s left in two cases: one "
            "case would hold %s",
            run_id,
            rec_a,
            rec_b,
            reason,
        )
    return outcome.summary()
