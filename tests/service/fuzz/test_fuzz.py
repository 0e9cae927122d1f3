"""Schemathesis over the whole published API, for every role and no key, on both databases.

Each role's run (:func:`evaluation._fuzz.fuzz_role`, through the ``fuzz_fleet``) sends
every operation its edge cases and ``EXAMPLES`` generated cases (``KEYLESS_EXAMPLES`` without a
key), most of them carrying the world's real ids, and checks every answer: no 5xx, a
documented status, content type, body and headers. ``caselink bench --only fuzz`` runs the
same with many more examples.
"""

from __future__ import annotations

import pytest

from evaluation._fuzz_world import NO_KEY
from tests.service.fuzz.conftest import BACKENDS, CALLERS, examples_for


@pytest.mark.parametrize("role", CALLERS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_answer_is_documented_and_none_is_a_server_error(fuzz_fleet, backend, role):
    tally = fuzz_fleet.fuzz(backend, role)
    operations = len(list(fuzz_fleet.schemas[backend].get_all_operations()))
    assert tally.requests >= operations * examples_for(role) // 2
    found = "\n".join(f.describe() for f in tally.findings.values())
    assert not tally.findings, f"{len(tally.findings)} distinct failure(s):\n{found}"
    if role == NO_KEY:  # the health check and public pages answer without a key
        # (a public transparency page: 404 unless published, 304 to its ETag)
        assert set(tally.statuses) <= {200, 304, 401, 404, 422}
    else:  # the real ids reach data, not only refusals
        assert sum(n for s, n in tally.statuses.items() if 200 <= s < 300) > operations // 4
