"""Holder kinds: one small rewriter per kind of object that can hold a new class or Enum member.

Two tables, looked up along the holder's type's MRO (so ``OrderedDict``,
``defaultdict`` and user subclasses find their base's entry):

* ``COPIES`` — immutable holders (tuples, NamedTuple instances, frozensets,
  ``A | B`` unions, ``list[A]`` aliases, bound methods, weak references):
  a mapped copy is built while planning, and takes the holder's place
  wherever the holder itself is held (found by the next round of the search).
* ``REWRITERS`` — mutable holders (dicts, lists, sets, deques, cells,
  functions' defaults, ``functools.partial``, objects' attributes and slots):
  planned as C-level operations with their undo, applied at publish.

A kind in neither table is not rewritten; ``docs/how-it-works.md`` lists the
known ones (frames of running code, C objects with hidden references).
"""

from __future__ import annotations

import collections
import functools
import operator
import types
import weakref
from collections.abc import Callable
from typing import Any

from .operations import Plan, add_sequence, nothing

__all__ = ["COPIES", "REWRITERS", "IGNORED", "lookup", "rewrite_object", "is_user_class", "retype_operations",
           "is_class", "mro_of", "bases_of", "set_bases", "dict_of"]

Mapped = Callable[[Any], Any]

# Read through type's own descriptors: a metaclass may shadow any of these names.
_TYPE_MRO = type.__dict__["__mro__"].__get__
_TYPE_BASES = type.__dict__["__bases__"].__get__
set_bases = type.__dict__["__bases__"].__set__
_TYPE_DICT = type.__dict__["__dict__"].__get__
_SET_CLASS = object.__dict__["__class__"].__set__


def is_class(value: object) -> bool:
    """Whether ``value`` is a class, without consulting its ``__class__`` attribute."""
    return issubclass(type(value), type)


def mro_of(cls: type) -> tuple[type, ...]:
    mro: tuple[type, ...] = _TYPE_MRO(cls)
    return mro


def bases_of(cls: type) -> tuple[type, ...]:
    bases: tuple[type, ...] = _TYPE_BASES(cls)
    return bases


def dict_of(cls: type) -> types.MappingProxyType[str, Any]:
    attributes: types.MappingProxyType[str, Any] = _TYPE_DICT(cls)
    return attributes


