"""SQLAlchemy: the tables and mapped classes a module's code defines (Flask-SQLAlchemy and SQLModel map through them).

Executing a model module again would define a second ``Table`` of a name
("Table 'user_account' is already defined for this MetaData instance") and a
second class of a name in the registry's string lookup. So a reload takes the
previous generation's out first (``retract_before``): ``TableDefined`` leaves
its ``MetaData`` (foreign keys naming it by string are linked to the new one
by SQLAlchemy when its columns attach), ``ClassMapped`` leaves the string
lookup and the registry's mappers. A refused reload puts the same objects
back and links the foreign keys to them again. Around the transaction
(``Coordinated``): ``related`` re-executes the modules whose mappers or
tables are tied to the reloaded ones by relationship or foreign key (a
configured relationship cannot take a new target); ``staged`` configures the
new mappers before anything is published, so a broken mapping refuses the
reload and continued classes carry configured attributes from the first
instant (other threads do not configure them meanwhile: they are made under
SQLAlchemy's configure lock and marked not ready); ``publishing`` moves the
instances loaded before the reload to the new class managers in the
publish's own atomic pass, and ``settled`` those made meanwhile
(docs/side-effects-orm.md).

Private structures of SQLAlchemy are touched in this package and nowhere else (the
registry's ``_class_registry`` and ``_managers``, ``clsregistry._add_class``,
``MetaData._add_table`` and ``_fk_memos``, ``ForeignKey._set_target_column``,
``Mapper._props``, ``_inheriting_mappers`` and ``_ready_for_configure``,
``mapperlib._CONFIGURE_MUTEX`` and ``_mapper_registries``,
``InstanceState.manager``), as read in SQLAlchemy 2.1 and tested against it
(``TESTED``). With another version the entry does nothing but refuse a reload
of a module that defined mapped classes or tables, naming the version.

The package: ``definitions`` (the effects and the version check), ``entry``
(recording, and the steps around the transaction), ``relations`` (which
modules' mappers and tables are tied together), ``instances`` (held
instances moved to the new class managers).

May import: what ``_effects.registries`` may (``_errors``, ``_core``, ``_effects.recording``).
"""

from .entry import SQLAlchemyEntry

__all__ = ["SQLAlchemyEntry"]
