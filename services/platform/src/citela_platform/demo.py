"""The demo: a real territory from recorded open data, a demo tenant, generated feedback.

``seed_demo`` drives the platform itself, in one process: it starts the embedded app (its
relays and consumers run as in production), harvests the recorded files of ``demo_data/``
through the ingest service, creates the tenant and its accounts the way ``citela
tenant-create`` and ``citela staff-add`` do, posts the generated feedback through the
feedback API's batch route as a partner app, and waits until the catalogue and analytics
APIs show it all. Nothing writes another service's tables.

The feedback is generated (seeded random numbers, French sentences from templates) and says
so: the partner app is « Avis de démonstration (générés) », the tenant's name ends with
« (démonstration) ». It is spread over the last thirteen weeks: the partner app dates each
answer with ``collected_at`` (as a kiosk or a paper survey uploading late would), so the
weekly trends have a history, with the CCAS improving and the intercommunal services slipping.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from citela_common.auth import Role
from citela_common.db import utcnow
from citela_common.runtime import ServiceRuntime
from citela_common.settings import Settings
from citela_common.tenancy import scope_to_tenant
from citela_feedback import accounts, tenants
from citela_feedback.context import FeedbackContext
from citela_feedback.domain.rules import TenantRules
from citela_feedback.models import Account, Tenant
from citela_ingest.runs import Endpoints, run_harvest
from citela_platform.embedded import create_embedded_app

DEMO_TENANT = "aire-cantilienne"
DEMO_TENANT_NAME = "Communauté de communes de l'Aire Cantilienne (démonstration)"
DEMO_SIREN = "246000764"  # the EPCI's SIREN is also its territory code
DEMO_TERRITORY = "246000764"
DEMO_APP_NAME = "Avis de démonstration (générés)"
DEMO_USER_PREFIX = "demo-genere-"
DATA = Path(__file__).resolve().parent / "demo_data"

# (source, territory, file): the Oise first, so that the others can place their records.
HARVESTS: tuple[tuple[str, str, str], ...] = (
    ("territories", "60", "geo-api/communes_codeDepartement_60.json"),
    ("service-public", DEMO_TERRITORY, "service-public/export.json"),
    ("service-public", DEMO_TERRITORY, "service-public/api_page.json"),
    ("datagouv", DEMO_TERRITORY, "datagouv/page.json"),
    ("datatourisme", DEMO_TERRITORY, "datatourisme"),
)
# The demo's files never change upstream: nothing of them is ever archived for being missing
# from another file of the same source.
GRACE = timedelta(days=36500)
WAIT_S = 120.0
MIN_ANSWERS = 10  # the default minimum for a verdict (TenantRules.min_answers)
# The answers are spread over the twelve complete weeks the dashboard's trends show by default,
# whatever the day of the seeding, and the current week: thirteen weeks back.
HISTORY = timedelta(weeks=13)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str  # in French, as printed


@dataclass(frozen=True)
class DemoSummary:
    tenant: str
    tenant_name: str
    entries: int
    feedbacks: int
    logins: list[DemoLogin]


# Demo passwords are printed on purpose: this is a local demonstration with generated data.
LOGINS: tuple[tuple[DemoLogin, tuple[Role, ...]], ...] = (
    (
        DemoLogin("administratrice@demo.citela.fr", "Chantilly-admin-2026", "administratrice"),
        (Role.ADMIN,),
    ),
    (DemoLogin("elu@demo.citela.fr", "Chantilly-elu-2026", "analyste (élu)"), (Role.ANALYST,)),
    (
        DemoLogin("moderatrice@demo.citela.fr", "Chantilly-moderation-2026", "modératrice"),
        (Role.MODERATOR,),
    ),
    (DemoLogin("habitant@demo.citela.fr", "Chantilly-habitant-2026", "habitant"), ()),
)


def demo_logins() -> list[DemoLogin]:
    return [login for login, _roles in LOGINS]


# --- the generated feedback ---------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What the generated answers on one catalogue entry look like."""

    match: str  # a word of the entry's title that picks it
    share: float  # of the feedback, or a fixed count when ``fixed`` is set
    importance: float  # target means on the 1-5 scales
    satisfaction: float
    negative: tuple[str, ...]
    neutral: tuple[str, ...]
    positive: tuple[str, ...]
    fixed: int | None = None
    # change of the satisfaction mean over the history (oldest answers ``-drift/2`` from
    # ``satisfaction``, newest ``+drift/2``): the overall mean stays ``satisfaction``
    drift: float = 0.0


