"""Clerical review without names, over a real server (SQLite and PostgreSQL).

Two agencies' registers are linked with a fixed threshold of 0.9999 and a review band of
[0.01, 1]: every stored link between them is queued, some the run linked and some it did
not. The tests follow one agreement in order: the queue appears after the run, each agency
sees its own refs only, a second run queues nothing twice; agreeing decisions make the
registry's constraints (audited, never with a ref), and the next runs — one without a new
batch, one with — keep a pair the model linked apart (cannot-link) and put a pair it did not
link in one case (must-link), and the run with a batch fits the two agreed pairs as labels of
its model (``labelled_pairs_used``); the reviewed pairs read as labels without refs; keys of other
agencies and roles are refused; and a withdrawal takes a record's items and constraints.
"""

from __future__ import annotations

import json

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

import linkage
from service._review_tables import review_items
from service._tables import audit_entries
from service.client import ClientError
from tests.cli import caselink
from tests.service import loopback
from tests.service.servers import agreement_body, encode_file

A, B, C = "rv-a", "rv-b", "rv-c"
_constraints = linkage.registry_metadata.tables["registry_constraints"]


class Review:
    """The agreement, its keys and data, and the items the tests act on."""

    def __init__(self, service, agreement_id, keys, refs, held_back, workdir, schema, secret):
        self.service, self.agreement_id, self.keys = service, agreement_id, keys
        self.refs, self.held_back, self.workdir = refs, held_back, workdir
        self.schema, self.secret = schema, secret
        self.picked: dict[str, str] = {}  # role in the tests -> review id

    def client(self, who: str):
        return self.service.client(self.keys[who])

    def items(self, who: str, **kw) -> dict[str, dict]:
        with self.client(who) as c:
            return {x["review_id"]: x for x in c.iter_reviews(self.agreement_id, **kw)}

    def cases(self, agency: str) -> dict[str, dict]:
        with self.client(agency) as c:
            return {x["record_ref"]: x for x in c.iter_cases(self.agreement_id, page=500)}

    def run(self) -> dict:
        with self.client(A) as c:
            started = c.start_run(self.agreement_id)
            done = c.wait_run(self.agreement_id, started["run_id"], timeout=300, poll=0.2)
        assert done["status"] == "succeeded", done
        return done

    def http(self, who: str, method: str, path: str, **kw) -> httpx.Response:
        with loopback.client(base_url=self.service.url, timeout=30) as h:
            headers = {"Authorization": f"Bearer {self.keys[who]}"}
            return h.request(
                method, f"/v1/agreements/{self.agreement_id}{path}", headers=headers, **kw
            )

    def audit(self, action: str) -> list[dict]:
        e = audit_entries.c
        with self.service.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(audit_entries)
                .where(e.scope == self.agreement_id, e.action == action)
                .order_by(e.seq)
            ).all()
        return [{**r._mapping, "details": json.loads(r.details)} for r in rows]

    def constraints(self) -> set[tuple[int, int, str]]:
        k = _constraints.c
        with self.service.db.engine.connect() as conn:
            rows = conn.execute(
                sa.select(k.rec_a, k.rec_b, k.kind).where(k.scope == self.agreement_id)
            )
            return {(int(a), int(b), kind) for a, b, kind in rows}

    def pair(self, review_id: str) -> tuple[str, str]:
        """The two refs of an item, each as its own agency sees it."""
        return self.items(A)[review_id]["record_ref"], self.items(B)[review_id]["record_ref"]

    def same_case(self, review_id: str) -> bool:
        ref_a, ref_b = self.pair(review_id)
        return self.cases(A)[ref_a]["case_id"] == self.cases(B)[ref_b]["case_id"]


@pytest.fixture(scope="module")
def review(service, person_schema, secret, tmp_path_factory) -> Review:
    """Agencies rv-a and rv-b linked under an agreement (rv-c a party with no record), the
    first run done; 20 of rv-a's records held back for a later run."""
    from evaluation import generate_synthetic

    workdir = tmp_path_factory.mktemp(f"review-{service.db.kind}")
    data = generate_synthetic(240, 2, seed=5)
    registers = {A: data.agencies["agency-a"], B: data.agencies["agency-b"]}
    keys: dict[str, str] = {"steward": service.steward_key}
    with service.admin() as admin:
        for agency in (A, B, C, "rv-outsider"):
            admin.create_agency(agency)
            keys[agency] = admin.create_key(agency, "submitter")["api_key"]
        keys["evaluator"] = admin.create_key(A, "evaluator")["api_key"]
        keys["tracer"] = admin.create_key(B, "tracer")["api_key"]
        keys["outsider-evaluator"] = admin.create_key("rv-outsider", "evaluator")["api_key"]
    body = agreement_body(person_schema, [A, B, C], name="clerical review")
    with service.client() as steward:
        agreement = steward.create_agreement(**body, threshold=0.9999, review_band=(0.01, 1.0))
    assert agreement["linkage"]["review_band"] == [0.01, 1.0]
    r = Review(
        service,
        agreement["agreement_id"],
        keys,
        {a: set(df["record_ref"]) for a, df in registers.items()},
        registers[A].iloc[-20:].reset_index(drop=True),
        workdir,
        person_schema,
        secret,
    )
    for agency, df in registers.items():
        sent = df.iloc[:-20] if agency == A else df
        path = encode_file(sent, person_schema, secret, agency, workdir / f"{agency}.parquet")
        with r.client(agency) as c:
            c.upload(r.agreement_id, path)
    r.first = r.run()
    return r


