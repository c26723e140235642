"""Authentication and authorisation primitives every service shares.

- Passwords: Argon2id (argon2-cffi), parameters from the settings; verification is timing-safe
  even for an unknown account (a dummy hash is verified instead).
- Signed tokens: JWT HS256 with ``settings.secret_key``. Claims: ``sub`` (account id), ``type``
  (``access``, ``refresh`` or a purpose such as ``email-confirmation``), ``exp``, ``iat``,
  ``jti``, and on access tokens ``roles`` (``{tenant: [role, …]}``) and ``op`` (platform
  operator). Any service can verify a staff token without calling the service that issued it.
- API keys of partner apps: ``ctl_<prefix>_<secret>``; the prefix is stored in clear for
  lookup, the key only as a SHA-256 hash (keys are random, 256 bits: a slow hash buys nothing).
- FastAPI dependencies (``Authenticator``): the current principal — a user (citizen or staff,
  with roles per tenant) from ``Authorization: Bearer``, or a partner app from ``X-API-Key`` —
  and guards that require a permission on the tenant named in the path.
"""

# No `from __future__ import annotations`: FastAPI reads the signatures of the dependencies
# built below, whose annotations name local dependencies.

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol

import jwt
from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from citela_common.settings import Settings
from citela_common.web.problems import Problem

ALGORITHM = "HS256"
API_KEY_HEADER = "X-API-Key"
API_KEY_PREFIX = "ctl"


class Role(StrEnum):
    """Roles of authority staff, per tenant."""

    ADMIN = "admin"
    ANALYST = "analyst"
    MODERATOR = "moderator"


class Permission(StrEnum):
    FEEDBACK_READ = "feedback:read"
    FEEDBACK_WRITE = "feedback:write"
    FEEDBACK_MODERATE = "feedback:moderate"
    TENANT_ADMIN = "tenant:admin"
    ANALYTICS_READ = "analytics:read"


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        {
            Permission.FEEDBACK_READ,
            Permission.FEEDBACK_MODERATE,
            Permission.TENANT_ADMIN,
            Permission.ANALYTICS_READ,
        }
    ),
    Role.ANALYST: frozenset({Permission.FEEDBACK_READ, Permission.ANALYTICS_READ}),
    Role.MODERATOR: frozenset({Permission.FEEDBACK_READ, Permission.FEEDBACK_MODERATE}),
}

PARTNER_SCOPES: frozenset[Permission] = frozenset(
    {Permission.FEEDBACK_READ, Permission.FEEDBACK_WRITE}
)


# --- passwords ---------------------------------------------------------------------------


class PasswordHasher:
    """Argon2id hashing with a timing-safe check for unknown accounts."""

    def __init__(self, settings: Settings) -> None:
        self._argon = _Argon2(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=settings.password_hash_parallelism,
        )
        self._dummy = self._argon.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._argon.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; with no hash, spends the same time and says False."""
        try:
            return self._argon.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        return self._argon.check_needs_rehash(stored_hash)


# --- signed tokens -----------------------------------------------------------------------


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"
    EMAIL_CONFIRMATION = "email-confirmation"


class InvalidToken(ValueError):
    """A token that is malformed, forged, expired or of another type."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


class TokenService:
    def __init__(self, settings: Settings) -> None:
        # A key of its own, derived from the platform secret: 256 bits whatever the secret's
        # length (RFC 7518 §3.2), and unrelated to the other uses of the secret.
        self._key = hashlib.sha256(
            b"citela-jwt-hs256\x1f" + settings.secret_key.get_secret_value().encode()
        ).digest()
        self.access_ttl = timedelta(seconds=settings.access_token_ttl_s)
        self.refresh_ttl = timedelta(seconds=settings.refresh_token_ttl_s)
        self.confirmation_ttl = timedelta(seconds=settings.email_confirmation_ttl_s)

    def issue(
        self,
        subject: str,
        token_type: TokenType,
        ttl: timedelta,
        *,
        now: datetime | None = None,
        **claims: Any,
    ) -> IssuedToken:
        issued = now or datetime.now(UTC)
        expires = issued + ttl
        jti = uuid.uuid4().hex
        payload = {
            "sub": subject,
            "type": token_type.value,
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": jti,
            **claims,
        }
        return IssuedToken(jwt.encode(payload, self._key, algorithm=ALGORITHM), jti, expires)

    def issue_access(
        self, account_id: str, roles: Mapping[str, Iterable[Role]], *, operator: bool = False
    ) -> IssuedToken:
        return self.issue(
            account_id,
            TokenType.ACCESS,
            self.access_ttl,
            roles={t: sorted(r.value for r in rs) for t, rs in roles.items()},
            op=operator,
        )

    def issue_refresh(self, account_id: str) -> IssuedToken:
        return self.issue(account_id, TokenType.REFRESH, self.refresh_ttl)

    def decode(self, token: str, expected: TokenType) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "type", "exp", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("the token is not valid") from exc
        if claims.get("type") != expected.value:
            raise InvalidToken(f"a {expected.value} token is required")
        return claims


# --- API keys ----------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    plaintext: str = field(repr=False)
    prefix: str
    key_hash: str


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    """A new key: show ``plaintext`` once, store ``prefix`` and ``key_hash``."""
    prefix = secrets.token_hex(6)
    plaintext = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(plaintext, prefix, hash_api_key(plaintext))


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- principals --------------------------------------------------------------------------