# Each policy area gets its own profile, so that the four quadrants of the matrix are filled
# (the crosshairs are the grand means): the mairie and the intercommunality are important and
# liked, the CCAS important and disliked (act first), the restaurant liked but unimportant
# (possible over-investment), the exhibition neither (secondary), and the bus timetable (a
# dataset with no policy area) gets too few answers for a verdict.
PROFILES: tuple[Profile, ...] = (
    Profile(
        "Mairie",
        0.31,
        4.3,
        4.1,
        negative=(
            "Les horaires d'ouverture de la mairie sont trop courts, fermé le samedi matin.",
            "Impossible d'obtenir un rendez-vous pour une carte d'identité avant deux mois.",
            "Accueil téléphonique difficile à joindre le mardi.",
        ),
        neutral=(
            "Démarche d'état civil faite sans difficulté particulière.",
            "Les horaires d'ouverture conviennent à peu près.",
        ),
        positive=(
            "Accueil chaleureux à la mairie, le personnel prend le temps d'expliquer.",
            "Très bon accueil, ma demande d'acte de naissance a été traitée rapidement.",
            "Le personnel de la mairie est disponible et efficace, merci.",
            "Démarches simples et rapides, accueil souriant.",
        ),
    ),
    Profile(
        "Communauté",
        0.19,
        4.1,
        3.9,
        negative=(
            "La collecte des déchets verts passe trop rarement dans notre rue.",
            "Information sur les travaux de voirie arrivée bien trop tard.",
        ),
        neutral=(
            "Je connais mal les compétences de la communauté de communes.",
            "Le site de la communauté de communes donne les informations de base.",
        ),
        positive=(
            "La collecte des déchets est bien organisée et régulière.",
            "Très satisfait de la déchetterie intercommunale, accueil efficace.",
            "Bonne information sur les travaux, les agents sont réactifs.",
        ),
        drift=-0.8,
    ),
    Profile(
        "CCAS",
        0.26,
        4.5,
        2.3,
        negative=(
            "Le temps d'attente est beaucoup trop long, trois semaines pour un rendez-vous.",
            "Impossible de joindre l'accueil par téléphone, personne ne répond.",
            "Mon dossier d'aide a été perdu, il a fallu tout recommencer.",
            "Le temps d'attente pour l'aide au logement est décourageant.",
            "Aucune réponse à mes courriers depuis des semaines, c'est inadmissible.",
            "Délais de traitement des dossiers beaucoup trop longs pour les personnes âgées.",
        ),
        neutral=(
            "Le dossier a été traité, mais les délais restent longs.",
            "Rendez-vous obtenu, il faut apporter beaucoup de justificatifs.",
        ),
        positive=(
            "Une assistante sociale très à l'écoute, merci pour l'aide.",
            "Accompagnement humain et bienveillant malgré le temps d'attente.",
        ),
        drift=1.4,
    ),
    Profile(
        "Jeanne",
        0.08,
        2.2,
        4.4,
        negative=("Restaurant souvent complet, difficile de réserver.",),
        neutral=("Un restaurant parmi d'autres, rien de particulier.",),
        positive=(
            "Excellentes crêpes, accueil très sympathique.",
            "Très bon restaurant, service rapide et souriant.",
            "Cadre agréable et très bonne cuisine, merci.",
        ),
    ),
    Profile(
        "EXPOSITION",
        0.16,
        2.5,
        2.5,
        negative=(
            "Exposition trop petite, on en fait le tour en dix minutes.",
            "Horaires de visite peu pratiques, fermé le week-end.",
            "Aucune signalétique pour trouver le lieu de l'exposition.",
        ),
        neutral=(
            "Exposition correcte, sans plus.",
            "Je ne savais pas que cette exposition existait.",
        ),
        positive=(
            "Très belle exposition, des œuvres émouvantes.",
            "Une belle découverte, l'artiste est talentueuse.",
        ),
    ),
    Profile(
        "bus",
        0.0,
        2.8,
        2.6,
        negative=(
            "Les horaires des bus publiés ne sont pas à jour, il manque les lignes du dimanche.",
        ),
        neutral=("Fichier consulté une fois pour vérifier un horaire.",),
        positive=("Pratique d'avoir les horaires des bus en données ouvertes.",),
        fixed=6,
    ),
)

