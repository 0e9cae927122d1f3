"""The console in process: sessions, forms, headers and the agency's pages, on the real app
and its real parts (:mod:`tests.service.console.inprocess`).

What is checked is what a browser would meet: redirects, cookies and their attributes, the
CSRF token of every form, the Content-Security-Policy of every answer, sessions ending (idle,
signed out, key revoked or rotated), sign-in refusals that tell nothing, and the agency's
pages answering exactly what the API answers that agency, audited the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from service._keys import hash_key
from service._ratelimit import RateLimiter
from service._tables import console_sessions
from service.console.security import CSP
from service.console.sessions import hash_session
from tests.service.console.inprocess import OUTSIDER, Visitor, World, console_world


@pytest.fixture(scope="module")
def world(ray_session, tmp_path_factory, person_schema, secret) -> Iterator[World]:
    w = console_world(tmp_path_factory.mktemp("console"), person_schema, secret)
    try:
        yield w
    finally:
        w.state.stop()


def _session_rows(world: World) -> list[sa.Row]:
    with world.state.engine.connect() as conn:
        return conn.execute(sa.select(console_sessions)).all()


def _cookie_header(response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


def _text(html: str) -> str:
    """The text of a page, as a reader sees it (tags dropped)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# -- the console's place in the app -----------------------------------------------------------
def test_the_console_is_not_in_the_openapi_document(world):
    document = world.call("admin", "GET", "/openapi.json").json()
    assert not [p for p in document["paths"] if p.startswith("/console")]


def test_a_visitor_without_a_session_is_sent_to_sign_in_and_back(world):
    v = world.visitor()
    assert v.get("/console").headers["location"] == "/console/sign-in"
    going = v.get(f"/console/agency/{world.agreement_id}/cases?offset=0")
    assert going.status_code == 303
    assert going.headers["location"] == (
        f"/console/sign-in?next=/console/agency/{world.agreement_id}/cases%3Foffset%3D0"
    )
    page = v.get(going.headers["location"])
    assert page.status_code == 200
    signed = v.post(
        "/console/sign-in",
        {
            "api_key": world.keys["agency-a/submitter"],
            "csrf_token": v.token(page),
            "next": f"/console/agency/{world.agreement_id}/cases?offset=0",
        },
    )
    assert signed.headers["location"] == f"/console/agency/{world.agreement_id}/cases?offset=0"
    # somewhere else than the console is never a place to go back to
    page = world.visitor().get("/console/sign-in?next=//example.org/x")
    assert 'name="next" value=""' in page.text


def test_every_console_answer_carries_the_strict_csp(world):
    v = world.visitor("agency-a/submitter")
    paths = [
        "/console",
        "/console/sign-in",
        "/console/me",
        "/console/agency",
        f"/console/agency/{world.agreement_id}",
        "/console/agency/agr_0000000000000000",  # a 404 page
        "/console/no-such-page",
        "/console/static/console.css",
        "/console/static/progress.js",
        "/console/static/nothing.js",
        f"/console/agency/{world.agreement_id}/runs/{world.run_id}/progress",
    ]
    for path in paths:
        r = v.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        if not path.startswith("/console/static/"):
            assert r.headers["cache-control"] == "no-store", path
    assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
    assert v.get("/console/no-such-page").status_code == 404
    assert "content-security-policy" not in world.call("admin", "GET", "/healthz").headers


# -- sign-in ------------------------------------------------------------------------------------
def test_sign_in_makes_a_server_side_session_and_keeps_no_key(world):
    key = world.keys["agency-b/submitter"]
    v = Visitor(world.app)
    form = v.get("/console/sign-in")
    assert "HttpOnly" in _cookie_header(form, "caselink_form")
    before = {r.id_hash for r in _session_rows(world)}
    signed = v.post("/console/sign-in", {"api_key": key, "csrf_token": v.token(form)})
    assert signed.status_code == 303 and signed.headers["location"] == "/console/agency"
    cookie = _cookie_header(signed, "caselink_session")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert key not in str(signed.headers) and key not in signed.text
    session_id = v.cookies["caselink_session"]
    (row,) = [r for r in _session_rows(world) if r.id_hash not in before]
    assert row.id_hash == hash_session(session_id) and session_id not in row
    assert key not in row and hash_key(key) not in row  # neither the key nor its hash
    page = v.get("/console/agency")
    assert page.status_code == 200 and "families" in page.text
    assert key not in page.text
    audit = [e for e in world.audit("") if e["action"] == "console.sign_in"]
    assert audit[-1]["actor"] == "agency-b" and audit[-1]["outcome"] == "ok"


