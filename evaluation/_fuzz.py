"""Schemathesis over the whole OpenAPI document, as every role, against a live server.

For every operation the server publishes, :func:`build_corpus` draws, once for all roles,

- *edge cases*, fixed, sent by the roles with a key: each path parameter and each string field
  of a JSON body as NUL and as 300 characters, each integer query parameter as 2³¹ and 2⁶³,
  each Parquet body one byte over the size limit — real values (and the world's valid
  bodies) everywhere else;
- *generated cases*: schemathesis' positive and negative data for the operation (hypothesis,
  ``examples`` per operation, seeded), in which each path parameter, purpose header, known body
  field and Parquet body is swapped, three times in four, for a real value of the
  :class:`~evaluation._fuzz_world.FuzzWorld` (hostile batches come from
  :mod:`evaluation._fuzz_bodies`), so that requests reach the data and not only the 404s.

:func:`fuzz_role` sends a corpus as one role, and schemathesis checks every answer: no 5xx,
a documented status, a documented content type, a body that matches the documented schema,
the documented headers. :class:`Tally` counts requests and statuses and keeps one
:class:`Finding` per distinct failure, with a curl reproduction that names the role instead
of holding its key.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from evaluation._fuzz_bodies import batch_bodies
from evaluation._fuzz_world import NO_KEY, FuzzWorld

__all__ = ["CHECKS", "Finding", "Probe", "Tally", "build_corpus", "fuzz_role", "load_schema"]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EDGE_STRINGS = {"NUL": "\x00", "300 chars": "x" * 300}
EDGE_INTEGERS = {"2**31": 2**31, "2**63": 2**63}
PARQUET = "application/vnd.apache.parquet"
BINARY = (PARQUET, "application/octet-stream")  # an encoded batch is declared under both
JSON = "application/json"
REAL = 3  # in 4 draws, a known field takes a real value


@schemathesis.serializer(PARQUET)
def _parquet(_ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


@dataclass(frozen=True)
class Finding:
    """One distinct failure: where, which check, the status, and how to reproduce it."""

    role: str
    operation: str
    check: str
    status: int
    cause: str  # the edge case, or "generated"
    reproduction: str
    message: str

    def describe(self) -> str:
        return (
            f"[{self.role}] {self.operation} ({self.cause}) -> {self.status}: {self.check}\n"
            f"    {self.reproduction}\n    {self.message[:600]}"
        )


@dataclass
class Tally:
    """What a fuzzing run sent and got: requests, statuses, distinct failures."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[tuple[str, str, str, int, str], Finding] = field(default_factory=dict)
    failed_requests: int = 0

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.statuses.update(other.statuses)
        self.failed_requests += other.failed_requests
        for k, f in other.findings.items():
            self.findings.setdefault(k, f)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failed_requests": self.failed_requests,
            "statuses": {str(s): n for s, n in sorted(self.statuses.items())},
            "distinct_failures": len(self.findings),
            "failures": [f.describe() for f in self.findings.values()],
        }


def load_schema(url: str) -> Any:
    """The document the server publishes at ``/openapi.json``, less its security
    requirements: the key is the role's, sent with every request, and not data to mutate
    (a missing or broken key is the ``none`` role's business)."""
    document = requests.get(f"{url}/openapi.json", timeout=60).json()
    for item in document.get("paths", {}).values():
        for op in item.values():
            op.pop("security", None)
    return schemathesis.openapi.from_dict(document)


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


def _with_real_values(draw: Any, case: Any, world: FuzzWorld, bodies: Any) -> Any:
    """Swap fields of ``case`` for real values, each with probability REAL/4."""
    real = world.values

    def maybe(container: Any, name: str) -> None:
        if name in real and draw(st.integers(0, 3)) < REAL:
            container[name] = draw(st.sampled_from(real[name]))

    for container in (case.path_parameters, case.query, case.headers):
        for name in list(container or {}):
            maybe(container, name)
    if case.headers is not None and "x-caselink-purpose" not in case.headers:
        maybe(case.headers, "x-caselink-purpose")
    if isinstance(case.body, dict):
        for name in list(case.body):
            maybe(case.body, name)
    elif case.media_type in BINARY and draw(st.integers(0, 3)) < REAL:
        case.body = draw(bodies)
    return case


