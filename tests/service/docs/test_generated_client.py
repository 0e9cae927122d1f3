"""A client generated from the served OpenAPI document uploads, links and queries, with typed
answers — as a partner agency would build one, without our Python client.

The generator is openapi-python-client, a widely used one, in a virtualenv of its own (``make
codegen-venv``: it pins typer and httpx below the CLI's). The client is generated at test time
from the ``/openapi.json`` of a real ``caselink serve`` — in about a second, so the check is
always against the document the service serves now, never a stale copy — and imported here.
The generator left both binary operations out while the document declared their bodies only as
``application/vnd.apache.parquet``, a type it does not know: the document now offers
``application/octet-stream`` too, and the generator must warn about nothing else.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from tests.service import loopback
from tests.service.docs.conftest import registers
from tests.service.servers import AGENCIES, PLANTED

REPO = Path(__file__).resolve().parents[3]
GENERATOR = REPO / ".venv-codegen" / "bin" / "openapi-python-client"
PACKAGE = "caselink_generated_client"
PARQUET_ONLY = "Unsupported content type application/vnd.apache.parquet"
# The only warnings the generator may give: the Parquet type of each binary body, beside which
# it takes the octet-stream one (were that one missing, each would add "Endpoint will not be
# generated.").
EXPECTED_WARNINGS = {
    ("WARNING parsing POST /v1/agreements/{agreement_id}/batches within batches.", PARQUET_ONLY),
    ("WARNING parsing POST /v1/agreements/{agreement_id}/queries within queries.", PARQUET_ONLY),
}
RUN_TIMEOUT = 120.0


def _warnings(output: str) -> set[tuple[str, str]]:
    """(heading, first line of detail) of every warning or error the generator printed."""
    found = set()
    for block in re.split(r"\n(?=WARNING|ERROR)", output):
        if block.startswith(("WARNING", "ERROR")):
            lines = [line.strip() for line in block.splitlines() if line.strip()]
            found.add((lines[0], lines[1] if len(lines) > 1 else ""))
    return found


@pytest.fixture(scope="module")
def generated(published, tmp_path_factory) -> Iterator[ModuleType]:
    """The client package, generated from the server's document and importable."""
    if not GENERATOR.exists():
        pytest.fail(
            f"no openapi-python-client at {GENERATOR}: `make codegen-venv` installs it "
            "(its own virtualenv; it pins typer and httpx below the CLI's)"
        )
    work = tmp_path_factory.mktemp("generated")
    spec = work / "openapi.json"
    spec.write_bytes(loopback.get(f"{published.url}/openapi.json", timeout=30).content)
    env = dict(os.environ, PATH=f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    command = [str(GENERATOR), "generate", "--path", str(spec), "--meta", "none"]
    done = subprocess.run(
        [*command, "--output-path", str(work / PACKAGE)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert _warnings(output) == EXPECTED_WARNINGS, output
    sys.path.insert(0, str(work))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(work))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _api(name: str) -> ModuleType:
    return importlib.import_module(f"{PACKAGE}.api.{name}")


def _model(name: str) -> type:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def _parquet(data: bytes) -> object:
    file = importlib.import_module(f"{PACKAGE}.types").File
    return file(payload=io.BytesIO(data), file_name="batch.parquet")


def _client(generated: ModuleType, url: str, key: str):
    return generated.AuthenticatedClient(base_url=url, token=key, raise_on_unexpected_status=True)


def test_operations_are_named_for_people(generated):
    for module in ("batches.upload_batch", "queries.query", "runs.start_run", "runs.get_run"):
        assert callable(_api(module).sync_detailed), module


@dataclass(frozen=True)
class Linked:
    """What the generated client got back: a batch per agency, the same file sent again, and
    the run that linked them."""

    frames: dict
    batches: dict  # agency -> (status code, parsed answer)
    again: tuple  # (status code, parsed answer) of the first agency's file sent again
    run: object


@pytest.fixture(scope="module")
def linked(generated, published) -> Linked:
    """Each agency's register uploaded, and linked by a run, all through the generated client."""
    upload, start_run, get_run = (
        _api("batches.upload_batch"),
        _api("runs.start_run"),
        _api("runs.get_run"),
    )
    frames, batches, files = registers(), {}, {}
    for agency in AGENCIES:
        files[agency] = published.encoded(frames[agency], agency, f"gen-{agency}")
        with _client(generated, published.url, published.keys[agency]) as c:
            answer = upload.sync_detailed(
                published.agreement_id, client=c, body=_parquet(files[agency])
            )
        batches[agency] = (answer.status_code, answer.parsed)
    with _client(generated, published.url, published.keys[AGENCIES[0]]) as c:
        answer = upload.sync_detailed(
            published.agreement_id, client=c, body=_parquet(files[AGENCIES[0]])
        )
        run = start_run.sync(published.agreement_id, client=c)
        deadline = time.monotonic() + RUN_TIMEOUT
        while run.status.value in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            run = get_run.sync(published.agreement_id, run.run_id, client=c)
    return Linked(frames, batches, (answer.status_code, answer.parsed), run)


def test_upload_answers_typed_batches(linked):
    batch_public = _model("BatchPublic")
    for agency, (status, batch) in linked.batches.items():
        assert status == 201 and isinstance(batch, batch_public), (agency, batch)
        assert (batch.agency, batch.record_count) == (agency, len(linked.frames[agency]))
        assert batch.status.value == "pending" and batch.duplicate is False
        assert isinstance(batch.received_at, datetime) and batch.batch_id.startswith("bat_")
    status, again = linked.again
    assert status == 200 and isinstance(again, batch_public) and again.duplicate is True
    assert again.batch_id == linked.batches[AGENCIES[0]][1].batch_id


def test_the_run_is_started_and_followed_with_typed_answers(linked):
    run = linked.run
    assert isinstance(run, _model("RunPublic"))
    assert run.status.value == "succeeded", run.to_dict()
    assert isinstance(run.created_at, datetime) and isinstance(run.finished_at, datetime)
    assert run.stats["new_records"] == sum(len(f) for f in linked.frames.values())


def test_a_refusal_is_the_typed_error_model(generated, published):
    upload, error = _api("batches.upload_batch"), _model("Error")
    with _client(generated, published.url, "clk_not-a-key") as c:
        refused = upload.sync_detailed(published.agreement_id, client=c, body=_parquet(b"x"))
    assert refused.status_code == 401 and isinstance(refused.parsed, error)
    assert refused.parsed.error.value == "unauthorized" and refused.parsed.problems


def test_query_finds_the_planted_people_with_typed_answers(generated, published, linked):
    query = _api("queries.query")
    query_answer, query_result, candidate, error = (
        _model("QueryAnswer"),
        _model("QueryResult"),
        _model("QueryCandidate"),
        _model("Error"),
    )
    refs = [f"Q-{k}" for k in range(len(PLANTED))]
    sought = published.encoded(PLANTED.assign(record_ref=refs), "agency-b", "gen-query")
    with _client(generated, published.url, published.tracer_key) as c:
        answer = query.sync_detailed(
            published.agreement_id,
            client=c,
            body=_parquet(sought),
            x_caselink_purpose="tracing",
            top_k=3,
        )
        assert answer.status_code == 200, answer.content
        found = answer.parsed
        assert isinstance(found, query_answer)
        assert (found.purpose, found.top_k, found.records_queried) == ("tracing", 3, len(refs))
        assert [r.query_ref for r in found.results] == refs
        for result in found.results:
            assert isinstance(result, query_result) and result.candidates, result.query_ref
            best = result.candidates[0]
            assert isinstance(best, candidate) and isinstance(best.confidence, float)
            assert best.case_id.startswith("CL-")
            assert set(best.agencies) == set(AGENCIES)  # each planted person is at all three

        # no purpose stated: refused with the error model, typed
        unstated = query.sync_detailed(published.agreement_id, client=c, body=_parquet(sought))
    assert unstated.status_code == 422 and isinstance(unstated.parsed, error)
    assert unstated.parsed.error.value == "invalid_request"
    assert any("X-Caselink-Purpose" in p for p in unstated.parsed.problems)