def test_under_https_the_session_cookie_is_secure(world):
    v = Visitor(world.app, base_url="https://app")
    form = v.get("/console/sign-in")
    assert "Secure" in _cookie_header(form, "caselink_form")
    key = world.keys["agency-a/tracer"]
    signed = v.post("/console/sign-in", {"api_key": key, "csrf_token": v.token(form)})
    assert "Secure" in _cookie_header(signed, "caselink_session")


def test_unknown_and_revoked_keys_get_the_same_answer_and_are_audited(world):
    issued = world.call("admin", "POST", "/v1/agencies/agency-a/keys", json={"role": "tracer"})
    revoked = issued.json()
    assert world.call("admin", "DELETE", f"/v1/keys/{revoked['key_id']}").status_code == 200
    before = [e for e in world.audit("") if e["action"] == "console.sign_in"]
    answers = []
    for key in (revoked["api_key"], "clk_0123456789abcdef_not-a-real-secret", "nonsense"):
        r = world.visitor().sign_in(key)
        assert r.status_code == 401 and "caselink_session" not in r.headers.get("set-cookie", "")
        answers.append(re.sub(r'value="[^"]*"', "", r.text))  # the CSRF token differs
    assert answers[0] == answers[1] == answers[2]
    assert "This key was not accepted" in answers[0]
    refused = [e for e in world.audit("") if e["action"] == "console.sign_in"][len(before) :]
    # counted a minute at a time, as the API's refusals are: the first one written at once
    assert refused[0]["outcome"] == "unauthorized" and refused[0]["role"] == "anonymous"
    assert refused[0]["details"]["status"] == 401


def test_sign_in_attempts_are_limited_per_address(world):
    console = world.app.state.console
    kept = console.sign_ins
    console.sign_ins = RateLimiter(1, 2, clock=lambda: 0.0)  # two attempts, never refilled
    try:
        v = world.visitor()
        assert v.sign_in("wrong-1").status_code == 401
        assert v.sign_in("wrong-2").status_code == 401
        limited = v.sign_in(world.keys["agency-a/submitter"])  # a good key waits too
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "caselink_session" not in limited.headers.get("set-cookie", "")
        assert "Too many sign-in attempts" in limited.text
    finally:
        console.sign_ins = kept
    entries = [e for e in world.audit("") if e["action"] == "console.sign_in"]
    assert any(e["outcome"] == "rate_limited" and e["details"]["status"] == 429 for e in entries)


# -- forms --------------------------------------------------------------------------------------
def test_a_form_without_the_session_token_is_refused_and_changes_nothing(world):
    v = world.visitor("agency-a/submitter")
    path = f"/console/agency/{world.agreement_id}/withdraw"
    ref = world.refs["agency-a"][5]
    other = world.visitor("agency-a/submitter")
    other_session = other.token(other.get(path))  # a token, but another session's
    assert other_session != v.token(v.get(path))
    mine = hash_session(v.cookies["caselink_session"])
    seen = {r.id_hash: r.last_seen for r in _session_rows(world)}[mine]
    for token in ("", "forged-token", other_session):
        r = v.post(path, {"csrf_token": token, "record_ref": ref, "reason": "consent"})
        assert r.status_code == 403 and "Form expired" in r.text
    withdrawn = [e for e in world.audit() if e["action"] == "record.withdraw"]
    assert not [e for e in withdrawn if e["details"].get("agency") == "agency-a"]
    assert {r.id_hash: r.last_seen for r in _session_rows(world)}[mine] == seen  # not touched
    cases = world.call("agency-a/submitter", "GET", f"/v1/agreements/{world.agreement_id}/cases")
    assert ref in {c["record_ref"] for c in cases.json()["items"]}
    # signing out needs the token too
    assert v.post("/console/sign-out", {"csrf_token": "nope"}).status_code == 403
    assert v.get("/console/me").status_code == 200  # still signed in
    # and so does signing in: without the form's cookie, a posted form is refused
    bare = Visitor(world.app).post(
        "/console/sign-in", {"api_key": world.keys["agency-a/submitter"], "csrf_token": "x"}
    )
    assert bare.status_code == 403 and "caselink_session" not in bare.headers.get("set-cookie", "")


