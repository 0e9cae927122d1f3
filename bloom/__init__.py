"""bloom: the agency-side encoder. Raw identifiers go in; keyed Bloom filters come out.

Nothing outside this package ever sees a raw identifier. Public API::

    schema = bloom.Schema.load("febrl")            # or a path to a JSON schema
    secret = bloom.Secret.from_file("secret.key")
    batch = bloom.encode(df, schema, secret, agency="unhcr")
    report = bloom.encode_csv("register.csv", schema, secret, agency="unhcr", out="b.parquet")
    report.problems                                # bloom.Problem: code, rows, never values
    batch.filters                                  # (n, words) uint64
    batch.metadata.key_check == bloom.key_check_value(secret)   # the secret's public check
    batch.write("batch.parquet"); bloom.read_batch("batch.parquet")
    bloom.batch_exposure(batch.filters, schema)    # near-identical groups per segment

Households and consent (optional; None where the register has no such column)::

    schema.household, schema.consent               # bloom.HouseholdSpec, bloom.ConsentSpec
    batch.groups                                   # uint64 keyed pseudonyms, 0 = no group
    batch.relationships                            # int8 index into bloom.RELATIONSHIPS, -1
    batch.consent                                  # str: sorted scope codes, "" = none
    report.households                              # bloom.HouseholdCounts: counts only
"""

from bloom._batch import BatchMetadata, BatchWriter, EncodedBatch
from bloom._batchread import read_batch
from bloom._csvencode import encode_csv
from bloom._encode import EncodeReport, encode
from bloom._exposure import BatchExposure, SegmentExposure, batch_exposure
from bloom._hardening import blip_flip_probability
from bloom._household_batch import HouseholdCounts
from bloom._household_schema import ConsentSpec, HouseholdSpec
from bloom._households import (
    NO_GROUP,
    RELATIONSHIPS,
    SCOPE_PATTERN,
    group_keys,
    join_scopes,
    split_scopes,
)
from bloom._keycheck import KEY_CHECK_PATTERN, key_check_value
from bloom._problems import Problem
from bloom._rules import (
    MAX_REF_LENGTH,
    as_layout,
    layout_problems,
    ref_problems,
    segment_name_pattern,
)
from bloom._schema import BUILTIN_SCHEMAS, Schema
from bloom._secret import Secret
from caselink_errors import (
    BatchError,
    CaselinkError,
    EncodingError,
    ExposureError,
    InputError,
    SchemaError,
    SecretError,
)

__all__ = [
    "BUILTIN_SCHEMAS",
    "BatchError",
    "BatchExposure",
    "BatchMetadata",
    "BatchWriter",
    "CaselinkError",
    "ConsentSpec",
    "EncodeReport",
    "EncodedBatch",
    "EncodingError",
    "ExposureError",
    "HouseholdCounts",
    "HouseholdSpec",
    "InputError",
    "KEY_CHECK_PATTERN",
    "MAX_REF_LENGTH",
    "NO_GROUP",
    "Problem",
    "RELATIONSHIPS",
    "SCOPE_PATTERN",
    "Schema",
    "SchemaError",
    "Secret",
    "SecretError",
    "SegmentExposure",
    "as_layout",
    "batch_exposure",
    "blip_flip_probability",
    "encode",
    "encode_csv",
    "group_keys",
    "join_scopes",
    "key_check_value",
    "layout_problems",
    "read_batch",
    "ref_problems",
    "segment_name_pattern",
    "split_scopes",
]
