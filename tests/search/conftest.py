"""Shared storages for the multi-worker tests: a SQLite file, and a throwaway PostgreSQL server."""

from __future__ import annotations

import importlib.util
from typing import Iterator

import pytest


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL 16 server started for this test session (``pgserver``'s
    binaries, a temp folder, 127.0.0.1 and a free port); stopped and deleted at the end."""
    from nasengine.testing.postgres import PostgresUnavailable, TemporaryPostgres

    if importlib.util.find_spec("psycopg2") is None:
        pytest.skip("the postgres extra is not installed (psycopg2): pip install -e '.[postgres]'")
    try:
        server = TemporaryPostgres().start()
    except PostgresUnavailable as e:
        pytest.skip(f"no PostgreSQL server for these tests: {e}")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path) -> str:
    """A storage URL that several workers can share: a SQLite file in the test's folder, or
    the session's PostgreSQL server (each test gets its own study name from its folder)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_server")
