"""The feedback domain in plain Python: redaction, pre-screening, tenant rules, territory,
moderation states, pseudonyms, rate limits and the shared auth primitives."""

from __future__ import annotations

from datetime import timedelta

import pytest

from citela_common.auth import (
    InvalidToken,
    PasswordHasher,
    Role,
    TokenService,
    TokenType,
    UserPrincipal,
    api_key_prefix,
    generate_api_key,
    hash_api_key,
    user_from_claims,
)
from citela_common.settings import Settings
from citela_feedback.domain.moderation import (
    ModerationAction,
    ModerationStatus,
    after,
    initial_status,
)
from citela_feedback.domain.pseudonyms import author_ref
from citela_feedback.domain.redaction import redact
from citela_feedback.domain.rules import (
    Commune,
    EntryPlace,
    ModerationMode,
    TenantRules,
    check_comment,
    in_territory,
)
from citela_feedback.domain.screening import screen
from citela_feedback.ratelimit import MemoryRateLimiter


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ("Écrivez à jean.dupont@gmail.com svp", "Écrivez à [courriel masqué] svp", {"email"}),
        ("Tél. 06 12 34 56 78.", "Tél. [téléphone masqué].", {"phone"}),
        ("Appelez le +33 (0)5 59 27 85 80", "Appelez le [téléphone masqué]", {"phone"}),
        ("ou le 0559278580 !", "ou le [téléphone masqué] !", {"phone"}),
        ("IBAN FR76 3000 6000 0112 3456 7890 189 merci", "IBAN [IBAN masqué] merci", {"iban"}),
        ("NIR 1 85 05 64 445 123 45", "NIR [numéro masqué]", {"number"}),
        (
            "J'habite 12 bis rue de la Paix, 64000 Pau et personne ne répond",
            "J'habite [adresse masquée] et personne ne répond",
            {"address"},
        ),
        (
            "au 3 avenue du Général Leclerc depuis 2019",
            "au [adresse masquée] depuis 2019",
            {"address"},
        ),
        (
            "Attente de 45 minutes en 2024, guichet 3 fermé",
            "Attente de 45 minutes en 2024, guichet 3 fermé",
            set(),
        ),
        # Spelled at signs, a foreign number, and too few digits for any number pattern.
        ("Écrivez-moi : jean (at) exemple (dot) fr", "Écrivez-moi : [courriel masqué]", {"email"}),
        ("Mon adresse : paul AROBASE gmail.com", "Mon adresse : [courriel masqué]", {"email"}),
        (
            "Rappelez-moi au +44 20 7946 0958 (Londres)",
            "Rappelez-moi au [téléphone masqué] (Londres)",
            {"phone"},
        ),
        ("Dossier n° 12345, guichet 3", "Dossier n° 12345, guichet 3", set()),
    ],
)
def test_personal_data_is_masked(text: str, expected: str, kinds: set[str]) -> None:
    result = redact(text)
    assert result.text == expected
    assert set(result.kinds) == kinds


@pytest.mark.parametrize(
    ("text", "reasons"),
    [
        ("Bande de connnnards !", ["insult"]),
        ("Agents c0nn4rds", ["insult"]),
        ("Ta gueule", ["insult"]),
        ("Le conseil municipal a fait un constat", []),
        ("Accueil nul, attente trop longue, agents incompétents", []),
        ("Gagnez un bonus au casino www.win.ru", ["spam"]),
        ("Cliquez ici pour un code promo", ["spam"]),
        ("aaaaaaaaaaaaaaaa", ["spam"]),
        ("Contact : marie@exemple.fr", []),
        ("Les bureaux de Paris et de Pau", []),
        # Text that stays non-ASCII once folded (« », œ, °, ’, full-width letters).
        ("« Fainéants » et connards, vraiment : cœur brisé, n° 12", ["insult"]),
        ("Accueil très agréable ; l’agent m’a aidé (n° 5)", []),
        ("Ｃｏｎｎａｒｄ", ["insult"]),
        ("Offre spéciale : gagnez un bonus, voir www.promo.fr", ["spam"]),
    ],
)
def test_prescreening_flags_insults_and_spam(text: str, reasons: list[str]) -> None:
    assert screen(text).reasons() == reasons


