"""The records of one linking run: the registry's and the new batches', as aligned arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bloom import EncodedBatch
from linkage._facts import RecordFacts, batch_facts
from linkage._features import segment_dice, segment_words
from linkage._fellegi import comparison_levels
from linkage._registry import RegistryState
from linkage._types import LinkageError, LinkEnd, NewRecordRef

__all__ = ["Pool", "build_pool"]


@dataclass
class Pool:
    fingerprint: str
    agency_names: list[str]
    agency_codes: np.ndarray  # int per record
    agencies: np.ndarray  # object
    refs: np.ndarray  # object
    filters: np.ndarray  # (n, words) uint64
    popcounts: np.ndarray
    is_new: np.ndarray  # bool
    rec_ids: np.ndarray  # registry id, -1 for new
    old_case_ids: np.ndarray  # object, None for new
    old_labels: np.ndarray  # int label of the old case, -1 for new
    old_conf: np.ndarray
    case_seq: dict[str, int]
    case_confidence: dict[str, float]  # as stored, of the registry's live cases
    known_case_ids: set[str]
    bounds: np.ndarray
    input_index: np.ndarray  # pool position of each input record, in input order
    old_links: tuple[np.ndarray, np.ndarray, np.ndarray]  # pool positions and probabilities
    facts: RecordFacts  # household group, relationship, consent of each record

    def members(self, code: int) -> np.ndarray:
        return np.flatnonzero(self.agency_codes == code)

    def levels(self, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
        """Comparison levels of the pairs ``(g1[t], g2[t])`` of pool positions: each
        segment's Dice cut into levels (-1: missing on either side)."""
        return comparison_levels(segment_dice(self.filters, self.filters, g1, g2, self.bounds))

    def input_rows(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"agency": self.agencies[self.input_index], "record_ref": self.refs[self.input_index]}
        )

    def with_old_links(
        self, ea: np.ndarray, eb: np.ndarray, ep: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b, p = self.old_links
        return np.concatenate([a, ea]), np.concatenate([b, eb]), np.concatenate([p, ep])

    def link_ends(self, g: np.ndarray) -> list[LinkEnd]:
        """Each pool position as a registry record: an old record's id, or the new record's
        :class:`NewRecordRef` (its id comes when the run is stored)."""
        new_rank = np.cumsum(self.is_new) - 1
        new, rank, ids = self.is_new[g].tolist(), new_rank[g].tolist(), self.rec_ids[g].tolist()
        return [NewRecordRef(k) if n else i for n, k, i in zip(new, rank, ids, strict=True)]


def _check(batches: Sequence[EncodedBatch], state: RegistryState | None) -> list[str]:
    if not batches:
        return ["give at least one encoded batch"]
    problems = []
    first = batches[0].metadata
    for k, b in enumerate(batches[1:], start=2):
        if b.metadata.schema_fingerprint != first.schema_fingerprint:
            problems.append(
                f"batch {k} ({b.metadata.agency}) was encoded with schema "
                f"{b.metadata.schema_fingerprint}, batch 1 ({first.agency}) with "
                f"{first.schema_fingerprint}; all batches must use the same schema"
            )
        elif b.metadata.segments != first.segments:
            problems.append(f"batch {k} ({b.metadata.agency}) has another filter layout")
    checks = {b.metadata.key_check for b in batches} - {None}
    if len(checks) > 1:
        held_by = {
            c: [k for k, b in enumerate(batches, 1) if b.metadata.key_check == c] for c in checks
        }
        listed = "; ".join(
            f"{c}: batches {', '.join(map(str, ks))}" for c, ks in sorted(held_by.items())
        )
        problems.append(
            "the batches were encoded with different secrets (key check values "
            f"{listed}); their filters cannot match: encode every register with the same secret"
        )
    held = state.fingerprint if state is not None else None
    if held and held != first.schema_fingerprint:
        problems.append(
            f"the registry holds records of schema {held}; the batches use "
            f"{first.schema_fingerprint}"
        )
    return problems


def build_pool(batches: Sequence[EncodedBatch], state: RegistryState | None) -> Pool:
    """The run's records: ``state`` (a registry's, as :meth:`Registry.state` reads it) and the
    batches' records that are not in it yet. A record already held keeps the household and
    consent stored with it (a consent changes through :meth:`Registry.set_consent`)."""
    problems = _check(batches, state)
    checked = [batch_facts(b, k) for k, b in enumerate(batches, start=1)]
    problems += [p for _, found in checked for p in found]
    if problems:
        raise LinkageError(problems)
    agencies = np.concatenate([np.full(len(b), b.metadata.agency, dtype=object) for b in batches])
    refs = np.concatenate([b.record_refs for b in batches]).astype(object)
    filters = np.vstack([b.filters for b in batches])
    keys = pd.Series(agencies + "\x1f" + refs)
    dup = keys.duplicated(keep=False).to_numpy()
    if dup.any():
        raise LinkageError(
            f"{int(dup.sum())} input records share an (agency, record_ref) with another input "
            "record; each record may appear once"
        )
    if state is None or len(state.ids) == 0:  # nothing held: one code path, no special case
        state = RegistryState.empty(filters.shape[1])
    n_old = len(state.ids)
    in_registry = pd.Index(state.agencies + "\x1f" + state.refs).get_indexer(keys)
    seen = in_registry >= 0
    if seen.any():
        differ = seen & np.any(filters != state.filters[np.maximum(in_registry, 0)], axis=1)
        if differ.any():
            raise LinkageError(
                f"{int(differ.sum())} input records are already in the registry with other "
                "filters; withdraw them first or give them new refs"
            )
    fresh = ~seen
    n_new = int(fresh.sum())
    all_agencies = np.concatenate([state.agencies, agencies[fresh]])
    all_filters = np.vstack([state.filters, filters[fresh]])
    names = sorted(set(all_agencies))
    input_index = np.where(fresh, n_old + np.cumsum(fresh) - 1, in_registry)
    rec_ids = np.concatenate([state.ids, np.full(n_new, -1, np.int64)])
    position = pd.Index(state.ids)  # registry id -> pool position of the old records
    old_links = (
        position.get_indexer(state.link_a).astype(np.int64),
        position.get_indexer(state.link_b).astype(np.int64),
        np.asarray(state.link_p, dtype=np.float64),
    )
    return Pool(
        fingerprint=batches[0].metadata.schema_fingerprint,
        agency_names=names,
        agency_codes=np.searchsorted(np.array(names, dtype=object), all_agencies).astype(np.int64),
        agencies=all_agencies,
        refs=np.concatenate([state.refs, refs[fresh]]),
        filters=np.ascontiguousarray(all_filters),
        popcounts=np.bitwise_count(all_filters).sum(axis=1),
        is_new=np.r_[np.zeros(n_old, bool), np.ones(n_new, bool)],
        rec_ids=rec_ids,
        old_case_ids=np.concatenate([state.case_ids, np.full(n_new, None, dtype=object)]),
        old_labels=np.r_[pd.factorize(state.case_ids)[0], np.full(n_new, -1)].astype(np.int64),
        old_conf=np.r_[state.confidence, np.zeros(n_new)],
        case_seq=state.case_seq,
        case_confidence=state.case_confidence,
        known_case_ids=set(state.all_case_ids),
        bounds=segment_words(batches[0].metadata),
        input_index=input_index.astype(np.int64),
        old_links=old_links,
        facts=RecordFacts.concat(
            [state.facts(), RecordFacts.concat([f for f, _ in checked]).take(fresh)]
        ),
    )
