"""Read side of the catalogue: territories and their entries, filtered, searched, paginated."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from cachetools import TTLCache
from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    and_,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from citela_catalogue.geo import EARTH_RADIUS_KM, bounding_box, distance_km
from citela_catalogue.models import TS_CONFIG, Entry, EntryCommune, TerritoryRow
from citela_catalogue.schemas import ITEM_TAIL, EntryOut, page_json, raw_page_json
from citela_catalogue.search import STOP_WORDS, fold, fts5_query
from citela_common.tenancy import current_tenant
from citela_common.web import Problem, field_error
from citela_common.web.pagination import decode_cursor, encode_cursor

_PG_WORD = re.compile(r"\w+", re.UNICODE)
# A search walking the title index reads at least these rows before it asks the GIN index.
SHORTEST_WALK = 200
# A territory's entries are counted up to this many to choose how to list them.
MAX_COUNTED = 20_000


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


def _in_communes(communes: list[str]) -> Select[int]:
    return select(EntryCommune.entry_pk).where(EntryCommune.commune_code.in_(communes))


def _conditions(
    session: Session, f: EntryFilter, communes: list[str] | None = None
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Entry.removed_at.is_(None)]
    if f.territory:
        if communes is None:
            communes = communes_of(session, f.territory)
        conditions.append(Entry.id.in_(_in_communes(communes)))
    if f.kind:
        conditions.append(Entry.kind == f.kind)
    if f.policy_area:
        conditions.append(Entry.policy_area == f.policy_area)
    if f.near:
        lat, lon = f.near
        min_lat, max_lat, min_lon, max_lon = bounding_box(lat, lon, f.radius_km)
        conditions += [Entry.lat.between(min_lat, max_lat), Entry.lon.between(min_lon, max_lon)]
    return conditions


def _base(session: Session, f: EntryFilter) -> Select[Entry]:
    return select(Entry).where(*_conditions(session, f))


def _foreign_cursor() -> Problem:
    return Problem(
        400,
        "The cursor is not one this API returned.",
        slug="invalid-cursor",
        errors=[field_error("query.cursor", "malformed or foreign cursor")],
    )


def _title_cursor(cursor: str) -> tuple[str, int]:
    title, last_id = decode_cursor(cursor, 2)
    if not isinstance(title, str) or not isinstance(last_id, int):
        raise _foreign_cursor()
    return title, last_id


def _position_cursor(cursor: str | None) -> int:
    start = decode_cursor(cursor, 2)[1] if cursor else 0
    if not isinstance(start, int) or start < 0:
        raise _foreign_cursor()
    return start


def _pg_tsquery_text(q: str) -> str | None:
    """Every word of ``q`` must match, the last one as a prefix: ``to_tsquery``'s input."""
    words = [w for w in _PG_WORD.findall(q) if fold(w) not in STOP_WORDS]
    if not words:
        return None
    return " & ".join([*words[:-1], words[-1] + ":*"])


def _pg_tsquery(q: str) -> ColumnElement[Any] | None:
    """``q`` as a tsquery of ``catalogue.fr`` (accents folded, words stemmed)."""
    tsquery = _pg_tsquery_text(q)
    if tsquery is None:
        return None
    return func.to_tsquery(text(f"'{TS_CONFIG}'::regconfig"), tsquery)


def _search(session: Session, stmt: Select[Entry], q: str) -> Select[Entry] | None:
    """Only the entries matching every word of ``q``, the last one as a prefix."""
    if session.get_bind().dialect.name == "postgresql":
        query = _pg_tsquery(q)
        return None if query is None else stmt.where(Entry.search_vector.op("@@")(query))
    match = fts5_query(q)
    if match is None:
        return None
    fts = text("SELECT rowid FROM catalogue.entries_fts WHERE entries_fts MATCH :match").bindparams(
        match=match
    )
    return stmt.where(Entry.id.in_(fts.columns(rowid=Entry.id.type)))


def entries_page(session: Session, f: EntryFilter, cursor: str | None, limit: int) -> bytes:
    """The JSON body of one page of ``GET /entries`` (``Page[EntryOut]``).

    On PostgreSQL the database writes each entry's JSON (its JSON columns are stored as the
    models serialise them) and only the page's ids and sort keys come back as Python values:
    parsing eight JSON columns per entry, validating and serialising them again was most of
    a request's CPU. SQLite goes through the ORM and pydantic.
    """
    if session.get_bind().dialect.name == "postgresql":
        return _pg_entries_page(session, f, cursor, limit)
    found, next_cursor = list_entries(session, f, cursor, limit)
    return page_json([EntryOut.data_of(x.entry, x.distance_km) for x in found], next_cursor)


