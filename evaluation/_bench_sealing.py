"""What encryption at rest costs: sealing and opening ``n`` stored filters of ``bits`` bits.

The tracing index opens every filter of a registry when it is built (1,000,000 at the
service's scale), a run opens the registry's and seals the new records', so the figure that
matters is seconds per million values — measured here with the service's own loops
(:func:`linkage.sealing.seal_rows` and :func:`~linkage.sealing.open_rows`, associated data
built per row as the registry builds it), on one thread, with the ``cryptography`` and OpenSSL
versions beside it: per-value cost depends on them far more than on the machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["bench_sealing"]

_CHUNK = 50_000  # the tracing index opens the registry in partitions of this many rows


def _openssl() -> str | None:
    try:
        from cryptography.hazmat.backends.openssl.backend import backend

        return str(backend.openssl_version_text())
    except (ImportError, AttributeError):
        return None


def bench_sealing(n: int = 1_000_000, bits: int = 1024, *, seed: int = 0) -> dict[str, Any]:
    """Seconds to seal and to open ``n`` filters, in chunks as the service does."""
    import cryptography

    from linkage import DataKeyRing
    from linkage.sealing import FilterCipher, open_rows, registry_aad, seal_rows

    cipher, width = FilterCipher(DataKeyRing.generate()), bits // 8
    rng = np.random.default_rng(seed)
    refs = [f"R-{k:07d}" for k in range(n)]
    sealed: list[bytes] = []
    seal_s = open_s = 0.0
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        raw = rng.integers(0, 2**63, (stop - start, width // 8), dtype=np.uint64)
        rows = [r.tobytes() for r in raw]

        def aad(k: int, s: int = start) -> bytes:
            return registry_aad("agr_bench", "agency-a", refs[s + k])

        t = time.perf_counter()
        part = seal_rows(cipher, rows, aad)
        seal_s += time.perf_counter() - t
        t = time.perf_counter()
        plain = open_rows(cipher, part, aad, width, lambda k: f"row {k}")
        open_s += time.perf_counter() - t
        assert plain == b"".join(rows)
        sealed.append(part[0])
    return {
        "values": n,
        "filter_bits": bits,
        "bytes_per_value": len(sealed[0]),
        "seal_seconds": round(seal_s, 2),
        "open_seconds": round(open_s, 2),
        "seal_us_per_value": round(seal_s / n * 1e6, 2),
        "open_us_per_value": round(open_s / n * 1e6, 2),
        "cipher": "ChaCha20-Poly1305",
        "cryptography": cryptography.__version__,
        "openssl": _openssl(),
    }
