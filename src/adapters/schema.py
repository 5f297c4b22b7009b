"""Versioned schemas, for both storage engines: a service's tables as an ordered list of migrations, and the
one way they are applied when a database is opened.

A service's `Schema` says which tables its adapters rely on and how to build them: `migrations[n]` brings a
database from version n to n + 1. Changing the tables means appending a migration, never editing one:
databases in the field are at every earlier version. Each engine keeps the version its own way (SQLite's
PRAGMA user_version, a `schema_migrations` table in PostgreSQL) and runs `migrate` inside one transaction of
its own under its own lock, so two processes opening one database at once migrate it one after the other and
the second finds nothing to do; `migrate` is what they share: refuse a database a newer release wrote or
another service owns, apply what is missing, in order, and record each version.
"""

from __future__ import annotations

from typing import Protocol

from attrs import frozen


class UnusableDatabase(Exception):
    """The database cannot serve this service: written by a newer release, or another service's."""


@frozen
class Schema:
    """A service's tables and how to build them: `migrations[n]` brings a database from version n to n + 1.

    `tables` are the tables the adapters rely on; a database at the current version without them belongs to
    another service.
    """

    name: str
    tables: frozenset[str]
    migrations: tuple[tuple[str, ...], ...]

    @property
    def version(self) -> int:
        return len(self.migrations)


class Migrating(Protocol):
    """One engine's database, inside the transaction `migrate` runs in."""

    def version(self) -> int:
        """The version the database is at (0: new)."""

    def run(self, statement: str) -> None:
        """Run one of a migration's statements, as it is."""

    def record(self, version: int) -> None:
        """Record that the database is now at `version`."""

    def tables(self) -> set[str]:
        """The names of the tables the database has."""


def migrate(schema: Schema, database: Migrating, *, where: str) -> None:
    """Bring `database` (named `where` in errors) to `schema.version`, or raise `UnusableDatabase`."""
    found = database.version()
    if found > schema.version:
        _require_tables(schema, database, where)  # another service's database may well be at a higher version
        raise UnusableDatabase(
            f"{where} is at {schema.name} schema version {found}, newer than this release's {schema.version}"
        )
    for version, statements in enumerate(schema.migrations[found:], start=found + 1):
        for statement in statements:
            database.run(statement)
        database.record(version)
    _require_tables(schema, database, where)


def _require_tables(schema: Schema, database: Migrating, where: str) -> None:
    missing = schema.tables - database.tables()
    if missing:
        raise UnusableDatabase(
            f"{where} is not a {schema.name} database: it has no {', '.join(sorted(missing))} table"
        )
