"""The authority's dashboard, at the HTTP boundary: the Aire Cantilienne's staff reading the
matrix, the priorities and the comments, moderating, managing partner apps and exporting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from citela_common.auth import Role
from citela_platform.embedded import create_embedded_app
from tests.web.dashboard_support import (
    CCAS,
    CONSERVATOIRE,
    DECHETTERIE,
    HELD_COMMENT,
    MEDIATHEQUE,
    PISCINE,
    SERVICES,
    Authority,
    csrf_of,
    section,
    text_of,
    web_settings,
)

FORBIDDEN = "Vous n'avez pas accès au tableau de bord de cette collectivité."


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Authority]:
    settings = web_settings(Path(tmp_path_factory.mktemp("dashboard")) / "var")
    with TestClient(create_embedded_app(settings)) as client:
        a = Authority(client, settings)
        a.create()
        a.seed_feedback()
        yield a


@pytest.fixture(scope="module")
def admin(authority: Authority) -> dict[str, str]:
    return authority.staff(Role.ADMIN)


def get(a: Authority, path: str, **params: str) -> str:
    r = a.client.get(f"/tableau-de-bord/{a.tenant}{path}", params=params, follow_redirects=False)
    assert r.status_code == 200, (r.status_code, text_of(r.text)[:500])
    return str(r.text)


def points(page: str) -> list[str]:
    """aria-labels of the chart's points, in order."""
    return re.findall(r'<a class="chart-point[^"]*"[^>]*aria-label="([^"]+)"', page)


def paris_today() -> datetime:
    return datetime.now(ZoneInfo("Europe/Paris"))


# --- the matrix ------------------------------------------------------------------------------


def test_matrix_shows_every_service_with_its_figures_and_the_table(
    authority: Authority, admin: dict[str, str]
) -> None:
    authority.sign_in(admin)
    page = get(authority, "/")
    text = text_of(page)
    labels = [text_of(p) for p in points(page)]
    # one focusable point per service, in priority order, carrying its figures
    assert [lab.split(", ")[0] for lab in labels] == [
        "1. CCAS de Lamorlaye",
        "2. Déchetterie de Coye-la-Forêt",
        "3. Piscine intercommunale de Chantilly",
        "4. Médiathèque de Gouvieux",
        "5. Conservatoire de Chantilly",
    ]
    assert labels[0] == (
        "1. CCAS de Lamorlaye, 12 réponses, Importance 4,8 (IC 95 % 4,5 à 5,0), "
        "Satisfaction 1,9 (IC 95 % 1,5 à 2,3), Écart +2,8, À traiter en priorité."
    )
    assert page.count('tabindex="0"') >= 5
    assert f'href="/tableau-de-bord/{authority.tenant}/services/{CCAS.entry_id}"' in page
    # the four quadrants named, the crosshairs stated in words
    for name in (
        "À traiter en priorité",
        "À maintenir",
        "Secondaire",
        "Surinvestissement possible",
    ):
        assert name in text
    assert "Les axes se croisent à la moyenne de la collectivité : importance 3,61" in text
    assert 'viewBox="0 0 640 520"' in page  # scales with its container, down to 360 px
    # the same data as a table
    table = section(page, "tableau-matrice")
    assert "<caption>" in table
    assert 'scope="col"' in table
    assert 'scope="row"' in table
    rows = text_of(table)
    for service in SERVICES:
        assert service.title in rows
    assert "CCAS de Lamorlaye Action sociale 12 4,8 [4,5 ; 5,0] 1,9 [1,5 ; 2,3] +2,8" in rows
    assert "Médiathèque de Gouvieux Culture 10 2,4 [2,0 ; 2,8] 4,7 [4,4 ; 5,0] −2,3" in rows
    # the sub-navigation of an admin, this page current
    assert f'<a href="/tableau-de-bord/{authority.tenant}/" aria-current="page">Matrice</a>' in page
    for label in ("Priorités", "Tendances", "Modération", "Applications partenaires", "Exports"):
        assert f">{label}</a>" in page
    assert "dashboard.css" in page
    assert "dashboard.js" in page


