"""Django: the models a module's code registers in the app registry (``django.apps.apps``).

A model class registers itself when it is defined (``apps.register_model``):
``apps.all_models[app_label][model_name]``, which ``AppConfig.models`` is.
Executing a models module again would register a second class of the same
name, with ``RuntimeWarning: Model 'polls.question' was already registered.
Reloading models is not advised as it can lead to inconsistencies, most
notably with related models``. So a reload takes the previous generation's
models out of the registry before the new code runs (``retract_before``),
and the new code registers them afresh, as a fresh process would; a refused
reload puts the same classes back.

Related models (``Coordinated``): a foreign key to a model installs a
reverse accessor (``question.choice_set``) and reverse relation on the model
it points at. A new definition of that model does not have them, so a module
whose models point at models being reloaded is re-executed with them
(``related``), and its fields are resolved against the new definitions. Each
change of the registry expires every model's ``_meta`` caches
(``apps.clear_cache()``), and so does the end of a publish or rollback
(``settled``), so that reverse relations and the fields map describe the
published models.

Only the public registry is used: ``apps.all_models``, ``apps.clear_cache``,
``Model._meta`` and its fields' ``remote_field.model``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..._core.effects import Effect
from ..._core.state import ModuleRecord
from ..recording import Recording

__all__ = ["DjangoEntry"]


def _apps() -> Any:
    registry = sys.modules.get("django.apps.registry")
    return getattr(registry, "apps", None)


@dataclass(eq=False)
class ModelRegistered:
    apps: Any
    app_label: str
    model_name: str
    model: Any
    applied: bool = True
    retract_before: bool = True

    @property
    def key(self) -> tuple[str, int, str, str]:
        return ("django.model", id(self.apps), self.app_label, self.model_name)

    def retract(self) -> None:
        if not self.applied:
            return  # the class under this name now is a newer generation's (continued to the same identity)
        models = self.apps.all_models[self.app_label]
        if models.get(self.model_name) is self.model:
            del models[self.model_name]
            self.apps.clear_cache()
        self.applied = False

    def restore(self) -> None:
        if self.applied:
            return
        self.apps.all_models[self.app_label][self.model_name] = self.model
        self.apps.clear_cache()
        self.applied = True

    def discard(self) -> None:
        pass

    def describe(self) -> str:
        return f"Django model {self.app_label}.{self.model_name}"


def _registered(apps: Any) -> dict[tuple[str, str], Any]:
    return {(label, name): model for label, models in list(apps.all_models.items())
            for name, model in list(models.items())}


class DjangoEntry:
    library: str = "django.apps"
    markers: tuple[str, ...] = ("Model", "models")

    def start(self, recording: Recording) -> object:
        apps = _apps()
        return _registered(apps) if apps is not None else None

    def finish(self, recording: Recording, started: object) -> list[Effect]:
        apps = _apps()
        if apps is None or not isinstance(started, dict):
            return []
        return [ModelRegistered(apps, label, name, model) for (label, name), model in _registered(apps).items()
                if started.get((label, name)) is not model]

    def related(self, records: dict[str, ModuleRecord], names: set[str]) -> set[str]:
        targets = {id(model) for name in names for model in _models_of(records.get(name))}
        keys = {_label(model) for name in names for model in _models_of(records.get(name))}
        if not targets:
            return set()
        found = set()
        for name, record in records.items():
            if name not in names and any(_points_at(model, targets, keys) for model in _models_of(record)):
                found.add(name)
        return found

    def staged(self, recordings: list[Recording]) -> None:
        pass

    def publishing(self, recordings: list[Recording], unfreeze: Callable[[], None]) -> tuple[
            list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        return [], []  # models' instances carry no reference to the registry: nothing to move

    def settled(self, records: list[ModuleRecord]) -> None:
        apps = _apps()
        if apps is not None and any(_models_of(record) for record in records):
            apps.clear_cache()  # reverse relations and field maps of every model, from the published ones


def _models_of(record: ModuleRecord | None) -> list[Any]:
    if record is None or record.current is None:
        return []
    return [e.model for e in record.current.effects.effects if isinstance(e, ModelRegistered)]


def _label(model: Any) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _points_at(model: Any, targets: set[int], keys: set[str]) -> bool:
    """Whether one of ``model``'s own fields relates to one of the target models (resolved or by name)."""
    for field in model._meta.local_fields + model._meta.local_many_to_many:
        remote = getattr(field, "remote_field", None)
        target = getattr(remote, "model", None)
        if target is None:
            continue
        if isinstance(target, str):
            label = target.lower() if "." in target else f"{model._meta.app_label}.{target.lower()}"
            if label in keys:
                return True
        elif id(target) in targets:
            return True
    return False
