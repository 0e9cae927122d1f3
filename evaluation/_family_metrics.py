"""Accuracy on families: links between relatives who are not the same person, and tracing.

Children of one family share a family name and a father's name; twins share a birth date as
well. A linkage that leans on names and dates links them by mistake. These figures look at
those pairs alone:

* **Precision on related pairs** (:func:`related_pair_precision`). Among the predicted links
  (two records in one predicted case) whose two records belong to people of one related
  group -- the children of one true household, or one pair of twins -- the share that link
  two records of the *same* person. A link of a child's record at one agency with the same
  child's record at another counts as right; a link between two siblings (or the two twins)
  counts as wrong. Without any such link the precision is 1 (nothing was linked wrongly).
  Its recall is the share of the same-person record pairs within those groups that are
  linked.
* **Family-level recall of tracing** (:func:`family_recall`). Per sought family, whether
  every sought member was found and whether at least one was; the figures are the shares of
  sought families.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation._metrics import PairwiseScores, entity_labels, pairwise_scores

__all__ = [
    "FamilyRecall",
    "FamilyScores",
    "RelatedPairPrecision",
    "family_recall",
    "family_scores",
    "members_found",
    "related_pair_precision",
]


@dataclass(frozen=True)
class RelatedPairPrecision:
    """Predicted links within related groups (module docstring): ``links`` of them,
    ``same_person`` right, ``precision = same_person / links`` (1.0 when ``links`` is 0);
    ``recall``: linked share of the ``true_pairs`` (same-person record pairs in the groups)."""

    precision: float
    recall: float
    links: int
    same_person: int
    true_pairs: int

    @property
    def wrong_links(self) -> int:
        """Links between two different people of one related group."""
        return self.links - self.same_person


@dataclass(frozen=True)
class FamilyScores:
    """Pairwise scores over every record, and precision on sibling and on twin pairs."""

    pairwise: PairwiseScores
    siblings: RelatedPairPrecision
    twins: RelatedPairPrecision


@dataclass(frozen=True)
class FamilyRecall:
    """Tracing figures over ``families`` sought families of ``members`` sought people:
    the share of families with every member found, with at least one found, and the share of
    members found."""

    families: int
    every_member_found: float
    some_member_found: float
    members: int
    members_found: float


def _codes(values: np.ndarray | pd.Series) -> np.ndarray:
    return pd.factorize(pd.Series(np.asarray(values, dtype=object)))[0].astype(np.int64)


def _pairs_in_groups(*labels: np.ndarray) -> int:
    """Pairs of records that agree on every label (each label an int64 code array)."""
    if labels[0].size == 0:
        return 0
    key = np.zeros(labels[0].size, dtype=np.int64)
    for codes in labels:
        key = key * (int(codes.max()) + 1) + codes
        key = pd.factorize(key)[0].astype(np.int64)
    sizes = np.bincount(key)
    return int((sizes * (sizes - 1) // 2).sum())


def related_pair_precision(
    predicted: np.ndarray, entity: np.ndarray, group: np.ndarray
) -> RelatedPairPrecision:
    """Precision on related pairs (module docstring). One value per record in each array:
    its predicted case, its true person, and its related group (any hashable value; ``None``
    or NaN for a record outside every group, such as a parent's)."""
    g = pd.Series(np.asarray(group, dtype=object))
    inside = g.notna().to_numpy()
    case = _codes(np.asarray(predicted, dtype=object)[inside])
    person = _codes(np.asarray(entity, dtype=object)[inside])
    related = _codes(g[inside].to_numpy())
    links = _pairs_in_groups(related, case)
    same = _pairs_in_groups(related, case, person)
    true_pairs = _pairs_in_groups(related, person)
    return RelatedPairPrecision(
        precision=same / links if links else 1.0,
        recall=same / true_pairs if true_pairs else 1.0,
        links=links,
        same_person=same,
        true_pairs=true_pairs,
    )


def family_scores(assignments: pd.DataFrame, truth: pd.DataFrame) -> FamilyScores:
    """Scores of a linkage of household registers.

    ``assignments``: ``agency, record_ref, case_id`` per record (as :func:`linkage.link`
    returns); ``truth``: ``agency, record_ref, entity_id, household, role, twin`` per record
    (as :attr:`evaluation.HouseholdData.truth`). Siblings are the records of people whose
    role is ``child`` in one true household; twins those of one twin pair (``twin >= 0``).
    A record without truth counts as a person of its own, outside every group.
    """
    m = assignments[["agency", "record_ref", "case_id"]].merge(
        truth, on=["agency", "record_ref"], how="left", validate="1:1"
    )
    entity = entity_labels(m)
    case = m["case_id"].to_numpy()
    children = m["household"].where(m["role"] == "child")
    twins = m["twin"].where(m["twin"].fillna(-1) >= 0)
    return FamilyScores(
        pairwise=pairwise_scores(case, entity),
        siblings=related_pair_precision(case, entity, children.to_numpy()),
        twins=related_pair_precision(case, entity, twins.to_numpy()),
    )


def family_recall(family: np.ndarray, found: np.ndarray) -> FamilyRecall:
    """Family-level recall of tracing queries: one value per sought member in each array,
    the sought family it belongs to (any hashable value) and whether it was found."""
    fam = _codes(family)
    hit = np.asarray(found, dtype=bool)
    if fam.size != hit.size:
        raise ValueError("family and found need one value per sought member each")
    if fam.size == 0:
        return FamilyRecall(0, 0.0, 0.0, 0, 0.0)
    n = int(fam.max()) + 1
    members = np.bincount(fam, minlength=n)
    hits = np.bincount(fam, weights=hit, minlength=n)
    return FamilyRecall(
        families=n,
        every_member_found=float(np.mean(hits == members)),
        some_member_found=float(np.mean(hits > 0)),
        members=int(fam.size),
        members_found=float(hit.mean()),
    )


def members_found(sought: pd.DataFrame, answers: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
    """Whether each sought member was found: some answered record is one of the person's.

    ``sought``: ``record_ref, entity_id`` per sought member (as
    :attr:`evaluation.SoughtFamilies.truth`); ``answers``: ``record_ref`` (the sought
    member's), ``agency`` and ``answer_ref`` (a record of an answered case), any number of
    rows per member; ``truth``: ``agency, record_ref, entity_id`` per registered record.
    Returns one bool per row of ``sought``, in its order.
    """
    held = truth[["agency", "record_ref", "entity_id"]].rename(
        columns={"record_ref": "answer_ref", "entity_id": "answer_entity"}
    )
    a = answers[["record_ref", "agency", "answer_ref"]].merge(
        held, on=["agency", "answer_ref"], how="inner"
    )
    a = a.merge(sought[["record_ref", "entity_id"]], on="record_ref", how="inner")
    right = a.loc[a["answer_entity"] == a["entity_id"], "record_ref"]
    return sought["record_ref"].isin(set(right)).to_numpy()
