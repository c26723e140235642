"""What every POST of feedback reads, kept in memory per worker process.

A partner's key, a tenant's rules and territory, the verdict on an entry (exists, removed,
outside the territory): each is cached with the generation of its scope when it was read
(citela_feedback.generations) and used only while the request's own reading of the
generations matches, so a change that committed is never missed, whichever process made it.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from sqlalchemy import select
from sqlalchemy.orm import Session

from citela_common.auth import PartnerPrincipal
from citela_common.db import Database
from citela_feedback import readmodel
from citela_feedback.domain import rules
from citela_feedback.domain.rules import TenantRules, Violation
from citela_feedback.generations import PARTNERS, tenant_scope
from citela_feedback.models import CacheGeneration, Tenant
from citela_feedback.partners import principal_of


@dataclass(frozen=True)
class TenantInfo:
    code: str
    territory_codes: tuple[str, ...]
    rules: TenantRules


@dataclass(frozen=True)
class CachedPartner:
    principal: PartnerPrincipal
    generation: int
    prefix: str
    key_hash: str


def generation(session: Session, scope: str) -> int:
    value = session.scalar(select(CacheGeneration.generation).where(CacheGeneration.scope == scope))
    return int(value or 0)


class _Cache:
    """A bounded map of (value, generation), safe across request threads."""

    def __init__(self, maxsize: int) -> None:
        self._data: LRUCache[Hashable, tuple[Any, int]] = LRUCache(maxsize=maxsize)
        self._lock = threading.Lock()

    def get(self, key: Hashable, gen: int | None = None) -> tuple[Any, int] | None:
        with self._lock:
            found = self._data.get(key)
        if found is None or (gen is not None and found[1] != gen):
            return None
        return found

    def put(self, key: Hashable, value: Any, gen: int) -> None:
        with self._lock:
            self._data[key] = (value, gen)


class Lookups:
    def __init__(self, db: Database, default_rate_limit: int, maxsize: int = 20_000) -> None:
        self.db = db
        self.default_rate_limit = default_rate_limit
        self._partners = _Cache(maxsize)
        self._tenants = _Cache(maxsize)
        self._verdicts = _Cache(maxsize)

    # --- partner keys ---------------------------------------------------------------------

    def cached_partner(self, prefix: str, key_hash: str) -> CachedPartner | None:
        found = self._partners.get((prefix, key_hash))
        return None if found is None else found[0]

    def load_partner(self, prefix: str, key_hash: str) -> CachedPartner | None:
        """The live partner behind a key, read now in a transaction of its own (and cached).

        Unknown keys are not cached: a key created since would be refused until its creation
        is noticed, which only a request that passed authentication does.
        """
        with self.db.read() as session:
            gen = generation(session, PARTNERS)  # first: what follows is at least as new
            principal = principal_of(session, prefix, key_hash, self.default_rate_limit)
        if principal is None:
            return None
        cached = CachedPartner(principal, gen, prefix, key_hash)
        self._partners.put((prefix, key_hash), cached, gen)
        return cached

    def current_partner(self, cached: CachedPartner, gen: int) -> PartnerPrincipal | None:
        """The partner as of generation ``gen`` of the partners' scope (None: key revoked)."""
        if cached.generation == gen:
            return cached.principal
        fresh = self.load_partner(cached.prefix, cached.key_hash)
        return None if fresh is None else fresh.principal

    # --- tenants ----------------------------------------------------------------------------

    def tenant(self, session: Session, code: str, gen: int) -> TenantInfo | None:
        """The tenant's rules and territory (None: no such tenant). ``session`` is scoped to it."""
        found = self._tenants.get(code, gen)
        if found is not None:
            return found[0]  # type: ignore[no-any-return]
        row = session.get(Tenant, code)
        if row is None:
            return None
        info = TenantInfo(
            code=code,
            territory_codes=tuple(row.territory_codes),
            rules=TenantRules.model_validate(row.rules),
        )
        self._tenants.put(code, info, gen)
        return info

    # --- catalogue entries -------------------------------------------------------------------

    def entry_violation(
        self, session: Session, tenant: TenantInfo, entry_id: str, gen: int
    ) -> Violation | None:
        """Why feedback on ``entry_id`` is refused in this tenant, or None when it may be given.

        ``gen``: the tenant scope's generation (the read model is the tenant's).
        """
        key = (tenant.code, entry_id)
        found = self._verdicts.get(key, gen)
        if found is not None:
            return found[0]  # type: ignore[no-any-return]
        verdict = _verdict(session, tenant, entry_id)
        self._verdicts.put(key, verdict, gen)
        return verdict


def _verdict(session: Session, tenant: TenantInfo, entry_id: str) -> Violation | None:
    entry = readmodel.live_entry(session, entry_id)
    if entry is None:
        return Violation("entry_id", "no such entry in this authority's catalogue", "unknown_entry")
    if entry.removed_at is not None:
        return Violation("entry_id", "this entry was removed from the catalogue", "entry_removed")
    place = readmodel.place_of(entry)
    communes = readmodel.communes(session, place.commune_codes)
    if not rules.in_territory(place, tenant.territory_codes, communes):
        return Violation(
            "entry_id", "this entry is outside the authority's territory", "outside_territory"
        )
    return None


__all__ = ["CachedPartner", "Lookups", "TenantInfo", "generation", "tenant_scope"]