def retype_operations(instance: object, target: type) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Plan ``instance.__class__ = target`` (never through a ``__class__`` the class body defines)."""
    return (_SET_CLASS, instance, target), (_SET_CLASS, instance, type(instance))


# -- immutable holders: mapped copies ---------------------------------------------

def _copy_tuple(holder: tuple[Any, ...], mapped: Mapped) -> Any:
    items = tuple(map(_strong(mapped), holder))
    if all(a is b for a, b in zip(items, holder)):
        return holder  # unchanged contents; a NamedTuple of a continued class is retyped in place
    cls = type(holder)
    if cls is tuple:
        return items
    copy = tuple.__new__(mapped(cls), items)
    attributes = getattr(holder, "__dict__", None)
    if type(attributes) is dict and attributes:
        copy.__dict__.update({key: mapped(value) for key, value in attributes.items()})
    return copy


def _copy_frozenset(holder: frozenset[Any], mapped: Mapped) -> Any:
    items = [mapped(item) for item in holder]
    if all(a is b for a, b in zip(items, holder)):
        return holder
    cls = type(holder)
    return frozenset(items) if cls is frozenset else frozenset.__new__(mapped(cls), items)


def _copy_union(holder: types.UnionType, mapped: Mapped) -> Any:
    arguments = tuple(map(mapped, holder.__args__))
    if all(a is b for a, b in zip(arguments, holder.__args__)):
        return holder
    return functools.reduce(operator.or_, arguments)


def _copy_generic_alias(holder: types.GenericAlias, mapped: Mapped) -> Any:
    origin, arguments = mapped(holder.__origin__), tuple(map(mapped, holder.__args__))
    if origin is holder.__origin__ and all(a is b for a, b in zip(arguments, holder.__args__)):
        return holder
    return types.GenericAlias(origin, arguments)


def _copy_method(holder: types.MethodType, mapped: Mapped) -> Any:
    function, owner = mapped(holder.__func__), mapped(holder.__self__)
    if function is holder.__func__ and owner is holder.__self__:
        return holder
    return types.MethodType(function, owner)


def _copy_weakref(holder: weakref.ref[Any], mapped: Mapped) -> Any:
    referent = holder()
    target = mapped(referent) if referent is not None else None
    if target is None or target is referent:
        return holder
    callback = holder.__callback__
    if isinstance(holder, weakref.KeyedRef):  # WeakValueDictionary's values
        return type(holder)(target, callback, holder.key)
    if type(holder) is weakref.ref:
        return weakref.ref(target, callback) if callback is not None else weakref.ref(target)
    return holder  # a user subclass of ref: its constructor is unknown (a documented limit)


COPIES: dict[type, Callable[[Any, Mapped], Any]] = {
    tuple: _copy_tuple,
    frozenset: _copy_frozenset,
    types.UnionType: _copy_union,
    types.GenericAlias: _copy_generic_alias,
    types.MethodType: _copy_method,
    weakref.ref: _copy_weakref,
}


# -- mutable holders: operations in place -------------------------------------------

def _untouched(holder: Any, mapped: Mapped) -> bool:
    """Whether nothing ``holder`` refers to directly can map to something else (ids checked in C, no loop)."""
    touched = getattr(mapped, "touched", None)
    return touched is not None and touched.isdisjoint(map(id, holder))


def _replace_dict(result: Plan, holder: dict[Any, Any], mapped: Mapped, clear: Callable[..., Any],
                  update: Callable[..., Any]) -> None:
    values_untouched = _untouched(holder.values(), mapped)
    keys_untouched = _untouched(holder, mapped)
    if values_untouched and keys_untouched:
        return
    touched = getattr(mapped, "touched", None)
    if clear is dict.clear and keys_untouched and touched is not None:
        # A few values change (a namespace, a registry): those entries alone, each one C call. The key is
        # the very object the dict holds and hashes in C, so its cached hash and identity find it: no Python runs.
        steps = []
        for key, value in holder.items():
            if id(value) in touched:
                if not _hashed_in_c(key):
                    break
                target = mapped(value)
                if target is not value:
                    steps.append((key, value, target))
        else:
            for key, value, target in steps:
                result.add((dict.__setitem__, holder, key, target), (dict.__setitem__, holder, key, value))
            return
    contents = {}
    changed = False
    for key, value in holder.items():
        new_key, new_value = mapped(key), mapped(value)
        changed = changed or new_key is not key or new_value is not value
        contents[new_key] = new_value
    if not changed:
        return
    before = dict(holder)
    # The restore sits on the clear, so an undo after either step leaves the dict as it was.
    result.add((clear, holder), (_restore, clear, update, holder, before))
    result.add((update, holder, contents), (nothing,))


def _hashed_in_c(key: Any) -> bool:
    """Whether hashing ``key`` runs no Python code: a string, a number, or a tuple of such."""
    kind = type(key)
    if kind is tuple:
        return all(_hashed_in_c(item) for item in key)
    return kind in _C_HASHED


_C_HASHED = frozenset({str, int, bytes, bool, float, type(None)})


def _restore(clear: Callable[..., Any], update: Callable[..., Any], holder: Any, contents: Any) -> None:
    clear(holder)
    update(holder, contents)


def _rewrite_dict(result: Plan, holder: dict[Any, Any], mapped: Mapped) -> None:
    # ``update`` from an exact dict reuses the stored hashes: no Python __hash__ runs while publishing.
    _replace_dict(result, holder, mapped, dict.clear, dict.update)


def _rewrite_ordered_dict(result: Plan, holder: collections.OrderedDict[Any, Any], mapped: Mapped) -> None:
    # OrderedDict keeps its own links: only its own (C) methods may change it.
    _replace_dict(result, holder, mapped, collections.OrderedDict.clear, collections.OrderedDict.update)


def _strong(mapped: Mapped) -> Mapped:
    """``mapped`` for positional holders: a weak reference there is left to die with its throwaway referent.

    A dict or set keyed by weak references (``WeakValueDictionary``,
    ``WeakKeyDictionary``, ``WeakSet``) must point at the identity, or it
    loses the entry; but a list of weak references (a signal's receivers) may
    already hold one to the identity, from the first generation: a second
    would make every receiver fire twice.
    """
    def strong(value: Any) -> Any:
        return value if isinstance(value, weakref.ref) else mapped(value)
    return strong


def _rewrite_list(result: Plan, holder: list[Any], mapped: Mapped) -> None:
    if _untouched(holder, mapped):
        return
    before = list(holder)
    mapped = _strong(mapped)
    after = [mapped(value) for value in before]
    if any(a is not b for a, b in zip(after, before)):
        result.add((list.__setitem__, holder, slice(None), after), (list.__setitem__, holder, slice(None), before))


def _rewrite_set(result: Plan, holder: set[Any], mapped: Mapped) -> None:
    before = set(holder)
    if any(mapped(value) is not value for value in before):
        after = {mapped(value) for value in before}
        result.add((set.clear, holder), (_restore, set.clear, set.update, holder, before))
        result.add((set.update, holder, after), (nothing,))


def _rewrite_deque(result: Plan, holder: collections.deque[Any], mapped: Mapped) -> None:
    before = list(holder)
    mapped = _strong(mapped)
    after = [mapped(value) for value in before]
    if any(a is not b for a, b in zip(after, before)):
        result.add((collections.deque.clear, holder),
                   (_restore, collections.deque.clear, collections.deque.extend, holder, before))
        result.add((collections.deque.extend, holder, after), (nothing,))


def _rewrite_cell(result: Plan, holder: types.CellType, mapped: Mapped) -> None:
    try:
        value = holder.cell_contents
    except ValueError:
        return  # an empty cell
    target = mapped(value)
    if target is not value:
        result.add((setattr, holder, "cell_contents", target), (setattr, holder, "cell_contents", value))


def _rewrite_function(result: Plan, holder: types.FunctionType, mapped: Mapped) -> None:
    # Its __kwdefaults__, __annotations__ and __dict__ are dicts, rewritten as such.
    value = holder.__defaults__
    if value is not None and mapped(value) is not value:
        result.add((setattr, holder, "__defaults__", mapped(value)), (setattr, holder, "__defaults__", value))


def _rewrite_method_wrapper(result: Plan, holder: Any, mapped: Mapped) -> None:
    """``staticmethod``/``classmethod``: re-initialised around the mapped function (a C call)."""
    function = holder.__func__
    if mapped(function) is not function:
        initialise = classmethod.__init__ if isinstance(holder, classmethod) else staticmethod.__init__
        result.add((initialise, holder, mapped(function)), (initialise, holder, function))


def _rewrite_property(result: Plan, holder: property, mapped: Mapped) -> None:
    accessors = (holder.fget, holder.fset, holder.fdel)
    after = tuple(map(mapped, accessors))
    if any(a is not b for a, b in zip(after, accessors)):
        result.add((property.__init__, holder, *after, holder.__doc__),
                   (property.__init__, holder, *accessors, holder.__doc__))


def _rewrite_partial(result: Plan, holder: functools.partial[Any], mapped: Mapped) -> None:
    function, arguments = mapped(holder.func), mapped(holder.args)
    if function is holder.func and arguments is holder.args:
        return  # its keywords are a dict, rewritten as such
    attributes = getattr(holder, "__dict__", None) or None
    result.add((_PARTIAL_SETSTATE, holder, (function, arguments, holder.keywords, attributes)),
               (_PARTIAL_SETSTATE, holder, (holder.func, holder.args, holder.keywords, attributes)))


_PARTIAL_SETSTATE = functools.partial.__dict__["__setstate__"]  # C; absent from the stubs


def rewrite_object(result: Plan, holder: object, mapped: Mapped, done: set[int]) -> None:
    """An instance of a user class: its class, its attributes (inline or in its dict) and its slots.

    Runs for every holder whose class is a user class, after its kind's own
    rewriter (a ``dict`` subclass instance has items *and* attributes).
    """
    cls = type(holder)
    attributes = _instance_dict(holder, cls)
    if type(attributes) is dict and id(attributes) not in done:
        # An object whose attributes live inline (3.11+) is its own referrer: rewrite its dict.
        done.add(id(attributes))
        _rewrite_dict(result, attributes, mapped)
    for owner in mro_of(cls):
        if not is_user_class(owner):
            continue  # a built-in base's members are its own (weakref.ref.__callback__ is read-only)
        for descriptor in dict_of(owner).values():
            if type(descriptor) is not types.MemberDescriptorType or descriptor.__objclass__ is not owner:
                continue
            try:
                value = descriptor.__get__(holder, cls)
            except AttributeError:
                continue  # an empty slot
            if mapped(value) is not value:
                add_sequence(result, ((descriptor.__set__, holder, mapped(value)),),
                             ((descriptor.__set__, holder, value),))
    # Last: a slot descriptor of the class the instance has now only applies to that class.
    target = mapped(cls)
    if target is not cls:
        result.add(*retype_operations(holder, target))


_HEAPTYPE = 1 << 9
_IMMUTABLETYPE = 1 << 8


def _instance_dict(holder: object, cls: type) -> Any:
    for owner in mro_of(cls):
        descriptor = dict_of(owner).get("__dict__")
        if type(descriptor) is types.GetSetDescriptorType:
            try:
                return descriptor.__get__(holder, cls)
            except (AttributeError, TypeError):
                return None
    return None


REWRITERS: dict[type, Callable[[Plan, Any, Mapped], None]] = {
    dict: _rewrite_dict,
    collections.OrderedDict: _rewrite_ordered_dict,
    list: _rewrite_list,
    set: _rewrite_set,
    collections.deque: _rewrite_deque,
    types.CellType: _rewrite_cell,
    types.FunctionType: _rewrite_function,
    functools.partial: _rewrite_partial,
    staticmethod: _rewrite_method_wrapper,
    classmethod: _rewrite_method_wrapper,
    property: _rewrite_property,
}

# Holders that are never rewritten: classes change through their class state,
# modules through their namespace, and the rest are the interpreter's own.
IGNORED: frozenset[type] = frozenset({type, types.ModuleType, types.FrameType, types.CodeType,
                                      types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType})


def lookup(holder: object) -> tuple[str, Callable[..., Any] | None]:
    """Return ``("copy", copier)``, ``("rewrite", rewriter)`` or ``("skip", None)`` for ``holder``'s kind.

    A user class's instance with no container base is ``("rewrite", None)``:
    only ``rewrite_object`` applies to it. That includes an instance of a
    user's ``ModuleType`` subclass (six's ``moves = _MovedItems(...)``): it is
    an object module code made, whose class must become the identity; only
    an exact module (a proxy, whose namespace the publisher swaps) is skipped.
    """
    cls = type(holder)
    if is_class(holder) or cls in IGNORED:
        return "skip", None
    for owner in mro_of(cls):
        copier = COPIES.get(owner)
        if copier is not None:
            return "copy", copier
        rewriter = REWRITERS.get(owner)
        if rewriter is not None:
            return "rewrite", rewriter
        if owner in IGNORED:
            break  # a built-in base no rewriter knows: only the instance's own class, attributes and slots
    return ("rewrite", None) if is_user_class(cls) else ("skip", None)


def is_user_class(cls: type) -> bool:
    """Whether ``cls`` was made by a class statement: its instances' class, attributes and slots can change.

    C types made from a spec are heap types too (``functools.partial`` is),
    but immutable ones.
    """
    flags = cls.__flags__
    return bool(flags & _HEAPTYPE) and not flags & _IMMUTABLETYPE
