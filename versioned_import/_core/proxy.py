"""The proxy module, how a namespace is swapped into it, and views of other generations.

A proxy is the one module object in ``sys.modules`` for a versioned module's
whole life. Normally it is an *exact* ``types.ModuleType`` whose dict pointer
is the published generation's namespace: reads cost exactly what they cost on
any module, and ``global x`` writes inside the module, ``m.x = v``, ``del m.x``
and ``mock.patch`` all act on one dict because that dict *is* the namespace.
Publishing a generation replaces that one pointer (CPython's module layout is
checked at start-up; see ``FAST_SWAP``).

When some code must see another generation than the published one (a thread
inside ``pinned()`` after a newer generation was published, or the reload
transaction executing new generations privately), the proxy's class is
switched to ``VersionedModule``, whose ``__getattribute__`` consults the
``view`` context variable. The switch is undone when nobody needs it, so the
slow path exists only while a view is actually different.

Without the fast swap (another interpreter, a free-threaded build, a layout we
do not recognise) every proxy stays a ``VersionedModule`` and resolves through
``published``: slower, same semantics.
"""

from __future__ import annotations

import contextvars
import ctypes
import os
import sys
import types
import weakref
from collections.abc import Callable
from typing import Any

from .pointers import decref, incref, swap_pointer

__all__ = [
    "FAST_SWAP", "VersionedModule", "World", "view", "module_dict", "namespace_of",
    "swap_operations", "adopt_namespace", "set_view_class", "view_class", "own_class",
]

ModuleType = types.ModuleType
_module_getattribute = ModuleType.__getattribute__
_module_setattr = ModuleType.__setattr__
_module_delattr = ModuleType.__delattr__
_md_dict: Callable[[ModuleType], dict[str, Any]] = vars(ModuleType)["__dict__"].__get__  # the C-level md_dict, never a view

# The view a thread or task resolves proxies through: None means "the published world".
view: contextvars.ContextVar[World | None] = contextvars.ContextVar("versioned_import.view", default=None)

# Portable mode only: id(proxy) -> published namespace.
published: dict[int, dict[str, Any]] = {}


class World:
    """Which generation of each module a reader sees: a snapshot, never mutated after publish.

    ``generations`` maps ``id(proxy)`` to a generation object (anything with
    a ``namespace`` dict). ``pins`` counts the ``pinned()`` blocks holding it.
    """

    __slots__ = ("generations", "pins", "__weakref__")

    def __init__(self, generations: dict[int, Any]) -> None:
        self.generations = generations
        self.pins = 0

    def generation(self, proxy: object) -> Any:
        """Return the generation ``proxy`` resolves to in this world, or None."""
        return self.generations.get(id(proxy))

    def namespace(self, proxy: object) -> dict[str, Any] | None:
        """Return the namespace ``proxy`` resolves to in this world, or None."""
        generation = self.generations.get(id(proxy))
        return None if generation is None else generation.namespace

    def set_module_class(self, proxy: object, cls: type) -> bool:
        """Record that module code seen through this world set its module's class; False: set it for real."""
        return False


def _viewed_namespace(proxy: ModuleType) -> dict[str, Any] | None:
    world = view.get()
    if world is not None:
        namespace = world.namespace(proxy)
        if namespace is not None:
            return namespace
    if FAST_SWAP:
        return None
    return published.get(id(proxy))