# -- sessions ending ----------------------------------------------------------------------------
def test_a_session_ends_after_the_idle_time_and_polling_does_not_keep_it(world):
    console = world.app.state.console
    start = console.clock()
    progress = f"/console/agency/{world.agreement_id}/runs/{world.run_id}/progress"
    v = world.visitor("agency-a/submitter")
    idle = console.idle
    try:
        console.clock = lambda: start + idle - timedelta(seconds=5)
        assert v.get("/console/me").status_code == 200  # a view: idle time starts again
        console.clock = lambda: start + 2 * idle - timedelta(seconds=10)
        assert v.get(progress).status_code == 200  # a poll: it does not
        console.clock = lambda: start + 2 * idle
        ended = v.get("/console/agency")
        assert ended.status_code == 303 and "ended=idle" in ended.headers["location"]
        assert 'caselink_session=""' in ended.headers["set-cookie"]
        notice = v.get(ended.headers["location"])
        assert "minutes without activity" in notice.text
        assert v.get(progress).status_code == 401
    finally:
        console.clock = type(console).__dataclass_fields__["clock"].default
    hashes = {r.id_hash for r in _session_rows(world)}
    assert hash_session(v.cookies.get("caselink_session") or "gone") not in hashes


def test_signing_out_ends_the_session_for_good(world):
    v = world.visitor("agency-a/submitter")
    session_id = v.cookies["caselink_session"]
    out = v.post("/console/sign-out", {"csrf_token": v.token(v.get("/console/me"))})
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in?ended=out"
    assert 'caselink_session=""' in out.headers["set-cookie"]
    assert hash_session(session_id) not in {r.id_hash for r in _session_rows(world)}
    replay = Visitor(world.app)
    replay.cookies.set("caselink_session", session_id, path="/console")
    assert replay.get("/console/me").status_code == 303
    assert [e for e in world.audit("") if e["action"] == "console.sign_out"]


@pytest.mark.parametrize("how", ["revoke", "rotate"])
def test_a_revoked_or_rotated_key_ends_its_sessions(world, how):
    issued = world.call("admin", "POST", "/v1/agencies/agency-a/keys", json={"role": "submitter"})
    key, key_id = issued.json()["api_key"], issued.json()["key_id"]
    v = Visitor(world.app)
    assert v.sign_in(key).status_code == 303
    assert v.get("/console/agency").status_code == 200
    if how == "revoke":
        r = world.call("agency-a/steward", "DELETE", f"/v1/keys/{key_id}")
    else:
        r = world.call("agency-a/steward", "POST", f"/v1/keys/{key_id}/rotate")
    assert r.is_success, r.text
    ended = v.get("/console/agency")
    assert ended.status_code == 303 and "ended=ended" in ended.headers["location"]
    assert "Your session has ended" in v.get(ended.headers["location"]).text


# -- languages ----------------------------------------------------------------------------------
def test_the_language_comes_from_the_selector_or_accept_language(world):
    v = world.visitor("agency-a/submitter", **{"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"})
    page = v.get("/console/agency")
    assert '<html lang="fr" dir="ltr">' in page.text and "Accords" in page.text
    chosen = v.get("/console/language/ar?next=/console/agency")
    assert chosen.status_code == 303 and chosen.headers["location"] == "/console/agency"
    cookie = _cookie_header(chosen, "caselink_lang")
    assert "caselink_lang=ar" in cookie and "Path=/console" in cookie
    page = v.get("/console/agency")
    assert '<html lang="ar" dir="rtl">' in page.text and "الاتفاقيات" in page.text
    assert v.get("/console/language/xx").status_code == 404
    elsewhere = v.get("/console/language/en?next=https://example.org/")
    assert elsewhere.headers["location"] == "/console"
    assert (
        '<html lang="en"'
        in world.visitor(**{"Accept-Language": "de, *;q=0.1"}).get("/console/sign-in").text
    )