def test_the_queue_appears_after_a_run_and_each_side_sees_its_own_refs_only(review):
    mine, theirs = review.items(A), review.items(B)
    assert mine and set(mine) == set(theirs)  # two agencies: every item is on both sides
    for item in mine.values():
        assert item["record_ref"] in review.refs[A] and item["other_agency"] == B
        assert item["your_decision"] is None and item["status"] == "open"
        assert 0.01 <= item["probability"] <= 1
        assert item["probability"] == item["probability_queued"]
    for item in theirs.values():
        assert item["record_ref"] in review.refs[B] and item["other_agency"] == A
    raw = review.http(A, "GET", "/reviews", params={"limit": 1000}).text
    assert not [ref for ref in review.refs[B] if ref in raw]  # never the other agency's ref
    assert review.items(C) == {}  # a party holding none of the records sees nothing
    queued = review.audit("review.queue")
    assert [e["details"]["queued"] for e in queued] == [len(mine)]
    assert queued[0]["details"]["run"] == review.first["run_id"] and queued[0]["actor"]
    assert review.first["stats"]["labelled_pairs_used"] == 0  # nothing reviewed yet


def test_a_pair_is_queued_once(review):
    before = review.items(A)
    review.run()  # no new batch
    assert review.items(A) == before
    assert len(review.audit("review.queue")) == 1


def test_pick_pairs_the_model_linked_and_did_not(review):
    """A pair in one case (to keep apart), a pair of two records alone (to join) and a third."""
    mine, theirs = review.items(A), review.items(B)
    cases_a, cases_b = review.cases(A), review.cases(B)
    linked, apart = [], []
    for rid, item in mine.items():
        ca, cb = cases_a[item["record_ref"]], cases_b[theirs[rid]["record_ref"]]
        if ca["case_id"] == cb["case_id"]:
            linked.append(rid)
        elif not ca["other_agencies"] and not cb["other_agencies"]:
            apart.append(rid)
    assert len(linked) >= 2 and apart, (len(linked), len(apart))
    review.picked = {"cannot": linked[0], "disagree": linked[1], "must": apart[0]}


def test_agreeing_decisions_make_constraints_audited_without_refs(review):
    p = review.picked
    with review.client(A) as a, review.client(B) as b:
        assert a.decide_review(review.agreement_id, p["cannot"], "different")["status"] == "open"
        done = b.decide_review(review.agreement_id, p["cannot"], "different")
        assert (done["status"], done["your_decision"]) == ("different", "different")
        assert done["resolved_at"] is not None
        assert a.decide_review(review.agreement_id, p["must"], "same")["status"] == "open"
        assert b.decide_review(review.agreement_id, p["must"], "unsure")["status"] == "unsure"
        assert review.constraints() == {(*_ids(review, p["cannot"]), "cannot")}
        assert b.decide_review(review.agreement_id, p["must"], "same")["status"] == "same"
        a.decide_review(review.agreement_id, p["disagree"], "same")
        shown = b.decide_review(review.agreement_id, p["disagree"], "different")
        assert shown["status"] == "disagreed" and shown["your_decision"] == "different"
        with pytest.raises(ClientError) as resolved:
            a.decide_review(review.agreement_id, p["cannot"], "same")
    assert resolved.value.status == 409 and resolved.value.error == "conflict"
    assert review.items(A)[p["disagree"]]["your_decision"] == "same"  # each sees its own
    assert review.constraints() == {
        (*_ids(review, p["cannot"]), "cannot"),
        (*_ids(review, p["must"]), "must"),
    }
    decided = review.audit("review.decide")
    assert [e["details"]["review"] for e in decided if e["outcome"] == "ok"] == [
        p["cannot"],
        p["cannot"],
        p["must"],
        p["must"],
        p["must"],
        p["disagree"],
        p["disagree"],
    ]
    assert {e["actor"] for e in decided} == {A, B} and {e["role"] for e in decided} == {"submitter"}
    assert decided[-1]["outcome"] == "conflict" and decided[-1]["details"]["status"] == 409
    made = review.audit("review.constraint")
    assert [(e["details"]["review"], e["details"]["constraint"]) for e in made] == [
        (p["cannot"], "cannot-link"),
        (p["must"], "must-link"),
    ]
    every = json.dumps([e["details"] for e in decided + made])
    assert not [ref for ref in review.refs[A] | review.refs[B] if ref in every]