def test_not_enough_answers_and_clear_cells_are_drawn_differently(
    authority: Authority, admin: dict[str, str]
) -> None:
    authority.sign_in(admin)
    page = get(authority, "/")
    markers = re.findall(r'<a class="chart-point (point-[\w-]+)"[^>]*aria-label="([^"]+)"', page)
    styles = {text_of(label).split(", ")[0][3:]: style for style, label in markers}
    assert styles[CONSERVATOIRE.title] == "point-not-enough"
    assert {styles[s.title] for s in (CCAS, DECHETTERIE, MEDIATHEQUE, PISCINE)} == {"point-clear"}
    not_enough = page[page.index("point-not-enough") :]
    assert not_enough.index('<rect class="marker"') < not_enough.index("</a>")  # a diamond
    assert "Pas assez de réponses pour conclure" in text_of(not_enough[: not_enough.index("</a>")])
    # told in words, in the legend and in the table, not by colour alone
    text = text_of(page)
    assert "Pas assez de réponses pour conclure (losange creux, gris)" in text
    assert "Conservatoire de Chantilly Culture ◇ pas assez de réponses 3" in text


def test_matrix_filters_by_area_level_period_and_crosshairs(
    authority: Authority, admin: dict[str, str]
) -> None:
    authority.sign_in(admin)
    culture = [text_of(p).split(", ")[0] for p in points(get(authority, "/", domaine="Culture"))]
    assert culture == ["1. Médiathèque de Gouvieux", "2. Conservatoire de Chantilly"]

    areas = get(authority, "/", niveau="domaines")
    assert [text_of(p).split(", ")[0] for p in points(areas)] == [
        "1. Action sociale",
        "2. Environnement",
        "3. Sport",
        "4. Culture",
    ]
    assert f'href="/tableau-de-bord/{authority.tenant}/domaines/Action%20sociale"' in areas
    one_area = get(authority, "/", niveau="domaines", domaine="Sport")
    assert [text_of(p).split(", ")[0] for p in points(one_area)] == ["1. Sport"]

    today = paris_today().date()
    before = get(authority, "/", au=(today - timedelta(days=2)).isoformat())
    assert points(before) == []
    assert "Aucune réponse sur cette période." in text_of(before)
    around = get(
        authority,
        "/",
        du=(today - timedelta(days=1)).isoformat(),
        au=(today + timedelta(days=1)).isoformat(),
    )
    assert len(points(around)) == 5
    assert f"du {(today - timedelta(days=1)).day}" in text_of(around)

    midpoint = text_of(get(authority, "/", axes="milieu"))
    assert "Les axes se croisent au milieu de l'échelle (3 sur 5)." in midpoint

    refused = authority.client.get(
        f"/tableau-de-bord/{authority.tenant}/", params={"du": "2026-11-20", "au": "2026-11-01"}
    )
    assert refused.status_code == 422
    assert "La fin de la période doit suivre son début." in text_of(refused.text)
    assert 'value="2026-11-20"' in refused.text  # what was typed stays
    assert 'aria-describedby="au-error"' in refused.text


# --- priorities and explanations --------------------------------------------------------------


def test_priorities_in_order_with_figures_themes_and_quotes(
    authority: Authority, admin: dict[str, str]
) -> None:
    authority.sign_in(admin)
    page = get(authority, "/priorites")
    text = text_of(page)
    ranks = re.findall(r"Prio\. (\d+) (.+?) (?:À |Secondaire|Surinvestissement)", text)
    assert [(int(n), label) for n, label in ranks] == [
        (1, CCAS.title),
        (2, DECHETTERIE.title),
        (3, PISCINE.title),
        (4, MEDIATHEQUE.title),
    ]
    first = text_of(section(page, "prio-1"))
    assert "Écart +2,8 Réponses 12 Importance 4,8 [4,5 ; 5,0] Satisfaction 1,9" in first
    assert "90 % négatifs (9)" in first
    assert "10 % neutres (1)" in first
    assert "« temps d'attente » — 5 commentaires" in first
    assert "« Le temps d'attente au guichet est beaucoup trop long, c'est décourageant. »" in first
    assert f'href="/tableau-de-bord/{authority.tenant}/services/{CCAS.entry_id}"' in page
    assert "Pas assez de réponses pour conclure" in text
    assert CONSERVATOIRE.title in text_of(page[page.index("not-enough-list") :])
    # a held comment never reaches the analytics, so never a quote
    assert "abrutis" not in page

    by_area = text_of(get(authority, "/priorites", niveau="domaines"))
    assert "Prio. 1 Action sociale" in by_area