def test_dates_and_numbers_are_written_per_language(world):
    path = f"/console/agency/{world.agreement_id}/runs/{world.run_id}"
    seen = {}
    for lang in ("en", "fr", "ar"):
        v = world.visitor("agency-a/submitter", **{"Accept-Language": lang})
        page = v.get(path)
        assert page.status_code == 200
        seen[lang] = re.findall(r'<time datetime="[^"]+">([^<]+)</time>', page.text)[0]
    assert re.search(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", seen["en"])  # "Dec 5, 2026, ..."
    assert re.search(r"\d{1,2} \w+\.? \d{4}", seen["fr"]) and "," not in seen["fr"][:6]
    assert "\u200f" in seen["ar"] or "م" in seen["ar"] or "ص" in seen["ar"]  # Arabic marks
    assert len(set(seen.values())) == 3


# -- the agency's pages -------------------------------------------------------------------------
def test_the_cases_page_shows_the_agencys_own_records_only_page_by_page(world, monkeypatch):
    from service.console import pages_agency

    monkeypatch.setattr(pages_agency, "CASES_PAGE", 10)
    v = world.visitor("agency-a/submitter")
    base = f"/console/agency/{world.agreement_id}/cases"
    rows, pages, offset = [], [], 0
    while True:
        page = v.get(f"{base}?offset={offset}")
        assert page.status_code == 200
        pages.append(page.text)
        body = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
        rows += re.findall(
            r"<tr>\s*<td><code>([^<]+)</code></td>\s*<td><code>(CL-[^<]+)</code></td>"
            r"\s*<td class=\"num\">([^<]+)</td>\s*<td>([^<]*)</td>",
            body,
        )
        found = re.search(r'\?offset=(\d+)" rel="next"', page.text)
        if not found:
            break
        offset = int(found.group(1))
    api = world.call("agency-a/submitter", "GET", f"/v1/agreements/{world.agreement_id}/cases")
    expected = {c["record_ref"]: c for c in api.json()["items"]}
    assert len(pages) > 2 and 'rel="prev"' in pages[1] and 'rel="prev"' not in pages[0]
    assert len(rows) == len(expected) == api.json()["total"]  # every record once, no other
    for ref, case_id, confidence, others in rows:
        assert ref in world.refs["agency-a"]  # its own ref, never another agency's
        assert case_id == expected[ref]["case_id"]
        assert (
            confidence == f"{expected[ref]['confidence'] * 100:.1f}".rstrip("0").rstrip(".") + "%"
        )
        assert others.split(", ") == (expected[ref]["other_agencies"] or [""])
    text = "".join(pages)
    for ref in world.refs["agency-b"]:
        assert ref not in text
    assert any("agency-b" in others for *_, others in rows)  # the other agency, by name
    assert v.get(f"{base}?offset=-1").status_code == 422


def test_each_page_is_audited_as_the_matching_api_call(world):
    v = world.visitor("agency-a/submitter")
    before = len(world.audit())
    pages = {
        "": "agreement.read",
        "/batches": "batch.list",
        "/runs": "run.list",
        f"/runs/{world.run_id}": "run.read",
        "/cases": "cases.read",
        "/reviews": "review.list",
    }
    for suffix in pages:
        assert v.get(f"/console/agency/{world.agreement_id}{suffix}").status_code == 200
    entries = world.audit()[before:]
    actions = [e["action"] for e in entries if e["actor"] == "agency-a"]
    for action in pages.values():
        assert action in actions
    cases = next(e for e in entries if e["action"] == "cases.read")
    assert cases["role"] == "submitter" and cases["purpose"] == "linkage"
    assert cases["details"]["records"] > 0


def test_the_links_of_an_agreement_are_those_the_api_lets_the_role_follow(world):
    sections = ("batches", "runs", "cases", "withdraw", "reviews")
    for role in ("steward", "submitter", "tracer", "evaluator"):
        v = world.visitor(f"agency-a/{role}")
        overview = v.get(f"/console/agency/{world.agreement_id}")
        assert overview.status_code == 200, role
        for section in sections:
            link = f'href="/console/agency/{world.agreement_id}/{section}"'
            status = v.get(f"/console/agency/{world.agreement_id}/{section}").status_code
            assert (link in overview.text) == (status == 200), (role, section, status)
            assert status in (200, 403), (role, section)
    # the withdrawal form's own route refuses a role its page does not offer
    tracer = world.visitor("agency-a/tracer")
    sent = tracer.form(
        f"/console/agency/{world.agreement_id}/withdraw",
        f"/console/agency/{world.agreement_id}",
        record_ref=world.refs["agency-a"][0],
        reason="consent",
    )
    assert sent.status_code == 403 and "Not allowed" in sent.text


def test_an_outsider_gets_the_apis_404_and_the_admin_its_403(world):
    v = world.visitor(f"{OUTSIDER}/submitter")
    page = v.get(f"/console/agency/{world.agreement_id}/cases")
    assert page.status_code == 404 and "families" not in page.text
    assert "Not found" in _text(page.text)
    assert "families" not in v.get("/console/agency").text
    admin = world.visitor("admin")
    assert admin.get("/console").headers["location"] == "/console/me"
    assert admin.get("/console/agency").status_code == 403


def test_the_run_page_follows_a_run_with_a_script_of_the_service(world):
    v = world.visitor("agency-a/submitter")
    runs = f"/console/agency/{world.agreement_id}/runs"
    # nothing waits: a run now links nothing new, and finishes at once
    started = v.form(runs, runs)
    assert started.status_code == 303
    run_path = started.headers["location"]
    assert run_path.startswith(f"{runs}/run_")
    run_id = run_path.rsplit("/", 1)[1]
    from tests.service.console.inprocess import wait_run

    wait_run(world.app, world.keys["agency-a/submitter"], world.agreement_id, run_id)
    progress = v.get(f"{run_path}/progress").json()
    assert progress["status"] == "succeeded" and progress["finished"] is True
    assert progress["percent_label"] == "100%"
    fr = world.visitor("agency-a/submitter", **{"Accept-Language": "fr"})
    assert fr.get(f"{run_path}/progress").json()["status_label"] == "réussi"
    page = v.get(run_path)
    assert "progress.js" not in page.text  # finished: nothing to follow
    assert world.call("agency-a/submitter", "GET", f"/v1/agreements/{world.agreement_id}/runs")


def test_withdrawing_a_record_gives_its_receipt(world):
    v = world.visitor("agency-b/submitter")
    path = f"/console/agency/{world.agreement_id}/withdraw"
    ref = world.refs["agency-b"][3]
    missing = v.form(path, path, record_ref="B-NO-SUCH-REF-777", reason="correction")
    assert missing.status_code == 404
    assert "B-NO-SUCH-REF-777" not in missing.text  # the ref typed is never echoed
    assert '<option value="correction" selected>' in missing.text
    incomplete = v.form(path, path, record_ref=ref, reason="")
    assert incomplete.status_code == 422 and ref not in incomplete.text
    receipt = v.form(path, path, record_ref=ref, reason="erasure")
    assert receipt.status_code == 200, receipt.text
    assert "Withdrawal receipt" in receipt.text and f"<code>{ref}</code>" in receipt.text
    receipt_id = re.search(r"<dd><code>([^<]+)</code></dd>", receipt.text).group(1)
    entries = [e for e in world.audit() if e["action"] == "record.withdraw"]
    assert entries[-1]["actor"] == "agency-b" and entries[-1]["outcome"] == "ok"
    assert receipt_id
    cases = world.call("agency-b/submitter", "GET", f"/v1/agreements/{world.agreement_id}/cases")
    assert ref not in {c["record_ref"] for c in cases.json()["items"]}
    again = v.form(path, path, record_ref=ref, reason="erasure")
    assert again.status_code == 404  # withdrawn already
