"""Is a link's probability what it says in the middle of the range too? Measured on data the
calibration was not developed on (synthetic seeds 4 and 5, FEBRL3 with duplicates), labels
used only to score. The ECE over every candidate pair hides the middle: nearly all pairs are
clear non-matches near 0."""

import numpy as np

from evaluation import expected_calibration_error, generate_synthetic
from evaluation._metrics import pair_truth
from linkage._link import link

from .conftest import encode_all


def _pairs(data, schema, secret, **options):
    report = link(encode_all(data, schema, secret), keep_pairs=True, **options)
    return report.pairs["probability"].to_numpy(), pair_truth(report.pairs, data.truth)


def test_pairs_reported_between_0_1_and_0_9_are_right_as_often_as_reported(person_schema, secret):
    """Before the matching model, such pairs were reported at 0.57 on average and 0.86 were
    right (the smaller of two one-record views, each dividing its prior by every candidate)."""
    parts = [_pairs(generate_synthetic(3000, 3, seed=s), person_schema, secret) for s in (4, 5)]
    p = np.concatenate([q for q, _ in parts])
    right = np.concatenate([r for _, r in parts])
    mid = (p >= 0.1) & (p < 0.9)
    assert mid.sum() >= 100  # enough pairs to say something
    assert abs(right[mid].mean() - p[mid].mean()) < 0.15
    assert expected_calibration_error(p, right, min_probability=0.1) < 0.01


def test_with_duplicates_the_middle_is_calibrated_too(febrl3_split, febrl_schema, secret):
    """Two records of one person at one agency used to split one record's probability (0.14
    reported, 0.95 right); each pair now has its own posterior."""
    p, right = _pairs(
        febrl3_split["dup"], febrl_schema, secret, allow_duplicates_within_agency=True
    )
    assert expected_calibration_error(p, right, min_probability=0.1) < 0.03
    assert expected_calibration_error(p, right) < 0.005
