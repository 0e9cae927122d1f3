"""Reviewed pairs as labels of a run's EM (:mod:`linkage._review_labels`): they pull the fit
towards the truth without touching the share of matches, a run learns from its constraints
and never links a reviewed pair itself, and without labels nothing changes.

The fit's registers are drawn from a known model, as in ``test_em_labels.py``: the candidates
are matches, strangers and namesakes (who agree on the name segments as matches do), and EM
alone takes the namesakes for matches. The reviewed pairs come from elsewhere — half matches,
half namesakes, as a review band holds — and are fitted beside the candidates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bloom
from evaluation import generate_synthetic
from linkage import Constraints, Registry, link, plan_link
from linkage._fellegi import fit_fellegi_sunter, level_shares
from linkage._link import fit_weights
from tests.linkage.drawn_levels import draw, shares

REF = "record_ref"


@pytest.fixture(scope="module")
def drawn():
    """Candidates (300 matches, 6,000 strangers, 900 namesakes), the true m, the random-pair
    anchor, and 300 reviewed pairs from elsewhere (150 matches, 150 namesakes) with labels."""
    rng = np.random.default_rng(2)
    m, strangers = shares(1.2), shares(-1.0)
    namesakes = strangers.copy()
    namesakes[:2] = m[:2]
    namesakes[2] = shares(0.3)[0]
    candidates = np.concatenate(
        [draw(rng, 300, m), draw(rng, 6000, strangers), draw(rng, 900, namesakes)]
    )
    reviewed = np.concatenate([draw(rng, 150, m), draw(rng, 150, namesakes)])
    labels = np.r_[np.ones(150, np.int64), np.zeros(150, np.int64)]
    return candidates, m, level_shares(draw(rng, 20_000, strangers)), reviewed, labels


def _beside(candidates, reviewed, labels, **kw):
    rows = np.concatenate([candidates, reviewed])
    every = np.r_[np.full(len(candidates), -1, np.int64), labels]
    return fit_fellegi_sunter(rows, labels=every, **kw)


def test_reviewed_pairs_pull_m_to_the_truth_and_leave_the_share_of_matches_alone(drawn):
    candidates, true_m, u_random, reviewed, labels = drawn
    true_share = 300 / len(candidates)
    plain = fit_fellegi_sunter(candidates, u_random=u_random)
    learnt = _beside(candidates, reviewed, labels, u_random=u_random, labels_in_shares=False)
    assert plain.prior > 3 * true_share  # namesakes taken for matches
    assert learnt.prior == pytest.approx(true_share, abs=0.005)
    # m of the segments namesakes do not share: plain EM spread it over low levels
    off_plain = np.abs(plain.m[2:] - true_m[2:]).sum(axis=1).mean()
    off_learnt = np.abs(learnt.m[2:] - true_m[2:]).sum(axis=1).mean()
    assert off_learnt < off_plain / 3
    # counted in the shares, the band's half of matches would raise the share of matches
    counted = _beside(candidates, reviewed, labels, u_random=u_random)
    assert counted.prior > learnt.prior + 0.01


def test_without_a_labelled_pair_the_fit_is_the_unlabelled_one(drawn):
    candidates, _, u_random, _, _ = drawn
    plain = fit_fellegi_sunter(candidates, u_random=u_random)
    none = np.full(len(candidates), -1, np.int64)
    same = fit_fellegi_sunter(candidates, u_random=u_random, labels=none, labels_in_shares=False)
    assert (same.prior, same.iterations) == (plain.prior, plain.iterations)
    np.testing.assert_array_equal(same.m, plain.m)
    np.testing.assert_array_equal(same.u_classes, plain.u_classes)
    levels, anchors = {(0, 1): candidates, (0, 2): candidates[:500]}, {}
    anchors = {k: u_random for k in levels}
    first = fit_weights(levels, anchors, {k: {} for k in levels})
    again = fit_weights(levels, anchors, {k: {} for k in levels}, {})
    for key in levels:
        np.testing.assert_array_equal(first[0][key], again[0][key])


def test_reviewed_pairs_need_candidates_beside_them(drawn):
    _, _, u_random, reviewed, labels = drawn
    with pytest.raises(ValueError, match="unlabelled pairs beside them"):
        fit_fellegi_sunter(reviewed, u_random=u_random, labels=labels, labels_in_shares=False)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A registry of two agencies' first 80% of records, the constraints a perfect review
    of its stored links between 0.05 and 0.9 makes, and the second 20% as batches."""
    data = generate_synthetic(400, 2, seed=4, common_names=5)
    secret = bloom.Secret(bytes(range(32)))
    schema = bloom.Schema.load("person")

    def encode(part):
        return [
            bloom.encode(df.reset_index(drop=True), schema, secret, agency=a, id_column=REF)
            for a, df in part.items()
        ]

    cut = {a: int(len(df) * 0.8) for a, df in data.agencies.items()}
    registry = Registry.open(tmp_path_factory.mktemp("labels") / "registry.sqlite")
    link(encode({a: df.iloc[: cut[a]] for a, df in data.agencies.items()}), registry=registry)
    state = registry.state()
    entity = data.truth.set_index(data.truth["agency"] + "/" + data.truth["record_ref"])
    who = entity["entity_id"].reindex(state.agencies + "/" + state.refs).to_numpy()
    where = pd.Series(np.arange(len(state.ids)), index=state.ids)
    a, b = where[state.link_a].to_numpy(), where[state.link_b].to_numpy()
    band = (state.link_p >= 0.05) & (state.link_p <= 0.9)
    a, b = a[band], b[band]
    same = who[a] == who[b]
    ids = np.stack([state.ids[a], state.ids[b]], axis=1)
    constraints = Constraints.of(ids[same], ids[~same])
    second = encode({a: df.iloc[cut[a] :] for a, df in data.agencies.items()})
    return state, constraints, second


def test_a_run_learns_from_its_constraints_and_never_links_a_reviewed_pair(two_runs):
    state, constraints, second = two_runs
    assert len(constraints.must) and len(constraints.cannot)
    plain = plan_link(second, state=state, keep_pairs=True)
    apart = plan_link(
        second, state=state, constraints=constraints, keep_pairs=True, learn_from_constraints=False
    )
    learnt = plan_link(second, state=state, constraints=constraints, keep_pairs=True)
    # without labels the model is the one without constraints, pair for pair
    assert apart.labelled_pairs == plain.labelled_pairs == 0
    pd.testing.assert_frame_equal(apart.pairs, plain.pairs)
    assert apart.models == plain.models
    # with them: every reviewed pair fitted, the same candidates weighed otherwise
    assert learnt.labelled_pairs == len(constraints)
    (model,) = learnt.models.values()
    assert model["labelled_pairs"] == len(constraints)
    pd.testing.assert_frame_equal(
        learnt.pairs.drop(columns=["weight", "probability"]),
        plain.pairs.drop(columns=["weight", "probability"]),
    )
    assert not np.array_equal(learnt.pairs["weight"], plain.pairs["weight"])
    # a reviewed pair is two old records: never a candidate, never a link of the run
    old = set(zip(state.agencies, state.refs, strict=True))
    ends = zip(
        learnt.pairs["agency_a"],
        learnt.pairs["record_ref_a"],
        learnt.pairs["agency_b"],
        learnt.pairs["record_ref_b"],
        strict=True,
    )
    assert not [e for e in ends if (e[0], e[1]) in old and (e[2], e[3]) in old]
    assert learnt.update is not None
    assert all(not isinstance(x, int) or not isinstance(y, int) for x, y, _ in learnt.update.links)