def test_tenant_rules_on_comments() -> None:
    rules = TenantRules(comment_required=True, comment_max_length=20)
    assert [v.code for v in check_comment(rules, None)] == ["required"]
    assert [v.code for v in check_comment(rules, "x" * 21)] == ["too_long"]
    assert check_comment(rules, "  court  ") == []
    assert check_comment(TenantRules(), None) == []


def test_an_entry_is_in_a_territory_through_its_communes() -> None:
    pau = Commune("64445", epci_code="200067254", departement_codes=("64",), region_code="75")
    arudy = Commune("64024", epci_code="246401756", departement_codes=("64",), region_code="75")
    communes = {"64445": pau, "64024": arudy}
    assert in_territory(EntryPlace(("64445",)), ["200067254"], communes)
    assert in_territory(EntryPlace(("64024",)), ["64"], communes)
    assert in_territory(EntryPlace(("64024",)), ["region:75"], communes)  # Nouvelle-Aquitaine
    # A bare "75" is Paris, not the région that shares its code: the Paris tenant never
    # covers Arudy; neither does the Gers ("32") cover the Oise through the Hauts-de-France.
    assert not in_territory(EntryPlace(("64024",)), ["75"], communes)
    chantilly = Commune("60141", epci_code="246000764", departement_codes=("60",), region_code="32")
    assert not in_territory(EntryPlace(("60141",)), ["32"], {"60141": chantilly})
    assert in_territory(EntryPlace(("60141",)), ["region:32"], {"60141": chantilly})
    assert not in_territory(EntryPlace(("64024",), ("200067254",)), ["200067254"], communes)
    assert in_territory(EntryPlace((), ("200067254",)), ["200067254"], communes)
    assert not in_territory(EntryPlace(("99999",)), ["200067254"], communes)
    assert not in_territory(EntryPlace(("64445",)), [], communes)


def test_moderation_states() -> None:
    held = screen("Bande de connards")
    ok = screen("Très bien")
    assert initial_status(None, ModerationMode.POST, ok) is ModerationStatus.NONE
    assert initial_status("Très bien", ModerationMode.POST, ok) is ModerationStatus.VISIBLE
    assert initial_status("x", ModerationMode.POST, held) is ModerationStatus.PENDING
    assert initial_status("Très bien", ModerationMode.PRE, ok) is ModerationStatus.PENDING
    assert after(ModerationAction.HIDE, ModerationStatus.VISIBLE) is ModerationStatus.HIDDEN
    assert after(ModerationAction.APPROVE, ModerationStatus.PENDING) is ModerationStatus.VISIBLE
    assert after(ModerationAction.APPROVE, ModerationStatus.NONE) is None


def test_author_references_are_stable_per_tenant_and_unlinkable() -> None:
    one = author_ref("secret", "agglo-pau", "citizen:abc")
    assert one == author_ref("secret", "agglo-pau", "citizen:abc")
    assert one != author_ref("secret", "ville-lyon", "citizen:abc")
    assert one != author_ref("other", "agglo-pau", "citizen:abc")
    assert "abc" not in one
    assert len(one) == 32


