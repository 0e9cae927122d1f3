"""The one error tree (caselink_errors): its message shape, and errors that cross processes
(Ray tasks pickle them) arrive as they left."""

from __future__ import annotations

import pickle

import pytest

import caselink_errors as errors


def test_one_problem_reads_as_itself_after_the_headline():
    assert str(errors.SchemaError("segments: none given")) == (
        "invalid linkage schema: segments: none given"
    )
    assert str(errors.SecretError("the secret file is empty")) == "the secret file is empty"


def test_several_problems_are_listed_under_the_headline():
    e = errors.EncodingError(["row 3: no date", "row 9: no name"])
    assert e.problems == ("row 3: no date", "row 9: no name")
    assert str(e) == "cannot encode the input (2 problems):\n  - row 3: no date\n  - row 9: no name"


def test_an_error_without_a_problem_is_a_programming_error():
    with pytest.raises(TypeError):
        errors.LinkageError([])
    with pytest.raises(TypeError):
        errors.BlockingError({})


@pytest.mark.parametrize(
    "error",
    [
        errors.LinkageError(["threshold: must be in (0, 1]", "k: must be >= 1"]),
        errors.BlockingError({"bands": "must be >= 1", "seed": "must be >= 0"}),
        errors.RegistryError("the registry holds records of another schema"),
        errors.ServiceError(404, "not_found", "no such agreement", ["agreement: unknown"]),
        errors.BatchRefusedError(409, "some records are here already", ["record_ref: 2 rows"]),
        errors.ClientError(429, "rate_limited", "slow down", []),
    ],
    ids=lambda e: type(e).__name__,
)
def test_an_error_sent_through_pickle_arrives_as_it_left(error):
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is type(error)
    assert str(back) == str(error) and back.problems == error.problems
    assert (back.http_status, back.code) == (error.http_status, error.code)
    assert vars(back) == vars(error)


def test_answered_errors_carry_their_own_status_and_the_detail_as_their_one_problem():
    e = errors.ServiceError(403, "forbidden", "this key may not read cases")
    assert (e.http_status, e.code, e.problems) == (
        403,
        "forbidden",
        ("this key may not read cases",),
    )
    assert errors.BatchRefusedError(413, "too big", ["size"]).code == "too_large"
    assert errors.BatchRefusedError(422, "bad", ["x"]).code == "invalid_batch"
    assert "HTTP 429" in str(errors.ClientError(429, "rate_limited", "slow down", []))
