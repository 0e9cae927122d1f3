"""`caselink privacy check`: what an encoded batch lets its holder learn, judged on the batch alone.

Runs on the agency's own machine, offline, on the batch file only: no plaintext, no secret.
For each segment it measures how many distinct bit patterns there are and how many records sit
in groups of at least 5 near-identical records (:mod:`bloom._exposure`) -- records the service
could sort by whatever the segment holds, without the secret. Without plaintext that groupable
share is the attribute exposure the batch allows: at most that share of records could have
their value inferred from their group; the fields behind a segment are named from the schema.

**Verdict.** A batch LEAKS when some segment groups more than :data:`LEAK_THRESHOLD` (10%) of
its records: issue 12's goal is an attribute exposure of at most 10% for each of sex, birth
year and place. The whole filter is shown but not judged: near-identical whole filters are
duplicate registrations, which finding is the service's job.

The schema is the one given, or the shipped schema whose fingerprint the batch carries; with
neither, segments are named without their fields, hardening is "unknown", and per-record noise
is not undone.
"""

from __future__ import annotations

from dataclasses import dataclass

from bloom._batch import EncodedBatch
from bloom._exposure import DEFAULT_MIN_GROUP, SegmentExposure, batch_exposure
from bloom._schema import BUILTIN_SCHEMAS, Field, Schema
from caselink_errors import SchemaError

__all__ = [
    "EXIT_LEAKS",
    "LEAK_THRESHOLD",
    "PrivacyCheck",
    "SegmentFinding",
    "check_batch",
    "schema_for",
    "schema_warnings",
]

LEAK_THRESHOLD = 0.10
EXIT_LEAKS = 3  # 0: OK; 2: bad input (every caselink error); 3: the batch leaks


@dataclass(frozen=True)
class SegmentFinding:
    segment: str
    bits: int
    fields: tuple[str, ...]  # what the schema hashes into it; () when the schema is unknown
    distinct_patterns: int
    empty: int  # records with no bit set there (fields missing)
    grouped_share: float  # share of records in groups of >= min_group near-identical records
    largest_group_share: float
    leaks: bool

    @property
    def what(self) -> str:
        """The fields in plain words, or the segment's name when they are unknown."""
        if not self.fields:
            return f"whatever segment '{self.segment}' holds"
        return " and ".join(f.replace("_", " ") for f in self.fields)


@dataclass(frozen=True)
class PrivacyCheck:
    records: int
    schema: str | None  # the schema's name (or "(given)"), None when unknown
    hardening: tuple[str, ...] | None  # hardening steps on; None when the schema is unknown
    noise: float  # per-record flip probability undone before grouping
    segments: tuple[SegmentFinding, ...]
    whole: SegmentFinding
    threshold: float
    min_group: int
    dice: float

    @property
    def leaks(self) -> bool:
        return any(s.leaks for s in self.segments)

    @property
    def verdict(self) -> str:
        """One plain sentence a data officer can act on."""
        if self.leaks:
            worst = max(self.segments, key=lambda s: s.grouped_share)
            return (
                f"LEAKS: the service could sort {_pct(worst.grouped_share)} of your records by "
                f"{worst.what} (segment '{worst.segment}')"
            )
        top = max(self.segments, key=lambda s: s.grouped_share)
        return (
            f"OK: no segment lets the service group more than {_pct(self.threshold)} of your "
            f"records (at most {_pct(top.grouped_share)}, segment '{top.segment}')"
        )

    @property
    def details(self) -> tuple[str, ...]:
        """One line per leaking segment, worst first."""
        leaking = sorted((s for s in self.segments if s.leaks), key=lambda s: -s.grouped_share)
        return tuple(
            f"{_pct(s.grouped_share)} by {s.what} (segment '{s.segment}')" for s in leaking
        )


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else "<1%"


