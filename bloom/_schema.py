"""The linkage schema: a versioned JSON document saying how a register becomes filters.

``Schema.load`` validates a document against the JSON Schema shipped with the package
(``linkage-schema.v1.json``) and then against the rules JSON Schema cannot express (segments
that exist, tokenisers that fit a field's type, lengths that survive hardening). Every problem
is collected and reported in one :class:`SchemaError`.

The *effective* schema -- the document with every default filled in -- is what the encoder
uses; its canonical JSON (sorted keys, no spaces, UTF-8) is hashed with BLAKE3 into the
fingerprint that every batch carries. The fingerprint covers what decides the bits and
leaves out what does not: the cosmetic ``name`` and ``description``, and an agency's own
input settings -- the ``date_order`` its register writes dates in, and the spellings a
category field maps to its values and what it does with unknown ones (``category.values``
enters as its sorted, normalised values only), and where the register keeps its households and
consent scopes (the ``household`` and ``consent`` sections, :mod:`bloom._household_schema`).
Agencies whose registers differ only in those
settings encode the same person to the same bits, so they share one fingerprint.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import blake3
import jsonschema

from bloom._dateorder import DATE_ORDERS, alternative_order, reorder
from bloom._household_schema import ConsentSpec, HouseholdSpec, consent_spec, household_spec
from bloom._i18n import gettext
from caselink_errors import SchemaError

__all__ = [
    "BUILTIN_SCHEMAS",
    "ConsentSpec",
    "Field",
    "Hardening",
    "HouseholdSpec",
    "SaltSpec",
    "Schema",
    "Segment",
    "Tokeniser",
]

FIELD_TYPES = ("name", "string", "date", "category", "number")
BUILTIN_SCHEMAS = ("febrl", "person", "febrl-v1", "person-v1")
DEFAULT_FILTER_BITS = 1024
DEFAULT_WEIGHT = 8
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d", "%d/%m/%Y", "%Y")

_TOKENISERS_FOR_TYPE = {
    "name": {"qgram", "phonetic", "exact"},
    "string": {"qgram", "phonetic", "exact"},
    "category": {"exact"},
    "date": {"date", "exact"},
    "number": {"numeric", "exact"},
}
_DEFAULT_TOKENISERS: dict[str, list[dict[str, Any]]] = {
    "name": [{"kind": "qgram", "q": 2}],
    "string": [{"kind": "qgram", "q": 2}],
    "category": [{"kind": "exact"}],
    "date": [{"kind": "date"}],
    "number": [{"kind": "exact"}],
}
_DEFAULT_NORMALISE = {
    "name": {
        "unicode": "NFKD",
        "strip_accents": True,
        "casefold": True,
        "punctuation": "space",
        "whitespace": "collapse",
        "particles": [],
    },
    "string": {
        "unicode": "NFKD",
        "strip_accents": True,
        "casefold": True,
        "punctuation": "remove",
        "whitespace": "collapse",
        "particles": [],
    },
    "category": {
        "unicode": "NFKC",
        "strip_accents": True,
        "casefold": True,
        "punctuation": "remove",
        "whitespace": "remove",
        "particles": [],
    },
}
_DEFAULT_DATE_PARTS = ["year", "month", "day", "day_month", "year_window"]
# never in the fingerprint: cosmetic, or an agency's own input settings
_LOCAL_KEYS = ("name", "description", "date_order", "household", "consent")


@dataclass(frozen=True)
class Segment:
    """A run of filter bits that some fields hash into (before and after hardening)."""

    name: str
    bits: int  # bits hashed into, before hardening
    offset: int  # first bit of the segment in the hashed filter
    out_bits: int  # bits in the encoded filter, after hardening
    out_offset: int  # first bit in the encoded filter


@dataclass(frozen=True)
class Tokeniser:
    kind: str
    weight: int
    q: int = 2
    padding: bool = True
    per_part: bool = False
    algorithm: str = ""
    parts: tuple[str, ...] = ()
    width: float = 0.0

    @property
    def tag(self) -> str:
        """Prefix that keeps tokens of different tokenisers apart inside one hash domain."""
        if self.kind == "qgram":
            return f"q{self.q}{'p' if self.padding else ''}"
        if self.kind == "phonetic":
            return f"ph:{self.algorithm}"
        if self.kind == "exact":
            return "xp" if self.per_part else "x"
        if self.kind == "numeric":
            return f"n:{self.width:g}"
        return "d"


@dataclass(frozen=True)
class SaltSpec:
    """Tokens are hashed keyed by ``part`` of field ``field``'s value (see ``salt_values``)."""

    field: str
    part: str = "full"
    missing: str = "salt"  # a missing salt value: hash with an empty salt, or 'skip' the field

    @property
    def slots(self) -> int:
        """Salts per record: two for ``year_window`` (each takes half the weight), else one."""
        return 2 if self.part == "year_window" else 1


