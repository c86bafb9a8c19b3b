"""Class states: what one generation says a class is, and how an existing class object becomes it.

A continued class keeps its identity; publishing applies the new state to the
identity with ``type.__setattr__``/``type.__delattr__`` (or straight into the
class dict for names a metaclass descriptor would intercept), merges ABC
registrations and carries Enum members over. The ``*incompatibility``
functions say when that is impossible, with the reason users read in
``ReloadReport.replaced``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._core.atomic import apply_atomically
from .holders import bases_of, dict_of, mro_of, set_bases
from .operations import Plan, add_sequence, mapped, nothing, real_dict, replace_contents

try:
    import _abc  # type: ignore[import-not-found]  # C module, no stubs
except ImportError:  # pragma: no cover - only the pure-Python _py_abc interpreters
    _abc = None

__all__ = ["ClassState", "snapshot", "apply_state", "set_operations", "merge_abc", "incompatibility", "probe",
           "enum_incompatibility", "map_enum_members", "HEAPTYPE", "HAVE_GC"]


_LAYOUT_KEYS = frozenset({"__dict__", "__weakref__"})


_KEEP_KEYS = frozenset({"_abc_impl"})  # belongs to the identity: its registry and caches


HEAPTYPE = 1 << 9


HAVE_GC = 1 << 14


@dataclass(eq=False)
class ClassState:
    """What one generation says a class is: applied to the identity object on publish.

    ``name`` is the class's own name (the type's, not a ``__name__`` its body
    binds for instances): what the class statement, or module code after it,
    named it.
    """

    identity: type
    attributes: dict[str, Any]
    bases: tuple[type, ...]
    name: str = ""


def _static_base(cls: type) -> type:
    for base in mro_of(cls):
        if not base.__flags__ & HEAPTYPE:
            return base
    return object


_LAYOUT = tuple(type.__dict__[name].__get__ for name in
                ("__basicsize__", "__itemsize__", "__dictoffset__", "__weakrefoffset__"))


def _layout(cls: type) -> tuple[Any, ...]:
    return (*(read(cls) for read in _LAYOUT), _static_base(cls))


def incompatibility(identity: type, new: type, mapped: Callable[[Any], Any]) -> str | None:
    """Say why ``identity`` cannot become ``new`` in place, or None if it can.

    ``mapped`` gives the identity of each class decided so far: a metaclass
    re-executed with the module that defines it is the same metaclass.
    """
    metaclass = mapped(type(new))
    if metaclass is not type(identity):
        old_name, new_name = type(identity).__qualname__, type(new).__qualname__
        detail = f"{old_name} -> {new_name}" if old_name != new_name else f"{old_name} was itself replaced"
        return f"its metaclass changed ({detail}); existing instances keep the old class"
    old_slots = dict_of(identity).get("__slots__")
    new_slots = dict_of(new).get("__slots__")
    if old_slots != new_slots:
        return "its __slots__ changed, so instances have another layout; existing instances keep the old class"
    if _layout(identity) != _layout(new):
        return ("its base classes changed the instance layout (a different built-in base); existing instances "
                "keep the old class")
    return None


def probe(operations: list[tuple[tuple[Any, ...], tuple[Any, ...]]]) -> TypeError | None:
    """Apply ``(do, undo)`` pairs and undo them, in one step nobody can observe; return CPython's refusal, if any."""
    do = [pair[0] for pair in operations] + [pair[1] for pair in reversed(operations)]
    undo = [pair[1] for pair in operations] + [(nothing,)] * len(operations)
    try:
        apply_atomically(do, undo)
    except TypeError as error:
        return error
    return None


def snapshot(cls: type, identity: type, mapping: dict[int, tuple[Any, Any]], kept: Any = ()) -> ClassState:
    """What ``cls`` says ``identity`` is; the attributes named in ``kept`` keep the identity's own, equal objects."""
    attributes = {}
    current = dict_of(identity)
    for key, value in dict_of(cls).items():
        if key in _LAYOUT_KEYS or key in _KEEP_KEYS:
            continue
        if isinstance(value, types.MemberDescriptorType) and value.__objclass__ is cls:
            continue  # a __slots__ descriptor: the identity keeps its own, same layout
        if key in kept and key in current:
            attributes[key] = current[key]
            continue
        attributes[key] = mapped(value, mapping)
    bases = tuple(mapped(base, mapping) for base in bases_of(cls))
    return ClassState(identity, attributes, bases, _TYPE_NAME(cls))


_TYPE_NAME = type.__dict__["__name__"].__get__
_SET_TYPE_NAME = type.__dict__["__name__"].__set__


_MISSING = object()


# Names whose descriptor on ``type`` stores the value into the class dict, as a class statement does:
# ``type.__setattr__`` is right for them (it also keeps the type's flags and caches). The type's other
# descriptors do not store: ``__name__`` and ``__qualname__`` rename the class itself (and take only
# strings), ``__text_signature__`` cannot be set. A class body may still bind those names (toolz's
# ``Compose`` has a ``__name__`` property for its instances): they go straight into the dict.
_STORED_BY_TYPE = frozenset({"__doc__", "__module__", "__abstractmethods__", "__annotations__", "__type_params__"})