def _ids(review: Review, review_id: str) -> tuple[int, int]:
    i = review_items.c
    with review.service.db.engine.connect() as conn:
        row = conn.execute(sa.select(i.rec_a, i.rec_b).where(i.id == review_id)).one()
    return int(row.rec_a), int(row.rec_b)


def test_other_agencies_and_roles_are_refused(review):
    rid = review.picked["must"]
    for who in (C, "steward", "tracer", "evaluator"):  # a party not on the item, wrong roles
        r = review.http(who, "POST", f"/reviews/{rid}/decision", json={"decision": "same"})
        assert r.status_code == (404 if who == C else 403), (who, r.text)
    for who in ("steward", "tracer", "evaluator"):
        assert review.http(who, "GET", "/reviews").status_code == 403, who
    assert review.http("rv-outsider", "GET", "/reviews").status_code == 404
    assert review.http("outsider-evaluator", "GET", "/reviews/labels").status_code == 404
    assert review.http(A, "GET", "/reviews/labels").status_code == 403
    bad = review.http(A, "POST", "/reviews/not-an-id/decision", json={"decision": "same"})
    assert bad.status_code == 404 and "not-an-id" not in bad.text
    refused = [e for e in review.audit("review.decide") if e["outcome"] != "ok"]
    assert {e["actor"] for e in refused} >= {C, "caselink-steward"}


def test_the_next_run_without_a_batch_respects_the_constraints(review):
    p = review.picked
    assert review.same_case(p["cannot"]) and not review.same_case(p["must"])  # as linked
    done = review.run()
    assert done["stats"]["new_records"] == 0
    assert done["stats"]["cases_split"] == 1 and done["stats"]["must_links"] == 1
    assert not review.same_case(p["cannot"])
    assert review.same_case(p["must"])
    ref_a, _ = review.pair(p["must"])
    assert review.cases(A)[ref_a]["other_agencies"] == [B]
    assert review.same_case(p["disagree"])  # disagreement: no constraint, as the model had it


def test_a_run_with_a_new_batch_respects_them_and_queues_only_new_pairs(review):
    p = review.picked
    before = review.items(A)
    path = encode_file(
        review.held_back, review.schema, review.secret, A, review.workdir / "more.parquet"
    )
    with review.client(A) as c:
        c.upload(review.agreement_id, path)
    done = review.run()
    assert done["stats"]["new_records"] == 20
    assert done["stats"]["labelled_pairs_used"] == 2  # the two agreed pairs, as EM's labels
    assert not review.same_case(p["cannot"]) and review.same_case(p["must"])
    after = review.items(A)
    assert {k: v["status"] for k, v in before.items()} == {
        k: v["status"] for k, v in after.items() if k in before
    }
    new = set(after) - set(before)  # links of the new records: each has one of rv-a's
    assert new and {after[k]["record_ref"] for k in new} <= set(review.held_back["record_ref"])
    queued = review.audit("review.queue")
    assert sum(e["details"]["queued"] for e in queued) == len(after)


def test_the_reviewed_pairs_read_as_labels_without_refs(review):
    with review.service.client(review.keys["evaluator"]) as c:
        doc = c.review_labels(review.agreement_id)
    assert doc["format"] == "caselink.review-labels/1"
    decisions = sorted(x["decision"] for x in doc["pairs"])
    assert decisions == ["different", "disagreed", "same"]  # both decided: three pairs
    for x in doc["pairs"]:
        assert sorted(x["agencies"]) == [A, B]
        assert 0.01 <= x["probability_queued"] <= 1 and x["probability_latest"] is not None
    text = json.dumps(doc)
    assert not [ref for ref in review.refs[A] | review.refs[B] if ref in text]
    assert "rev_" not in text
    assert review.audit("review.labels")[-1]["details"] == {"pairs": 3}
    assert review.audit("review.labels")[-1]["purpose"] == "evaluation"


def _cli(review: Review, who: str, *args: object):
    key = review.workdir / f"{who}.key"
    key.write_text(review.keys[who])
    opts = ["--url", review.service.url, "--api-key-file", key]
    return caselink(*args, *opts, cwd=review.workdir, env={"COLUMNS": "250"})


