"""What the synthesis API returns, with the definition of every figure (published in OpenAPI)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from citela_analytics.domain.explain import Comment, Explanation
from citela_analytics.domain.matrix import (
    QUADRANT_LABELS_FR,
    QUADRANT_ORDER,
    QUADRANT_RULE_FR,
    QUADRANTS_FR,
    STATUS_LABELS_FR,
    CrosshairMode,
    Crosshairs,
    Matrix,
    MatrixSettings,
    Point,
    Quadrant,
    Scope,
    Status,
)
from citela_analytics.domain.stats import Estimate
from citela_analytics.domain.themes import Theme
from citela_common.events.models import SentimentLabel

N_DOC = (
    "n: answers counted, i.e. current feedbacks (the latest revision of each, retracted ones "
    "excluded) whose latest revision was submitted in the period (local French days)."
)
MEAN_DOC = (
    "Mean of the answers on the 1–5 scale, sample standard deviation `sd` (n − 1 denominator), "
    "and the 95 % confidence interval of the mean by Student's t distribution: "
    "mean ± t(0.975, n − 1) · sd / √n. `sd` and the interval are null when n < 2."
)
GAP_DOC = (
    "Gap: importance − satisfaction computed for each answer (a paired difference), then its "
    "mean, sd and 95 % t interval as above. A positive gap means expectations exceed the "
    "service rendered; priorities rank by the mean gap."
)
QUADRANT_DOC = (
    "Quadrant against the crosshairs: importance ≥ crosshair is high, satisfaction ≥ crosshair "
    "is high. act_first = high importance, low satisfaction; keep_up = high, high; secondary = "
    "low, low; over_investment = low importance, high satisfaction. Null when there are not "
    "enough answers."
)
STATUS_DOC = (
    "not_enough_answers: n below the tenant's minimum (default 10), not a verdict; "
    "uncertain: the 95 % interval of importance or of satisfaction contains its crosshair "
    "(see `straddled`), so the quadrant may be due to chance; clear: otherwise."
)
PRIORITY_DOC = (
    "Priority rank 1, 2, 3… among the cells of the same scope with enough answers: by quadrant "
    "(act_first, keep_up, secondary, over_investment), then by mean gap, largest first; ties by "
    "n (larger first) then label. Null for cells without enough answers."
)
CROSSHAIR_DOC = (
    "The values cutting the matrix: the tenant's grand means (mean importance and mean "
    "satisfaction over every answer of the period and scope, not the mean of the cells' "
    "means) by default, or the scale midpoint 3 (tenant setting `crosshair_mode`). Both are "
    "always reported."
)


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    start: date | None = Field(
        None, alias="from", description="first local day included; null = since the start"
    )
    end: date | None = Field(
        None, alias="to", description="last local day included; null = up to now"
    )


class EstimateOut(BaseModel):
    mean: float | None = Field(description="mean of the answers; null when n = 0")
    sd: float | None = Field(description="sample standard deviation; null when n < 2")
    ci_low: float | None = Field(description="lower bound of the 95 % t interval of the mean")
    ci_high: float | None = Field(description="upper bound of the 95 % t interval of the mean")

    @classmethod
    def of(cls, e: Estimate) -> EstimateOut:
        return cls(mean=e.mean, sd=e.sd, ci_low=e.ci_low, ci_high=e.ci_high)


class PointOut(BaseModel):
    scope: Scope = Field(description="service (a catalogue entry) or area (a policy area)")
    key: str = Field(description="catalogue entry id of a service; name of a policy area")
    label: str = Field(description="title of the service (its id until the catalogue tells it)")
    policy_area: str | None = Field(description="domaine d'action publique of the service")
    n: int = Field(description=N_DOC)
    importance: EstimateOut = Field(description="Importance. " + MEAN_DOC)
    satisfaction: EstimateOut = Field(description="Satisfaction. " + MEAN_DOC)
    gap: EstimateOut = Field(description=GAP_DOC)
    quadrant: Quadrant | None = Field(description=QUADRANT_DOC)
    quadrant_label: str | None = Field(description="the quadrant in French, as the report says")
    status: Status = Field(description=STATUS_DOC)
    status_label: str = Field(description="the status in French")
    straddled: list[Literal["importance", "satisfaction"]] = Field(
        description="axes whose 95 % interval contains the crosshair"
    )
    priority: int | None = Field(description=PRIORITY_DOC)
    services: int | None = Field(
        None, description="for an area: how many of its services have answers in the period"
    )

    @classmethod
    def of(cls, p: Point) -> PointOut:
        return cls(
            scope=p.scope,
            key=p.key,
            label=p.label,
            policy_area=p.policy_area,
            n=p.n,
            importance=EstimateOut.of(p.importance),
            satisfaction=EstimateOut.of(p.satisfaction),
            gap=EstimateOut.of(p.gap),
            quadrant=p.quadrant,
            quadrant_label=QUADRANT_LABELS_FR[p.quadrant] if p.quadrant else None,
            status=p.status,
            status_label=STATUS_LABELS_FR[p.status],
            straddled=list(p.straddled),
            priority=p.priority,
            services=p.services,
        )


class AxisValues(BaseModel):
    importance: float | None
    satisfaction: float | None


class CrosshairsOut(BaseModel):
    mode: CrosshairMode = Field(description=CROSSHAIR_DOC)
    importance: float | None = Field(description="crosshair in use on the importance axis")
    satisfaction: float | None = Field(description="crosshair in use on the satisfaction axis")
    grand_means: AxisValues = Field(
        description="mean importance and satisfaction over every answer of the period"
    )
    midpoint: AxisValues = Field(description="the scale midpoint, 3 on both axes")
    answers: int = Field(description="answers behind the grand means")

    @classmethod
    def of(cls, c: Crosshairs) -> CrosshairsOut:
        return cls(
            mode=c.mode,
            importance=c.importance,
            satisfaction=c.satisfaction,
            grand_means=AxisValues(
                importance=c.grand_importance, satisfaction=c.grand_satisfaction
            ),
            midpoint=AxisValues(importance=c.midpoint, satisfaction=c.midpoint),
            answers=c.answers,
        )


class MatrixSettingsOut(BaseModel):
    crosshair_mode: CrosshairMode
    min_answers: int = Field(description="below this n a cell is `not_enough_answers`")
    confidence: float = Field(description="level of the confidence intervals")

    @classmethod
    def of(cls, s: MatrixSettings) -> MatrixSettingsOut:
        return cls(
            crosshair_mode=s.crosshair_mode, min_answers=s.min_answers, confidence=s.confidence
        )


class MatrixOut(BaseModel):
    tenant: str
    period: PeriodOut
    territory: str | None = Field(
        None, description="only the services located in this territory (crosshairs included)"
    )
    settings: MatrixSettingsOut
    crosshairs: CrosshairsOut
    services: list[PointOut] = Field(description="one point per service with answers")
    areas: list[PointOut] = Field(
        description="one point per policy area: the answers of all its services together"
    )

    @classmethod
    def of(
        cls, tenant: str, start: date | None, end: date | None, m: Matrix, territory: str | None
    ) -> MatrixOut:
        return cls(
            tenant=tenant,
            period=PeriodOut(start=start, end=end),
            territory=territory,
            settings=MatrixSettingsOut.of(m.settings),
            crosshairs=CrosshairsOut.of(m.crosshairs),
            services=[PointOut.of(p) for p in m.services],
            areas=[PointOut.of(p) for p in m.areas],
        )


class PrioritiesOut(BaseModel):
    tenant: str
    period: PeriodOut
    scope: Scope
    crosshairs: CrosshairsOut
    items: list[PointOut] = Field(description="cells with enough answers, Prio. 1 first")
    not_enough_answers: list[PointOut] = Field(
        description="cells below the minimum number of answers (no priority)"
    )


class ThemeOut(BaseModel):
    phrase: str = Field(description="the phrase as most often written, e.g. « temps d'attente »")
    comments: int = Field(description="comments of the group that contain it")
    share: float = Field(description="comments / comments of the group")
    score: float = Field(
        description="frequency × distinctiveness: comments × log2(1 + lift), lift = share in "
        "the group / share in the tenant's other comments (smoothed), with a small bonus per "
        "extra content word"
    )

    @classmethod
    def of(cls, t: Theme) -> ThemeOut:
        return cls(phrase=t.phrase, comments=t.comments, share=t.share, score=t.score)


class QuoteOut(BaseModel):
    feedback_id: str
    text: str = Field(description="the redacted comment, exactly as the feedback event carried it")
    label: SentimentLabel | None
    score: float | None = Field(description="sentiment score in [−1, 1]")
    submitted_at: datetime

    @classmethod
    def of(cls, c: Comment) -> QuoteOut:
        return cls(
            feedback_id=c.feedback_id,
            text=c.text,
            label=c.label,
            score=c.score,
            submitted_at=c.submitted_at,
        )


class SentimentOut(BaseModel):
    negative: int
    neutral: int
    positive: int
    unscored: int = Field(description="comments not scored yet")
    shares: dict[SentimentLabel, float | None] = Field(
        description="share of each label among the scored comments"
    )


class ThemesOut(BaseModel):
    negative: list[ThemeOut] = Field(description="recurring themes of the negative comments")
    positive: list[ThemeOut] = Field(description="recurring themes of the positive comments")


class QuotesOut(BaseModel):
    negative: list[QuoteOut]
    positive: list[QuoteOut]
    neutral: list[QuoteOut]


class ExplanationOut(BaseModel):
    comments: int = Field(description="comments of the current feedbacks of the period")
    sentiment: SentimentOut = Field(
        description="distribution of the comments' sentiment (latest score of each)"
    )
    themes: ThemesOut
    quotes: QuotesOut = Field(
        description="representative comments: they mention the main themes, say it clearly "
        "(|score| × confidence) and read well on their own"
    )

    @classmethod
    def of(cls, e: Explanation) -> ExplanationOut:
        d = e.sentiment
        return cls(
            comments=e.comments,
            sentiment=SentimentOut(
                negative=d.negative,
                neutral=d.neutral,
                positive=d.positive,
                unscored=d.unscored,
                shares={label: d.share(label) for label in SentimentLabel},
            ),
            themes=ThemesOut(
                negative=[ThemeOut.of(t) for t in e.negative_themes],
                positive=[ThemeOut.of(t) for t in e.positive_themes],
            ),
            quotes=QuotesOut(
                negative=[QuoteOut.of(c) for c in e.quotes.get(SentimentLabel.NEGATIVE, [])],
                positive=[QuoteOut.of(c) for c in e.quotes.get(SentimentLabel.POSITIVE, [])],
                neutral=[QuoteOut.of(c) for c in e.quotes.get(SentimentLabel.NEUTRAL, [])],
            ),
        )


class DetailOut(BaseModel):
    tenant: str
    period: PeriodOut
    crosshairs: CrosshairsOut
    point: PointOut
    removed: bool = Field(False, description="the catalogue no longer lists this service")
    services: list[PointOut] | None = Field(
        None, description="for an area: its services, in priority order"
    )
    explanation: ExplanationOut


class TrendPointOut(BaseModel):
    week_start: date = Field(description="Monday of the week")
    backfilled: bool = Field(
        description="true when the snapshot was computed later from the facts as they stood "
        "then, rather than taken at the end of that week"
    )
    n: int
    importance: float | None
    satisfaction: float | None
    gap: float | None
    quadrant: Quadrant | None
    status: Status
    priority: int | None


class TrendSeriesOut(BaseModel):
    scope: Scope
    key: str
    label: str
    points: list[TrendPointOut]


class TrendsOut(BaseModel):
    tenant: str
    weeks: list[date] = Field(description="Mondays of the weeks shown, oldest first")
    definition: str = Field(
        description="what each weekly point is: the matrix over every answer submitted up to "
        "the end of that week (Sunday, French time), as snapshotted"
    )
    series: list[TrendSeriesOut]


class TenantSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    crosshair_mode: CrosshairMode = Field(
        description="grand_means (default): cut by the tenant's mean importance and "
        "satisfaction; midpoint: cut at 3 on both axes"
    )
    min_answers: int = Field(
        ge=2, le=10_000, description="below this number of answers a cell is not enough answers"
    )


class TenantSettingsOut(TenantSettingsIn):
    model_config = ConfigDict(extra="forbid")
    default: bool = Field(description="true while the tenant has never changed them")
    updated_at: datetime | None
    updated_by: str | None


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: date | None = Field(None, alias="from")
    end: date | None = Field(None, alias="to")
    crosshair_mode: CrosshairMode | None = Field(
        None, description="override the tenant's setting for this report"
    )


class ReportOut(BaseModel):
    id: str
    status: Literal["pending", "done", "failed"]
    period: PeriodOut
    crosshair_mode: CrosshairMode | None
    requested_at: datetime
    finished_at: datetime | None
    error: str | None
    status_url: str
    content_url: str | None = Field(description="what the report says (JSON), once done")


class ExplainedOut(BaseModel):
    key: str = Field(description="catalogue entry id of the service")
    explanation: ExplanationOut


class ReportContentOut(BaseModel):
    """What a synthesis report says, as it stood when it was built; the web portal renders it
    as the printable French page, with the same chart and tables as the dashboard."""

    tenant: str
    generated_at: datetime
    matrix: MatrixOut = Field(description="the matrix of the report's period and crosshairs")
    explained: list[ExplainedOut] = Field(
        description="the comments of the first services by priority, explained"
    )


class RecomputeOut(BaseModel):
    tenant: str
    answers: int
    cells: int
    drifted_cells: int = Field(
        description="cells whose incrementally maintained sums differed from the exact "
        "recomputation from the facts (0 expected)"
    )
    duration_s: float


class QuadrantOut(BaseModel):
    code: Quadrant = Field(description="the quadrant's code, as each point's `quadrant`")
    label: str = Field(description="its name in French, as each point's `quadrant_label`")
    action: str = Field(description="what it asks of the authority, in French")
    description: str = Field(description="where it lies (importance, satisfaction), in French")


class QuadrantsOut(BaseModel):
    """The quadrants of the matrix, in priority order, and the rule that places a point."""

    rule: str = Field(description="the rule, in French words")
    items: list[QuadrantOut]

    @classmethod
    def of_domain(cls) -> QuadrantsOut:
        return cls(
            rule=QUADRANT_RULE_FR,
            items=[
                QuadrantOut(code=q, label=t.label, action=t.action, description=t.description)
                for q, t in sorted(QUADRANTS_FR.items(), key=lambda qt: QUADRANT_ORDER[qt[0]])
            ],
        )
