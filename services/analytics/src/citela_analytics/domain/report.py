"""The synthesis report: one HTML page in French, fit to print, the matrix drawn inline (SVG).

Pure rendering: it receives the matrix and the explanations already computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from citela_analytics.domain.chart import COLOURS, matrix_svg
from citela_analytics.domain.explain import Explanation
from citela_analytics.domain.matrix import (
    QUADRANT_LABELS_FR,
    STATUS_LABELS_FR,
    CrosshairMode,
    Matrix,
    Point,
    Quadrant,
    Scope,
    Status,
)
from citela_analytics.domain.stats import Estimate
from citela_common.events.models import SentimentLabel

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


@dataclass(frozen=True)
class ReportInput:
    tenant: str
    start: date | None
    end: date | None
    generated_at: datetime
    matrix: Matrix
    explanations: Mapping[str, Explanation]  # by service key, for the services explained


def french_date(d: date) -> str:
    return f"{d.day}{'er' if d.day == 1 else ''} {MONTHS[d.month - 1]} {d.year}"


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}".replace(".", ",").replace("-", "−")


def interval(e: Estimate) -> str:
    if e.ci_low is None or e.ci_high is None:
        return num(e.mean)
    return f"{num(e.mean)} <small>[{num(e.ci_low)} ; {num(e.ci_high)}]</small>"


def period_text(start: date | None, end: date | None) -> str:
    if start and end:
        return f"du {french_date(start)} au {french_date(end)}"
    if start:
        return f"depuis le {french_date(start)}"
    if end:
        return f"jusqu'au {french_date(end)}"
    return "toutes les réponses reçues"


def _quadrant_cell(p: Point) -> str:
    if p.quadrant is None:
        return "—"
    colour = COLOURS[p.quadrant]
    return f'<span style="color:{colour};font-weight:bold">{QUADRANT_LABELS_FR[p.quadrant]}</span>'


def _table(points: Sequence[Point], *, area: bool) -> str:
    head = "Domaine" if area else "Service"
    rows = []
    for p in points:
        rows.append(
            "<tr>"
            f"<td class='prio'>{'Prio. ' + str(p.priority) if p.priority else '—'}</td>"
            f"<td>{escape(p.label)}"
            + (
                f"<br><small>{escape(p.policy_area)}</small>"
                if (not area and p.policy_area)
                else ""
            )
            + "</td>"
            f"<td class='n'>{p.n}</td>"
            f"<td class='n'>{interval(p.importance)}</td>"
            f"<td class='n'>{interval(p.satisfaction)}</td>"
            f"<td class='n'>{interval(p.gap)}</td>"
            f"<td>{_quadrant_cell(p)}</td>"
            f"<td>{STATUS_LABELS_FR[p.status]}</td>"
            "</tr>"
        )
    return (
        "<table><thead><tr><th>Priorité</th>"
        f"<th>{head}</th><th>Réponses</th><th>Importance</th><th>Satisfaction</th>"
        "<th>Écart</th><th>Quadrant</th><th>Statut</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _explanation(p: Point, ex: Explanation) -> str:
    d = ex.sentiment
    parts = [
        f"<section class='explication'><h3>Prio. {p.priority or '—'} · {escape(p.label)}</h3>",
        f"<p>{p.n} réponses · importance {num(p.importance.mean)} · satisfaction "
        f"{num(p.satisfaction.mean)} · écart {num(p.gap.mean)} · {_quadrant_cell(p)} "
        f"({STATUS_LABELS_FR[p.status]})</p>",
    ]
    if d.scored:
        parts.append(
            f"<p>Tonalité des {d.scored} commentaires analysés : "
            f"{num(100 * (d.share(SentimentLabel.NEGATIVE) or 0), 0)} % négatifs, "
            f"{num(100 * (d.share(SentimentLabel.NEUTRAL) or 0), 0)} % neutres, "
            f"{num(100 * (d.share(SentimentLabel.POSITIVE) or 0), 0)} % positifs"
            + (f" ({d.unscored} en attente d'analyse)" if d.unscored else "")
            + ".</p>"
        )
    elif ex.comments:
        parts.append(f"<p>{ex.comments} commentaires, pas encore analysés.</p>")
    else:
        parts.append("<p>Aucun commentaire sur la période.</p>")
    for title, found in (
        ("Ce qui revient dans les critiques", ex.negative_themes),
        ("Ce qui est apprécié", ex.positive_themes),
    ):
        if found:
            items = "".join(
                f"<li>« {escape(t.phrase)} » <small>({t.comments} commentaires)</small></li>"
                for t in found
            )
            parts.append(f"<h4>{title}</h4><ul class='themes'>{items}</ul>")
    quotes = [
        *ex.quotes.get(SentimentLabel.NEGATIVE, []),
        *ex.quotes.get(SentimentLabel.POSITIVE, []),
    ]
    if quotes:
        parts.append(
            "<h4>Paroles d'usagers</h4>"
            + "".join(
                f"<blockquote class='{q.label.value if q.label else ''}'>"
                f"{escape(q.text)}</blockquote>"
                for q in quotes
            )
        )
    parts.append("</section>")
    return "".join(parts)


STYLE = """
  @page { size: A4; margin: 15mm 12mm; }
  body { font-family: Marianne, Arial, sans-serif; color: #161616; margin: 0 auto;
         max-width: 60rem; padding: 1rem; line-height: 1.45; font-size: 11pt; }
  h1 { color: #000091; font-size: 1.6rem; margin-bottom: .2rem; }
  h2 { color: #000091; border-bottom: 2px solid #000091; padding-bottom: .2rem;
       margin-top: 2rem; break-after: avoid; }
  h3 { margin-bottom: .3rem; } h4 { margin: .6rem 0 .2rem; }
  table { border-collapse: collapse; width: 100%; font-size: 9.5pt; }
  th, td { border-bottom: 1px solid #ddd; padding: .25rem .35rem; text-align: left;
           vertical-align: top; }
  th { background: #f5f5fe; } td.n { text-align: right; white-space: nowrap; }
  td.prio { white-space: nowrap; font-weight: bold; }
  tr { break-inside: avoid; }
  svg.matrice { width: 100%; max-width: 720px; height: auto; display: block; margin: 1rem auto; }
  .explication { break-inside: avoid; border-left: 4px solid #000091; padding-left: .8rem;
                 margin: 1.2rem 0; }
  blockquote { margin: .3rem 0; padding: .3rem .6rem; background: #f6f6f6;
               border-left: 3px solid #929292; font-style: italic; }
  blockquote.negative { border-left-color: #c9191e; }
  blockquote.positive { border-left-color: #18753c; }
  .resume { display: flex; flex-wrap: wrap; gap: 1rem; }
  .resume div { border: 1px solid #ddd; padding: .5rem .8rem; min-width: 10rem; }
  .resume strong { display: block; font-size: 1.4rem; color: #000091; }
  dl.methode dt { font-weight: bold; margin-top: .4rem; }
  dl.methode dd { margin-left: 1rem; }
  @media print { body { max-width: none; padding: 0; } .pagebreak { break-before: page; } }
"""


def render(data: ReportInput) -> str:
    m = data.matrix
    c = m.crosshairs
    services_ok = [p for p in m.services if p.status is not Status.NOT_ENOUGH_ANSWERS]
    ranked = m.priorities(Scope.SERVICE)
    act_first = [p for p in ranked if p.quadrant is Quadrant.ACT_FIRST]
    short = [p for p in m.services if p.status is Status.NOT_ENOUGH_ANSWERS]
    if c.mode is CrosshairMode.MIDPOINT:
        cross_text = (
            f"le milieu de l'échelle (3) sur les deux axes ; pour mémoire, moyennes générales : "
            f"importance {num(c.grand_importance)}, satisfaction {num(c.grand_satisfaction)}"
        )
    else:
        cross_text = (
            f"les moyennes générales de la collectivité : importance {num(c.importance)}, "
            f"satisfaction {num(c.satisfaction)} (milieu de l'échelle : 3)"
        )
    explained = [
        _explanation(p, data.explanations[p.key]) for p in ranked if p.key in data.explanations
    ]
    areas_chart = (
        matrix_svg(m.areas, c, title="Matrice importance × satisfaction par domaine")
        if any(p.status is not Status.NOT_ENOUGH_ANSWERS for p in m.areas)
        else "<p>Pas assez de réponses par domaine pour les placer.</p>"
    )
    services_chart = (
        matrix_svg(m.services, c, title="Matrice importance × satisfaction par service")
        if services_ok
        else "<p>Aucun service n'a encore assez de réponses pour être placé.</p>"
    )
    short_list = (
        "<p>Services qui n'ont pas encore le minimum de "
        f"{m.settings.min_answers} réponses : "
        + ", ".join(f"{escape(p.label)} ({p.n})" for p in short)
        + ".</p>"
        if short
        else ""
    )
    return f"""<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Synthèse des avis des usagers — {escape(data.tenant)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>Synthèse des avis des usagers</h1>
<p>Collectivité <strong>{escape(data.tenant)}</strong> · {period_text(data.start, data.end)} ·
édition du {french_date(data.generated_at.date())}</p>
</header>
<section class="resume">
<div><strong>{c.answers}</strong>avis pris en compte</div>
<div><strong>{len(services_ok)}</strong>services placés sur la matrice</div>
<div><strong>{len(act_first)}</strong>services à traiter en priorité</div>
<div><strong>{num(c.grand_satisfaction)}</strong>satisfaction moyenne (sur 5)</div>
</section>

<h2>La matrice des services</h2>
<p>Chaque service est placé selon la satisfaction (horizontalement) et l'importance
(verticalement) moyennes de ses usagers ; le numéro est sa priorité. Les axes sont coupés par
{cross_text}. Un point creux est <em>incertain</em> : l'intervalle de confiance à 95 % de sa
moyenne d'importance ou de satisfaction contient la valeur de coupure.</p>
{services_chart}
{short_list}

<h2 class="pagebreak">Les priorités</h2>
{_table(ranked, area=False)}

<h2>Par domaine d'action publique</h2>
{areas_chart}
{_table(m.priorities(Scope.AREA), area=True)}

<h2 class="pagebreak">Comprendre les écarts</h2>
{"".join(explained) or "<p>Aucun service n'a de priorité établie sur la période.</p>"}

<h2>Méthode</h2>
<dl class="methode">
<dt>Réponses (n)</dt><dd>Avis en vigueur (la dernière version de chaque avis, hors avis
retirés) donnés sur la période.</dd>
<dt>Importance, satisfaction</dt><dd>Moyennes des notes de 1 à 5, avec leur intervalle de
confiance à 95 % (loi de Student : moyenne ± t(0,975 ; n − 1) × écart-type / √n).</dd>
<dt>Écart</dt><dd>Moyenne, avis par avis, de l'importance moins la satisfaction, avec son
intervalle de confiance : plus il est grand, plus les attentes dépassent le service rendu.</dd>
<dt>Quadrants</dt><dd>Importance au-dessus de la coupure et satisfaction en dessous : à
traiter en priorité ; les deux au-dessus : à maintenir ; les deux en dessous : secondaire ;
importance en dessous et satisfaction au-dessus : surinvestissement possible.</dd>
<dt>Priorités</dt><dd>Rangées par quadrant (à traiter en priorité, à maintenir, secondaire,
surinvestissement possible), puis par écart décroissant.</dd>
<dt>Pas assez de réponses</dt><dd>Moins de {m.settings.min_answers} réponses : le service
n'est pas classé, ce n'est pas un verdict.</dd>
<dt>Tonalité, thèmes et citations</dt><dd>Chaque commentaire est classé négatif, neutre ou
positif par analyse automatique ; les thèmes sont les expressions qui reviennent le plus dans
les commentaires négatifs (ou positifs) d'un service plus qu'ailleurs ; les citations sont
des commentaires tels que publiés, données personnelles masquées.</dd>
</dl>
</body>
</html>
"""
