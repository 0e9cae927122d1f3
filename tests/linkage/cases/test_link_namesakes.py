"""A register where a few names are shared by everyone (`generate_synthetic(common_names=)`):
the bounded-memory LSH search finds what the exhaustive search finds, and links as well."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import bloom
from evaluation import generate_synthetic
from evaluation._metrics import pairwise_scores
from linkage import search
from linkage._features import segment_words
from linkage._link import link


@pytest.fixture(scope="module")
def namesakes(person_schema, secret):
    """1,500 people, both agencies hold everyone, every name from its list's 8 most frequent:
    the commonest given name is borne by dozens, each full name by several."""
    data = generate_synthetic(1500, 2, overlap=1.0, seed=4, common_names=8)
    batches = [
        bloom.encode(df, person_schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]
    return data, batches


def test_the_register_is_namesake_heavy(namesakes):
    data, _ = namesakes
    people = data.people
    assert people["given_name"].value_counts().iloc[0] >= 50
    assert (people["given_name"] + people["family_name"]).value_counts().iloc[0] >= 10


def test_lsh_top_k_finds_each_record_s_best_partner_as_the_exhaustive_search_does(namesakes):
    _, (a_batch, b_batch) = namesakes
    a, b = a_batch.filters, b_batch.filters
    segments = [tuple(map(int, s)) for s in segment_words(a_batch.metadata)]
    exhaustive = search(a, b, 0.55, 10, method="exhaustive")
    lsh = search(a, b, 0.55, 10, method="lsh", segments=segments)

    def best(found) -> dict[int, int]:
        order = np.lexsort((found.j, -found.score, found.i))
        i, j = found.i[order], found.j[order]
        first = np.r_[True, i[1:] != i[:-1]]
        return dict(zip(i[first].tolist(), j[first].tolist(), strict=True))

    ex, ls = best(exhaustive), best(lsh)
    agree = np.mean([ls.get(i) == j for i, j in ex.items()])
    assert agree >= 0.99, agree
    assert np.bincount(lsh.i).max() <= 10


def test_linking_through_lsh_top_k_scores_as_the_exhaustive_search(namesakes):
    data, batches = namesakes
    segments = [tuple(map(int, s)) for s in segment_words(batches[0].metadata)]
    via_lsh = functools.partial(search, method="lsh", segments=segments)
    scores = {}
    for name, find in (("exhaustive", None), ("lsh", via_lsh)):
        a = link(batches, find=find).assignments.merge(data.truth, on=["agency", "record_ref"])
        scores[name] = pairwise_scores(a["case_id"].to_numpy(), a["entity_id"].to_numpy())
    assert scores["exhaustive"].f1 >= 0.9, scores
    assert scores["lsh"].f1 >= scores["exhaustive"].f1 - 0.005, scores
