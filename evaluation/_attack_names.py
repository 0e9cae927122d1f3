"""The adversary's public knowledge: candidate names, their tokens, and how often they occur.

The attacker of :mod:`evaluation._attack_freq` knows the linkage schema (it travels with every
batch and the encoder is open source) but not the secret, and holds public name lists with
frequencies -- here :func:`~evaluation._spelling.name_table` with the transliteration groups
of :func:`~evaluation._spelling.variant_table`, weighted by a tradition mix. Every candidate
name is normalised and tokenised exactly as the schema does (``bloom``'s own tokeniser), so a
candidate's tokens are those an agency would hash for it.

Spanish family names hold one or two listed surnames (``COMPOUND_SHARE``, documented with the
name table); the attacker lists every pair as a candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from bloom import Schema
from bloom._schema import Field
from bloom._tokens import field_tokens, parse_value
from evaluation._names import COMPOUND_SHARE
from evaluation._spelling import name_table, variant_table
from evaluation._synthetic import DEFAULT_TRADITION_MIX, TRADITIONS

__all__ = ["GIVEN_KINDS", "NameList", "PublicNames", "expected_cooccurrence", "public_names"]

GIVEN_KINDS = ("given_female", "given_male")  # the public lists of given names, by sex


@dataclass(frozen=True)
class NameList:
    """Candidate values of one name field: normalised names, their tokens, their frequency."""

    names: np.ndarray  # object array of normalised names
    tokens: sparse.csr_matrix  # (names, tokens) 0/1, token ids sorted within each row
    by_tradition: np.ndarray  # (names, traditions): P(name | tradition), columns sum to 1

    def prior(self, mix: np.ndarray) -> np.ndarray:
        """P(name) under the tradition weights ``mix``."""
        return self.by_tradition @ mix


@dataclass(frozen=True)
class PublicNames:
    """Everything the frequency attacker knows besides the encoded batch."""

    tokens: tuple[str, ...]  # tagged tokens, as the schema hashes them
    weights: np.ndarray  # hash positions per token (the tokeniser's weight)
    qgram: np.ndarray  # bool per token: a q-gram (not a phonetic code)
    given: NameList
    family: NameList
    mix: np.ndarray  # tradition weights, summing to 1
    segment: str  # the filter segment both name fields hash into
    fields: tuple[str, str] = ("given_name", "family_name")
    variant_share: float = 0.2
    given_kinds: tuple[str, ...] = GIVEN_KINDS

    def restricted(self, schema: Schema, given_kinds: tuple[str, ...]) -> PublicNames:
        """The same knowledge with the given names of ``given_kinds`` only (say one sex)."""
        return public_names(
            schema,
            given_field=self.fields[0],
            family_field=self.fields[1],
            tradition_mix=dict(zip(TRADITIONS, self.mix.tolist(), strict=True)),
            variant_share=self.variant_share,
            given_kinds=given_kinds,
        )

    def token_support(self) -> np.ndarray:
        """P(token in a record's given or family name), given and family independent within
        a tradition."""
        return expected_cooccurrence(self, np.arange(len(self.tokens)), diag_only=True)


class _Tokeniser:
    """Normalises and tokenises names with a schema field, numbering tokens as it meets them."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self.ids: dict[str, int] = {}
        self.weights: list[int] = []
        self.qgram: list[bool] = []

    def __call__(self, raw: str) -> tuple[str | None, list[int]]:
        parsed, status = parse_value(raw, self.field)
        if status != "ok":
            return None, []
        ids = []
        for tok, tagged in field_tokens(parsed, self.field):
            for t in tagged:
                if t not in self.ids:
                    self.ids[t] = len(self.ids)
                    self.weights.append(tok.weight)
                    self.qgram.append(tok.kind == "qgram")
                ids.append(self.ids[t])
        return parsed, sorted(set(ids))


def _with_variants(table: pd.DataFrame, share: float) -> pd.DataFrame:
    """Add every listed spelling variant with ``share`` of its usual spelling's frequency."""
    groups = variant_table().rename(columns={"name": "variant"})
    parts = [table]
    for scope, grp in groups.groupby("scope"):
        traditions = TRADITIONS if scope == "any" else (scope,)
        rows = table[table["tradition"].isin(traditions)].merge(
            grp[["group", "variant", "probability"]], left_on="name", right_on="group"
        )
        rows = rows[rows["variant"] != rows["name"]]
        parts.append(
            pd.DataFrame(
                {
                    "tradition": rows["tradition"],
                    "kind": rows["kind"],
                    "name": rows["variant"],
                    "frequency": rows["frequency"] * rows["probability"] * share,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _compounds(family: pd.DataFrame) -> pd.DataFrame:
    """Family names of traditions with double surnames: every listed pair, singles scaled."""
    scaled, pairs = family.copy(), []
    for tradition, share in COMPOUND_SHARE.items():
        mine = (family["tradition"] == tradition).to_numpy()
        single = family[mine].groupby("name")["frequency"].sum()
        single = single / single.sum()
        p = np.outer(single.to_numpy(), single.to_numpy()).ravel()
        names = [f"{x} {y}" for x in single.index for y in single.index]
        pairs.append(
            pd.DataFrame(
                {"tradition": tradition, "kind": "family", "name": names, "frequency": share * p}
            )
        )
        scaled.loc[mine, "frequency"] *= 1 - share
    return pd.concat([scaled, *pairs], ignore_index=True)


def _name_rows(rows: pd.DataFrame, tokenise: _Tokeniser) -> tuple[np.ndarray, list, np.ndarray]:
    """Distinct normalised names, their token ids, and P(name | tradition)."""
    keys, token_lists = {}, {}
    for raw in rows["name"].unique():
        key, ids = tokenise(raw)
        if key is not None:
            keys[raw] = key
            token_lists[key] = ids
    rows = rows[rows["name"].isin(keys)].assign(key=lambda d: d["name"].map(keys))
    table = rows.pivot_table(index="key", columns="tradition", values="frequency", aggfunc="sum")
    table = table.reindex(columns=list(TRADITIONS)).fillna(0.0)
    by_tradition = table.to_numpy()
    by_tradition = by_tradition / np.maximum(by_tradition.sum(axis=0, keepdims=True), 1e-300)
    names = table.index.to_numpy(dtype=object)
    return names, [token_lists[k] for k in names], by_tradition


def _name_list(names: np.ndarray, lists: list, by_tradition: np.ndarray, q: int) -> NameList:
    indptr = np.concatenate([[0], np.cumsum([len(t) for t in lists])]).astype(np.int64)
    indices = np.fromiter((i for t in lists for i in t), dtype=np.int64, count=int(indptr[-1]))
    data = np.ones(indices.size, np.float32)
    x = sparse.csr_matrix((data, indices, indptr), shape=(len(names), q))
    return NameList(names=names, tokens=x, by_tradition=by_tradition)


def _check_fields(schema: Schema, given_field: str, family_field: str) -> list[str]:
    names = {f.name: f for f in schema.fields}
    problems = [
        f"{param} must name a name field of the schema; '{value}' is not one"
        for param, value in (("given_field", given_field), ("family_field", family_field))
        if value not in names or names[value].type != "name"
    ]
    if not problems:
        g, f = names[given_field], names[family_field]
        if (g.segment, g.hash_domain, g.tokenisers) != (f.segment, f.hash_domain, f.tokenisers):
            problems.append(
                "given_field and family_field must share a segment, a hash domain and "
                "tokenisers (the attack reads both names from one segment)"
            )
    return problems


def public_names(
    schema: Schema,
    *,
    given_field: str = "given_name",
    family_field: str = "family_name",
    tradition_mix: Mapping[str, float] | None = None,
    variant_share: float = 0.2,
    given_kinds: tuple[str, ...] = GIVEN_KINDS,
) -> PublicNames:
    """The attacker's candidate names for the two name fields, tokenised with ``schema``.

    ``tradition_mix``: relative weight of each naming tradition in the attacked population
    (default: the synthetic generator's published mix). ``variant_share``: how much of a name's
    frequency the attacker gives to its listed spelling variants (0 leaves them out).
    ``given_kinds``: the given-name lists used (both sexes by default; one, for an attacker who
    knows the records' sex).
    """
    problems = _check_fields(schema, given_field, family_field)
    mix = dict(DEFAULT_TRADITION_MIX if tradition_mix is None else tradition_mix)
    weights = np.array([float(mix.get(t, 0.0)) for t in TRADITIONS])
    if set(mix) - set(TRADITIONS) or not (np.isfinite(weights).all() and weights.min() >= 0):
        problems.append("tradition_mix must map known traditions to weights of 0 or more")
    elif weights.sum() <= 0:
        problems.append("tradition_mix must give some tradition a positive weight")
    if not (isinstance(variant_share, int | float) and 0 <= variant_share <= 1):
        problems.append("variant_share must be a number between 0 and 1")
    if not given_kinds or set(given_kinds) - set(GIVEN_KINDS):
        problems.append(f"given_kinds must be one or more of {', '.join(GIVEN_KINDS)}")
    if problems:
        raise ValueError("bad parameters for public_names: " + "; ".join(problems))
    table = name_table()
    table = table[table["kind"] != "place"]
    if variant_share > 0:
        table = _with_variants(table, variant_share)
    tokenise = _Tokeniser(schema.field(given_field))
    given = _name_rows(table[table["kind"].isin(given_kinds)], tokenise)
    family = _name_rows(_compounds(table[table["kind"] == "family"]), tokenise)
    q = len(tokenise.ids)
    return PublicNames(
        tokens=tuple(tokenise.ids),
        weights=np.asarray(tokenise.weights, dtype=np.int64),
        qgram=np.asarray(tokenise.qgram, dtype=bool),
        given=_name_list(*given, q),
        family=_name_list(*family, q),
        mix=weights / weights.sum(),
        segment=schema.field(given_field).segment,
        fields=(given_field, family_field),
        variant_share=float(variant_share),
        given_kinds=tuple(given_kinds),
    )


def expected_cooccurrence(
    names: PublicNames, tokens: np.ndarray, *, diag_only: bool = False
) -> np.ndarray:
    """P(both tokens in a record) for the listed token ids; ``diag_only``: P(token) alone.

    Within a tradition the given and family names are drawn independently, so
    ``P(neither) = P(neither in given) * P(neither in family)``.
    """
    xg = names.given.tokens[:, tokens]
    xf = names.family.tokens[:, tokens]
    k = len(tokens)
    out = np.zeros(k if diag_only else (k, k))
    for tr, weight in enumerate(names.mix):
        if weight == 0:
            continue
        pg, pf = names.given.by_tradition[:, tr], names.family.by_tradition[:, tr]
        g1, f1 = np.asarray(xg.T @ pg).ravel(), np.asarray(xf.T @ pf).ravel()
        none1 = (1 - g1) * (1 - f1)
        if diag_only:
            out += weight * (1 - none1)
            continue
        g2 = (xg.T @ sparse.diags(pg) @ xg).toarray()
        f2 = (xf.T @ sparse.diags(pf) @ xf).toarray()
        none2 = (1 - g1[:, None] - g1[None, :] + g2) * (1 - f1[:, None] - f1[None, :] + f2)
        out += weight * (1 - none1[:, None] - none1[None, :] + none2)
    return out


def filters_fit(filters: object, schema: Schema, min_rows: int) -> bool:
    """True when ``filters`` is an ``(n, words)`` uint64 array of this schema, n >= min_rows."""
    return (
        isinstance(filters, np.ndarray)
        and filters.dtype == np.uint64
        and filters.ndim == 2
        and filters.shape[1] == schema.filter_words
        and len(filters) >= min_rows
    )