class VersionedModule(ModuleType):
    """A proxy while some reader needs a view other than the published generation."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        namespace = _viewed_namespace(self)
        if namespace is None:
            return _module_getattribute(self, name)
        return _namespace_getattr(self, namespace, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "__class__":
            # ``sys.modules[__name__].__class__ = Sub`` in a generation executing
            # privately belongs to that generation: applied when it is published.
            world = view.get()
            if world is not None and world.set_module_class(self, value):
                return
            _module_setattr(self, name, value)
            return
        namespace = _viewed_namespace(self)
        if namespace is None:
            _module_setattr(self, name, value)
        elif name == "__dict__":
            raise AttributeError("readonly attribute '__dict__'")
        else:
            namespace[name] = value

    def __delattr__(self, name: str) -> None:
        namespace = _viewed_namespace(self)
        if namespace is None:
            _module_delattr(self, name)
            return
        try:
            del namespace[name]
        except KeyError:
            raise AttributeError(f"module {namespace.get('__name__')!r} has no attribute {name!r}", name=name, obj=self) from None


def _namespace_getattr(proxy: ModuleType, namespace: dict[str, Any], name: str) -> Any:
    # The order of module_getattro: data descriptors of the type, the
    # instance dict, other type attributes, then the module's __getattr__.
    if name == "__dict__":
        return namespace
    if name == "__class__":
        return type(proxy)
    if name == "__annotations__":
        return namespace.setdefault("__annotations__", {})
    try:
        return namespace[name]
    except KeyError:
        pass
    if name in _TYPE_ATTRIBUTES:
        return _module_getattribute(proxy, name)
    hook = namespace.get("__getattr__")
    if hook is not None:
        return hook(name)
    module = namespace.get("__name__", "?")
    raise AttributeError(f"module {module!r} has no attribute {name!r}", name=name, obj=proxy)


def _own_attribute(own: type, name: str) -> Any:
    """Return what the module's own class (below ModuleType) defines as ``name``, or ``_NOTHING``."""
    for klass in own.__mro__:
        if klass is ModuleType:
            break
        if name in klass.__dict__:
            return klass.__dict__[name]
    return _NOTHING


_NOTHING = object()


def _is_data_descriptor(attribute: Any) -> bool:
    kind = type(attribute)
    return hasattr(kind, "__set__") or hasattr(kind, "__delete__")


# The module's own class (what its code assigned to __class__) -> its view class, and back.
_view_classes: dict[type, type] = {}
_owners: dict[type, type] = {}


def view_class(own: type) -> type:
    """Return the view class of a module whose own class is ``own`` (``VersionedModule`` for a plain module).

    For a module that set its own ``ModuleType`` subclass (module properties,
    a callable module), the view class derives from both, so the module's
    properties and methods work while it is viewed, reading the viewed
    namespace.
    """
    if own is ModuleType:
        return VersionedModule
    cls = _view_classes.get(own)
    if cls is not None:
        return cls
    # The module class's own hooks, called unbound with the proxy.
    own_getattribute: Any = own.__getattribute__
    own_setattr: Any = own.__setattr__
    own_delattr: Any = own.__delattr__
    own_getattr: Any = _own_attribute(own, "__getattr__")

    def __getattribute__(self: ModuleType, name: str) -> Any:
        namespace = _viewed_namespace(self)
        if namespace is None:
            return own_getattribute(self, name)
        attribute = _own_attribute(own, name)
        if attribute is not _NOTHING and _is_data_descriptor(attribute):
            return attribute.__get__(self, type(self))
        if attribute is _NOTHING or name in namespace:
            try:
                return _namespace_getattr(self, namespace, name)
            except AttributeError:
                if own_getattr is _NOTHING:
                    raise
                return own_getattr(self, name)
        return attribute.__get__(self, type(self)) if hasattr(type(attribute), "__get__") else attribute

    def __setattr__(self: ModuleType, name: str, value: Any) -> None:
        if name != "__class__" and _viewed_namespace(self) is not None:
            attribute = _own_attribute(own, name)
            if attribute is not _NOTHING and hasattr(type(attribute), "__set__"):
                attribute.__set__(self, value)
                return
        if name == "__class__" or _viewed_namespace(self) is not None:
            VersionedModule.__setattr__(self, name, value)  # type: ignore[arg-type]  # a VersionedModule subclass
        else:
            own_setattr(self, name, value)

    def __delattr__(self: ModuleType, name: str) -> None:
        if _viewed_namespace(self) is not None:
            VersionedModule.__delattr__(self, name)  # type: ignore[arg-type]  # a VersionedModule subclass
        else:
            own_delattr(self, name)

    cls = type(own.__name__, (VersionedModule, own), {
        "__slots__": (), "__module__": own.__module__, "__qualname__": own.__qualname__,
        "__getattribute__": __getattribute__, "__setattr__": __setattr__, "__delattr__": __delattr__})
    _view_classes[own] = cls
    _owners[cls] = own
    return cls


def own_class(proxy: ModuleType, recorded: type) -> type:
    """Return the module's own class: ``recorded``, unless code assigned it another one since."""
    kind = type(proxy)
    if kind is ModuleType or kind is VersionedModule or kind in _owners:
        return recorded
    return kind


