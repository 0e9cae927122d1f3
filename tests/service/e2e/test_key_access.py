"""Keys and agencies, role by role and target by target: who may list, issue, rotate and
revoke which key, create and list agencies, and read the service's own audit chain.

The tables below are the role model of :mod:`service._keys`; each row is one test. Every
caller holds a key of agency ``keys-home`` (the admin too, so that "its own agency" means one
thing for all); ``keys-away`` is another agency. The callers' keys are made once per module.
A rotation or revocation acts on a target minted for that one case, and a caller acting on its
own key is minted for the case too, so the shared keys outlive every row. A refused call must
leave its target working, and must appear in the service's audit chain.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from service._tables import audit_entries
from service.client import ClientError
from tests.service import loopback

HOME, AWAY = "keys-home", "keys-away"
ROLES = ("admin", "steward", "submitter", "tracer", "evaluator", "auditor")
CALLERS = (*ROLES, "no key", "revoked")
TARGETS = ("own", "other role", "steward", "away", "admin", "unknown", "malformed")
# own: the caller's key. other role: a key of its agency with another role. steward: its
# agency's steward key (another one, for a steward). away: a key of another agency. admin: an
# admin key of its agency. unknown: a well-formed id no key has. malformed: not a key id.
MALFORMED_PATH = "key_%22forged%20entry"  # the service reads 'key_"forged entry'
# (a control character in a path never reaches a route: tests/service/fuzz/test_http_answers.py)

# fmt: off
ROTATE = {  # POST /v1/keys/{target}/rotate
    #             own  other role  steward  away  admin  unknown  malformed
    "admin":     (201, 201,        201,     201,  201,   404,     404),
    "steward":   (201, 201,        201,     404,  404,   404,     404),
    "submitter": (201, 403,        403,     403,  403,   403,     403),
    "tracer":    (201, 403,        403,     403,  403,   403,     403),
    "evaluator": (201, 403,        403,     403,  403,   403,     403),
    "auditor":   (201, 403,        403,     403,  403,   403,     403),
    "no key":    (401, 401,        401,     401,  401,   401,     401),
    "revoked":   (401, 401,        401,     401,  401,   401,     401),
}
REVOKE = {  # DELETE /v1/keys/{target}
    #             own  other role  steward  away  admin  unknown  malformed
    "admin":     (200, 200,        200,     200,  200,   404,     404),
    "steward":   (200, 200,        200,     404,  404,   404,     404),
    "submitter": (403, 403,        403,     403,  403,   403,     403),
    "tracer":    (403, 403,        403,     403,  403,   403,     403),
    "evaluator": (403, 403,        403,     403,  403,   403,     403),
    "auditor":   (403, 403,        403,     403,  403,   403,     403),
    "no key":    (401, 401,        401,     401,  401,   401,     401),
    "revoked":   (401, 401,        401,     401,  401,   401,     401),
}
OPERATIONS = {  # call [role of the key to issue]
    #                                            admin stew. subm. trac. eval. aud.  none  revoked
    "GET /v1/keys":                             (200,  200,  403,  403,  403,  403,  401,  401),
    f"POST /v1/agencies/{HOME}/keys steward":   (201,  201,  403,  403,  403,  403,  401,  401),
    f"POST /v1/agencies/{HOME}/keys tracer":    (201,  201,  403,  403,  403,  403,  401,  401),
    f"POST /v1/agencies/{HOME}/keys auditor":   (201,  201,  403,  403,  403,  403,  401,  401),
    f"POST /v1/agencies/{HOME}/keys admin":     (201,  403,  403,  403,  403,  403,  401,  401),
    f"POST /v1/agencies/{AWAY}/keys submitter": (201,  403,  403,  403,  403,  403,  401,  401),
    "POST /v1/agencies/nowhere/keys submitter": (404,  403,  403,  403,  403,  403,  401,  401),
    "POST /v1/agencies":                        (201,  403,  403,  403,  403,  403,  401,  401),
    "GET /v1/agencies":                         (200,  200,  403,  403,  403,  403,  401,  401),
    "GET /v1/audit":                            (200,  403,  403,  403,  403,  403,  401,  401),
    "GET /v1/audit/verify":                     (200,  403,  403,  403,  403,  403,  401,  401),
}
# fmt: on


def _headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


class Keys:
    """The module's agencies and callers, and an admin to mint targets with."""

    def __init__(self, service, http: httpx.Client) -> None:
        self.service, self.http = service, http
        with service.admin() as admin:
            for agency in (HOME, AWAY):
                with contextlib.suppress(ClientError):  # made already on this database
                    admin.create_agency(agency)
        self.callers = {role: self.mint(HOME, role) for role in ROLES}
        self.revoked = self.mint(HOME, "submitter")
        self.call("DELETE", f"/v1/keys/{self.revoked['key_id']}", self.service.admin_key)

    def mint(self, agency: str, role: str) -> dict:
        """A new key, issued by the service's admin."""
        r = self.call(
            "POST", f"/v1/agencies/{agency}/keys", self.service.admin_key, json={"role": role}
        )
        assert r.status_code == 201, r.text
        return r.json()

    def call(self, method: str, path: str, key: str | None, **kwargs) -> httpx.Response:
        return self.http.request(method, path, headers=_headers(key), **kwargs)

    def works(self, key: str) -> bool:
        return self.call("GET", "/v1/me", key).status_code == 200

    def caller_key(self, caller: str) -> str | None:
        if caller == "no key":
            return None
        return (self.revoked if caller == "revoked" else self.callers[caller])["api_key"]

    def target(self, caller: str, target: str) -> tuple[str | None, str, dict | None]:
        """(the caller's key, the id in the path, the minted target if any) for one case."""
        key = self.caller_key(caller)
        if target == "own":
            own = (
                self.revoked
                if caller == "revoked"
                else self.mint(HOME, caller if caller in ROLES else "submitter")
            )
            return (own["api_key"] if caller != "no key" else None), own["key_id"], own
        if target in ("unknown", "malformed"):
            path_id = "key_" + secrets.token_hex(8) if target == "unknown" else MALFORMED_PATH
            return key, path_id, None
        agency, role = {
            "other role": (HOME, "tracer" if caller == "submitter" else "submitter"),
            "steward": (HOME, "steward"),
            "away": (AWAY, "submitter"),
            "admin": (HOME, "admin"),
        }[target]
        minted = self.mint(agency, role)
        return key, minted["key_id"], minted