def _raw_key(identity: type, key: str) -> bool:
    """Whether ``type.__setattr__(identity, key, v)`` would hit a metaclass descriptor, not the class dict.

    A class body may define ``__class__`` (proxies and mocks do): assigning it
    through ``type.__setattr__`` would try to change the class's metaclass.
    """
    if key in _STORED_BY_TYPE or not (key.startswith("__") and key.endswith("__")):
        return False
    for owner in mro_of(type(identity)):
        descriptor = dict_of(owner).get(key)
        if descriptor is not None:
            return hasattr(type(descriptor), "__set__")
    return False


def set_operations(identity: type, key: str, value: Any) -> tuple[tuple[Any, ...], ...]:
    if not _raw_key(identity, key):
        return ((type.__setattr__, identity, key, value),)
    # Write the real dict, then any ordinary type attribute write invalidates the type cache.
    return ((dict.__setitem__, real_dict(identity), key, value), _touch(identity))


def _del_operations(identity: type, key: str) -> tuple[tuple[Any, ...], ...]:
    if not _raw_key(identity, key):
        return ((type.__delattr__, identity, key),)
    return ((dict.__delitem__, real_dict(identity), key), _touch(identity))


def _touch(identity: type) -> tuple[Any, ...]:
    return (type.__setattr__, identity, "__doc__", dict_of(identity).get("__doc__"))


def apply_state(result: Plan, class_state: ClassState) -> None:
    identity = class_state.identity
    current = dict_of(identity)
    if class_state.bases != bases_of(identity):
        result.add((set_bases, identity, class_state.bases),
                   (set_bases, identity, bases_of(identity)))
    if class_state.name and class_state.name != _TYPE_NAME(identity):
        result.add((_SET_TYPE_NAME, identity, class_state.name), (_SET_TYPE_NAME, identity, _TYPE_NAME(identity)))
    for key, value in current.items():
        if key in class_state.attributes or key in _LAYOUT_KEYS or key in _KEEP_KEYS:
            continue
        if isinstance(value, types.MemberDescriptorType) and value.__objclass__ is identity:
            continue
        add_sequence(result, _del_operations(identity, key), set_operations(identity, key, value))
    for key, value in class_state.attributes.items():
        before = current.get(key, _MISSING)
        if before is value:
            continue
        undo = _del_operations(identity, key) if before is _MISSING else set_operations(identity, key, before)
        add_sequence(result, set_operations(identity, key, value), undo)
    if _abc is not None and "_abc_impl" in current:
        result.add((_abc._reset_caches, identity), (_abc._reset_caches, identity))


def merge_abc(result: Plan, identity: type, new: type, mapping: dict[int, tuple[Any, Any]]) -> None:
    if _abc is None or "_abc_impl" not in dict_of(new) or "_abc_impl" not in dict_of(identity):
        return
    registry = _abc._get_dump(new)[0]
    for reference in registry:
        subclass = reference()
        if subclass is not None:
            result.add((_abc._abc_register, identity, mapped(subclass, mapping)), (nothing,))


def enum_incompatibility(identity: type, new: type) -> str | None:
    """An int/str/tuple-based enum member carries its value in the object itself: it cannot change."""
    new_members = dict_of(new).get("_member_map_")
    old_members = dict_of(identity).get("_member_map_")
    if not isinstance(new_members, dict) or not isinstance(old_members, dict):
        return None
    if dict_of(new).get("_member_type_", object) is object:
        return None
    for name, member in new_members.items():
        old = old_members.get(name)
        if old is not None and getattr(old, "_value_", None) != getattr(member, "_value_", None):
            return (f"member {name} of this {dict_of(new)['_member_type_'].__name__}-based enum changed value, "
                    "and such a member holds its value inside the object; existing members keep the old class")
    return None


def map_enum_members(result: Plan, mapping: dict[int, tuple[Any, Any]], identity: type, new: type) -> None:
    new_members = dict_of(new).get("_member_map_")
    old_members = dict_of(identity).get("_member_map_")
    if not isinstance(new_members, dict) or not isinstance(old_members, dict):
        return
    # Pseudo-members (Flag composites such as R|W) made before the reload stay
    # the very objects they were, so values taken earlier still compare equal.
    new_values = dict_of(new).get("_value2member_map_")
    old_values = dict_of(identity).get("_value2member_map_")
    if isinstance(new_values, dict) and isinstance(old_values, dict):
        canonical = {id(m) for m in old_members.values()}
        for value, member in old_values.items():
            if value not in new_values and id(member) not in canonical:
                new_values[value] = member
    # An old member stays the very same object: it takes the new member's state.
    for name, member in new_members.items():
        old = old_members.get(name)
        if old is None or type(old) is not identity or not hasattr(old, "__dict__"):
            continue
        mapping[id(member)] = (member, old)
    for member in new_members.values():
        old = mapped(member, mapping)
        if old is not member:
            replace_contents(result, old.__dict__, {k: mapped(v, mapping) for k, v in member.__dict__.items()})