def schema_for(fingerprint: str, given: str | None) -> Schema | None:
    """The schema the batch was encoded with: ``given`` (checked), else a shipped one."""
    if given is not None:
        schema = Schema.load(given)
        if schema.fingerprint != fingerprint:
            raise SchemaError(
                [
                    f"--schema: the batch was encoded with schema {fingerprint}; {given} is "
                    f"{schema.fingerprint}. Give the schema file the batch was encoded with"
                ]
            )
        return schema
    for name in BUILTIN_SCHEMAS:
        schema = Schema.load(name)
        if schema.fingerprint == fingerprint:
            return schema
    return None


_NAME_HARDENING = ("xor_fold", "diffusion")  # hide names from frequency analysis, not values


def _sets_bits(f: Field) -> bool:
    return sum(t.weight for t in f.tokenisers) > 0  # weight 0: a salt only


def schema_warnings(schema: Schema) -> tuple[str, ...]:
    """What a schema leaves open to whoever holds its filters, in plain words (``caselink
    encode`` prints them): name fields hashed without a salt, a rekey, an XOR-fold or diffusion
    (frequency analysis names the commonest names; balance and BLIP do not stop it, as the
    privacy table shows), and segments that hold no name and are not rekeyed -- records with
    equal values there get equal bits, whatever deterministic step follows (BLIP's noise is
    undone by majority votes), so they group by them; a salt only splits those groups by the
    salt's value (the privacy table's salted rows still sort most of a large register)."""
    h = schema.hardening
    salted = h.salt_field is not None
    fields = [f for f in schema.fields if _sets_bits(f)]
    out = []
    open_names = [
        f.name
        for f in fields
        if f.type == "name" and f.salt is None and f.segment not in h.rekey_segments
    ]
    if open_names and not salted and not any(step in h.enabled for step in _NAME_HARDENING):
        out.append(
            f"the names ({', '.join(open_names)}) are not hardened: whoever holds the filters "
            "can name the commonest given and family names by frequency analysis"
        )
    for seg in schema.segments:
        inside = [f for f in fields if f.segment == seg.name]
        rekeyed = seg.name in h.rekey_segments or seg.name == h.rekey_key
        if inside and not rekeyed and not any(f.type == "name" for f in inside):
            what = " and ".join(f.name.replace("_", " ") for f in inside)
            keys = sorted({f.salt.field.replace("_", " ") for f in inside if f.salt})
            if keys:
                out.append(
                    f"segment '{seg.name}' holds only {what}, salted by {' and '.join(keys)}: "
                    "records with equal values and salts get equal bits there, so whoever "
                    "holds the filters can group the records by it within each salt group"
                )
            else:
                out.append(
                    f"segment '{seg.name}' holds only {what}: records with equal values get "
                    "equal bits there, so whoever holds the filters can group the records by it"
                )
    return tuple(out)


def _finding(
    s: SegmentExposure, schema: Schema | None, threshold: float, judged: bool
) -> SegmentFinding:
    fields = (
        () if schema is None else tuple(f.name for f in schema.fields if f.segment == s.segment)
    )
    return SegmentFinding(
        segment=s.segment,
        bits=s.bits,
        fields=fields,
        distinct_patterns=s.distinct_patterns,
        empty=s.empty,
        grouped_share=s.grouped_share,
        largest_group_share=s.largest_group_share,
        leaks=judged and s.grouped_share > threshold,
    )


def check_batch(
    batch: EncodedBatch,
    schema: Schema | None,
    *,
    threshold: float = LEAK_THRESHOLD,
    min_group: int = DEFAULT_MIN_GROUP,
) -> PrivacyCheck:
    """Judge ``batch`` (encoded with ``schema``, if known) by its near-identical groups."""
    e = batch_exposure(batch.filters, schema or batch.metadata.segments, min_group=min_group)
    return PrivacyCheck(
        records=len(batch),
        schema=None if schema is None else (schema.name or "(given)"),
        hardening=None if schema is None else schema.hardening.enabled,
        noise=e.noise,
        segments=tuple(_finding(s, schema, threshold, True) for s in e.segments),
        whole=_finding(e.whole, None, threshold, False),
        threshold=threshold,
        min_group=min_group,
        dice=e.dice,
    )