@pytest.fixture(scope="module")
def keys(service) -> Iterator[Keys]:
    with loopback.client(base_url=service.url, timeout=30) as http:
        yield Keys(service, http)


def _act(keys: Keys, method: str, caller: str, target: str) -> int:
    """One case of ROTATE or REVOKE; checks what the answer did to the target key."""
    key, path_id, minted = keys.target(caller, target)
    r = keys.call(method, f"/v1/keys/{path_id}" + ("/rotate" if method == "POST" else ""), key)
    assert "forged-entry" not in r.text
    if minted is not None and r.is_success:
        assert not keys.works(minted["api_key"])  # the old key stops at once
    if minted is not None and r.status_code == 201:
        new = r.json()
        assert (new["agency"], new["role"]) == (minted["agency"], minted["role"])
        assert keys.works(new["api_key"])
    if minted is not None and minted is not keys.revoked and not r.is_success:
        assert keys.works(minted["api_key"]), (caller, target)  # refused: untouched
    return r.status_code


@pytest.mark.parametrize("caller", CALLERS)
def test_rotate(keys, caller):
    got = tuple(_act(keys, "POST", caller, t) for t in TARGETS)
    assert dict(zip(TARGETS, got, strict=True)) == dict(zip(TARGETS, ROTATE[caller], strict=True))


@pytest.mark.parametrize("caller", CALLERS)
def test_revoke(keys, caller):
    got = tuple(_act(keys, "DELETE", caller, t) for t in TARGETS)
    assert dict(zip(TARGETS, got, strict=True)) == dict(zip(TARGETS, REVOKE[caller], strict=True))


@pytest.mark.parametrize("operation", OPERATIONS)
def test_key_and_agency_calls(keys, operation):
    method, path, *role = operation.split()
    got = []
    for caller in CALLERS:
        body = {"role": role[0]} if role else None
        if path == "/v1/agencies" and method == "POST":
            body = {"name": "made-" + secrets.token_hex(4)}
        got.append(keys.call(method, path, keys.caller_key(caller), json=body).status_code)
    assert dict(zip(CALLERS, got, strict=True)) == dict(
        zip(CALLERS, OPERATIONS[operation], strict=True)
    )


