"""Seeded synthetic registers of households held by several agencies, with the truth.

People live in households (:class:`HouseholdShape`): a head, often a spouse, children named
after their father by the naming rules of their tradition, sometimes a parent or sibling of
the head, twins. Agencies hold subsets of the households and register them as
:class:`HouseholdRegistration` says: members missing at one agency, members registered apart,
the household's relationship to its head written in each agency's style, consent scopes.
Every registration's names and dates are then corrupted as in :func:`evaluation.
generate_synthetic` (:class:`Messiness`). The same seed gives the same data everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evaluation import _registrations as reg
from evaluation._household_people import draw_families
from evaluation._household_registers import (
    HouseholdRegistration,
    consent_text,
    draw_records,
    household_ids,
    relationship_text,
)
from evaluation._household_shape import ROLES, HouseholdShape
from evaluation._names import TRADITIONS
from evaluation._synthetic import (
    Messiness,
    SyntheticData,
    _agency_name,
    _check,
    _is_count,
    _registers,
    _strings,
)

__all__ = [
    "HOUSEHOLD_COLUMNS",
    "ROLES",
    "HouseholdData",
    "HouseholdRegistration",
    "HouseholdShape",
    "generate_households",
]

HOUSEHOLD_COLUMNS = ("household_id", "relationship", "consent")


@dataclass(frozen=True)
class HouseholdData(SyntheticData):
    """Registers of households at several agencies, and the truth.

    ``agencies``: agency -> register with ``record_ref``, the person columns of
    :func:`evaluation.generate_synthetic` and :data:`HOUSEHOLD_COLUMNS`: the agency's own
    ``household_id`` (unrelated across agencies), the ``relationship`` to the household's head
    as written there (``None`` where none), ``consent`` (scope codes sorted and separated by a
    space, ``""`` for none). ``truth``: one row per record, ``agency, record_ref, entity_id``,
    the person's true ``household``, ``role`` (one of :data:`ROLES`) and ``twin`` (the
    household of a twin pair, -1 otherwise), and ``apart`` (registered outside the true
    household). ``people``: ``entity_id, tradition``, the true values, ``household, role,
    twin``. ``households``: ``household, tradition, size``, ``patronymic`` (its family-name
    slots hold grandfathers' given names) and one column per agency, true where the agency
    holds the household (its members may still be missing or apart there).
    """

    households: pd.DataFrame

    def members(self, household: int) -> pd.DataFrame:
        """The people of one true household, head first."""
        return self.people[self.people["household"] == household]


def _settings_problems(shape: object, registration: object, common_names: object) -> list[str]:
    problems = []
    if not isinstance(shape, HouseholdShape):
        problems.append("shape must be a HouseholdShape")
    else:
        problems += shape.problems()
    if not isinstance(registration, HouseholdRegistration):
        problems.append("registration must be a HouseholdRegistration")
    else:
        problems += registration.problems()
    if common_names is not None and not _is_count(common_names, 1):
        problems.append("common_names must be None or an integer of 1 or more")
    return problems


def generate_households(
    n_people: int,
    n_agencies: int = 3,
    *,
    overlap: float | Sequence[float] = 0.6,
    seed: int = 0,
    messiness: Messiness | None = None,
    duplicates_within_agency: float = 0.0,
    tradition_mix: Mapping[str, float] | None = None,
    common_names: int | None = None,
    shape: HouseholdShape | None = None,
    registration: HouseholdRegistration | None = None,
) -> HouseholdData:
    """Registers of ``n_agencies`` agencies over ``n_people`` people in households.

    ``overlap``: probability that an agency holds a given household (one for all, or one per
    agency), conditioned on at least one holding it; every person is registered at least
    once. ``shape``: how households are composed (default :class:`HouseholdShape`);
    ``registration``: how agencies register them (default :class:`HouseholdRegistration`).
    The other parameters are those of :func:`evaluation.generate_synthetic`: each household
    has one tradition, drawn by ``tradition_mix``.
    """
    shape = HouseholdShape() if shape is None else shape
    registration = HouseholdRegistration() if registration is None else registration
    probs, mix = _check(
        n_people,
        n_agencies,
        overlap,
        duplicates_within_agency,
        tradition_mix,
        messiness,
        seed,
        _settings_problems(shape, registration, common_names),
        "generate_households",
    )
    rng = np.random.default_rng(seed)
    vocab = reg.Vocab()
    fam = draw_families(n_people, shape, mix, rng, vocab, common_names)
    rec, held = draw_records(fam, probs, duplicates_within_agency, registration, rng)
    codes = reg.corrupt(fam.people, rec.person, messiness or Messiness(), rng, vocab)
    m = rec.person.size
    extra = {
        "household_id": household_ids(rec.agency, rec.group, n_agencies, rng),
        "relationship": relationship_text(
            rec.role, fam.people.sex[rec.person], rec.agency, registration, rng
        ),
        "consent": consent_text(m, registration.consent, rng),
    }
    roles = np.array(ROLES, dtype=object)
    truth_extra = {
        "household": fam.household[rec.person],
        "role": roles[fam.role[rec.person]],
        "twin": fam.twin[rec.person],
        "apart": rec.apart,
    }
    table = vocab.table()
    agencies, truth = _registers(
        codes, rec.person, rec.agency, n_agencies, rng, table, extra, truth_extra
    )
    people = pd.DataFrame(
        {
            "entity_id": np.arange(n_people),
            "tradition": np.array(TRADITIONS)[fam.people.tradition],
            **_strings(reg.truth_codes(fam.people), table),
            "household": fam.household,
            "role": roles[fam.role],
            "twin": fam.twin,
        }
    )
    households = pd.DataFrame(
        {
            "household": np.arange(fam.size.size),
            "tradition": np.array(TRADITIONS)[fam.people.tradition[fam.start]],
            "size": fam.size,
            "patronymic": fam.patronymic,
            **{_agency_name(a): held[:, a] for a in range(n_agencies)},
        }
    )
    return HouseholdData(agencies=agencies, truth=truth, people=people, households=households)