def list_entries(
    session: Session, f: EntryFilter, cursor: str | None, limit: int
) -> tuple[list[Found], str | None]:
    """One page of entries as ORM objects (SQLite's path; ``entries_page`` on PostgreSQL)."""
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
        # A row comparison: the index range starts after the cursor (page 200 costs what
        # page 2 does), where an OR of the two columns is a filter over the pages before.
        stmt = stmt.where(tuple_(Entry.title_sort, Entry.id) > tuple_(*_title_cursor(cursor)))
    rows = list(session.scalars(stmt.order_by(Entry.title_sort, Entry.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor([rows[-1].title_sort, rows[-1].id]) if more else None
    return [Found(e) for e in rows], next_cursor


def _flat_distance(lat: float, lon: float) -> ColumnElement[float | None]:
    """A flat-earth squared distance in degrees of latitude: exact enough to order entries
    within 100 km, plain arithmetic that SQLite has too."""
    kx = math.cos(math.radians(lat))
    dx = (Entry.lon - lon) * kx
    dy = Entry.lat - lat
    return dx * dx + dy * dy


def _within_flat(f: EntryFilter) -> ColumnElement[bool]:
    assert f.near is not None
    radius_deg = math.degrees(f.radius_km / EARTH_RADIUS_KM)
    # A little margin: the flat distance is never the judge of the radius, haversine is.
    return _flat_distance(*f.near) <= (radius_deg * 1.01) ** 2


def _nearest(
    session: Session, stmt: Select[Entry], f: EntryFilter, cursor: str | None, limit: int
) -> tuple[list[Found], str | None]:
    """Entries within the radius, nearest first: the bounding box narrows them on the index
    of (tenant, lat, lon), the database orders them by the flat distance and returns one
    page; the great-circle distance of that page's entries is computed here. The cursor
    carries the position."""
    assert f.near is not None
    lat, lon = f.near
    start = _position_cursor(cursor)
    flat = _flat_distance(lat, lon)
    stmt = stmt.where(_within_flat(f))
    rows = session.scalars(stmt.order_by(flat, Entry.id).offset(start).limit(limit + 1))
    page = [
        Found(e, distance_km(lat, lon, e.lat, e.lon))
        for e in rows
        if e.lat is not None and e.lon is not None
    ]
    more = len(page) > limit
    page = [x for x in page[:limit] if x.distance_km is not None and x.distance_km <= f.radius_km]
    return page, encode_cursor(["pos", start + limit]) if more else None


# --- PostgreSQL: the page's JSON written by the database ---------------------------------------


def _sql_string(value: str) -> ColumnElement[str]:
    return literal_column("'" + value.replace("'", "''") + "'")


def _json_of(value: Any) -> ColumnElement[str]:
    """A column as JSON text, ``null`` for NULL (JSON columns are kept as stored)."""
    return func.coalesce(cast(func.to_json(value), Text), literal_column("'null'"))


@cache
def _item_json() -> ColumnElement[str]:
    """An entry as ``EntryOut`` serialises it, up to ``updated_at`` (``ITEM_TAIL`` follows).

    Concatenated rather than ``json_build_object``, which spaces its keys and values: the
    same compact bytes as pydantic's, but for floats without a fraction (``45`` for 45.0).
    """
    point = case(
        (
            and_(Entry.lat.is_not(None), Entry.lon.is_not(None)),
            func.concat(
                _sql_string('{"lat":'),
                cast(Entry.lat, Text),
                _sql_string(',"lon":'),
                cast(Entry.lon, Text),
                _sql_string("}"),
            ),
        ),
        else_=_sql_string("null"),
    )
    # EntryOut.data_of: an empty address is no address.
    address = case(
        (
            cast(Entry.address, Text).in_([_sql_string("null"), _sql_string("{}")]),
            _sql_string("null"),
        ),
        else_=_json_of(Entry.address),
    )
    # pydantic's form of a UTC datetime: microseconds only when there are some, then "Z".
    updated_at = func.concat(
        _sql_string('"'),
        func.regexp_replace(
            func.to_char(
                func.timezone("UTC", Entry.updated_at), _sql_string('YYYY-MM-DD"T"HH24:MI:SS.US')
            ),
            _sql_string("\\.000000$"),
            _sql_string(""),
        ),
        _sql_string('Z"'),
    )
    fields: list[tuple[str, ColumnElement[Any]]] = [
        ("entry_id", _json_of(Entry.entry_id)),
        ("kind", _json_of(Entry.kind)),
        ("title", _json_of(Entry.title)),
        ("description", _json_of(Entry.description)),
        ("source_type", _json_of(Entry.source_type)),
        ("policy_area", _json_of(Entry.policy_area)),
        ("commune_codes", _json_of(Entry.commune_codes)),
        ("epci_codes", _json_of(Entry.epci_codes)),
        ("departement_codes", _json_of(Entry.departement_codes)),
        ("address", address),
        ("point", point),
        ("contacts", _json_of(Entry.contacts)),
        ("opening_hours", _json_of(Entry.opening_hours)),
        ("dates", _json_of(Entry.dates)),
        ("url", _json_of(Entry.url)),
        ("provenance", _json_of(Entry.provenance)),
        ("updated_at", updated_at),
    ]
    parts: list[ColumnElement[Any]] = []
    for i, (name, value) in enumerate(fields):
        parts += [_sql_string(("{" if i == 0 else ",") + json.dumps(name) + ":"), value]
    parts.append(_sql_string("}"))
    return func.concat(*parts).label("item")


@contextmanager
def _planned_each_time(session: Session) -> Iterator[None]:
    """psycopg prepares a statement run five times, and PostgreSQL may then keep a plan made
    blind to the values: GIN for "mairie" (40,000 matches, 640 ms) where the title index
    stops after 51 (0.2 ms). The statements of a listing are not prepared: each is planned
    for its own words, without a round trip to say so (``plan_cache_mode``)."""
    driver: Any = session.connection().connection.driver_connection
    saved = driver.prepare_threshold
    driver.prepare_threshold = None
    try:
        yield
    finally:
        driver.prepare_threshold = saved


def _pg_entries_page(session: Session, f: EntryFilter, cursor: str | None, limit: int) -> bytes:
    with _planned_each_time(session):
        return _pg_entries_page_json(session, f, cursor, limit)


def _pg_entries_page_json(
    session: Session, f: EntryFilter, cursor: str | None, limit: int
) -> bytes:
    communes = _territory(session, f.territory)[0] if f.territory else None
    conditions = _conditions(session, f, communes)
    query = _pg_tsquery(f.q) if f.q else None
    if f.q and query is None:
        return raw_page_json([], None)
    if f.near:
        if query is not None:
            conditions.append(Entry.search_vector.op("@@")(query))
        return _pg_nearest(session, conditions, f, cursor, limit)
    after = _title_cursor(cursor) if cursor else None
    if query is None and communes is None:
        if after:
            conditions.append(tuple_(Entry.title_sort, Entry.id) > tuple_(*after))
        rows = _pg_rows(
            session,
            select(Entry.id, Entry.title_sort)
            .where(*conditions)
            .order_by(Entry.title_sort, Entry.id)
            .limit(limit + 1),
        )
    else:
        rows = _pg_filtered(session, f, communes, conditions, query, after, limit + 1)
    items = [row.item[:-1] + ITEM_TAIL for row in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return raw_page_json(items, encode_cursor([last.title_sort, last.id]) if last else None)


def _pg_rows(session: Session, ids: Select[int, str]) -> list[Any]:
    """The rows of ``ids`` (id, title_sort; ordered, limited) with their JSON: built for those
    rows only (under a sort, the JSON would be built for every row sorted)."""
    page = ids.subquery("page")
    return list(
        session.execute(
            select(page.c.title_sort, page.c.id, _item_json())
            .join_from(page, Entry, Entry.id == page.c.id)
            .order_by(page.c.title_sort, page.c.id)
        ).all()
    )


def _pg_filtered(
    session: Session,
    f: EntryFilter,
    communes: list[str] | None,
    conditions: list[ColumnElement[bool]],
    query: ColumnElement[Any] | None,
    after: tuple[str, int] | None,
    wanted: int,
) -> list[Any]:
    """The first ``wanted`` entries after ``after`` in the listing's order (title, id) that
    match ``query`` or lie in ``communes`` (the selective filters).

    Two ways, each bounded by the number of matches, whatever the order of the titles:
    - few matches (fewer than the rows a walk would read to find a page): the GIN index,
      or the communes' index, finds them all and they are sorted;
    - many: the title index is walked, at most as many rows as there are matches; if that
      walk is short of a page (the matches sit late in the alphabet: "cimetière" is in
      every mairie's description, "jazz" in festival titles), the rest is found past it
      the first way. The planner, left alone, walked the title index to the end for such
      words (61,000 rows for "cimetière", 150-400 ms) and for a département's entries
      (10,000 rows and as many probes of their communes for the Bouches-du-Rhône, 150 ms).
    Both a query and a territory: the first way (the planner picks the narrower index).
    """
    selective = list(conditions)
    if query is not None:
        selective.append(Entry.search_vector.op("@@")(query))
    if query is not None and communes is not None:
        return _pg_rows(session, _sorted_matches(selective, after, wanted))
    if query is not None:
        matches, rows = _estimate(session, f.q)
    else:
        assert f.territory is not None
        rows = _estimate(session, None)[1]
        matches = float(_territory(session, f.territory)[1])
    walk = int(wanted * rows / max(matches, 1.0))  # rows read to find a page, evenly spread
    if walk >= matches:
        return _pg_rows(session, _sorted_matches(selective, after, wanted))
    span = max(int(matches), 4 * walk, SHORTEST_WALK)
    key = (Entry.title_sort, Entry.id)
    walked = select(
        Entry.id,
        Entry.title_sort,
        Entry.search_vector,
        Entry.removed_at,
        Entry.kind,
        Entry.policy_area,
    )
    if after:
        walked = walked.where(tuple_(*key) > tuple_(*after))
    stretch = walked.order_by(*key).limit(span).subquery("walk")
    filters: list[ColumnElement[bool]] = [stretch.c.removed_at.is_(None)]
    if query is not None:
        filters.append(stretch.c.search_vector.op("@@")(query))
    if communes is not None:
        filters.append(stretch.c.id.in_(_in_communes(communes)))
    if f.kind:
        filters.append(stretch.c.kind == f.kind)
    if f.policy_area:
        filters.append(stretch.c.policy_area == f.policy_area)
    # No ORDER BY between the walk and the limit would let it stop at the page's end: the
    # subquery's order is kept (pathkeys), the scan stops after ``wanted`` matches.
    found = _pg_rows(
        session,
        select(stretch.c.id, stretch.c.title_sort)
        .where(*filters)
        .order_by(stretch.c.title_sort, stretch.c.id)
        .limit(wanted),
    )
    if len(found) >= wanted:
        return found
    # The rest comes after the walk's last row (none: the walk reached the end).
    edge_query = select(Entry.title_sort, Entry.id)
    if after:
        edge_query = edge_query.where(tuple_(*key) > tuple_(*after))
    edge = edge_query.order_by(*key).offset(span - 1).limit(1).subquery("edge")
    rest = _sorted_matches(
        selective, None, wanted - len(found), edge=(edge.c.title_sort, edge.c.id)
    )
    return found + _pg_rows(session, rest.join(edge, literal_column("true")))


def _sorted_matches(
    conditions: list[ColumnElement[bool]],
    after: tuple[Any, Any] | None,
    wanted: int,
    edge: tuple[Any, Any] | None = None,
) -> Select[int, str]:
    """Matches found through the GIN or the communes' index and sorted: ordered and bounded
    on the title with ``|| ''``, which no index provides, so that the planner cannot walk
    the title index instead (same collation, same order)."""
    title = Entry.title_sort.op("||")(literal_column("''"))
    bounds = [tuple_(title, Entry.id) > tuple_(*b) for b in (after, edge) if b is not None]
    return (
        select(Entry.id, Entry.title_sort)
        .where(*conditions, *bounds)
        .order_by(title, Entry.id)
        .limit(wanted)
    )


_GENERATION_KEY = "citela_catalogue_generation"
_TERRITORIES: TTLCache[tuple[str, int, str], tuple[list[str], int]] = TTLCache(
    maxsize=1024, ttl=300
)
_TERRITORIES_LOCK = threading.Lock()


def read_at_generation(session: Session, generation: int) -> None:
    """Says which cache generation of the session's tenant this read is at: what is derived
    from the tenant's rows may then be kept in this process under that generation (a change
    of the tenant's catalogue bumps it, so a kept value is never stale)."""
    session.info[_GENERATION_KEY] = generation


def _territory(session: Session, code: str) -> tuple[list[str], int]:
    """The communes of a territory and how many entries they hold (counted up to
    MAX_COUNTED), kept per tenant and generation when the read says its generation: three
    statements a territory listing no longer runs each time."""
    tenant, generation = current_tenant(session), session.info.get(_GENERATION_KEY)
    key = (tenant or "", generation, code) if tenant and isinstance(generation, int) else None
    if key is not None:
        with _TERRITORIES_LOCK:
            known = _TERRITORIES.get(key)
        if known is not None:
            return known
    communes = communes_of(session, code)
    count = session.scalar(
        select(func.count()).select_from(_in_communes(communes).limit(MAX_COUNTED).subquery())
    )
    found = (communes, int(count or 0))
    if key is not None:
        with _TERRITORIES_LOCK:
            _TERRITORIES[key] = found
    return found


_ESTIMATES: TTLCache[str, tuple[float, float]] = TTLCache(maxsize=4096, ttl=600)
_ESTIMATES_LOCK = threading.Lock()


def _estimate(session: Session, q: str | None) -> tuple[float, float]:
    """The planner's estimate of the entries matching ``q`` (None: all) and of all entries
    (every tenant: only their ratio is used), cached for a while per query: they come from
    the statistics, which change only with ANALYZE."""
    tsquery = (_pg_tsquery_text(q) or "") if q is not None else None
    key = tsquery if tsquery is not None else "\x00all"
    with _ESTIMATES_LOCK:
        known = _ESTIMATES.get(key)
    if known is not None:
        return known
    matching = (
        "search_vector @@ to_tsquery(CAST(:config AS regconfig), CAST(:q AS text))"
        if tsquery is not None
        else "true"
    )
    plan = session.execute(
        text(
            f"EXPLAIN (FORMAT JSON) SELECT 1 FROM catalogue.entries WHERE {matching} "  # noqa: S608
            "UNION ALL SELECT 1 FROM catalogue.entries"
        ),
        {"config": TS_CONFIG, "q": tsquery} if tsquery is not None else {},
    ).scalar_one()
    matches, rows = (float(p["Plan Rows"]) for p in plan[0]["Plan"]["Plans"])
    with _ESTIMATES_LOCK:
        _ESTIMATES[key] = (matches, rows)
    return matches, rows


def _pg_nearest(
    session: Session,
    conditions: list[ColumnElement[bool]],
    f: EntryFilter,
    cursor: str | None,
    limit: int,
) -> bytes:
    """``_nearest``, the JSON written by the database."""
    assert f.near is not None
    lat, lon = f.near
    start = _position_cursor(cursor)
    flat = _flat_distance(lat, lon)
    page = (
        select(Entry.id, flat.label("flat"))
        .where(*conditions, _within_flat(f))
        .order_by(flat, Entry.id)
        .offset(start)
        .limit(limit + 1)
        .subquery("page")
    )
    rows = session.execute(
        select(Entry.lat, Entry.lon, _item_json())
        .join_from(page, Entry, Entry.id == page.c.id)
        .order_by(page.c.flat, page.c.id)
    ).all()
    found = [
        (row.item, distance_km(lat, lon, row.lat, row.lon))
        for row in rows
        if row.lat is not None and row.lon is not None
    ]
    more = len(found) > limit
    items = [
        item[:-1] + f',"distance_km":{json.dumps(round(d, 3))},"next_date":null}}'
        for item, d in found[:limit]
        if d <= f.radius_km
    ]
    return raw_page_json(items, encode_cursor(["pos", start + limit]) if more else None)


def events_page(
    session: Session,
    territory: str | None,
    start: date,
    end: date,
    cursor: str | None,
    limit: int,
) -> bytes:
    """The JSON body of one page of ``GET /events`` (``Page[EntryOut]``): events with at least
    one date in [start, end], by their next date in the window."""
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
    next_cursor = encode_cursor(["pos", position + limit]) if len(page) > limit else None
    items = [EntryOut.of(e, next_date=d).model_dump(mode="json") for e, d in page[:limit]]
    return json.dumps(
        {"items": items, "next_cursor": next_cursor}, ensure_ascii=False, separators=(",", ":")
    ).encode()


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
