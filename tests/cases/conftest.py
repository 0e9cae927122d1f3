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


@pytest.fixture(params=["sqlite", "postgresql"])
def make_registry(request, tmp_path):
    """A factory of empty registries on SQLite and on PostgreSQL (each in its own scope)."""
    import uuid

    from linkage._registry import Registry, metadata

    if request.param == "sqlite":
        yield lambda: Registry.open(tmp_path / f"{uuid.uuid4().hex}.sqlite")
        return
    engine = request.getfixturevalue("postgres_engine")
    scopes = []

    def make():
        scopes.append(f"test-{uuid.uuid4().hex}")
        return Registry(engine, scope=scopes[-1])

    yield make
    with engine.begin() as c:
        for table in metadata.sorted_tables:
            c.execute(table.delete().where(table.c.scope.in_(scopes)))