def test_the_cli_lists_decides_and_writes_the_labels(review):
    listed = _cli(review, B, "review", "list", "--agreement", review.agreement_id, "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert {x["review_id"] for x in items} == set(review.items(B))
    assert all(x["record_ref"] in review.refs[B] for x in items)
    waiting = _cli(
        review, B, "review", "list", "--agreement", review.agreement_id, "--status", "disagreed",
        "--json",
    )  # fmt: skip
    assert [x["review_id"] for x in json.loads(waiting.stdout)] == [review.picked["disagree"]]
    table = _cli(review, B, "review", "list", "--agreement", review.agreement_id)
    assert review.picked["must"] in table.stdout and A in table.stdout
    decided = _cli(
        review, B, "review", "decide", review.picked["disagree"], "--agreement",
        review.agreement_id, "--decision", "unsure",
    )  # fmt: skip
    assert decided.returncode == 0, decided.stderr
    assert "status unsure" in decided.stderr
    refused = _cli(
        review, B, "review", "decide", review.picked["cannot"], "--agreement",
        review.agreement_id, "--decision", "maybe",
    )  # fmt: skip
    assert refused.returncode == 2 and "--decision" in refused.stderr
    out = review.workdir / "labels.json"
    wrote = _cli(
        review, "evaluator", "review", "labels", "--agreement", review.agreement_id, "--out", out
    )
    assert wrote.returncode == 0, wrote.stderr
    doc = json.loads(out.read_text())
    assert sorted(x["decision"] for x in doc["pairs"]) == ["different", "same", "unsure"]
    shown = _cli(review, "evaluator", "review", "labels", "--agreement", review.agreement_id)
    assert "unsure" in shown.stdout and "disagreed" in shown.stdout


def test_the_band_is_set_at_creation_and_amended_through_the_api_and_the_cli(review):
    amended = _cli(
        review, "steward", "agreement", "amend", review.agreement_id, "--review-band",
        "0.02,0.99", "--json",
    )  # fmt: skip
    assert amended.returncode == 0, amended.stderr
    assert json.loads(amended.stdout)["linkage"]["review_band"] == [0.02, 0.99]
    entry = review.audit("agreement.amend")[-1]["details"]
    assert entry == {"before": {"review_band": [0.01, 1.0]}, "after": {"review_band": [0.02, 0.99]}}
    bad = review.http("steward", "PATCH", "", json={"review_band": [0.5, 0.2]})
    assert bad.status_code == 422 and "review_band" in bad.text
    assert (
        _cli(
            review, "steward", "agreement", "amend", review.agreement_id, "--review-band", "0.9,0.1"
        ).returncode
        == 2
    )
    off = review.http("steward", "PATCH", "", json={"review_band": None})
    assert off.status_code == 200 and off.json()["linkage"]["review_band"] is None
    shown = _cli(review, "steward", "agreement", "show", review.agreement_id)
    assert "none (no review queue)" in shown.stdout
    back = review.http("steward", "PATCH", "", json={"review_band": [0.01, 1.0]})
    assert back.json()["linkage"]["review_band"] == [0.01, 1.0]
    with review.service.client() as steward:  # the default, and none at all, at creation
        body = agreement_body(review.schema, [A, B], name="default band")
        default = steward.create_agreement(**body)
        none = steward.create_agreement(**{**body, "name": "no review"}, review_band=None)
    assert default["linkage"]["review_band"] == [0.05, 0.9]
    assert none["linkage"]["review_band"] is None
    made = _cli(
        review, "steward", "agreement", "create", "--name", "cli band", "--party", A,
        "--schema", "person", "--retention-days", 30, "--review-band", "0.1,0.8",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    with review.service.client() as steward:
        shown = steward.agreement(made.stdout.strip().splitlines()[-1])
    assert shown["linkage"]["review_band"] == [0.1, 0.8]
    with loopback.client(base_url=review.service.url, timeout=30) as h:
        bad = h.post(
            "/v1/agreements",
            json={**body, "linkage": {"review_band": [0.001, 0.5]}},
            headers={"Authorization": f"Bearer {review.keys['steward']}"},
        )
    assert bad.status_code == 422 and "0.01" in bad.text


def test_a_withdrawal_takes_the_records_items_and_constraints(review):
    p = review.picked
    ref_a, _ = review.pair(p["must"])
    touching = [k for k, v in review.items(A).items() if v["record_ref"] == ref_a]
    with review.client(A) as c:
        c.withdraw(review.agreement_id, ref_a, "erasure")
    left_a, left_b = review.items(A), review.items(B)
    assert not set(touching) & (set(left_a) | set(left_b))
    assert review.constraints() == {(*_ids(review, p["cannot"]), "cannot")}
    pd.testing.assert_series_equal(  # the other items keep their decisions
        pd.Series({k: v["status"] for k, v in left_a.items()}).sort_index(),
        pd.Series({k: v["status"] for k, v in left_b.items()}).sort_index(),
    )