def test_a_steward_lists_its_own_agencys_keys_but_no_admin_key(keys):
    steward = keys.call("GET", "/v1/keys", keys.caller_key("steward")).json()
    assert {k["agency"] for k in steward} == {HOME}
    assert "admin" not in {k["role"] for k in steward}
    assert keys.callers["steward"]["key_id"] in {k["key_id"] for k in steward}
    every = keys.call("GET", "/v1/keys", keys.caller_key("admin")).json()
    assert {HOME, AWAY} <= {k["agency"] for k in every}
    assert keys.callers["admin"]["key_id"] in {k["key_id"] for k in every}
    assert not [k for k in [*steward, *every] if "api_key" in k]


def test_a_steward_cannot_tell_another_agencys_key_from_no_key(keys):
    """Another agency's key, an admin key, an unknown and a malformed id: the same 404."""
    steward = keys.caller_key("steward")
    targets = [
        keys.mint(AWAY, "steward")["key_id"],
        keys.mint(HOME, "admin")["key_id"],
        "key_" + secrets.token_hex(8),
        MALFORMED_PATH,
    ]
    for method, suffix in (("POST", "/rotate"), ("DELETE", "")):
        answers = {keys.call(method, f"/v1/keys/{t}{suffix}", steward).text for t in targets}
        assert len(answers) == 1, answers
        assert "the key id you sent" in answers.pop()


def _entries(keys: Keys, key_id: str) -> list[dict]:
    e = audit_entries.c
    with keys.service.db.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.select(audit_entries).where(e.scope == "", e.key_id == key_id).order_by(e.seq)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


def test_refusals_are_audited_and_never_name_a_malformed_id(keys):
    caller = keys.mint(HOME, "submitter")
    steward_id = keys.callers["steward"]["key_id"]
    key = caller["api_key"]
    assert keys.call("POST", f"/v1/keys/{steward_id}/rotate", key).status_code == 403
    assert keys.call("DELETE", f"/v1/keys/{steward_id}", key).status_code == 403
    assert keys.call("DELETE", f"/v1/keys/{MALFORMED_PATH}", key).status_code == 403
    assert keys.call("GET", "/v1/keys", key).status_code == 403
    r = keys.call("POST", f"/v1/agencies/{AWAY}/keys", key, json={"role": "admin"})
    assert r.status_code == 403
    entries = _entries(keys, caller["key_id"])
    assert [(e["action"], e["outcome"]) for e in entries] == [
        ("key.rotate", "forbidden"),
        ("key.revoke", "forbidden"),
        ("key.revoke", "forbidden"),
        ("key.list", "forbidden"),
        ("key.create", "forbidden"),
    ]
    assert all(e["role"] == "submitter" and e["actor"] == HOME for e in entries)
    assert f'"key":"{steward_id}"' in entries[0]["details"]
    assert f'"key":"{steward_id}"' in entries[1]["details"]
    assert '"key_malformed":true' in entries[2]["details"]
    assert f'"agency":"{AWAY}","role":"admin"' in entries[4]["details"]
    with keys.service.db.engine.connect() as conn:
        text = "\n".join(str(tuple(r)) for r in conn.execute(audit_entries.select()))
    assert "forged-entry" not in text


def test_a_steward_probing_another_agencys_key_is_audited(keys):
    steward = keys.mint(HOME, "steward")
    away = keys.mint(AWAY, "submitter")["key_id"]
    assert keys.call("DELETE", f"/v1/keys/{away}", steward["api_key"]).status_code == 404
    (entry,) = _entries(keys, steward["key_id"])
    assert (entry["action"], entry["outcome"]) == ("key.revoke", "not_found")
    assert f'"key":"{away}"' in entry["details"]


def test_the_escalation_chain_is_closed(world, keys):
    """Issue 11, defect 1, replayed: a submitter took over its steward's key, and with it minted
    a key for another agency and read that agency's cases."""
    submitter, steward = keys.mint(HOME, "submitter"), keys.mint(HOME, "steward")
    with keys.service.client(submitter["api_key"]) as c:
        for call in (
            lambda: c.rotate_key(steward["key_id"]),
            lambda: c.revoke_key(steward["key_id"]),
            c.list_keys,
        ):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.status == 403
    assert keys.works(steward["api_key"])
    # a steward of an agency outside the world's agreement
    with keys.service.client(world.outsider_keys["steward"]) as c:
        for call in (
            lambda: c.create_key("agency-a", "submitter"),
            lambda: c.create_key("agency-a", "steward"),
            lambda: c.create_key("outsider", "admin"),
            lambda: c.create_agency("outsider-2"),
        ):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.status == 403
        for call in (
            lambda: c.cases(world.agreement_id),
            lambda: c.summary(world.agreement_id),
            lambda: c.agreement(world.agreement_id),
        ):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.status == 404