def _edge_cases(op: Any, world: FuzzWorld) -> Iterator[tuple[str, Any]]:
    """(what is on the edge, case): one parameter at a time, real values elsewhere."""
    path = {p.name: world.values.get(p.name, ["x"])[0] for p in op.path_parameters}
    for name in path:
        for label, text in EDGE_STRINGS.items():
            yield f"path {name}={label}", op.Case(path_parameters={**path, name: text})
    for param in op.query:
        if param.definition.get("schema", {}).get("type") == "integer":
            for label, n in EDGE_INTEGERS.items():
                yield (
                    f"query {param.name}={label}",
                    op.Case(path_parameters=path, query={param.name: n}),
                )
    if any(body.media_type == PARQUET for body in op.body):
        yield (
            "body over the size limit",
            op.Case(path_parameters=path, media_type=PARQUET, body=world.oversize),
        )
    template = world.templates.get(op.label, {})
    for name in [n for n, v in template.items() if isinstance(v, str)]:
        for label, text in EDGE_STRINGS.items():
            yield (
                f"body {name}={label}",
                op.Case(path_parameters=path, media_type=JSON, body={**template, name: text}),
            )


class _Runner:
    """Sends cases as one role, validates the answers and tallies them."""

    def __init__(self, world: FuzzWorld, role: str, session: requests.Session) -> None:
        self.world, self.role, self.session = world, role, session
        key = world.keys[role]
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.shown = {"Authorization": f"Bearer ${role.upper()}_KEY"} if key else {}
        self.tally = Tally()

    def send(self, case: Any, cause: str = "generated") -> None:
        if self.role == NO_KEY and case.headers:
            case.headers.pop("Authorization", None)
        response = case.call(
            base_url=self.world.url, session=self.session, headers=self.headers, timeout=60
        )
        self.tally.requests += 1
        self.tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        except schemathesis.errors.FailureGroup as group:
            self._record(case, cause, response.status_code, list(group.exceptions))
        except AssertionError as failure:
            self._record(case, cause, response.status_code, [failure])

    def _record(self, case: Any, cause: str, status: int, failures: list[Any]) -> None:
        self.tally.failed_requests += 1
        label = case.operation.label
        for f in failures:
            title = getattr(f, "title", type(f).__name__)
            if status >= 500 and title == "Undocumented status code":
                continue  # the server error is the finding
            key = (self.role, label, title, status, cause)
            if key not in self.tally.findings:
                curl = (
                    case.as_curl_command(headers=self.shown)
                    if self.shown
                    else case.as_curl_command()
                )
                message = getattr(f, "message", str(f))
                self.tally.findings[key] = Finding(
                    self.role, label, title, status, cause, curl, message
                )


def _generated(op: Any, world: FuzzWorld, examples: int, seed: int) -> list[Any]:
    """``examples`` cases of schemathesis' positive and negative data, with real values."""
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    base = st.one_of([op.as_strategy(generation_mode=m) for m in modes])
    bodies = batch_bodies(world.layout, world.bodies)
    cases: list[Any] = []

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.generate],
    )
    @hypothesis.given(data=st.data())  # drawn inside: a world is too large for a strategy's repr
    def run(data: st.DataObject) -> None:
        cases.append(_with_real_values(data.draw, data.draw(base), world, bodies))

    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()
    return cases


@dataclass(frozen=True)
class Probe:
    """One request of a corpus: the case, what it probes, and its rank among the generated
    cases of its operation (-1 for an edge case)."""

    case: Any
    cause: str
    rank: int


def build_corpus(world: FuzzWorld, schema: Any, examples: int, seed: int = 0) -> list[Probe]:
    """Every operation's edge cases and ``examples`` generated cases, operation by operation.

    A corpus is drawn once and sent as every role: what a request may do depends on the key,
    not on how it was drawn, and drawing is most of the client's work."""
    probes: list[Probe] = []
    for op in _operations(schema):
        probes += [Probe(case, cause, -1) for cause, case in _edge_cases(op, world)]
        generated = _generated(op, world, examples, seed)
        probes += [Probe(case, "generated", k) for k, case in enumerate(generated)]
    return probes


def fuzz_role(
    world: FuzzWorld, role: str, corpus: list[Probe], examples: int | None = None
) -> Tally:
    """Send ``corpus`` as ``role`` (its edge cases only with a key: without one nothing gets
    past the key check), at most ``examples`` generated cases per operation."""
    keyed = world.keys[role] is not None
    with requests.Session() as session:
        session.trust_env = False  # loopback: no proxy lookups in the environment per request
        runner = _Runner(world, role, session)
        for probe in corpus:
            if (probe.rank < 0 and not keyed) or (examples is not None and probe.rank >= examples):
                continue
            runner.send(probe.case, probe.cause)
    return runner.tally
