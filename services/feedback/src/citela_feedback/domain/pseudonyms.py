"""Pseudonymous author references for events: stable per author and tenant, not reversible."""

from __future__ import annotations

import hmac


def author_ref(secret: str, tenant: str, author_key: str) -> str:
    """HMAC-SHA256 of the author's key in the tenant; 32 hex characters.

    Without the platform's secret nobody can link a reference to an account, and the same
    person gets unrelated references in two tenants.
    """
    # hmac.digest: the one-shot C path, same MAC as hmac.new(...).hexdigest().
    return hmac.digest(secret.encode(), f"{tenant}\x1f{author_key}".encode(), "sha256").hex()[:32]