@dataclass(frozen=True)
class UserPrincipal:
    """A person with an account: a citizen, and staff where they hold roles in tenants."""

    account_id: str
    roles: Mapping[str, frozenset[Role]] = field(default_factory=dict)
    operator: bool = False

    def permissions(self, tenant: str) -> frozenset[Permission]:
        perms: set[Permission] = set()
        for role in self.roles.get(tenant, frozenset()):
            perms |= ROLE_PERMISSIONS[role]
        return frozenset(perms)

    def can(self, tenant: str, permission: Permission) -> bool:
        return permission in self.permissions(tenant)


@dataclass(frozen=True)
class PartnerPrincipal:
    """A partner app authenticated by one of its API keys."""

    app_id: str
    key_id: str
    owner_tenant: str
    tenants: frozenset[str]
    scopes: frozenset[Permission]
    rate_limit_per_minute: int

    def can(self, tenant: str, permission: Permission) -> bool:
        return tenant in self.tenants and permission in self.scopes


Principal = UserPrincipal | PartnerPrincipal


class ApiKeyResolver(Protocol):
    def __call__(self, prefix: str, key_hash: str) -> PartnerPrincipal | None:
        """The partner behind a live key with this prefix and hash, else None."""


def user_from_claims(claims: Mapping[str, Any]) -> UserPrincipal:
    raw = claims.get("roles") or {}
    roles: dict[str, frozenset[Role]] = {}
    if isinstance(raw, dict):
        for tenant, names in raw.items():
            if isinstance(names, list):
                roles[str(tenant)] = frozenset(
                    Role(n) for n in names if n in Role._value2member_map_
                )
    return UserPrincipal(str(claims["sub"]), roles, bool(claims.get("op", False)))


def unauthenticated(detail: str = "Authentication is required.") -> Problem:
    return Problem(
        401,
        detail,
        slug="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer realm="citela"'},
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, slug="forbidden")


_bearer = HTTPBearer(auto_error=False, description="access token from POST /v1/auth/token")
_api_key = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="API key of a partner app"
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]
ApiKeyCredentials = Annotated[str | None, Security(_api_key)]


class Authenticator:
    """Builds the FastAPI dependencies of one service.

    ``on_partner`` runs for every request a partner key authenticates (the feedback service
    rate-limits there).
    """

    def __init__(
        self,
        tokens: TokenService,
        resolve_api_key: ApiKeyResolver | None = None,
        *,
        on_partner: Callable[[Request, PartnerPrincipal], None] | None = None,
    ) -> None:
        self.tokens = tokens
        self.resolve_api_key = resolve_api_key
        self.on_partner = on_partner

    def authenticate(
        self, request: Request, bearer: str | None, api_key: str | None
    ) -> Principal | None:
        if bearer:
            try:
                claims = self.tokens.decode(bearer, TokenType.ACCESS)
            except InvalidToken as exc:
                raise unauthenticated(f"The access token is refused: {exc}.") from None
            return user_from_claims(claims)
        if api_key:
            prefix = api_key_prefix(api_key)
            partner = (
                self.resolve_api_key(prefix, hash_api_key(api_key))
                if prefix and self.resolve_api_key
                else None
            )
            if partner is None:
                raise unauthenticated("The API key is unknown or revoked.")
            if self.on_partner is not None:
                self.on_partner(request, partner)
            return partner
        return None

    def optional(self) -> Callable[..., Principal | None]:
        def dependency(
            request: Request, bearer: BearerCredentials = None, api_key: ApiKeyCredentials = None
        ) -> Principal | None:
            cached = getattr(request.state, "principal", None)
            if cached is not None:
                return cached  # type: ignore[no-any-return]
            principal = self.authenticate(request, bearer.credentials if bearer else None, api_key)
            request.state.principal = principal
            return principal

        return dependency

    def required(self) -> Callable[..., Principal]:
        optional = self.optional()

        def dependency(principal: Annotated[Principal | None, Depends(optional)]) -> Principal:
            if principal is None:
                raise unauthenticated()
            return principal

        return dependency

    def user(self) -> Callable[..., UserPrincipal]:
        required = self.required()

        def dependency(principal: Annotated[Principal, Depends(required)]) -> UserPrincipal:
            if not isinstance(principal, UserPrincipal):
                raise forbidden("This endpoint is for people signed in, not for partner apps.")
            return principal

        return dependency

    def operator(self) -> Callable[..., UserPrincipal]:
        user = self.user()

        def dependency(principal: Annotated[UserPrincipal, Depends(user)]) -> UserPrincipal:
            if not principal.operator:
                raise forbidden("Only a platform operator may do this.")
            return principal

        return dependency

    def partner(self) -> Callable[..., PartnerPrincipal]:
        required = self.required()

        def dependency(principal: Annotated[Principal, Depends(required)]) -> PartnerPrincipal:
            if not isinstance(principal, PartnerPrincipal):
                raise forbidden("This endpoint is for partner apps (X-API-Key).")
            return principal

        return dependency

    def permission(self, permission: Permission) -> Callable[..., Principal]:
        """A guard: the principal holds ``permission`` on the path's ``{tenant}``."""
        required = self.required()

        def dependency(
            request: Request, principal: Annotated[Principal, Depends(required)]
        ) -> Principal:
            tenant = str(request.path_params.get("tenant", ""))
            if not principal.can(tenant, permission):
                raise forbidden(f"`{permission.value}` on tenant {tenant!r} is required.")
            return principal

        return dependency