_TYPE_ATTRIBUTES = frozenset(dir(ModuleType)) - {"__dict__", "__doc__", "__annotations__"}


def module_dict(proxy: ModuleType) -> dict[str, Any]:
    """Return the dict the proxy's C structure points at (the published namespace in fast mode)."""
    return _md_dict(proxy)


def namespace_of(proxy: ModuleType) -> dict[str, Any]:
    """Return the published namespace of ``proxy``, whatever its mode."""
    if FAST_SWAP:
        return _md_dict(proxy)
    return published.get(id(proxy), _md_dict(proxy))


def set_view_class(proxy: ModuleType, viewing: bool, own: type = ModuleType) -> tuple[Any, ...] | None:
    """Return the operation that switches ``proxy`` into or out of view mode, or None if it is there.

    ``own`` is the class the module's code gave it (G16): outside view mode
    the proxy is exactly that class, a plain ``ModuleType`` by default.
    """
    wanted = view_class(own) if (viewing or not FAST_SWAP) else own
    if type(proxy) is wanted:
        return None
    return (object.__setattr__, proxy, "__class__", wanted)


_Operations = list[tuple[Any, ...]]  # (c_callable, *args), run in one C-level pass


def swap_operations(proxy: ModuleType, namespace: dict[str, Any]) -> tuple[_Operations, _Operations, Callable[[], None]]:
    """Plan making ``namespace`` the published namespace of ``proxy``.

    Returns ``(do, undo, finish)``: ``do`` and ``undo`` are lists of
    ``(c_callable, *args)`` that the publisher runs in one C-level pass (no
    bytecode runs between them, so no thread switch can interleave), and
    ``finish`` releases the old namespace's reference afterwards.
    """
    if not FAST_SWAP:
        old = published.get(id(proxy))
        restore: _Operations = [(published.__setitem__, id(proxy), old)] if old is not None \
            else [(published.pop, id(proxy), None)]
        return [(published.__setitem__, id(proxy), namespace)], restore, _nothing
    old = _md_dict(proxy)
    if old is namespace:
        return [], [], _nothing
    # The proxy's pointer is a strong reference (see ``pointers``); ``old`` stays
    # alive until ``finish`` through our own reference, captured here.
    do, undo, settle = swap_pointer(id(proxy) + _MD_DICT_OFFSET, old, namespace)
    settled: list[bool] = []

    def finish() -> None:
        if not settled:
            settled.append(True)
            settle(_md_dict(proxy) is namespace)

    return [do], [undo], finish


def adopt_namespace(proxy: ModuleType, namespace: dict[str, Any]) -> None:
    """Start resolving ``proxy`` to ``namespace`` (a first import). Portable mode only has work to do."""
    if not FAST_SWAP:
        published[id(proxy)] = namespace
        # The entry lives exactly as long as the proxy: an unloaded proxy still works.
        weakref.finalize(proxy, published.pop, id(proxy), None)


def _nothing() -> None:
    pass


# PyModuleObject begins with PyObject_HEAD, then md_dict (3.11, 3.12, 3.13).
_MD_DICT_OFFSET = object.__basicsize__


def _check_fast_swap() -> bool:
    """Verify on a scratch module that swapping md_dict works here, exactly as publish will."""
    if os.environ.get("VERSIONED_IMPORT_PORTABLE"):
        return False  # forced, so that the portable mode is tested on every machine
    if sys.implementation.name != "cpython" or not hasattr(ctypes, "pythonapi"):
        return False
    if getattr(sys, "_is_gil_enabled", lambda: True)() is False:
        return False  # publish relies on the GIL to be one step for other threads
    try:
        scratch = ModuleType("versioned_import._layout_check")
        if ctypes.c_void_p.from_address(id(scratch) + _MD_DICT_OFFSET).value != id(_md_dict(scratch)):
            return False
        replacement = {"__name__": scratch.__name__, "probe": 42}
        before = sys.getrefcount(replacement)
        incref(replacement)
        old = _md_dict(scratch)
        ctypes.c_void_p.from_address(id(scratch) + _MD_DICT_OFFSET).value = id(replacement)
        decref(old)
        return (scratch.probe == 42 and _md_dict(scratch) is replacement
                and sys.getrefcount(replacement) == before + 1)
    except Exception:  # any surprise means: do not touch C structures, use the portable mode
        return False


FAST_SWAP: bool = _check_fast_swap()