def test_sliding_window_rate_limit() -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    decisions = [limiter.hit("k", 3) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[0].remaining == 2
    assert decisions[3].retry_after_s >= 1
    assert limiter.hit("other", 3).allowed
    now[0] += 60  # next window, 40 s in: the previous one (3 hits) still weighs a third
    assert limiter.hit("k", 3).allowed
    assert limiter.hit("k", 3).allowed
    assert not limiter.hit("k", 3).allowed
    now[0] += 120
    assert limiter.hit("k", 3).allowed


def test_passwords_tokens_and_api_keys() -> None:
    settings = Settings(
        password_hash_time_cost=1, password_hash_memory_kib=1024, password_hash_parallelism=1
    )
    hasher = PasswordHasher(settings)
    stored = hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert hasher.verify(stored, "correct horse battery")
    assert not hasher.verify(stored, "wrong")
    assert not hasher.verify(None, "anything")

    tokens = TokenService(settings)
    access = tokens.issue_access("acc1", {"agglo-pau": [Role.ADMIN, Role.ANALYST]}, operator=True)
    claims = tokens.decode(access.token, TokenType.ACCESS)
    assert claims["roles"] == {"agglo-pau": ["admin", "analyst"]}
    assert claims["op"] is True
    principal = user_from_claims(claims)
    assert isinstance(principal, UserPrincipal)
    assert principal.can("agglo-pau", "tenant:admin")  # type: ignore[arg-type]
    assert not principal.can("ville-lyon", "feedback:read")  # type: ignore[arg-type]
    with pytest.raises(InvalidToken):
        tokens.decode(access.token, TokenType.REFRESH)
    expired = tokens.issue("acc1", TokenType.ACCESS, timedelta(seconds=-1))
    with pytest.raises(InvalidToken, match="expired"):
        tokens.decode(expired.token, TokenType.ACCESS)
    other = TokenService(Settings(secret_key="another-secret-of-the-platform-1234567890"))
    with pytest.raises(InvalidToken):
        other.decode(access.token, TokenType.ACCESS)

    key = generate_api_key()
    assert api_key_prefix(key.plaintext) == key.prefix
    assert hash_api_key(key.plaintext) == key.key_hash
    assert key.plaintext not in repr(key)
    assert api_key_prefix("ctl_short_x") is None
    assert api_key_prefix("nope") is None


def test_the_intake_stages_events_exactly_as_the_event_models_write_them() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from citela_common.events.envelope import CloudEvent
    from citela_common.events.models import parse_data
    from citela_feedback import events
    from citela_feedback.intake import FeedbackState

    for first, submitted_at, status in (
        (True, datetime(2026, 11, 28, 9, 0, tzinfo=UTC), "visible"),
        (False, datetime(2026, 11, 28, 9, 0, 0, 120000, tzinfo=UTC), "pending"),
        (True, datetime(2026, 11, 27, 18, 30, 5, 7, tzinfo=timezone(timedelta(hours=1))), "none"),
        # The instant of the first case, written in its own time zone (not as cached before).
        (False, datetime(2026, 11, 28, 10, 0, tzinfo=timezone(timedelta(hours=1))), "visible"),
    ):
        state = FeedbackState(
            id="f" * 32,
            tenant_id="agglo-pau",
            entry_id="service-public:mairie-pau",
            author_kind="partner",
            account_id=None,
            partner_app_id="a" * 32,
            partner_user_ref="usager-42",
            author_key="partner:app:usager-42",
            current_key="c" * 64,
            channel="partner",
            satisfaction=4,
            importance=5,
            comment="Accueil chaleureux, appelez le 06 12 34 56 78.",
            comment_redacted="Accueil chaleureux, appelez le [téléphone masqué].",
            revision=1 if first else 2,
            moderation_status=status,
            moderation_flags=[],
            moderation_note=None,
            moderated_by=None,
            moderated_at=None,
            submitted_at=submitted_at,
            created_at=submitted_at,
            updated_at=submitted_at,
            retracted_at=None,
            retraction_reason=None,
        )
        at = datetime(2026, 11, 28, 9, 0, 1, tzinfo=UTC)
        fast = events.current_envelope(state, "secret", first=first, at=at)
        model = events._current_event(state, "secret", first=first)
        expected = model.model_dump(mode="json")
        expected |= {"id": fast["id"], "time": "2026-11-28T09:00:01Z"}
        assert fast == expected
        parse_data(CloudEvent.model_validate(fast))  # a valid event of its type


def test_ids_are_random_version_4_uuids_even_across_a_fork() -> None:
    import os
    import uuid

    from citela_feedback.ids import new_id, new_uuid

    ids = [new_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for value in ids[:50]:
        parsed = uuid.UUID(hex=value)
        assert parsed.hex == value
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    canonical = new_uuid()
    assert str(uuid.UUID(canonical)) == canonical
    assert uuid.UUID(canonical).version == 4
    # A forked child does not draw the ids its parent is about to draw.
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child != new_id()