@dataclass(frozen=True)
class Field:
    name: str
    column: str
    type: str
    segment: str
    hash_domain: str
    missing: str
    tokenisers: tuple[Tokeniser, ...]
    normalise: dict[str, Any] | None
    date_formats: tuple[str, ...] = ()
    on_invalid: str = "reject"
    year_only_day_months: tuple[tuple[int, int], ...] = ()  # (month, day) read as year-only
    salt: SaltSpec | None = None  # the salt its tokens are hashed with (own or the schema's)
    date_order: str | None = None  # the order day-month formats are read in (None: as written)
    alt_date_order: str | None = None  # the order an invalid date is tried in, for a hint
    alt_date_formats: tuple[str, ...] = ()  # the formats as that order reads them
    categories: tuple[str, ...] = ()  # a category field's values, as the schema writes them
    category_map: tuple[tuple[str, str], ...] = ()  # normalised spelling -> normalised value
    on_unknown: str = "reject"  # a value that is no category or spelling: reject or missing


@dataclass(frozen=True)
class Hardening:
    balance: bool = False
    xor_fold: bool = False
    salt_field: str | None = None
    salt_part: str = "full"
    blip_epsilon: float | None = None
    diffusion_t: int | None = None
    field_salts: bool = False  # some field has a salt of its own
    rekey_key: str | None = None  # rekey: the hidden segment whose bits key the permutation
    rekey_segments: tuple[str, ...] = ()  # rekey: the segments permuted record by record

    @property
    def enabled(self) -> tuple[str, ...]:
        names = []
        if self.salt_field or self.field_salts:
            names.append("salt")
        if self.balance:
            names.append("balance")
        if self.xor_fold:
            names.append("xor_fold")
        if self.diffusion_t:
            names.append("diffusion")
        if self.blip_epsilon is not None:
            names.append("blip")
        if self.rekey_key is not None:
            names.append("rekey")
        return tuple(names)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    text = resources.files("bloom").joinpath("linkage-schema.v1.json").read_text("utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return "/".join(parts) if parts else "(top level)"


def _structural_problems(doc: Any) -> list[str]:
    problems = []
    for err in sorted(_validator().iter_errors(doc), key=lambda e: list(map(str, e.path))):
        if err.validator in ("oneOf", "allOf", "if") and err.context:
            best = min(err.context, key=lambda e: len(e.message))
            problems.append(f"{_where(err.path)}: {best.message}")
        else:
            problems.append(f"{_where(err.path)}: {err.message}")
    return problems


def _fill_defaults(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The effective document (every default written out) and the semantic problems found."""
    eff = copy.deepcopy(doc)
    problems: list[str] = []
    filt = eff.setdefault("filter", {})
    if "segments" not in filt:
        filt["segments"] = [{"name": "record", "bits": filt.get("length", DEFAULT_FILTER_BITS)}]
    total = sum(s["bits"] for s in filt["segments"])
    if "length" in filt and filt["length"] != total:
        problems.append(
            f"filter/length: {filt['length']} differs from the sum of the segment bits ({total})"
        )
    filt["length"] = total
    seg_names = [s["name"] for s in filt["segments"]]
    if len(set(seg_names)) != len(seg_names):
        problems.append("filter/segments: segment names must be unique")
    eff.setdefault("hashing", {}).setdefault("algorithm", "blake3-keyed-xof")
    hard = eff.setdefault("hardening", {})
    for key, default in (
        ("balance", False),
        ("xor_fold", False),
        ("salt", None),
        ("blip", None),
        ("diffusion", None),
    ):
        hard.setdefault(key, default)
    if hard["salt"] is not None:
        hard["salt"].setdefault("part", "full")
    if hard.get("rekey") is not None:  # written out only when used: fingerprints stay
        problems += _rekey_problems(hard["rekey"], seg_names)
    if hard["xor_fold"]:
        for i, s in enumerate(filt["segments"]):
            if (s["bits"] * (2 if hard["balance"] else 1)) % 128:
                problems.append(
                    f"filter/segments/{i}: xor_fold halves each segment, so '{s['name']}' needs "
                    "a multiple of 128 bits (or balance on as well)"
                )

    names = [f["name"] for f in eff["fields"]]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"fields: the field name '{dup}' is used more than once")
    for i, f in enumerate(eff["fields"]):
        problems += _fill_field(f, f"fields/{i} ({f['name']})", seg_names)

    salt_sources = {f["salt"]["field"] for f in eff["fields"] if f.get("salt") is not None}
    if hard["salt"] is not None:
        salt_sources.add(hard["salt"]["field"])
        problems += _salt_problems(hard["salt"], eff["fields"], "hardening/salt", None)
    for i, f in enumerate(eff["fields"]):
        if f["name"] not in salt_sources and sum(t["weight"] for t in f["tokenisers"]) == 0:
            problems.append(
                f"fields/{i} ({f['name']}): every tokeniser has weight 0, so the field sets no "
                "bits (a field of weight 0 is only allowed as another field's salt)"
            )
    for i, f in enumerate(eff["fields"]):
        if f.get("salt") is not None:
            f["salt"].setdefault("part", "full")
            f["salt"].setdefault("missing", "salt")
            where = f"fields/{i} ({f['name']})/salt"
            problems += _salt_problems(f["salt"], eff["fields"], where, f["name"])
    problems += household_spec(eff.get("household"))[1] + consent_spec(eff.get("consent"))[1]
    return eff, problems


def _rekey_problems(rekey: dict[str, Any], seg_names: list[str]) -> list[str]:
    """The key segment and the rekeyed segments exist, and the key rekeys none of them."""
    where = "hardening/rekey"
    problems = [
        f"{where}/{k}: no segment is named '{name}'"
        for k, name in [("key", rekey["key"])] + [("segments", s) for s in rekey["segments"]]
        if name not in seg_names
    ]
    if rekey["key"] in rekey["segments"]:
        problems.append(f"{where}/segments: the key segment '{rekey['key']}' cannot be rekeyed")
    if len(set(rekey["segments"])) != len(rekey["segments"]):
        problems.append(f"{where}/segments: a segment is listed twice")
    return problems


def _salt_problems(
    salt: dict[str, Any], fields: list[dict[str, Any]], where: str, own: str | None
) -> list[str]:
    target = next((f for f in fields if f["name"] == salt["field"]), None)
    if target is None:
        return [f"{where}/field: no field is named '{salt['field']}'"]
    if salt["field"] == own:
        return [f"{where}/field: a field cannot be salted by its own value"]
    if salt["part"] != "full" and target["type"] != "date":
        return [
            f"{where}/part: '{salt['part']}' needs a date field; "
            f"'{salt['field']}' is of type {target['type']}"
        ]
    return []


def _fill_field(f: dict[str, Any], where: str, seg_names: list[str]) -> list[str]:
    problems: list[str] = []
    ftype = f["type"]
    f.setdefault("column", f["name"])
    f.setdefault("hash_domain", f["name"])
    f.setdefault("missing", "ignore")
    if "segment" not in f:
        if len(seg_names) == 1:
            f["segment"] = seg_names[0]
        else:
            problems.append(f"{where}: with several segments each field must name its 'segment'")
            f["segment"] = seg_names[0]
    elif f["segment"] not in seg_names:
        problems.append(f"{where}/segment: no segment is named '{f['segment']}'")
    weight = f.setdefault("weight", DEFAULT_WEIGHT)
    if ftype in _DEFAULT_NORMALISE:
        f["normalise"] = {**_DEFAULT_NORMALISE[ftype], **f.get("normalise", {})}
        if f["normalise"]["particles"] and ftype != "name":
            problems.append(f"{where}/normalise/particles: particles apply to name fields only")
        f["normalise"]["particles"] = sorted({p.casefold() for p in f["normalise"]["particles"]})
        if f["normalise"].get("fold", "none") != "none" and ftype not in ("name", "string"):
            problems.append(f"{where}/normalise/fold: folding applies to name and string fields")
    elif "normalise" in f:
        problems.append(f"{where}/normalise: {ftype} fields are parsed, not normalised as text")
    if ftype == "date":
        d = f.setdefault("date", {})
        d.setdefault("formats", list(DEFAULT_DATE_FORMATS))
        d.setdefault("on_invalid", "reject")
        d["year_only_day_months"] = sorted(d.get("year_only_day_months", []))
    elif "date" in f:
        problems.append(f"{where}/date: date options apply to date fields only")
    if "category" in f:
        problems += _fill_category(f, where)
    toks = f.setdefault("tokenisers", copy.deepcopy(_DEFAULT_TOKENISERS[ftype]))
    for j, t in enumerate(toks):
        if t["kind"] not in _TOKENISERS_FOR_TYPE[ftype]:
            allowed = ", ".join(sorted(_TOKENISERS_FOR_TYPE[ftype]))
            problems.append(
                f"{where}/tokenisers/{j}: '{t['kind']}' does not fit a {ftype} field "
                f"(use one of: {allowed})"
            )
        t.setdefault("weight", weight)
        if t["kind"] == "qgram":
            t.setdefault("q", 2)
            t.setdefault("padding", True)
            t.setdefault("per_part", ftype == "name")
        elif t["kind"] == "exact":
            t.setdefault("per_part", ftype == "name")
        elif t["kind"] == "date":
            t.setdefault("parts", list(_DEFAULT_DATE_PARTS))
    tags = [
        Tokeniser(**_tok_kwargs(t)).tag for t in toks if t["kind"] in _TOKENISERS_FOR_TYPE[ftype]
    ]
    if len(set(tags)) != len(tags):
        problems.append(f"{where}/tokenisers: the same tokeniser is listed twice")
    return problems


def _fill_category(f: dict[str, Any], where: str) -> list[str]:
    """Default ``on_unknown``; each value and spelling normalised to one value, no clashes."""
    if f["type"] != "category":
        return [f"{where}/category: category options apply to category fields only"]
    f["category"].setdefault("on_unknown", "reject")
    _, problems = _category_map(f["category"]["values"], f["normalise"], f"{where}/category")
    return problems


def _category_map(
    values: dict[str, list[str]], opts: dict[str, Any], where: str
) -> tuple[dict[str, str], list[str]]:
    """Normalised spelling (each value is one of its own) -> normalised value, and problems."""
    from bloom._tokens import normalise_text  # _tokens reads Field from here

    out: dict[str, str] = {}
    problems: list[str] = []
    owner: dict[str, str] = {}  # normalised spelling -> the value it was listed under
    for value, spellings in values.items():
        canon = normalise_text(value, opts)
        if not canon:
            problems.append(f"{where}/values: '{value}' is empty after the field's normalisation")
            continue
        for spelling in dict.fromkeys([value, *spellings]):
            key = normalise_text(spelling, opts)
            if not key:
                problems.append(
                    f"{where}/values/{value}: '{spelling}' is empty after the field's normalisation"
                )
            elif key in out and out[key] != canon:
                problems.append(
                    f"{where}/values: '{spelling}' reads as a spelling of both "
                    f"'{owner[key]}' and '{value}' after the field's normalisation"
                )
            else:
                out[key], owner[key] = canon, value
    return out, problems


def _date_options(f: dict[str, Any], order: str | None) -> dict[str, Any]:
    """The date formats a field reads under ``order``, and the hint order with its formats."""
    if f["type"] != "date":
        return {}
    written = tuple(f["date"]["formats"])
    alt = alternative_order(written, order)
    return {
        "date_formats": reorder(written, order),
        "date_order": order,
        "alt_date_order": alt,
        "alt_date_formats": reorder(written, alt) if alt else (),
    }


def _category_options(f: dict[str, Any]) -> dict[str, Any]:
    if "category" not in f:
        return {}
    mapping, _ = _category_map(f["category"]["values"], f["normalise"], "")
    return {
        "categories": tuple(f["category"]["values"]),
        "category_map": tuple(sorted(mapping.items())),
        "on_unknown": f["category"]["on_unknown"],
    }


def _salt_of(f: dict[str, Any], schema_salt: dict[str, Any] | None) -> SaltSpec | None:
    """A field's own salt if it names one (null: none), else the hardening block's -- which
    never salts the field it is taken from."""
    spec = f.get("salt", schema_salt)
    if spec is None or spec["field"] == f["name"]:
        return None
    return SaltSpec(spec["field"], spec["part"], spec.get("missing", "salt"))


def _tok_kwargs(t: dict[str, Any]) -> dict[str, Any]:
    kw = dict(t)
    if "parts" in kw:
        kw["parts"] = tuple(kw["parts"])
    return kw


class Schema:
    """A validated linkage schema. Build it with :meth:`load` or :meth:`from_dict`."""

    def __init__(self, document: dict[str, Any], effective: dict[str, Any]) -> None:
        self._document = document
        self._effective = effective
        hard = effective["hardening"]
        self.version: int = effective["version"]
        self.name: str = effective.get("name", "")
        self.date_order: str | None = effective.get("date_order")
        self.household: HouseholdSpec | None = household_spec(effective.get("household"))[0]
        self.consent: ConsentSpec | None = consent_spec(effective.get("consent"))[0]
        self.hardening = Hardening(
            balance=hard["balance"],
            xor_fold=hard["xor_fold"],
            salt_field=hard["salt"]["field"] if hard["salt"] else None,
            salt_part=hard["salt"]["part"] if hard["salt"] else "full",
            blip_epsilon=hard["blip"]["epsilon"] if hard["blip"] else None,
            diffusion_t=hard["diffusion"]["t"] if hard["diffusion"] else None,
            field_salts=any(f.get("salt") is not None for f in effective["fields"]),
            rekey_key=hard["rekey"]["key"] if hard.get("rekey") else None,
            rekey_segments=tuple(hard["rekey"]["segments"]) if hard.get("rekey") else (),
        )
        segments, offset, out_offset = [], 0, 0
        for s in effective["filter"]["segments"]:
            out = s["bits"] * (2 if self.hardening.balance else 1)
            out = out // 2 if self.hardening.xor_fold else out
            segments.append(Segment(s["name"], s["bits"], offset, out, out_offset))
            offset += s["bits"]
            out_offset += out
        self.segments: tuple[Segment, ...] = tuple(segments)
        self.fields: tuple[Field, ...] = tuple(
            Field(
                name=f["name"],
                column=f["column"],
                type=f["type"],
                segment=f["segment"],
                hash_domain=f["hash_domain"],
                missing=f["missing"],
                tokenisers=tuple(Tokeniser(**_tok_kwargs(t)) for t in f["tokenisers"]),
                normalise=f.get("normalise"),
                on_invalid=f.get("date", {}).get("on_invalid", "reject"),
                year_only_day_months=tuple(
                    (int(md[:2]), int(md[3:]))
                    for md in f.get("date", {}).get("year_only_day_months", ())
                ),
                salt=_salt_of(f, hard["salt"]),
                **_date_options(f, self.date_order),
                **_category_options(f),
            )
            for f in effective["fields"]
        )

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Schema:
        problems = _structural_problems(document)
        if problems:
            raise SchemaError(problems)
        effective, problems = _fill_defaults(document)
        if problems:
            raise SchemaError(problems)
        return cls(copy.deepcopy(document), effective)

    def with_date_order(self, order: str | None) -> Schema:
        """This schema reading dates in ``order`` (``DMY``, ``MDY``, ``YMD``; None: as the
        formats are written). The fingerprint stays: the order is an input setting."""
        if order is not None and order not in DATE_ORDERS:
            text = gettext("date order '{order}' is not one of {orders} (day, month, year)")
            raise SchemaError([text.format(order=order, orders=", ".join(DATE_ORDERS))])
        document = self.document
        document.pop("date_order", None)
        return Schema.from_dict({**document, **({"date_order": order} if order else {})})

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> Schema:
        """Load a schema file, or a shipped schema by name (``febrl``, ``person``; their first
        revisions ``febrl-v1``, ``person-v1``)."""
        if isinstance(source, str) and source in BUILTIN_SCHEMAS and not Path(source).exists():
            text = resources.files("bloom.schemas").joinpath(f"{source}.json").read_text("utf-8")
            where = gettext("shipped schema '{name}'").format(name=source)
        else:
            path = Path(source)
            where = str(path)
            try:
                text = path.read_text("utf-8")
            except FileNotFoundError:
                text = gettext("{path} does not exist (shipped schemas: {schemas})")
                raise SchemaError(
                    [text.format(path=path, schemas=", ".join(BUILTIN_SCHEMAS))]
                ) from None
            except (OSError, UnicodeDecodeError) as e:
                text = gettext("{path} cannot be read as UTF-8 text: {reason}")
                raise SchemaError([text.format(path=path, reason=e)]) from e
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            text = gettext("{where} is not valid JSON (line {line}, column {column}: {reason})")
            raise SchemaError(
                [text.format(where=where, line=e.lineno, column=e.colno, reason=e.msg)]
            ) from e
        return cls.from_dict(document)

    # -- views --------------------------------------------------------------------------
    @property
    def document(self) -> dict[str, Any]:
        """The document as written (a copy)."""
        return copy.deepcopy(self._document)

    @property
    def effective(self) -> dict[str, Any]:
        """The document with every default written out (a copy)."""
        return copy.deepcopy(self._effective)

    @cached_property
    def canonical_json(self) -> bytes:
        """What the fingerprint hashes: the effective document without the keys that do not
        decide the bits (see the module doc)."""
        body = {k: v for k, v in self._effective.items() if k not in _LOCAL_KEYS}
        body["fields"] = [
            {**doc, "category": {"values": sorted({v for _, v in f.category_map})}}
            if "category" in doc
            else doc
            for doc, f in zip(body["fields"], self.fields, strict=True)
        ]
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )

    @cached_property
    def fingerprint(self) -> str:
        """``blake3:`` + hex BLAKE3 of the canonical JSON; equal schemas, equal fingerprints."""
        return "blake3:" + blake3.blake3(self.canonical_json).hexdigest()

    @property
    def hashed_bits(self) -> int:
        return sum(s.bits for s in self.segments)

    @property
    def filter_bits(self) -> int:
        """Bits in each encoded filter (after hardening)."""
        return sum(s.out_bits for s in self.segments)

    @property
    def layout(self) -> tuple[tuple[str, int], ...]:
        """``(name, bits)`` of each segment of the encoded filter: what every batch carries."""
        return tuple((s.name, s.out_bits) for s in self.segments)

    @property
    def filter_words(self) -> int:
        return self.filter_bits // 64

    def segment(self, name: str) -> Segment:
        return next(s for s in self.segments if s.name == name)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.column for f in self.fields))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schema) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __repr__(self) -> str:
        return (
            f"Schema(name={self.name!r}, fields={len(self.fields)}, "
            f"bits={self.filter_bits}, fingerprint={self.fingerprint[:19]}…)"
        )
