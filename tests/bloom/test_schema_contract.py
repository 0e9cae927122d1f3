"""The shipped schemas are a contract: agencies' batches must keep matching.

Every schema file in ``bloom/schemas`` keeps its fingerprint, and the same register keeps
giving the same bits under it (the same secret), whatever the reader learns about messy input
(delimiters, date orders, category spellings). Both were pinned before those were added; a
change here means every agency would have to re-encode, so it needs a new schema revision.
"""

import json
from importlib import resources

import blake3
import pandas as pd
import pytest

import bloom

FINGERPRINTS = {
    "febrl": "blake3:5be5f431a21924c94948df23f7b3f28b5f73f7e577591f5391d369b23ea53da1",
    "febrl-v1": "blake3:8f38bf7f2251c39ba590733f09a9b86701267a51479ace2ee666ee7afa972e1d",
    "febrl-v3": "blake3:e683594f2ab9a7bc9631b86d6c7fa8cdd3a92f00ac33882d6876c0eb8f949405",
    "person": "blake3:370725a1e884a2c2521bcf2f01f3629c05ac0835265ef960489f0f1efc4dfceb",
    "person-recall": "blake3:c7b2a3724102bfceda5964efb94ede33a4f92bad69aa3e1fbf5778ccc17e87f4",
    "person-v1": "blake3:1504bb651a842df18ec13b834cb5e9196723e93602f0e739b78ba41f9004dff5",
    "person-v2": "blake3:130bee02e40e9d4ca3c75f1999efd37064e9f3ef54e55665166035425e32f162",
    "person-v3": "blake3:3a4cefcd34f094e77301fb8bc19e3962345fa5d0430453b004de29c1bc5fb9ea",
}

# BLAKE3 of the filters of REGISTER under each schema and the secret bytes(range(32))
BITS = {
    "febrl": "96f5c454b8d35ea6a689a33672682c89643e72a0e821774fe9a48eeee4974f7d",
    "febrl-v1": "12999be7e8efe4f3eecd5d85076f5c327b8a46347c205257422d990d60027c41",
    "febrl-v3": "87af43d069ddf3d86a2f93bb2e0a2bda46f40268510ff58ba787f27c87523d25",
    "person": "6410fd297aff432c05682450198c6a5261e440190e49ef965db1897d2b386900",
    "person-recall": "96a9fda30a892a8b795cec25cecc02e712039fb7060832feec0e21515f6a61be",
    "person-v1": "9402e0879da92a3a5e8e585f6761621183404f22dd714700c847eabf44efeaec",
    "person-v2": "5b52e604743cc59ec7b22e6316345e714e8a7ef2162ee50570ae902582765416",
    "person-v3": "e768c3fd5483d6636549ac7d85f7a86419d5d84c59d4b5794c610efe51fa3bdb",
}

# ISO, day-first, ambiguous (03/12) and year-only dates; sex in several spellings, one unknown
REGISTER = pd.DataFrame(
    {
        "given_name": ["Mohammed", "Amina", "Jonathan", "Olena", "Ana María", "Li"],
        "family_name": ["Al-Hassan", "Yusuf", "Smith", "Kovalenko", "Pérez", "Wei"],
        "surname": ["Al-Hassan", "Yusuf", "Smith", "Kovalenko", "Pérez", "Wei"],
        "father_name": ["Ahmed", None, "Peter", "Ivan", "José", None],
        "sex": ["M", "female", "m", "F", "Male", "x"],
        "date_of_birth": [
            "1985-03-12",
            "1990",
            "03/12/2010",
            "01/07/2001",
            "19790105",
            "31/12/1969",
        ],
        "place_of_birth": ["Aleppo", "Mogadishu", "Leeds", "Kharkiv", "Bogotá", None],
        "street_number": ["12", "3", None, "140", "7", "1"],
        "address_1": ["Main St", "Hay St", "Elm Rd", "Park Ave", None, "Sea Rd"],
        "address_2": [None, "Unit 2", None, None, "Flat 9", None],
        "suburb": ["Fitzroy", "Perth", "Leeds", "Carlton", "Bogota", "Manly"],
        "postcode": ["3065", "6000", "2000", "3053", "1100", "2095"],
        "state": ["vic", "WA", "nsw", "Vic", "act", "nsw"],
    }
)


def _shipped() -> list[str]:
    files = resources.files("bloom.schemas").iterdir()
    return sorted(p.name.removesuffix(".json") for p in files if p.name.endswith(".json"))


def _schema(name: str) -> bloom.Schema:
    text = resources.files("bloom.schemas").joinpath(f"{name}.json").read_text("utf-8")
    return bloom.Schema.from_dict(json.loads(text))


def test_every_shipped_schema_is_pinned():
    assert _shipped() == sorted(FINGERPRINTS) == sorted(BITS)


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_shipped_fingerprint_is_unchanged(name):
    assert _schema(name).fingerprint == FINGERPRINTS[name]


@pytest.mark.parametrize("name", sorted(BITS))
def test_shipped_schema_encodes_the_same_bits(name, secret):
    schema = _schema(name)
    batch = bloom.encode(REGISTER[list(schema.columns)], schema, secret)
    assert blake3.blake3(batch.filters.tobytes()).hexdigest() == BITS[name]
