"""What the framework answers before a route runs, in the error model, on a real server.

Regressions found by the fuzzer: a NUL in a path id reached PostgreSQL and failed with a 500
(``/v1/agreements/%00``, every agreement and key route); a JSON body that is not UTF-8 got
Starlette's ``400 {"detail": ...}``; unknown paths and methods answered outside the model.
"""

from __future__ import annotations

import httpx
import pytest

from tests.service import loopback
from tests.service.fuzz.conftest import BACKENDS

CONTROL_PATHS = [
    ("GET", "/v1/agreements/%00"),
    ("GET", "/v1/agreements/{agreement}/runs/%00"),
    ("GET", "/v1/agreements/%00/cases"),
    ("POST", "/v1/agreements/%00/runs"),
    ("POST", "/v1/keys/%00/rotate"),
    ("DELETE", "/v1/keys/a%1Bb"),
    ("POST", "/v1/agencies/%7F/keys"),
]


def _error_model(response: httpx.Response, status: int, error: str, where: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail", "problems"}
    assert body["error"] == error
    assert body["problems"] and body["problems"][0].startswith(f"{where}: ")
    return body


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("method", "path"), CONTROL_PATHS)
def test_a_control_character_in_a_path_is_a_422_not_a_server_error(
    fuzz_fleet, backend, method, path
):
    world = fuzz_fleet.world(backend)
    url = world.url + path.format(agreement=world.values["agreement_id"][0])
    headers = {"Authorization": f"Bearer {world.keys['steward']}"}
    response = loopback.request(method, url, headers=headers, json={"role": "tracer"}, timeout=60)
    _error_model(response, 422, "invalid_request", "path")
    assert "\\u0000" not in response.text and "\\u001b" not in response.text  # nothing echoed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_json_body_that_is_not_utf8_is_a_422_in_the_error_model(fuzz_fleet, backend):
    world = fuzz_fleet.world(backend)
    headers = {
        "Authorization": f"Bearer {world.keys['steward']}",
        "Content-Type": "application/json",
    }
    agreement = world.values["agreement_id"][0]
    for path in ("/v1/agreements", f"/v1/agreements/{agreement}/withdrawals"):
        response = loopback.post(
            world.url + path, content=b"\xff\xfe\x00", headers=headers, timeout=60
        )
        _error_model(response, 422, "invalid_request", "body")


@pytest.mark.parametrize("backend", BACKENDS)
def test_unknown_paths_and_methods_answer_in_the_error_model(fuzz_fleet, backend):
    world = fuzz_fleet.world(backend)
    headers = {"Authorization": f"Bearer {world.keys['steward']}"}
    _error_model(
        loopback.get(f"{world.url}/v1/nowhere", headers=headers, timeout=60),
        404,
        "not_found",
        "path",
    )
    wrong = loopback.put(f"{world.url}/v1/me", headers=headers, timeout=60)
    _error_model(wrong, 405, "method_not_allowed", "method")
    assert wrong.headers["allow"] == "GET"