# A few comments carry personal data, so that redaction shows; a few are held by the
# pre-screening (insult, advertising), so that the moderation queue has work.
PERSONAL = (
    " Vous pouvez me rappeler au 06 12 34 56 78.",
    " Répondez-moi à claire.dupont@exemple.fr s'il vous plaît.",
)
HELD = (
    "Des fainéants à l'accueil, aucun respect pour les habitants.",
    "Gagnez de l'argent facile, code promo sur notre site, offre exclusive !",
    "Bande de cons, jamais personne au téléphone.",
)


@dataclass(frozen=True)
class Item:
    entry_id: str
    user_ref: str
    importance: int
    satisfaction: int
    comment: str | None
    age: timedelta  # how long before the upload the answer was collected

    def json(self, now: datetime) -> dict[str, Any]:
        body: dict[str, Any] = {
            "entry_id": self.entry_id,
            "user_ref": self.user_ref,
            "importance": self.importance,
            "satisfaction": self.satisfaction,
            "collected_at": (now - self.age).isoformat(),
        }
        if self.comment is not None:
            body["comment"] = self.comment
        return body


def allocate(total: int) -> list[int]:
    """Answers per profile: the fixed ones, the rest by share (the remainder to the first), so
    that they add up to ``total``; each shared profile gets enough answers for a verdict."""
    rest = total - sum(p.fixed or 0 for p in PROFILES)
    counts = [p.fixed if p.fixed is not None else int(rest * p.share) for p in PROFILES]
    counts[0] += total - sum(counts)
    if any(c < MIN_ANSWERS for c, p in zip(counts, PROFILES, strict=True) if p.fixed is None):
        raise ValueError(
            f"{total} avis générés ne suffisent pas à remplir la matrice de la démonstration"
        )
    return counts


def _score(rng: random.Random, mean: float) -> int:
    return max(1, min(5, round(rng.gauss(mean, 0.75))))


def _comment(rng: random.Random, profile: Profile, satisfaction: int) -> str | None:
    if rng.random() < 0.35:
        return None
    pool = (
        profile.negative
        if satisfaction <= 2
        else profile.neutral
        if satisfaction == 3
        else profile.positive
    )
    text = rng.choice(pool)
    if len(pool) > 1 and rng.random() < 0.3:
        text += " " + rng.choice([s for s in pool if s != text])
    if rng.random() < 0.015:
        text += rng.choice(PERSONAL)
    return text


def generate(entries: dict[str, str], total: int, seed: int) -> list[Item]:
    """The demo's feedback, the same for the same ``entries``, ``total`` and ``seed``.

    ``entries`` maps each profile's ``match`` to the entry id it stands for. One generated
    person (``user_ref``) answers each entry at most once, so every item is a new feedback.
    Each answer's age is spread evenly over ``HISTORY`` (at least ten minutes old).
    """
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    items: list[Item] = []
    span = HISTORY.total_seconds() - 600
    for profile, count in zip(PROFILES, allocate(total), strict=True):
        entry_id = entries[profile.match]
        for n in range(count):
            age = 600 + rng.random() * span
            recency = 1 - age / HISTORY.total_seconds()  # 0: oldest, 1: newest
            satisfaction = _score(rng, profile.satisfaction + profile.drift * (recency - 0.5))
            items.append(
                Item(
                    entry_id=entry_id,
                    user_ref=f"{DEMO_USER_PREFIX}{n + 1:04d}",
                    importance=_score(rng, profile.importance),
                    satisfaction=satisfaction,
                    comment=_comment(rng, profile, satisfaction),
                    age=timedelta(seconds=round(age)),
                )
            )
    # The held comments go to the most answered services, on otherwise ordinary answers.
    for i, text in enumerate(HELD):
        items[i * 7] = replace(items[i * 7], comment=text)
    rng.shuffle(items)
    return items


