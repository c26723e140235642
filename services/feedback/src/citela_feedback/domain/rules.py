"""A tenant's rules for feedback, and the checks a submission must pass.

Every check returns ``Violation``s (field, reason in English, code) instead of raising, so a
batch reports all of an item's problems at once and the HTTP layer turns them into
problem+json field errors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

COMMENT_HARD_LIMIT = 5000


class ModerationMode(StrEnum):
    POST = "post"  # comments appear at once; pre-screening holds the suspicious ones
    PRE = "pre"  # every comment waits for a moderator


class MatrixCut(StrEnum):
    GRAND_MEAN = "grand_mean"
    MIDPOINT = "midpoint"


class TenantRules(BaseModel):
    """Settings a tenant's admin chooses (stored as JSON with the tenant)."""

    model_config = ConfigDict(extra="forbid")

    comment_required: bool = Field(False, description="a feedback must carry a comment")
    comment_max_length: int = Field(
        1000, ge=20, le=COMMENT_HARD_LIMIT, description="longest comment accepted, in characters"
    )
    min_answers: int = Field(
        10, ge=1, le=1000, description="answers needed before a verdict (below: not enough)"
    )
    matrix_cut: MatrixCut = Field(
        MatrixCut.GRAND_MEAN,
        description="crosshairs of the importance × satisfaction matrix: the tenant's grand "
        "means, or the scale midpoint (3)",
    )
    public_averages: bool = Field(
        False, description="show each service's average scores to the public"
    )
    moderation_mode: ModerationMode = Field(
        ModerationMode.POST,
        description="post: comments appear at once and suspicious ones are held; "
        "pre: every comment waits for a moderator",
    )


@dataclass(frozen=True)
class Violation:
    field: str
    reason: str
    code: str


def check_comment(rules: TenantRules, comment: str | None) -> list[Violation]:
    text = (comment or "").strip()
    if not text:
        if rules.comment_required:
            return [Violation("comment", "this authority requires a comment", "required")]
        return []
    if len(text) > rules.comment_max_length:
        return [
            Violation(
                "comment",
                f"at most {rules.comment_max_length} characters (got {len(text)})",
                "too_long",
            )
        ]
    return []


def normalise_comment(comment: str | None) -> str | None:
    text = (comment or "").strip()
    return text or None


# --- territory -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Commune:
    """What the territory check needs to know about a commune (or municipal arrondissement)."""

    code: str
    epci_code: str | None = None
    departement_codes: tuple[str, ...] = ()
    region_code: str | None = None
    parent_commune_code: str | None = None

    def ancestors(self) -> set[str]:
        """The codes that cover this commune. Région and département codes collide ("75" is
        Paris and Nouvelle-Aquitaine, "32" the Gers and the Hauts-de-France): as in the
        catalogue, a bare code is a département and a région is written ``region:32``."""
        codes = {self.code, *self.departement_codes}
        for code in (self.epci_code, self.parent_commune_code):
            if code:
                codes.add(code)
        if self.region_code:
            codes.add(f"region:{self.region_code}")
        return codes


@dataclass(frozen=True)
class EntryPlace:
    commune_codes: tuple[str, ...]
    epci_codes: tuple[str, ...] = ()
    departement_codes: tuple[str, ...] = ()


def in_territory(
    entry: EntryPlace, territory: Iterable[str], communes: Mapping[str, Commune]
) -> bool:
    """Whether a catalogue entry lies in the territory a tenant covers.

    The territory is a set of codes of any level (commune INSEE code, EPCI SIREN,
    département, ``region:<code>``). An entry is in it when one of its communes is, directly
    or through its EPCI, département, région or parent commune — or, for an entry with no
    commune, when one of its EPCI or département codes is.
    """
    codes = set(territory)
    if not codes:
        return False
    for code in entry.commune_codes:
        commune = communes.get(code)
        places = commune.ancestors() if commune else {code}
        if places & codes:
            return True
    if not entry.commune_codes:
        return bool(codes & {*entry.epci_codes, *entry.departement_codes})
    return False
