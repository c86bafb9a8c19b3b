"""What the ORM tests share: a sandbox with a real SQLite file, edits by replacement, and the registries' state."""

from __future__ import annotations

import gc
import os
import sqlite3

import versioned_import as vi
from tests.support import Sandbox


class ORMSandbox(Sandbox):
    """A sandbox whose modules use a SQLite file in it; engines the test makes are disposed at the end."""

    def setUp(self) -> None:
        super().setUp()
        self.database = os.path.join(self.root, "app.db")
        self.url = f"sqlite:///{self.database}"
        self.install()

    def replace(self, relative: str, old: str, new: str) -> None:
        """Edit a module the test wrote: ``old`` (which must be there) becomes ``new``."""
        path = os.path.join(self.root, relative)
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
        self.assertIn(old, text, f"{relative} does not contain {old!r}")
        self.write(relative, text.replace(old, new))

    def migrate(self, *statements: str) -> None:
        """Run SQL on the database file, as a migration would (schema changes are the application's)."""
        with sqlite3.connect(self.database) as connection:
            for statement in statements:
                connection.execute(statement)

    def refused(self, *names: str) -> vi.ReloadError:
        with self.assertRaises(vi.ReloadError) as caught:
            vi.reload(*names)
        return caught.exception

    def open_files(self) -> int:
        """How many file descriptors of this process are open on the database file."""
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == self.database:
                    count += 1
            except OSError:
                continue
        return count

    def live(self, kind: type) -> int:
        gc.collect()
        return sum(1 for obj in gc.get_objects() if isinstance(obj, kind))


def registry_state(base: type) -> dict[str, object]:
    """Everything a declarative base's registry holds, as (name -> object) for identity comparisons."""
    registry = base.registry
    return {
        "registry": registry,
        "metadata": base.metadata,
        "mappers": sorted((m.class_.__name__, id(m)) for m in registry.mappers),
        "lookup": {name: id(value) for name, value in registry._class_registry.items()
                   if not name.startswith("_sa_")},
        "tables": {key: id(table) for key, table in base.metadata.tables.items()},
    }


def warm_up_sqlalchemy() -> None:
    """Import and use every part of SQLAlchemy the tests reach, before any sandbox records ``sys.modules``.

    A sandbox removes the modules first imported during its test; SQLAlchemy's
    compiled extension modules cannot be imported twice in one process (the
    second copy fails with "'InternalTraversal' object is not callable"), so
    all of it must already be there. Does nothing if SQLAlchemy is absent.
    """
    try:
        from sqlalchemy import Column, ForeignKey, Integer, String, create_engine, select
        from sqlalchemy.orm import DeclarativeBase, Session, relationship
    except ImportError:
        return

    class Base(DeclarativeBase):
        pass

    class Parent(Base):
        __tablename__ = "parent"
        id = Column(Integer, primary_key=True)
        name = Column(String(10))
        children = relationship("Child", back_populates="parent")

    class Child(Base):
        __tablename__ = "child"
        id = Column(Integer, primary_key=True)
        parent_id = Column(ForeignKey("parent.id"))
        parent = relationship(Parent, back_populates="children")

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Parent(children=[Child()]))
        session.commit()
        parent = session.scalars(select(Parent)).one()
        _ = [child.parent for child in parent.children]
        session.execute(select(Parent.id).order_by(Parent.id)).all()
        session.delete(parent.children[0])
        session.commit()
    engine.dispose()
    Base.registry.dispose()
