"""linkage: Dice similarity, candidate pairs, the Ray executor, and from pairs to cases.

Public API (filters are ``(rows, words)`` uint64 arrays, as ``bloom`` writes them)::

    pairs = linkage.candidates(a, b, threshold=0.8, k=5)    # CandidatePairs(i, j, score)
    scores = linkage.dice_pairs(a, b, pairs.i, pairs.j)      # float64 Dice of given pairs
    linkage.ensure_ray()                                     # lean local Ray, or a cluster
    pairs = linkage.search(a, b, 0.8, k=5, segments=segs)   # exhaustive or LSH: it chooses
    pairs = linkage.search(a, b, 0.8, k=5, executor=linkage.RaySearch())  # as Ray tasks
    report = linkage.link([batch_a, batch_b], registry=linkage.Registry.open("reg.sqlite"))
    report.assignments              # agency, record_ref, case_id, confidence per record
    report = linkage.plan_link(batches, state=registry.state())  # the same, storing nothing
    registry.apply(report.update, connection=conn)           # ...until the caller stores it
    report = linkage.ray_plan_link(batches, state=state)     # the same, in a Ray task
    report = linkage.plan_link(batches, executor=linkage.RaySearch())  # search as Ray tasks
    linkage.registry_metadata                # the registry's tables, for a migration tool
    cipher = linkage.FilterCipher.from_file("data-keys")     # encryption at rest of filters
    linkage.Registry.open("reg.sqlite", codec=cipher)        # every stored filter sealed
    index = linkage.QueryIndex.build(scope, filters, agencies, case_ids, bounds)  # tracing
    index.search(queries, top_k=5)          # per query row: CaseHit(case_id, confidence, ...)
    index = index.apply(change)             # IndexChange: records in, out, re-cased (a copy)
    index = index.add(registry.index_rows(words, ids))       # or .remove(ids), .recase(...)
    index = linkage.QueryIndex.from_rows(scope, registry.index_rows(words), bounds)
    index.search(queries, top_k=5, scope="tracing")  # only records whose consent covers it
    registry.set_consent("agency-a", refs, ["tracing"])     # later consent; None: unsaid
    linkage.add_constraint(conn, scope, rec_a, rec_b, "cannot")  # a review's decision
    held = linkage.read_constraints(conn, scope)             # Constraints(must, cannot)
    report = linkage.plan_link(batches, state=state, constraints=held)  # respected
    report = linkage.enforce_constraints(state, held, threshold=t)  # the same, no new batch

Batches may say which records share a household, their relationships and consent
(``EncodedBatch.groups``/``relationships``/``consent``, :mod:`bloom._households`): a run
then weighs each pair's household evidence too (:mod:`linkage._households`), the registry
keeps the three per record, and a :class:`CaseHit` names the households of its records
(:class:`HouseholdTag`).

The parts a run is made of are public too, for evaluations and benchmarks:
``segment_bounds``/``segment_words``/``segment_dice`` (per-segment Dice), ``candidate_floor``,
``SEGMENT_THRESHOLD``, ``comparison_levels``/``crowd_levels`` (a pair's evidence as EM sees
it), ``fit_with_labels`` (the model fitted with labels), ``pair_probabilities`` and
``auto_threshold`` (from weights to probabilities and the run's threshold),
``cluster``/``assign_cases``, ``RegistryUpdate`` (what
``Registry.apply`` stores), ``insert_rows``/``update_rows`` (the bulk writes the registry
uses, ``COPY`` on PostgreSQL), and the Ray task names a cluster lists (``RUN_TASK_NAME``,
``SEARCH_TASK_NAMES``). The public module :mod:`linkage.sealing` is the encryption at rest
of stored filters, shared with the service's batch store.

``popcounts``/``popcounts_reference``, ``dice_pairs_reference`` and
``candidates_reference`` are the compiled kernel and the plain-numpy oracles it is tested
against. Bad input raises :class:`LinkageError` (an ``InputError`` of
:mod:`caselink_errors`) naming the parameter; a missing data key raises
:class:`DataKeyError`, a stored filter altered or moved between records
:class:`SealedValueError`.
"""

from linkage._calibration import pair_probabilities
from linkage._candidates import candidates, candidates_reference, dice_pairs
from linkage._caseid import (
    CaseIdError,
    is_valid_case_id,
    new_case_id,
    new_case_ids,
    parse_case_id,
)
from linkage._cluster import assign_cases, cluster
from linkage._constrained import ConstraintOutcome
from linkage._constraints import Constraints, add_constraint, read_constraints
from linkage._datakeys import DataKeyRing
from linkage._em_labels import fit_with_labels
from linkage._enforce import enforce_constraints
from linkage._features import crowd_levels, segment_bounds, segment_dice, segment_words
from linkage._fellegi import comparison_levels
from linkage._kernels import dice_pairs_reference, popcounts, popcounts_reference
from linkage._link import LinkReport, auto_threshold, candidate_floor, link, plan_link
from linkage._query_fit import QueryModel
from linkage._query_index import CaseHit, HouseholdTag, QueryIndex
from linkage._query_update import IndexChange, IndexRows
from linkage._ray import ensure_ray
from linkage._ray_link import RUN_TASK_NAME, PlanInputs, ray_plan_link
from linkage._ray_search import SEARCH_TASK_NAMES, RaySearch
from linkage._registry import Registry, RegistryError, RegistryState, RegistryUpdate
from linkage._registry import metadata as registry_metadata
from linkage._registry_write import insert_rows, update_rows
from linkage._search import SEGMENT_THRESHOLD, SearchExecutor, search
from linkage._task_limits import RunMemoryError, lower_priority, memory_budget
from linkage._types import CandidatePairs, DataKeyError, LinkageError, SealedValueError
from linkage.sealing import FilterCipher

__all__ = [
    "CandidatePairs",
    "CaseHit",
    "CaseIdError",
    "ConstraintOutcome",
    "Constraints",
    "DataKeyError",
    "DataKeyRing",
    "FilterCipher",
    "HouseholdTag",
    "IndexChange",
    "IndexRows",
    "LinkReport",
    "LinkageError",
    "PlanInputs",
    "QueryIndex",
    "QueryModel",
    "RUN_TASK_NAME",
    "RaySearch",
    "Registry",
    "RegistryError",
    "RegistryState",
    "RegistryUpdate",
    "RunMemoryError",
    "SEARCH_TASK_NAMES",
    "SEGMENT_THRESHOLD",
    "SealedValueError",
    "SearchExecutor",
    "add_constraint",
    "assign_cases",
    "auto_threshold",
    "candidate_floor",
    "candidates",
    "candidates_reference",
    "cluster",
    "comparison_levels",
    "crowd_levels",
    "dice_pairs",
    "dice_pairs_reference",
    "enforce_constraints",
    "ensure_ray",
    "fit_with_labels",
    "insert_rows",
    "is_valid_case_id",
    "link",
    "lower_priority",
    "memory_budget",
    "new_case_id",
    "new_case_ids",
    "pair_probabilities",
    "parse_case_id",
    "plan_link",
    "popcounts",
    "popcounts_reference",
    "ray_plan_link",
    "read_constraints",
    "registry_metadata",
    "search",
    "segment_bounds",
    "segment_dice",
    "segment_words",
    "update_rows",
]