# --- seeding through the platform ---------------------------------------------------------


class DemoError(RuntimeError):
    """The demo could not be put in place (the message says why, in French)."""


async def _wait(what: str, check: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise DemoError(f"délai dépassé : {what}")
        await asyncio.sleep(0.1)


class _Seeder:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient, feedbacks: int, seed: int) -> None:
        self.client = client
        self.feedbacks = feedbacks
        self.seed = seed
        self.runtimes: dict[str, ServiceRuntime] = app.state.runtimes
        self.settings: Settings = app.state.settings

    # HTTP helpers ---------------------------------------------------------------------
    def _ok(self, response: Any, what: str) -> Any:
        if response.status_code >= 300:
            raise DemoError(f"{what} : HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    async def token(self, login: DemoLogin) -> str:
        r = await self.client.post(
            "/feedback/v1/auth/token", json={"email": login.email, "password": login.password}
        )
        return str(self._ok(r, f"connexion de {login.email}")["access_token"])

    async def entries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"territory": DEMO_TERRITORY, "limit": 50}
        while True:
            r = await self.client.get(f"/catalogue/v1/tenants/{DEMO_TENANT}/entries", params=params)
            if r.status_code == 404:  # the territories are not projected yet
                return found
            page = self._ok(r, "catalogue")
            found.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found
            params["cursor"] = cursor

    async def matrix(self, token: str) -> dict[str, Any]:
        r = await self.client.get(
            f"/analytics/v1/tenants/{DEMO_TENANT}/matrix",
            headers={"Authorization": f"Bearer {token}"},
        )
        return dict(self._ok(r, "matrice"))

    # steps ----------------------------------------------------------------------------
    async def in_place(self) -> DemoSummary | None:
        """The summary when a previous seed with the same size is complete, else None."""
        if (await self.client.get(f"/feedback/v1/tenants/{DEMO_TENANT}")).status_code != 200:
            return None
        analyst = demo_logins()[1]
        r = await self.client.post(
            "/feedback/v1/auth/token", json={"email": analyst.email, "password": analyst.password}
        )
        if r.status_code != 200:
            return None
        answers = (await self.matrix(r.json()["access_token"]))["crosshairs"]["answers"]
        if answers != self.feedbacks:
            return None
        return self.summary(len(await self.entries()), answers)

    def summary(self, entries: int, feedbacks: int) -> DemoSummary:
        return DemoSummary(DEMO_TENANT, DEMO_TENANT_NAME, entries, feedbacks, demo_logins())

    async def harvest(self) -> int:
        ingest = self.runtimes["ingest"]
        held = 0
        for source, territory, file in HARVESTS:
            result = run_harvest(
                ingest.db,
                source,
                tenant=DEMO_TENANT,
                territory_code=territory,
                path=DATA / file,
                grace_period=GRACE,
                endpoints=Endpoints.from_settings(ingest.settings),
                on_commit=ingest.relay.wake,
            )
            if result.status.value == "failed":
                raise DemoError(f"collecte {source} en échec : {result.error}")
            if source != "territories":
                held += sum(result.counts[c] for c in ("new", "updated", "unchanged"))

        async def listed() -> bool:
            return len(await self.entries()) >= held

        await _wait("le catalogue reçoit les services", listed)
        return held

    def tenant_and_accounts(self) -> None:
        feedback = self.runtimes["feedback"]
        ctx: FeedbackContext = feedback.extras["feedback"]
        with feedback.db.transaction() as session:
            scope_to_tenant(session, DEMO_TENANT)
            if session.get(Tenant, DEMO_TENANT) is None:
                tenants.create(
                    session,
                    code=DEMO_TENANT,
                    name=DEMO_TENANT_NAME,
                    siren=DEMO_SIREN,
                    territory_codes=[DEMO_TERRITORY],
                    rules=TenantRules(public_averages=True),
                )
        for login, roles in LOGINS:
            with feedback.db.transaction() as session:
                email = accounts.normalise_email(login.email)
                account = session.scalar(select(Account).where(Account.email == email))
                if account is None:
                    account = accounts.create_account(
                        session, ctx, login.email, login.password, confirmed=True
                    )
                if roles:
                    scope_to_tenant(session, DEMO_TENANT)
                    tenants.set_roles(session, DEMO_TENANT, account, roles)

    async def partner_key(self, admin: str) -> tuple[str, str, str]:
        """(app id, key id, key) of a fresh key of the demo's partner app."""
        headers = {"Authorization": f"Bearer {admin}"}
        base = f"/feedback/v1/tenants/{DEMO_TENANT}/partner-apps"
        apps = self._ok(await self.client.get(base, headers=headers), "applications partenaires")
        app = next((a for a in apps if a["name"] == DEMO_APP_NAME), None)
        if app is None:
            app = self._ok(
                await self.client.post(
                    base,
                    headers=headers,
                    json={"name": DEMO_APP_NAME, "rate_limit_per_minute": 100_000},
                ),
                "création de l'application de démonstration",
            )
        key = self._ok(
            await self.client.post(
                f"{base}/{app['id']}/keys",
                headers=headers,
                json={"label": "chargement de la démonstration", "scopes": ["feedback:write"]},
            ),
            "clé d'API de démonstration",
        )
        return str(app["id"]), str(key["id"]), str(key["key"])

    async def post_feedback(self, items: list[Item], key: str) -> None:
        url = f"/feedback/v1/tenants/{DEMO_TENANT}/feedback/batch"
        waiting = list(items)
        deadline = time.monotonic() + WAIT_S
        while waiting:
            retry: list[Item] = []
            for chunk in _chunks(waiting, 1000):
                now = utcnow()
                r = await self.client.post(
                    url, headers={"X-API-Key": key}, json={"items": [i.json(now) for i in chunk]}
                )
                for result in self._ok(r, "envoi des avis")["results"]:
                    if result["status"] == "rejected":
                        codes = {e["code"] for e in result["errors"]}
                        # the feedback service learns the catalogue from events: it may lag
                        if not codes <= {"unknown_entry", "outside_territory", "unknown"}:
                            raise DemoError(f"avis refusé : {result['errors']}")
                        retry.append(chunk[result["index"]])
            if retry and time.monotonic() > deadline:
                raise DemoError(f"{len(retry)} avis refusés : services inconnus du service avis")
            if retry:
                await asyncio.sleep(0.2)
            waiting = retry

    async def run(self) -> DemoSummary:
        done = await self.in_place()
        if done is not None:
            return done
        held = await self.harvest()
        self.tenant_and_accounts()
        by_match = {}
        entries = await self.entries()
        for profile in PROFILES:
            found = [e for e in entries if profile.match in e["title"]]
            if len(found) != 1:
                raise DemoError(f"service introuvable dans le catalogue : {profile.match}")
            by_match[profile.match] = str(found[0]["entry_id"])
        admin = await self.token(demo_logins()[0])
        app_id, key_id, key = await self.partner_key(admin)
        try:
            await self.post_feedback(generate(by_match, self.feedbacks, self.seed), key)
        finally:
            # the key was only for loading: nothing keeps a live key around
            await self.client.delete(
                f"/feedback/v1/tenants/{DEMO_TENANT}/partner-apps/{app_id}/keys/{key_id}",
                headers={"Authorization": f"Bearer {admin}"},
            )
        analyst = await self.token(demo_logins()[1])

        async def counted() -> bool:
            matrix = await self.matrix(analyst)
            return bool(matrix["crosshairs"]["answers"] == self.feedbacks)

        await _wait("la matrice inclut les avis", counted)
        if self.settings.redis_url is None:
            # embedded: scoring runs in-process; distributed: Celery workers do it in their time
            await self.wait_scored(analyst)
        self._ok(
            await self.client.post(
                f"/analytics/v1/tenants/{DEMO_TENANT}/snapshots",
                params={"week": utcnow().date().isoformat()},
                headers={"Authorization": f"Bearer {admin}"},
            ),
            "instantané hebdomadaire",
        )
        # The past weeks' snapshots are computed now, from the complete facts, rather than on
        # the dashboard's first visit.
        self._ok(
            await self.client.get(
                f"/analytics/v1/tenants/{DEMO_TENANT}/trends",
                headers={"Authorization": f"Bearer {analyst}"},
            ),
            "tendances hebdomadaires",
        )
        return self.summary(held, self.feedbacks)

    async def wait_scored(self, token: str) -> None:
        """Until the sentiment of every comment is scored (themes and quotes need it)."""
        headers = {"Authorization": f"Bearer {token}"}

        async def scored() -> bool:
            for point in (await self.matrix(token))["areas"]:
                r = await self.client.get(
                    f"/analytics/v1/tenants/{DEMO_TENANT}/areas/{point['key']}", headers=headers
                )
                if self._ok(r, "domaine")["explanation"]["sentiment"]["unscored"]:
                    return False
            return True

        await _wait("l'analyse des commentaires", scored)


