"""Sought families for tracing queries: a tracer's description of a family, and its truth.

A tracer (a relative, a caseworker) describes the family they are looking for from memory
or from old papers: several of its members with their relationship to the head, names heard
and written by another clerk, ages guessed, places and fathers' names often left out, and
members the tracer does not know of left out. :func:`sought_families` draws such requests
from the households of :func:`evaluation.generate_households`, in the columns of the
agencies' registers, so they are encoded with the same schema and secret.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation import _registrations as reg
from evaluation._household_registers import HouseholdRegistration, relationship_text
from evaluation._household_shape import ROLES
from evaluation._households_synth import HouseholdData
from evaluation._names import TRADITIONS
from evaluation._synthetic import Messiness, _strings

__all__ = ["TRACER_MESSINESS", "SoughtFamilies", "sought_families"]

# A description from memory is noisier than a registration: ages guessed, dates and places
# unknown, names spelled by ear. Assumed shares, not measured ones.
TRACER_MESSINESS = Messiness(
    transliteration=0.35,
    second_surname_dropped=0.4,
    name_swap=0.05,
    double_letter=0.06,
    typo=0.06,
    father_missing=0.3,
    age_estimate=0.35,
    day_month_swap=0.03,
    year_only=0.5,
    bare_year=0.6,
    date_missing=0.15,
    sex_missing=0.02,
    place_missing=0.6,
)
_TRACER_WRITING = HouseholdRegistration(relationship_variety=0.15, relationship_error=0.03)


@dataclass(frozen=True)
class SoughtFamilies:
    """Tracing requests and their truth.

    ``queries``: one row per sought member, as the tracer wrote it: ``record_ref`` (the
    member's ref, ``T000001-1``), ``household_id`` (the request's ref, ``T000001``),
    ``relationship`` to the family's head, and the person columns of the registers (``None``
    where not given). ``truth``: one row per sought member, ``record_ref, household_id,
    entity_id``, the person's true ``household`` and ``role``, ``registrations`` (records of
    the person at all agencies) and ``tracing_registrations`` (those whose consent covers
    ``tracing``: a tracing query may find the person only through these).
    """

    queries: pd.DataFrame
    truth: pd.DataFrame


def _codes_of(people: pd.DataFrame, vocab: reg.Vocab) -> reg.People:
    """The true values of ``people`` (rows of :attr:`HouseholdData.people`) as codes."""

    def names(column: str) -> np.ndarray:
        values = people[column].to_numpy(dtype=object)
        codes = np.full(values.size, -1, dtype=np.int32)
        present = pd.notna(values)
        codes[present] = vocab.codes(values[present].tolist())
        return codes

    date = people["date_of_birth"].astype(str)
    return reg.People(
        tradition=people["tradition"].map(TRADITIONS.index).to_numpy(np.int8),
        sex=people["sex"].map({"F": 0, "M": 1}).fillna(2).to_numpy(np.int8),
        given=names("given_name"),
        family=names("family_name"),
        father=names("father_name"),
        place=names("place_of_birth"),
        year=date.str.slice(0, 4).astype(int).to_numpy(np.int16),
        month=date.str.slice(5, 7).astype(int).to_numpy(np.int8),
        day=date.str.slice(8, 10).astype(int).to_numpy(np.int8),
    )


def _pick(
    data: HouseholdData, n_families: int, known: float, min_size: int, rng: np.random.Generator
) -> pd.DataFrame:
    """The people sought: ``n_families`` households of ``min_size`` or more, each member
    known with ``known``, and at least two known (the head and the next where too few)."""
    sizes = data.households
    eligible = sizes.loc[sizes["size"] >= min_size, "household"].to_numpy()
    if eligible.size < n_families:
        raise ValueError(
            f"sought_families: only {eligible.size} households of {min_size} people or more; "
            f"ask for fewer families or generate more people"
        )
    chosen = np.sort(rng.choice(eligible, size=n_families, replace=False))
    people = data.people[data.people["household"].isin(chosen)].reset_index(drop=True)
    slot = people.groupby("household").cumcount().to_numpy()
    keep = rng.random(len(people)) < known
    count = pd.Series(keep).groupby(people["household"].to_numpy()).transform("sum").to_numpy()
    keep |= (count < 2) & (slot < 2)
    return people[keep].reset_index(drop=True)


def _check(n_families: object, known: object, min_size: object, seed: object) -> None:
    problems = []
    if (
        not isinstance(n_families, numbers.Integral)
        or isinstance(n_families, bool)
        or n_families < 1
    ):
        problems.append("n_families must be an integer of 1 or more")
    if not isinstance(known, numbers.Real) or isinstance(known, bool) or not 0 <= known <= 1:
        problems.append("known must be a probability between 0 and 1")
    if not isinstance(min_size, numbers.Integral) or isinstance(min_size, bool) or min_size < 2:
        problems.append("min_size must be an integer of 2 or more")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        problems.append("seed must be an integer of 0 or more")
    if problems:
        raise ValueError("bad parameters for sought_families: " + "; ".join(problems))


def sought_families(
    data: HouseholdData,
    n_families: int,
    *,
    seed: int = 0,
    known: float = 0.8,
    min_size: int = 2,
    messiness: Messiness | None = None,
) -> SoughtFamilies:
    """``n_families`` tracing requests for households of ``data`` (of ``min_size`` people or
    more, drawn at random): each member is described with probability ``known`` (at least
    two per family), as a tracer would (``messiness``, default :data:`TRACER_MESSINESS`), with
    the relationship to the head written in one of the register styles of the generator."""
    _check(n_families, known, min_size, seed)
    rng = np.random.default_rng(seed)
    people = _pick(data, n_families, known, min_size, rng)
    vocab = reg.Vocab()
    truth_codes = _codes_of(people, vocab)
    codes = reg.corrupt(
        truth_codes, np.arange(len(people)), messiness or TRACER_MESSINESS, rng, vocab
    )
    request = pd.factorize(people["household"])[0]
    style = rng.integers(0, 1 << 16, request.max() + 1)[request]
    role = people["role"].map(ROLES.index).to_numpy(np.int8)
    sex = np.minimum(truth_codes.sex, 1)
    written = relationship_text(role, sex, style, _TRACER_WRITING, rng)
    member = people.groupby(request).cumcount().to_numpy() + 1
    family_ref = np.array([f"T{r + 1:06d}" for r in request], dtype=object)
    refs = np.array([f"{f}-{m}" for f, m in zip(family_ref, member, strict=True)], dtype=object)
    queries = pd.DataFrame(
        {
            "record_ref": refs,
            **_strings(codes, vocab.table()),
            "household_id": family_ref,
            "relationship": written,
        }
    )
    consent = data.all_records()[["agency", "record_ref", "consent"]]
    records = data.truth.merge(consent, on=["agency", "record_ref"], validate="1:1")
    records["tracing"] = records["consent"].str.split().map(lambda s: "tracing" in s)
    counts = records.groupby("entity_id").agg(
        registrations=("record_ref", "size"), tracing_registrations=("tracing", "sum")
    )
    truth = pd.DataFrame(
        {
            "record_ref": refs,
            "household_id": family_ref,
            "entity_id": people["entity_id"].to_numpy(),
            "household": people["household"].to_numpy(),
            "role": people["role"].to_numpy(),
        }
    ).merge(counts, left_on="entity_id", right_index=True, how="left")
    return SoughtFamilies(queries=queries, truth=truth)