def test_service_and_area_pages(authority: Authority, admin: dict[str, str]) -> None:
    authority.sign_in(admin)
    service = text_of(get(authority, f"/services/{CCAS.entry_id}"))
    assert "CCAS de Lamorlaye" in service
    assert "À traiter en priorité" in service
    assert "Importance (1 à 5) 4,75" in service
    assert "Satisfaction (1 à 5) 1,92" in service
    assert "Temps d'attente interminable, et personne ne rappelle." in service
    area = get(authority, "/domaines/Culture")
    rows = text_of(area)
    assert "Les services du domaine, par priorité" in rows
    assert MEDIATHEQUE.title in rows
    assert CONSERVATOIRE.title in rows
    assert "Excellent choix de livres." in rows
    assert CCAS.title not in rows


def test_trends_page_lists_the_weeks(authority: Authority, admin: dict[str, str]) -> None:
    authority.sign_in(admin)
    page = get(authority, "/tendances", semaines="4")
    text = text_of(page)
    assert "Tendances hebdomadaires" in text
    # the answers are all from this week, not complete yet: no weekly point so far
    assert "Pas encore de semaine complète avec des réponses" in text
    assert 'value="4" selected' in page


def test_trends_draw_each_week_as_lines_and_a_table(authority: Authority) -> None:
    history = Authority(authority.client, authority.settings)
    history.create()
    history.seed_history(
        CCAS, {3: [(5, 1), (5, 2), (4, 2), (5, 1)], 2: [(5, 3), (4, 3), (5, 4), (5, 3)]}
    )
    history.sign_in(history.staff(Role.ANALYST))
    page = get(history, "/tendances", semaines="4", niveau="services")
    series = section(page, "tendance-1")
    assert CCAS.title in text_of(series)
    assert page.count('class="trend-line"') == 3  # satisfaction, importance, answers
    assert "Satisfaction moyenne" in page
    assert "Nombre de réponses" in page
    body = series[series.index("<tbody>") :]
    rows = [text_of(r) for r in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)]
    assert len(rows) == 4
    # the matrix over every answer up to the end of each week: none, 4, then 8, then 8
    assert rows[0].endswith("aucune réponse")
    assert rows[1].endswith("recalculée 4 4,8 1,5 3,2 —"), rows[1]
    assert rows[2].endswith(" 8 4,8 2,4 2,4 —"), rows[2]
    assert rows[3].endswith(" 8 4,8 2,4 2,4 —"), rows[3]
    assert "Semaine du" in text_of(page)


