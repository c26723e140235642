"""Embedded mode (SQLite): reads lock nothing, each service's file has a writer of its own."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from citela_common.db import Database


def service_db(tmp_path: Path, schema: str) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'citela.db'}", schema)
    with db.transaction() as session:
        session.execute(
            text(f'CREATE TABLE IF NOT EXISTS "{schema}".avis (id INTEGER PRIMARY KEY, note INT)')
        )
    return db


def count(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text(f'SELECT count(*) FROM "{db.schema}".avis')).scalar_one())


def test_a_writer_blocks_neither_readers_nor_the_other_services(tmp_path: Path) -> None:
    feedback, catalogue = service_db(tmp_path, "feedback"), service_db(tmp_path, "catalogue")
    # One thread, a write transaction left open: anything that needed its lock would wait
    # for SQLite's busy timeout and fail, not pass.
    with feedback.transaction() as writing:
        writing.execute(text("INSERT INTO feedback.avis (note) VALUES (4)"))
        with catalogue.transaction() as other:
            other.execute(text("INSERT INTO catalogue.avis (note) VALUES (5)"))
        assert count(feedback) == 0, "a reader sees what was committed, and does not wait"
        assert feedback.ping()
    assert (count(feedback), count(catalogue)) == (1, 1)
    # Each service's data in its own file; no database shared by all of them.
    assert sorted(p.name for p in tmp_path.glob("*.db")) == [
        "citela.catalogue.db",
        "citela.feedback.db",
    ]


def test_a_read_unit_of_work_refuses_to_write(tmp_path: Path) -> None:
    feedback = service_db(tmp_path, "feedback")
    with pytest.raises(OperationalError, match="readonly"), feedback.read() as session:
        session.execute(text("INSERT INTO feedback.avis (note) VALUES (2)"))
    with feedback.transaction() as session:  # the pooled connection writes again
        session.execute(text("INSERT INTO feedback.avis (note) VALUES (3)"))
    assert count(feedback) == 1


def test_concurrent_writers_of_one_file_all_commit_or_roll_back_cleanly(tmp_path: Path) -> None:
    feedback = service_db(tmp_path, "feedback")
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(40):
                if i % 10 == 9:  # a failing unit of work releases the file as well
                    with pytest.raises(RuntimeError), feedback.transaction() as session:
                        session.execute(text("INSERT INTO feedback.avis (note) VALUES (1)"))
                        raise RuntimeError("annulé")
                else:
                    with feedback.transaction() as session:
                        session.execute(
                            text("INSERT INTO feedback.avis (note) VALUES (:n)"), {"n": n}
                        )
                    count(feedback)
        except BaseException as exc:  # reported to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count(feedback) == 8 * 36
