"""A run without new records that applies the registry's constraints: :func:`enforce_constraints`.

People's review decisions become constraints between the next runs. A run that brings new
batches applies them as it clusters (:func:`linkage.plan_link` with ``constraints``); one
that brings none calls this instead: the registry's cases are clustered again under the
constraints exactly as a run would (:mod:`linkage._constrained`), with the stored links and
no new record. A case holding a cannot-link pair splits (the part with its oldest record
keeps the id); two cases holding a must-link pair merge (the older id survives) unless that
would put two records of one agency in one case. ``report.update`` holds the changes for
:meth:`linkage.Registry.apply`, ``report.constraints`` what was done.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage._caseid import new_case_ids
from linkage._cluster import CaseAssignment, assign_cases, cluster
from linkage._constrained import hold
from linkage._constraints import Constraints
from linkage._link import LinkReport
from linkage._registry import RegistryState, RegistryUpdate
from linkage._types import LinkageError

__all__ = ["enforce_constraints"]


def _update(state: RegistryState, result: CaseAssignment) -> RegistryUpdate:
    """The changes: records whose case or confidence moved, new cases, merges, and the live
    cases whose confidence is not the one stored."""
    case_ids, conf = result.case_ids, result.confidence
    changed = (case_ids != state.case_ids) | (conf != state.confidence)
    new = set(result.new_cases)
    now = result.case_confidence
    stale = {c: v for c, v in now.items() if c not in new and state.case_confidence.get(c) != v}
    words = state.filters.shape[1]
    none = np.zeros(0, dtype=object)
    return RegistryUpdate(
        fingerprint=state.fingerprint or "",
        filter_bits=words * 64,
        new_agencies=none,
        new_refs=none,
        new_filters=np.zeros((0, words), np.uint64),
        new_case_ids=none,
        new_confidence=np.zeros(0),
        changed_ids=state.ids[changed],
        changed_case_ids=case_ids[changed],
        changed_confidence=conf[changed],
        links=[],
        new_cases=[(c, now[c]) for c in result.new_cases],
        merges=result.merges,
        case_confidence=stale,
    )


def enforce_constraints(
    state: RegistryState,
    constraints: Constraints,
    *,
    threshold: float,
    allow_duplicates_within_agency: bool = False,
) -> LinkReport:
    """The registry's cases clustered again under ``constraints`` (module docstring), with
    the stored links at or above ``threshold`` (the one the registry's runs clustered with).
    ``report.assignments`` holds the records whose case or confidence changed."""
    if not 0 < threshold <= 1:
        raise LinkageError("threshold must be a probability in (0, 1]")
    if state.fingerprint is None or not len(state.ids):
        raise LinkageError("the registry holds no record: there is nothing to apply them to")
    ids = np.asarray(state.ids, np.int64)
    codes = pd.factorize(state.agencies)[0].astype(np.int64)
    labels0 = pd.factorize(state.case_ids)[0].astype(np.int64)
    at = pd.Index(ids)
    links = (
        at.get_indexer(state.link_a).astype(np.int64),
        at.get_indexer(state.link_b).astype(np.int64),
        np.asarray(state.link_p, np.float64),
    )
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    held = hold(constraints, ids, labels0, links, none)
    labels = cluster(
        codes,
        held.existing,
        *held.edges,
        threshold,
        allow_duplicates_within_agency=allow_duplicates_within_agency,
        constraints=held.cluster,
    )
    known = set(state.all_case_ids)
    result = assign_cases(
        labels,
        held.old_case_ids(labels, state.case_ids),
        state.case_seq,
        held.confidence_edges(links),
        new_ids=lambda n: new_case_ids(n, avoid=known),
    )
    update = _update(state, result)
    moved = np.isin(ids, update.changed_ids)
    rows = pd.DataFrame(
        {
            "agency": state.agencies[moved],
            "record_ref": state.refs[moved],
            "case_id": result.case_ids[moved],
            "confidence": result.confidence[moved],
        }
    )
    report = LinkReport(rows, threshold, 0.0, 0, 0, result.merges, update=update)
    report.constraints = held.outcome(labels, codes, exclusive=not allow_duplicates_within_agency)
    return report
