"""Pseudonymous author references for events: stable per author and tenant, not reversible."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache


@lru_cache(maxsize=8)
def _keyed(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def author_ref(secret: str, tenant: str, author_key: str) -> str:
    """HMAC-SHA256 of the author's key in the tenant; 32 hex characters.

    Without the platform's secret nobody can link a reference to an account, and the same
    person gets unrelated references in two tenants.
    """
    # A copy of the HMAC keyed once per secret: the key is not hashed again for each event
    # (a batch writes a thousand), and unlike the one-shot hmac.digest, which releases the
    # GIL (and may wait to get it back in a busy worker), the short update keeps it.
    mac = _keyed(secret).copy()
    mac.update(f"{tenant}\x1f{author_key}".encode())
    return mac.hexdigest()[:32]
