import numpy as np

import bloom


def dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = np.bitwise_count(a & b).sum(axis=1)
    tot = np.bitwise_count(a).sum(axis=1) + np.bitwise_count(b).sum(axis=1)
    return np.where(tot > 0, 2 * inter / np.maximum(tot, 1), 0.0)


def segment_bits(f: np.ndarray, schema: bloom.Schema, name: str) -> np.ndarray:
    seg = schema.segment(name)
    return f[:, seg.out_offset // 64 : (seg.out_offset + seg.out_bits) // 64]
