"""The importance × satisfaction matrix (PMA segmentation) of one tenant over one period.

Input: the running sums of the answers of each service (catalogue entry) and what the
catalogue says of each service (title, policy area). A policy area's sums are the sums of its
services, so areas follow a reclassified service without any recomputation.

Definitions (also published in the API's OpenAPI descriptions):
- n: answers (current feedbacks) in the period;
- mean importance / satisfaction, their sample standard deviations, and the 95 % confidence
  interval of each mean by the t distribution: mean ± t(0.975, n − 1) · sd / √n;
- gap: importance − satisfaction of each answer; its mean, sd and t interval (a paired
  difference, not the difference of the two means' intervals);
- crosshairs: the tenant's grand means over every answer of the period (default), or the
  scale midpoint 3 (tenant setting); both are always reported;
- quadrant: importance ≥ crosshair is high, satisfaction ≥ crosshair is high; high/low = act
  first, high/high = keep up, low/low = secondary, low/high = possible over-investment;
- status: ``not_enough_answers`` when n < the tenant's minimum (no quadrant then);
  ``uncertain`` when the interval of importance or of satisfaction contains its crosshair;
  otherwise ``clear``;
- priority: 1, 2, 3… over the cells with enough answers, ordered by quadrant (act first,
  keep up, secondary, possible over-investment), then by mean gap, largest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from citela_analytics.domain.stats import Estimate, Sums

SCALE_MIDPOINT = 3.0
DEFAULT_MIN_ANSWERS = 10
CONFIDENCE = 0.95


class CrosshairMode(StrEnum):
    GRAND_MEANS = "grand_means"
    MIDPOINT = "midpoint"


class Quadrant(StrEnum):
    ACT_FIRST = "act_first"
    KEEP_UP = "keep_up"
    SECONDARY = "secondary"
    OVER_INVESTMENT = "over_investment"


QUADRANT_ORDER: dict[Quadrant, int] = {
    Quadrant.ACT_FIRST: 0,
    Quadrant.KEEP_UP: 1,
    Quadrant.SECONDARY: 2,
    Quadrant.OVER_INVESTMENT: 3,
}


@dataclass(frozen=True)
class QuadrantText:
    """What officials read of a quadrant (French): its name, what to do, where it lies."""

    label: str
    action: str
    description: str


# The one place of the quadrants' French names: the API serves them (GET /v1/quadrants, and
# every point's quadrant_label), the web and the reports render them.
QUADRANTS_FR: dict[Quadrant, QuadrantText] = {
    Quadrant.ACT_FIRST: QuadrantText(
        "À traiter en priorité",
        "Améliorer ce service en premier : il compte beaucoup et déçoit.",
        "importance forte, satisfaction faible",
    ),
    Quadrant.KEEP_UP: QuadrantText(
        "À maintenir",
        "Garder le niveau : il compte beaucoup et satisfait.",
        "importance forte, satisfaction forte",
    ),
    Quadrant.SECONDARY: QuadrantText(
        "Secondaire",
        "Surveiller sans urgence : il compte peu et satisfait peu.",
        "importance faible, satisfaction faible",
    ),
    Quadrant.OVER_INVESTMENT: QuadrantText(
        "Surinvestissement possible",
        "Vérifier que les moyens engagés sont à la mesure de l'attente : il compte peu et "
        "satisfait beaucoup.",
        "importance faible, satisfaction forte",
    ),
}
QUADRANT_LABELS_FR: dict[Quadrant, str] = {q: t.label for q, t in QUADRANTS_FR.items()}
QUADRANT_RULE_FR = (
    "Chaque service (ou politique publique) est placé selon la moyenne de l'importance et la "
    "moyenne de la satisfaction de ses réponses. Une moyenne est forte quand elle est "
    "supérieure ou égale à son repère : par défaut la moyenne générale de la collectivité sur "
    "la période, ou le milieu de l'échelle (3) si la collectivité l'a choisi ; faible sinon. "
    "Importance forte et satisfaction faible : à traiter en priorité ; importance forte et "
    "satisfaction forte : à maintenir ; importance faible et satisfaction faible : secondaire ; "
    "importance faible et satisfaction forte : surinvestissement possible. Un service qui a "
    "moins de réponses que le minimum de la collectivité (10 par défaut) n'a pas de quadrant ; "
    "sa position est incertaine quand l'intervalle de confiance à 95 % de l'une des deux "
    "moyennes contient son repère. Les priorités suivent l'ordre des quadrants ci-dessus, puis "
    "l'écart entre importance et satisfaction, le plus grand d'abord."
)


class Status(StrEnum):
    CLEAR = "clear"
    UNCERTAIN = "uncertain"
    NOT_ENOUGH_ANSWERS = "not_enough_answers"


STATUS_LABELS_FR: dict[Status, str] = {
    Status.CLEAR: "net",
    Status.UNCERTAIN: "incertain",
    Status.NOT_ENOUGH_ANSWERS: "pas assez de réponses",
}


class Scope(StrEnum):
    SERVICE = "service"
    AREA = "area"


@dataclass(frozen=True)
class MatrixSettings:
    crosshair_mode: CrosshairMode = CrosshairMode.GRAND_MEANS
    min_answers: int = DEFAULT_MIN_ANSWERS
    confidence: float = CONFIDENCE

    def __post_init__(self) -> None:
        if self.min_answers < 2:
            raise ValueError("min_answers must be at least 2 (an interval needs two answers)")
        if not 0 < self.confidence < 1:
            raise ValueError("confidence must be in (0, 1)")


@dataclass(frozen=True)
class EntryInfo:
    """What the catalogue says of a service."""

    title: str
    policy_area: str | None = None


@dataclass(frozen=True)
class Crosshairs:
    mode: CrosshairMode
    importance: float | None
    satisfaction: float | None
    grand_importance: float | None
    grand_satisfaction: float | None
    answers: int
    midpoint: float = SCALE_MIDPOINT


@dataclass(frozen=True)
class Point:
    """One cell of the matrix: a service or a policy area."""

    scope: Scope
    key: str
    label: str
    policy_area: str | None
    sums: Sums
    importance: Estimate
    satisfaction: Estimate
    gap: Estimate
    quadrant: Quadrant | None
    status: Status
    straddled: tuple[str, ...] = ()
    priority: int | None = None
    services: int | None = None  # for an area: how many services have answers in it

    @property
    def n(self) -> int:
        return self.sums.n


@dataclass(frozen=True)
class Matrix:
    settings: MatrixSettings
    crosshairs: Crosshairs
    services: list[Point] = field(default_factory=list)
    areas: list[Point] = field(default_factory=list)

    def points(self, scope: Scope) -> list[Point]:
        return self.services if scope is Scope.SERVICE else self.areas

    def find(self, scope: Scope, key: str) -> Point | None:
        return next((p for p in self.points(scope) if p.key == key), None)

    def priorities(self, scope: Scope) -> list[Point]:
        """The cells with enough answers, in priority order."""
        ranked = [p for p in self.points(scope) if p.priority is not None]
        return sorted(ranked, key=lambda p: p.priority or 0)


def crosshairs_of(total: Sums, settings: MatrixSettings) -> Crosshairs:
    grand_i = total.sum_imp / total.n if total.n else None
    grand_s = total.sum_sat / total.n if total.n else None
    ci: float | None
    cs: float | None
    if settings.crosshair_mode is CrosshairMode.MIDPOINT:
        ci, cs = SCALE_MIDPOINT, SCALE_MIDPOINT
    else:
        ci, cs = grand_i, grand_s
    return Crosshairs(settings.crosshair_mode, ci, cs, grand_i, grand_s, total.n)


def classify(
    importance: Estimate, satisfaction: Estimate, crosshairs: Crosshairs, min_answers: int
) -> tuple[Quadrant | None, Status, tuple[str, ...]]:
    """Quadrant, status and the axes whose interval contains the crosshair."""
    n = importance.n
    if n < min_answers or importance.mean is None or satisfaction.mean is None:
        return None, Status.NOT_ENOUGH_ANSWERS, ()
    ci, cs = crosshairs.importance, crosshairs.satisfaction
    # a cell with answers makes the grand means exist
    assert ci is not None
    assert cs is not None
    high_importance = importance.mean >= ci
    high_satisfaction = satisfaction.mean >= cs
    if high_importance:
        quadrant = Quadrant.KEEP_UP if high_satisfaction else Quadrant.ACT_FIRST
    else:
        quadrant = Quadrant.OVER_INVESTMENT if high_satisfaction else Quadrant.SECONDARY
    straddled = tuple(
        axis
        for axis, est, cross in (("importance", importance, ci), ("satisfaction", satisfaction, cs))
        if est.contains(cross)
    )
    return quadrant, (Status.UNCERTAIN if straddled else Status.CLEAR), straddled


def point(
    scope: Scope,
    key: str,
    label: str,
    policy_area: str | None,
    sums: Sums,
    crosshairs: Crosshairs,
    settings: MatrixSettings,
    services: int | None = None,
) -> Point:
    importance = sums.importance(settings.confidence)
    satisfaction = sums.satisfaction(settings.confidence)
    quadrant, status, straddled = classify(
        importance, satisfaction, crosshairs, settings.min_answers
    )
    return Point(
        scope=scope,
        key=key,
        label=label,
        policy_area=policy_area,
        sums=sums,
        importance=importance,
        satisfaction=satisfaction,
        gap=sums.gap(settings.confidence),
        quadrant=quadrant,
        status=status,
        straddled=straddled,
        services=services,
    )


def rank(points: Iterable[Point]) -> list[Point]:
    """Priorities 1, 2, 3… by quadrant then gap (largest first); n then label break ties.

    Cells without a quadrant (not enough answers) get no priority and come last.
    """

    def key(p: Point) -> tuple[int, float, int, str, str]:
        assert p.quadrant is not None
        assert p.gap.mean is not None
        return (QUADRANT_ORDER[p.quadrant], -p.gap.mean, -p.n, p.label.casefold(), p.key)

    ranked = sorted((p for p in points if p.quadrant is not None), key=key)
    out = [replace(p, priority=i) for i, p in enumerate(ranked, start=1)]
    rest = sorted(
        (p for p in points if p.quadrant is None), key=lambda p: (-p.n, p.label.casefold(), p.key)
    )
    return out + rest


def build_matrix(
    cells: Mapping[str, Sums],
    entries: Mapping[str, EntryInfo],
    settings: MatrixSettings | None = None,
) -> Matrix:
    """The matrix of the services in ``cells`` and of their policy areas.

    A service the catalogue does not (yet) describe is labelled by its id and has no area;
    its answers still count in the grand means.
    """
    settings = settings or MatrixSettings()
    live = {k: s for k, s in cells.items() if s.n > 0}
    grand = Sums()
    for s in live.values():
        grand = grand + s
    crosshairs = crosshairs_of(grand, settings)

    services = []
    by_area: dict[str, list[Sums]] = {}
    for key, sums in live.items():
        info = entries.get(key) or EntryInfo(title=key)
        services.append(
            point(Scope.SERVICE, key, info.title, info.policy_area, sums, crosshairs, settings)
        )
        if info.policy_area:
            by_area.setdefault(info.policy_area, []).append(sums)
    areas = []
    for area, parts in by_area.items():
        sums = Sums()
        for s in parts:
            sums = sums + s
        areas.append(
            point(Scope.AREA, area, area, area, sums, crosshairs, settings, services=len(parts))
        )
    return Matrix(settings, crosshairs, rank(services), rank(areas))
