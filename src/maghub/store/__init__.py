"""Persistence: SQLAlchemy async engine, ORM tables, Alembic migrations and one repository per area."""

from maghub.store.database import Database

__all__ = ["Database"]