def _chunks(items: list[Item], size: int) -> Iterator[list[Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def seed_demo(settings: Settings, *, feedbacks: int = 1500, seed: int = 2026) -> DemoSummary:
    """Put the demo in place on ``settings``' database (idempotent) and describe it.

    Returns once the catalogue lists the territory's entries and the analytics matrix counts
    the ``feedbacks`` generated answers with their comments scored.
    """
    allocate(feedbacks)  # refuse a size the profiles cannot fill, before any work
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_seed(settings, feedbacks, seed))


async def _seed(settings: Settings, feedbacks: int, seed: int) -> DemoSummary:
    # The embedded app in this process: its lifespan migrates and starts the relays and
    # consumers, and every step goes through the services' own APIs (an in-process client)
    # and runtimes, as a served platform would.
    app = create_embedded_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            return await _Seeder(app, client, feedbacks, seed).run()


def describe(
    summary: DemoSummary,
    host: str,
    port: int,
    seconds: float | None = None,
    *,
    serving: bool = True,
) -> str:
    """What ``citela demo`` prints: the addresses and the demo logins, in French."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - display only
    base = f"http://{shown}:{port}"
    ready = f" en {seconds:.0f} s" if seconds is not None else ""
    width = max(len(login.role) for login in summary.logins)
    email_width = max(len(login.email) for login in summary.logins)
    lines = [
        f"Démonstration prête{ready} : {summary.tenant_name}",
        f"  {summary.entries} services, jeux de données et événements du territoire, "
        "collectés depuis des données ouvertes enregistrées",
        f"  {summary.feedbacks} avis GÉNÉRÉS pour la démonstration "
        f"(application partenaire « {DEMO_APP_NAME} »)",
        "",
        "Adresses :",
        f"  Portail des habitants           {base}/",
        f"  Tableau de bord                 {base}/tableau-de-bord/{summary.tenant}/",
        f"  Documentation des API           {base}/catalogue/docs · {base}/feedback/docs · "
        f"{base}/analytics/docs · {base}/ingest/docs",
        f"  Plateforme (santé, métriques)   {base}/plateforme",
        "",
        "Comptes de démonstration :",
        *(
            f"  {login.role:<{width}}   {login.email:<{email_width}}   "
            f"mot de passe : {login.password}"
            for login in summary.logins
        ),
    ]
    if serving:
        lines += ["", "Arrêt : Ctrl+C. Pour repartir de zéro : citela demo --reset"]
    return "\n".join(lines)
