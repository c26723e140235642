"""Read side of the catalogue: territories and their entries, filtered, searched, paginated."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, or_, select, text, tuple_
from sqlalchemy.orm import Session

from citela_catalogue.geo import EARTH_RADIUS_KM, bounding_box, distance_km
from citela_catalogue.models import TS_CONFIG, Entry, EntryCommune, TerritoryRow
from citela_catalogue.search import STOP_WORDS, fold, fts5_query
from citela_common.web import Problem, field_error
from citela_common.web.pagination import decode_cursor, encode_cursor

_PG_WORD = re.compile(r"\w+", re.UNICODE)


class UnknownTerritory(LookupError):
    pass


@dataclass(frozen=True)
class EntryFilter:
    territory: str | None = None
    kind: str | None = None
    policy_area: str | None = None
    q: str | None = None
    near: tuple[float, float] | None = None
    radius_km: float = 5.0


@dataclass(frozen=True)
class Found:
    entry: Entry
    distance_km: float | None = None


def territory_rows(session: Session, code: str) -> list[TerritoryRow]:
    return list(session.scalars(select(TerritoryRow).where(TerritoryRow.code == code)))


def communes_of(session: Session, code: str) -> list[str]:
    """INSEE codes of the communes (and municipal arrondissements) a territory code covers.

    An EPCI, département or région needs no row of its own: its communes name it. Région and
    département codes collide ("75" is Paris and Nouvelle-Aquitaine): a bare code is a
    département, ``region:75`` a région.
    """
    municipal = TerritoryRow.level.in_(("commune", "arrondissement"))
    if code.startswith("region:"):
        match = TerritoryRow.region_code == code.removeprefix("region:")
    else:
        match = or_(
            TerritoryRow.code == code,
            TerritoryRow.epci_code == code,
            TerritoryRow.departement_code == code,
        )
    codes = set(session.scalars(select(TerritoryRow.code).where(municipal, match)))
    if not codes:
        raise UnknownTerritory(code)
    # Entries of Paris, Lyon and Marseille often carry an arrondissement's own code.
    codes |= set(
        session.scalars(
            select(TerritoryRow.code).where(TerritoryRow.parent_commune_code.in_(codes))
        )
    )
    return sorted(codes)


def _base(session: Session, f: EntryFilter) -> Select[Entry]:
    stmt = select(Entry).where(Entry.removed_at.is_(None))
    if f.territory:
        communes = communes_of(session, f.territory)
        stmt = stmt.where(
            Entry.id.in_(
                select(EntryCommune.entry_pk).where(EntryCommune.commune_code.in_(communes))
            )
        )
    if f.kind:
        stmt = stmt.where(Entry.kind == f.kind)
    if f.policy_area:
        stmt = stmt.where(Entry.policy_area == f.policy_area)
    if f.near:
        lat, lon = f.near
        min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, f.radius_km)
        stmt = stmt.where(Entry.lat.between(min_lat, max_lat), Entry.lon.between(min_lon, max_lon))
    return stmt


def _foreign_cursor() -> Problem:
    return Problem(
        400,
        "The cursor is not one this API returned.",
        slug="invalid-cursor",
        errors=[field_error("query.cursor", "malformed or foreign cursor")],
    )


def _search(session: Session, stmt: Select[Entry], q: str) -> Select[Entry] | None:
    """Only the entries matching every word of ``q``, the last one as a prefix.

    No relevance score: ranking computed over every match (50,000 rows for "mairie" at
    100,000 entries) cost more than the rest of the request. Matches keep the listing's order
    (folded title, id), which an index walks: the planner picks, from the statistics of the
    tsvector, either that walk stopping at the page's end (common words, short prefixes) or
    the GIN index and a sort of the few matches (rare words).
    """
    if session.get_bind().dialect.name == "postgresql":
        words = [w for w in _PG_WORD.findall(q) if fold(w) not in STOP_WORDS]
        if not words:
            return None
        tsquery = " & ".join([*words[:-1], words[-1] + ":*"])
        query = func.to_tsquery(text(f"'{TS_CONFIG}'::regconfig"), tsquery)
        return stmt.where(Entry.search_vector.op("@@")(query))
    match = fts5_query(q)
    if match is None:
        return None
    fts = text("SELECT rowid FROM catalogue.entries_fts WHERE entries_fts MATCH :match").bindparams(
        match=match
    )
    return stmt.where(Entry.id.in_(fts.columns(rowid=Entry.id.type)))


def list_entries(
    session: Session, f: EntryFilter, cursor: str | None, limit: int
) -> tuple[list[Found], str | None]:
    if session.get_bind().dialect.name == "postgresql":
        # psycopg prepares a statement run five times, and PostgreSQL may then keep a plan
        # made blind to the words searched: GIN for "mairie" (40,000 matches, 640 ms) where
        # the title index stops after 51 (0.2 ms). Each search is planned for its own words.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    stmt = _base(session, f)
    if f.q:
        searched = _search(session, stmt, f.q)
        if searched is None:
            return [], None
        stmt = searched
    if f.near:
        return _nearest(session, stmt, f, cursor, limit)
    # Keyset pagination on (folded title, id): stable while entries change, and page n costs
    # what page 1 does.
    if cursor:
        title, last_id = decode_cursor(cursor, 2)
        if not isinstance(title, str) or not isinstance(last_id, int):
            raise _foreign_cursor()
        # A row comparison: the index range starts after the cursor (page 200 costs what
        # page 2 does), where an OR of the two columns is a filter over the pages before.
        stmt = stmt.where(tuple_(Entry.title_sort, Entry.id) > tuple_(title, last_id))
    rows = list(session.scalars(stmt.order_by(Entry.title_sort, Entry.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].title_sort, rows[-1].id]) if more else None
    return [Found(e) for e in rows], next_cursor


def _nearest(
    session: Session, stmt: Select[Entry], f: EntryFilter, cursor: str | None, limit: int
) -> tuple[list[Found], str | None]:
    """Entries within the radius, nearest first: the bounding box narrows them on the index
    of (tenant, lat, lon), the database orders them by a flat-earth distance (exact enough
    for ordering within 100 km, plain arithmetic that SQLite has too) and returns one page;
    the great-circle distance of that page's entries is computed here. The cursor carries the
    position."""
    assert f.near is not None
    lat, lon = f.near
    start = decode_cursor(cursor, 2)[1] if cursor else 0
    if not isinstance(start, int) or start < 0:
        raise _foreign_cursor()
    kx = math.cos(math.radians(lat))
    radius_deg = math.degrees(f.radius_km / EARTH_RADIUS_KM)
    dx = (Entry.lon - lon) * kx
    dy = Entry.lat - lat
    flat = dx * dx + dy * dy
    # A little margin: the flat distance is never the judge of the radius, haversine is.
    stmt = stmt.where(flat <= (radius_deg * 1.01) ** 2)
    rows = session.scalars(stmt.order_by(flat, Entry.id).offset(start).limit(limit + 1))
    page = [
        Found(e, distance_km(lat, lon, e.lat, e.lon))
        for e in rows
        if e.lat is not None and e.lon is not None
    ]
    more = len(page) > limit
    page = [x for x in page[:limit] if x.distance_km is not None and x.distance_km <= f.radius_km]
    return page, encode_cursor(["pos", start + limit]) if more else None


def events_between(
    session: Session,
    territory: str | None,
    start: date,
    end: date,
    cursor: str | None,
    limit: int,
) -> tuple[list[tuple[Entry, date]], str | None]:
    """Events with at least one date in [start, end], by their next date in the window."""
    stmt = _base(session, EntryFilter(territory=territory, kind="event")).where(
        Entry.first_date <= end, Entry.last_date >= start
    )
    found: list[tuple[Entry, date]] = []
    for entry in session.scalars(stmt):
        upcoming = [
            max(date.fromisoformat(d["start"]), start)
            for d in entry.dates
            if date.fromisoformat(d["start"]) <= end and date.fromisoformat(d["end"]) >= start
        ]
        if upcoming:
            found.append((entry, min(upcoming)))
    found.sort(key=lambda pair: (pair[1], pair[0].title_sort, pair[0].id))
    position = int(decode_cursor(cursor, 2)[1]) if cursor else 0
    page = found[position : position + limit + 1]
    more = len(page) > limit
    return page[:limit], encode_cursor(["pos", position + limit]) if more else None


def search_territories(session: Session, q: str, limit: int) -> list[TerritoryRow]:
    """Communes by name prefix (accents ignored) or postal code."""
    q = q.strip()
    communes = TerritoryRow.level.in_(("commune", "arrondissement"))
    if q.isdigit():
        # Postal codes are a JSON list: match them on two narrow columns, then load the few
        # matching rows (building every commune of a département took 300 ms).
        candidates = session.execute(
            select(
                TerritoryRow.tenant_id,
                TerritoryRow.code,
                TerritoryRow.postal_codes,
                TerritoryRow.population,
                TerritoryRow.name_folded,
            ).where(communes)
        ).all()
        matching = sorted(
            (
                c
                for c in candidates
                if c.code.startswith(q) or any(p.startswith(q) for p in c.postal_codes)
            ),
            key=lambda c: (-(c.population or 0), c.name_folded, c.tenant_id),
        )[:limit]
        # Keyed by tenant too: an unscoped session (search across tenants) sees one commune
        # once per tenant whose catalogue holds it.
        keys = [(c.tenant_id, c.code) for c in matching]
        found = {
            (r.tenant_id, r.code): r
            for r in session.scalars(
                select(TerritoryRow).where(communes, TerritoryRow.code.in_([k[1] for k in keys]))
            )
        }
        return [found[k] for k in keys if k in found]
    folded = fold(q).replace("-", " ")
    rows = list(
        session.scalars(
            select(TerritoryRow)
            .where(
                communes,
                func.replace(TerritoryRow.name_folded, "-", " ").like(folded + "%"),
            )
            .order_by(
                TerritoryRow.population.desc().nulls_last(),
                TerritoryRow.name_folded,
                TerritoryRow.tenant_id,
            )
            .limit(limit)
        )
    )
    return rows


def children_of(session: Session, row: TerritoryRow) -> list[TerritoryRow]:
    column = {
        "epci": TerritoryRow.epci_code,
        "departement": TerritoryRow.departement_code,
        "region": TerritoryRow.region_code,
        "commune": TerritoryRow.parent_commune_code,
    }
    col = column.get(row.level)
    if col is None:
        return []
    levels = ("arrondissement",) if row.level == "commune" else ("commune",)
    if row.level == "region":
        levels = ("departement",)
    return list(
        session.scalars(
            select(TerritoryRow)
            .where(col == row.code, TerritoryRow.level.in_(levels))
            .order_by(TerritoryRow.name_folded)
        )
    )


def parents_of(session: Session, row: TerritoryRow) -> list[TerritoryRow]:
    wanted = [
        ("region", row.region_code),
        ("departement", row.departement_code),
        ("epci", row.epci_code),
        ("commune", row.parent_commune_code),
    ]
    parents = []
    for level, code in wanted:
        if code and code != row.code:
            parent = session.get(TerritoryRow, (row.tenant_id, level, code))
            if parent is not None:
                parents.append(parent)
    return parents


def policy_area_counts(session: Session, territory: str | None) -> dict[str, int]:
    base = _base(session, EntryFilter(territory=territory)).subquery()
    rows = session.execute(
        select(base.c.policy_area, func.count()).group_by(base.c.policy_area)
    ).all()
    return {area or "Non classé": n for area, n in rows}
