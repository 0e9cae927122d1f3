"""The records of one linking run: the registry's and the new batches', as aligned arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bloom import EncodedBatch
from linkage._features import segment_words
from linkage._registry import RegistryState
from linkage._types import LinkageError

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

    def members(self, code: int) -> np.ndarray:
        return np.flatnonzero(self.agency_codes == code)

    def input_rows(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"agency": self.agencies[self.input_index], "record_ref": self.refs[self.input_index]}
        )

    def with_old_links(self, ea, eb, ep):
        a, b, p = self.old_links
        return np.concatenate([a, ea]), np.concatenate([b, eb]), np.concatenate([p, ep])

    def registry_positions(self, g: np.ndarray) -> np.ndarray:
        """Registry id of each old record; -1-k for the k-th new record (ids come on insert)."""
        new_rank = np.cumsum(self.is_new) - 1
        return np.where(self.is_new[g], -1 - new_rank[g], self.rec_ids[g])


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
    held = state.fingerprint if state is not None else None
    if held and held != first.schema_fingerprint:
        problems.append(
            f"the registry holds records of schema {held}; the batches use "
            f"{first.schema_fingerprint}"
        )
    return problems


def build_pool(batches: Sequence[EncodedBatch], state: RegistryState | None) -> Pool:
    """The run's records: ``state`` (a registry's, as :meth:`Registry.state` reads it) and the
    batches' records that are not in it yet."""
    problems = _check(batches, state)
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
    n_old = 0 if state is None else len(state.ids)
    in_registry = np.full(len(refs), -1, dtype=np.int64)
    if n_old:
        old_keys = pd.Index(state.agencies + "\x1f" + state.refs)
        in_registry = old_keys.get_indexer(keys)
        seen = in_registry >= 0
        differ = seen & np.any(filters != state.filters[np.maximum(in_registry, 0)], axis=1)
        if differ.any():
            raise LinkageError(
                f"{int(differ.sum())} input records are already in the registry with other "
                "filters; withdraw them first or give them new refs"
            )
    fresh = in_registry < 0
    old_codes = np.zeros(0, dtype=np.int64)
    if n_old:
        old_codes = pd.factorize(state.case_ids)[0]
    names = sorted(set(agencies) | (set(state.agencies) if n_old else set()))
    all_agencies = np.concatenate(
        [state.agencies if n_old else np.zeros(0, object), agencies[fresh]]
    )
    all_filters = np.vstack([state.filters, filters[fresh]]) if n_old else filters[fresh]
    n_new = int(fresh.sum())
    input_index = np.where(fresh, n_old + np.cumsum(fresh) - 1, in_registry)
    old_case_ids = np.concatenate([state.case_ids if n_old else np.zeros(0, object),
                                   np.full(n_new, None, dtype=object)])  # fmt: skip
    rec_ids = np.concatenate([state.ids if n_old else np.zeros(0, np.int64), np.full(n_new, -1)])
    id_to_pos = {int(i): p for p, i in enumerate(rec_ids[:n_old])}
    none = np.zeros(0, np.int64)
    old_links = (
        np.array([id_to_pos[int(a)] for a in state.link_a], dtype=np.int64) if n_old else none,
        np.array([id_to_pos[int(b)] for b in state.link_b], dtype=np.int64) if n_old else none,
        state.link_p if n_old else np.zeros(0),
    )
    return Pool(
        fingerprint=batches[0].metadata.schema_fingerprint,
        agency_names=names,
        agency_codes=np.array([names.index(a) for a in all_agencies], dtype=np.int64),
        agencies=all_agencies,
        refs=np.concatenate([state.refs if n_old else np.zeros(0, object), refs[fresh]]),
        filters=np.ascontiguousarray(all_filters),
        popcounts=np.bitwise_count(all_filters).sum(axis=1),
        is_new=np.r_[np.zeros(n_old, bool), np.ones(n_new, bool)],
        rec_ids=rec_ids,
        old_case_ids=old_case_ids,
        old_labels=np.r_[old_codes, np.full(n_new, -1)].astype(np.int64),
        old_conf=np.r_[state.confidence if n_old else np.zeros(0), np.zeros(n_new)],
        case_seq=state.case_seq if n_old else {},
        case_confidence=state.case_confidence if n_old else {},
        known_case_ids=set(state.all_case_ids) if n_old else set(),
        bounds=segment_words(batches[0].metadata),
        input_index=input_index.astype(np.int64),
        old_links=old_links,
    )
