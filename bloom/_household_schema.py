"""A schema's ``household`` and ``consent`` sections: where a register keeps those facts.

Both are an agency's own input settings, like ``date_order``: which columns hold the household
id, the relationship and the consent scopes, and how the register spells them. They decide no
bit of any filter, so they stay out of the fingerprint (``_schema._LOCAL_KEYS``)::

    "household": {"group_column": "household_id", "relationship_column": "relationship",
                  "relationship_spellings": {"hoh": "head", "cousin": "other"},
                  "relationship_on_unknown": "missing"},
    "consent": {"column": "consent", "scopes": ["tracing", "coordination"],
                "spellings": {"trace": "tracing", "all": ["tracing", "coordination"], "no": []}}

Every key is optional but the consent ``scopes``: a column that is not named here can be given
at encode time (``--group-column`` ...). A relationship spelling adds to the common ones
(:data:`bloom._households.RELATIONSHIP_SPELLINGS`) and is compared folded (case, spaces, ``-``
and ``_`` ignored); a relationship that is none of them is a warning and reads as not given
(``relationship_on_unknown`` ``"missing"``, the default) or refuses the register
(``"reject"``), as a category's ``on_unknown`` does. A consent spelling is one word (compared
casefolded) standing for one scope, several, or none (``[]``); a scope that is neither a
declared scope nor a spelling always refuses the register.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bloom._households import _fold, split_scopes

__all__ = ["ConsentSpec", "HouseholdSpec", "consent_spec", "household_spec"]


@dataclass(frozen=True)
class HouseholdSpec:
    """Schema ``household``: the columns of the household id and the relationship."""

    group_column: str | None = None
    relationship_column: str | None = None
    relationship_spellings: tuple[tuple[str, str], ...] = ()  # spelling as written -> relationship
    relationship_on_unknown: str = "missing"  # 'missing': warn, not given; 'reject': refuse

    @property
    def spellings(self) -> dict[str, str]:
        return dict(self.relationship_spellings)


@dataclass(frozen=True)
class ConsentSpec:
    """Schema ``consent``: the column of the consent scopes, the scopes, their spellings."""

    scopes: tuple[str, ...]
    column: str | None = None
    spellings: tuple[tuple[str, tuple[str, ...]], ...] = ()  # casefolded word -> scopes

    def read(self, word: str) -> tuple[str, ...] | None:
        """The scopes a (casefolded) word of a consent cell stands for; None: unknown."""
        if word in self.scopes:
            return (word,)
        return dict(self.spellings).get(word)


def household_spec(section: dict[str, Any] | None) -> tuple[HouseholdSpec | None, list[str]]:
    """The spec of a (structurally valid) ``household`` section, and its semantic problems."""
    if section is None:
        return None, []
    spellings = dict(section.get("relationship_spellings", {}))
    problems: list[str] = []
    owner: dict[str, str] = {}
    for spelling, value in spellings.items():
        key = _fold(spelling)
        where = f"household/relationship_spellings/{spelling}"
        if not key:
            problems.append(f"{where}: a spelling needs a letter or digit")
        elif key in owner and spellings[owner[key]] != value:
            problems.append(
                f"{where}: reads as the same spelling as '{owner[key]}' (case, spaces, '-' and "
                f"'_' are ignored), which stands for '{spellings[owner[key]]}'"
            )
        owner.setdefault(key, spelling)
    spec = HouseholdSpec(
        group_column=section.get("group_column"),
        relationship_column=section.get("relationship_column"),
        relationship_spellings=tuple(sorted(spellings.items())),
        relationship_on_unknown=section.get("relationship_on_unknown", "missing"),
    )
    return spec, problems


def consent_spec(section: dict[str, Any] | None) -> tuple[ConsentSpec | None, list[str]]:
    """The spec of a (structurally valid) ``consent`` section, and its semantic problems."""
    if section is None:
        return None, []
    scopes = tuple(section["scopes"])  # codes: the JSON Schema holds them to SCOPE_PATTERN
    problems: list[str] = []
    spellings: dict[str, tuple[str, ...]] = {}
    for spelling, value in section.get("spellings", {}).items():
        where = f"consent/spellings/{spelling}"
        stands = (value,) if isinstance(value, str) else tuple(value)
        words = split_scopes(spelling)
        word = spelling.strip().casefold()
        if words != (word,):
            problems.append(
                f"{where}: a spelling is one word (no space, ',', ';' or '|'), as a cell "
                "separates its scopes by them"
            )
        elif word in scopes:
            problems.append(f"{where}: '{word}' is a scope of its own; it cannot be a spelling")
        elif word in spellings:
            problems.append(f"{where}: the same word (case ignored) is spelled twice")
        unknown = [s for s in stands if s not in scopes]
        if unknown:
            problems.append(
                f"{where}: {', '.join(repr(s) for s in unknown)} is not one of the scopes "
                f"({', '.join(scopes)})"
            )
        spellings[word] = tuple(sorted(set(stands)))
    spec = ConsentSpec(
        scopes=scopes, column=section.get("column"), spellings=tuple(sorted(spellings.items()))
    )
    return spec, problems
