import numpy as np
import pandas as pd
import pytest

import bloom


@pytest.fixture(scope="session")
def febrl4_batches(febrl4, febrl_schema, secret):
    a = bloom.encode(febrl4.a, febrl_schema, secret, agency="agency-a", id_column="record_ref")
    b = bloom.encode(febrl4.b, febrl_schema, secret, agency="agency-b", id_column="record_ref")
    return a, b


@pytest.fixture(scope="session")
def febrl4_report(febrl4_batches):
    """FEBRL4's two agencies linked in this process, once for the tests that read it (a
    report is not changed by reading it; linking is deterministic up to fresh case ids)."""
    from linkage._link import link

    return link(list(febrl4_batches))


@pytest.fixture(scope="session")
def febrl3_split():
    from evaluation._datasets import load_febrl3_agencies

    return {
        "one": load_febrl3_agencies(3, one_per_agency=True, seed=1),
        "dup": load_febrl3_agencies(3, one_per_agency=False, seed=1),
    }


def encode_all(data, schema, secret):
    return [
        bloom.encode(df, schema, secret, agency=name, id_column="record_ref")
        for name, df in data.agencies.items()
    ]


def entity_of(refs: pd.Series) -> np.ndarray:
    return refs.str.split("-").str[1].to_numpy()