def test_trends_of_many_series_compare_them_in_one_table_then_open_one(
    authority: Authority, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citela_web import dashboard

    history = Authority(authority.client, authority.settings)
    history.create()
    history.seed_history(CCAS, {3: [(5, 1), (5, 2)], 2: [(5, 4), (4, 5)]})
    history.sign_in(history.staff(Role.ANALYST))
    monkeypatch.setattr(dashboard, "TREND_DETAIL_MAX", 0)  # as for a tenant with many series
    page = get(history, "/tendances", semaines="4", niveau="services")
    assert 'class="trend-line"' not in page  # no chart per series: a table compares them
    table = page[page.index('<table class="trend-overview">') : page.index("</table>")]
    row = text_of(table[table.index(CCAS.title) :])
    assert "1,5 → 3,0" in row  # satisfaction from the first week with answers to the last
    assert "▲ +1,5 (hausse)" in row
    link = re.search(r'<a href="([^"]*cle=[^"]+)">' + re.escape(CCAS.title), table)
    assert link, table
    one = authority.client.get(link.group(1).replace("&amp;", "&")).text
    assert one.count('class="trend-line"') == 3  # its three curves
    assert f"selected>{CCAS.title}</option>" in one


# --- access -----------------------------------------------------------------------------------


def test_not_signed_in_is_sent_to_sign_in(authority: Authority) -> None:
    authority.sign_in(None)
    for path in ("/", "/priorites", "/moderation", "/exports/matrice.csv", "/?niveau=domaines"):
        page = f"/tableau-de-bord/{authority.tenant}{path}"
        r = authority.client.get(page, follow_redirects=False)
        assert r.status_code == 303, path
        location = urlsplit(r.headers["location"])
        assert location.path == "/compte/connexion"
        assert parse_qs(location.query)["suivant"] == [page]  # back where they were, filters too


def test_citizens_and_staff_of_another_tenant_are_refused(authority: Authority) -> None:
    other = Authority(authority.client, authority.settings)
    other.create()
    outsiders = [authority.citizen(), authority.staff(Role.ADMIN, tenant=other.tenant)]
    for person in outsiders:
        authority.sign_in(person)
        for path in ("/", "/priorites", f"/services/{CCAS.entry_id}", "/moderation",
                     "/partenaires", "/exports", "/exports/matrice.csv"):  # fmt: skip
            r = authority.client.get(f"/tableau-de-bord/{authority.tenant}{path}")
            assert r.status_code == 403, path
            assert FORBIDDEN in text_of(r.text)
            assert "CCAS" not in r.text
        posted = authority.client.post(
            f"/tableau-de-bord/{authority.tenant}/partenaires/applications",
            data={"name": "Intrus", "csrf": authority.client.cookies.get("citela_csrf") or ""},
        )
        assert posted.status_code == 403


def test_each_role_sees_only_what_it_may(authority: Authority) -> None:
    authority.sign_in(authority.staff(Role.MODERATOR))
    r = authority.client.get(f"/tableau-de-bord/{authority.tenant}/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/tableau-de-bord/{authority.tenant}/moderation"
    queue = get(authority, "/moderation")
    assert ">Modération</a>" in queue
    for hidden in ("Priorités", "Tendances", "Exports", "Applications partenaires"):
        assert f">{hidden}</a>" not in queue
    refused = authority.client.get(f"/tableau-de-bord/{authority.tenant}/priorites")
    assert refused.status_code == 403
    assert "ne donne pas accès à cette page" in text_of(refused.text)

    authority.sign_in(authority.staff(Role.ANALYST))
    matrix = get(authority, "/")
    assert ">Modération</a>" not in matrix
    assert ">Applications partenaires</a>" not in matrix
    assert (
        authority.client.get(f"/tableau-de-bord/{authority.tenant}/partenaires").status_code == 403
    )


# --- moderation -------------------------------------------------------------------------------


def test_moderators_hide_a_held_comment_in_bulk(authority: Authority) -> None:
    authority.sign_in(authority.staff(Role.MODERATOR))
    page = get(authority, "/moderation")
    assert HELD_COMMENT in text_of(page)
    assert "Déchetterie de Coye-la-Forêt" in text_of(page)
    assert "propos injurieux « abrutis »" in text_of(page)
    assert 'data-select-all="file-moderation"' in page
    ids = re.findall(r'name="ids" value="([^"]+)"', page)
    assert len(ids) == 1
    base = f"/tableau-de-bord/{authority.tenant}/moderation"

    nothing = authority.client.post(
        base, data={"csrf": csrf_of(page), "action": "hide"}, follow_redirects=True
    )
    assert "Sélectionnez au moins un avis" in text_of(nothing.text)
    forged = authority.client.post(base, data={"action": "hide", "ids": ids})
    assert forged.status_code == 403

    done = authority.client.post(
        base,
        data={"csrf": csrf_of(page), "action": "hide", "ids": ids, "statut": "pending"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    after = authority.client.get(done.headers["location"])
    text = text_of(after.text)
    assert f"1 avis masqué sur 1 — avis {ids[0][:8]} : masqué." in text
    assert "Aucun commentaire en attente." in text
    hidden = text_of(get(authority, "/moderation", statut="hidden"))
    assert HELD_COMMENT in hidden


# --- partner apps -----------------------------------------------------------------------------


def test_partner_app_creation_key_shown_once_and_revoked(
    authority: Authority, admin: dict[str, str]
) -> None:
    authority.sign_in(admin)
    base = f"/tableau-de-bord/{authority.tenant}/partenaires"
    page = get(authority, "/partenaires")
    assert "Appli Aire Cantilienne" in text_of(page)

    refused = authority.client.post(
        f"{base}/applications",
        data={"csrf": csrf_of(page), "name": "B", "contact_email": "dsi@aire-cantilienne.fr"},
    )
    assert refused.status_code == 422
    assert "1 champ à corriger" in text_of(refused.text)
    assert "Indiquez le nom de l'application (2 à 200 caractères)." in text_of(refused.text)
    assert 'value="dsi@aire-cantilienne.fr"' in refused.text
    bad_mail = authority.client.post(
        f"{base}/applications",
        data={"csrf": csrf_of(page), "name": "Borne de Gouvieux", "contact_email": "pas-un-mail"},
    )
    assert bad_mail.status_code == 422
    assert "Indiquez une adresse électronique valide" in text_of(bad_mail.text)
    assert 'value="Borne de Gouvieux"' in bad_mail.text

    created = authority.client.post(
        f"{base}/applications",
        data={
            "csrf": csrf_of(page),
            "name": "Borne de la mairie de Gouvieux",
            "contact_email": "dsi@aire-cantilienne.fr",
            "rate_limit_per_minute": "120",
        },
        follow_redirects=True,
    )
    assert "L'application « Borne de la mairie de Gouvieux » est enregistrée." in text_of(
        created.text
    )
    app_id = re.findall(r'id="app-([0-9a-f]+)-titre">Borne de la mairie de Gouvieux<', created.text)
    assert app_id
    keys = f"{base}/applications/{app_id[0]}/cles"

    no_scope = authority.client.post(keys, data={"csrf": csrf_of(page), "label": "borne"})
    assert no_scope.status_code == 422
    assert "Choisissez au moins une permission." in text_of(no_scope.text)
    assert 'value="borne"' in no_scope.text

    issued = authority.client.post(
        keys, data={"csrf": csrf_of(page), "label": "borne", "scopes": ["feedback:read"]}
    )
    assert issued.status_code == 201
    assert "elle ne sera plus jamais affichée" in text_of(issued.text)
    key = re.search(r'id="cle-api" class="api-key" value="([^"]+)"', issued.text)
    assert key
    api = f"/feedback/v1/tenants/{authority.tenant}/feedback"
    assert authority.client.get(api, headers={"X-API-Key": key.group(1)}).status_code == 200

    listing = get(authority, "/partenaires")
    assert key.group(1) not in listing  # shown once: the list has its prefix only
    revoke = re.search(
        rf'action="({re.escape(keys)}/([0-9a-f]+)/revoquer)"[^>]*data-confirm="Révoquer', listing
    )
    assert revoke
    revoked = authority.client.post(
        revoke.group(1), data={"csrf": csrf_of(listing)}, follow_redirects=True
    )
    assert "La clé est révoquée" in text_of(revoked.text)
    assert "Révoquée le" in text_of(revoked.text)
    assert authority.client.get(api, headers={"X-API-Key": key.group(1)}).status_code == 401


# --- exports ----------------------------------------------------------------------------------


def test_csv_export_downloads_with_its_filters(authority: Authority, admin: dict[str, str]) -> None:
    authority.sign_in(admin)
    base = f"/tableau-de-bord/{authority.tenant}/exports"
    page = get(authority, "/exports")
    assert f'action="{base}/matrice.csv"' in page
    r = authority.client.get(f"{base}/matrice.csv")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;")
    lines = r.text.strip().splitlines()
    assert len(lines) == 1 + len(SERVICES) + 4  # header, services, policy areas
    assert any("CCAS de Lamorlaye" in line and ",12," in line for line in lines)
    old = authority.client.get(f"{base}/matrice.csv", params={"au": "2020-01-31"})
    assert old.status_code == 200
    assert len(old.text.strip().splitlines()) == 1
    assert 'filename="matrice-' in old.headers["content-disposition"]


def test_report_request_reaches_the_printable_html(
    authority: Authority, admin: dict[str, str]
) -> None:
    authority.sign_in(admin)
    page = get(authority, "/exports")
    asked = authority.client.post(
        f"/tableau-de-bord/{authority.tenant}/exports/rapports",
        data={"csrf": csrf_of(page), "du": "", "au": "", "axes": "milieu"},
        follow_redirects=False,
    )
    assert asked.status_code == 303
    status = authority.client.get(asked.headers["location"])
    assert status.status_code == 200
    assert "Le rapport est prêt." in text_of(status.text)
    link = re.search(r'href="([^"]+/html)"', status.text)
    assert link
    report = authority.client.get(link.group(1))
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert report.headers["content-disposition"].startswith("inline;")
    assert "CCAS de Lamorlaye" in report.text
    # the dashboard's chart and table, fit to print, with its styles inline
    assert '<html lang="fr">' in report.text
    assert "@page" in report.text
    assert 'class="matrix-chart"' in report.text
    assert 'class="chart-point' in report.text  # every point a link, reached by keyboard
    assert 'id="tableau-services"' in report.text  # the chart's table equivalent
    assert 'id="tableau-domaines"' in report.text
    words = text_of(report.text)
    assert "Synthèse des avis des usagers" in words
    assert "Prio. 1" in words
    assert "À traiter en priorité" in words  # the analytics API's quadrant names
    assert re.search(r"édition du \d+(er)? \w+ 20\d\d", words)
    assert "Comprendre les écarts" in words

    wrong = authority.client.post(
        f"/tableau-de-bord/{authority.tenant}/exports/rapports",
        data={"csrf": csrf_of(page), "du": "2026-11-20", "au": "2026-11-01"},
    )
    assert wrong.status_code == 422
    assert "La fin de la période doit suivre son début." in text_of(wrong.text)
