"""What a module's code uses, read from its bytecode: what its import-time code and each definition load (G6).

A dependent must re-run when something its import-time code used changed.
Its import-time code is the module's own code, the class bodies and
comprehensions it runs, and every function or lambda it makes and passes on
instead of binding it (a decorator may call what it decorates; a lambda may
be called by the function it is given to). Functions the module binds run at
import only if import-time code names them, and then their whole code counts
(``Uses.trees``, per definition, matched by ``co_qualname`` and first line).

Names are collected as loaded, without resolving them: a global (or a name
in a class body) and an attribute are both just a name, so a match may be a
false alarm (a re-run that was not needed), never a miss. Import-time code
that reaches names dynamically (``from m import *``, ``getattr``, ``vars``,
``globals``, ``eval``, a ``__dict__``) is marked ``dynamic``: it is taken to
use every name.

The scan walks the raw instructions (two bytes each) once per code object;
the tables below are built from ``dis`` for the running interpreter, with
how each version packs a name's index into the argument.
"""

from __future__ import annotations

import dis
import sys
import types
import weakref
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Uses", "uses_of", "definition_key", "code_tree", "imported_modules"]

CodeType = types.CodeType

_OP = dis.opmap
_VERSION = sys.version_info[:2]
# opcode -> how many low bits of the argument are flags before the index into co_names.
_NAME_LOADS: dict[int, int] = {_OP["LOAD_NAME"]: 0, _OP["IMPORT_FROM"]: 0, _OP["LOAD_GLOBAL"]: 1,
                               _OP["LOAD_ATTR"]: 0 if _VERSION == (3, 11) else 1}
for _name, _shift in (("LOAD_METHOD", 0), ("LOAD_FROM_DICT_OR_GLOBALS", 0), ("LOAD_SUPER_ATTR", 2)):
    if _name in _OP and _OP[_name] < 256:  # 3.12 keeps LOAD_METHOD as a pseudo-instruction (>= 256)
        _NAME_LOADS[_OP[_name]] = _shift
_EXTENDED_ARG = _OP["EXTENDED_ARG"]
_CACHE = _OP.get("CACHE", -1)
_LOAD_CONST = _OP["LOAD_CONST"]
_MAKE_FUNCTION = _OP["MAKE_FUNCTION"]
_SET_FUNCTION_ATTRIBUTE = _OP.get("SET_FUNCTION_ATTRIBUTE", -1)
_IMPORT_STAR = _OP.get("IMPORT_STAR", -1)
_CALL_INTRINSIC_1 = _OP.get("CALL_INTRINSIC_1", -1)
_INTRINSIC_IMPORT_STAR = 2
# What a made function may be bound with: anything else passes it on (to a decorator, a call, a container).
_BINDS = frozenset(_OP[name] for name in ("STORE_NAME", "STORE_GLOBAL", "STORE_FAST", "STORE_DEREF") if name in _OP)
# Names whose use at import time reaches names dynamically.
_DYNAMIC = frozenset({"getattr", "hasattr", "vars", "dir", "globals", "locals", "eval", "exec", "__import__",
                      "__dict__", "attrgetter", "methodcaller"})
_CO_OPTIMIZED = 0x1
_RUN_WHEN_MADE = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})


@dataclass(eq=False)
class Uses:
    """What a module's code loads: at import time, per definition, anywhere."""

    import_time: frozenset[str] = frozenset()
    dynamic: bool = False
    # What the module's own code, its class bodies and comprehensions load: import-time code whatever it calls.
    body: frozenset[str] = frozenset()
    # (co_qualname, co_firstlineno) of a function's or class body's code -> what its code and nested code load.
    trees: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    everything: frozenset[str] = frozenset()
    _classes: dict[str, frozenset[str]] | None = None

    def of_class(self, qualname: str) -> frozenset[str]:
        """What the code of the class ``qualname`` loads: its body, its methods and nested classes."""
        if self._classes is None:
            classes: dict[str, set[str]] = {}
            for (key, _), loads in self.trees.items():
                parts = key.split(".")
                for end in range(1, len(parts) + 1):
                    classes.setdefault(".".join(parts[:end]), set()).update(loads)
            self._classes = {name: frozenset(loads) for name, loads in classes.items()}
        return self._classes.get(qualname, frozenset())


# code -> its scan, for as long as that code object lives (code compares and hashes by value).
_SCANS: weakref.WeakKeyDictionary[CodeType, tuple[frozenset[str], list[tuple[CodeType, bool]], bool]] = \
    weakref.WeakKeyDictionary()


def definition_key(code: CodeType) -> tuple[str, int]:
    """The key of a definition's code in ``Uses.trees``: equal for every copy of the code."""
    return code.co_qualname, code.co_firstlineno


def uses_of(module_code: CodeType) -> Uses:
    """Scan ``module_code`` and everything nested in it."""
    def scan(code: CodeType) -> tuple[frozenset[str], list[tuple[CodeType, bool]], bool]:
        # Equal code scans alike: an edit changes few of a module's code objects.
        found = _SCANS.get(code)
        if found is None:
            found = _SCANS[code] = _scan(code)
        return found

    trees: dict[tuple[str, int], frozenset[str]] = {}

    def tree(code: CodeType) -> frozenset[str]:
        key = definition_key(code)
        loads = trees.get(key)
        if loads is None:
            names, nested, _ = scan(code)
            loads = names.union(*(tree(inner) for inner, _ in nested)) if nested else names
            trees[key] = loads
        return loads

    body: set[str] = set()
    passed: set[str] = set()
    dynamic = False
    pending = [module_code]
    while pending:
        code = pending.pop()
        names, nested, star = scan(code)
        body |= names
        dynamic = dynamic or star
        for inner, passed_on in nested:
            if not inner.co_flags & _CO_OPTIMIZED or inner.co_name in _RUN_WHEN_MADE:
                pending.append(inner)  # a class body, a comprehension: run right where they are made
            elif passed_on:
                passed |= tree(inner)  # a decorated function, a lambda handed to a call
            else:
                tree(inner)
    everything = tree(module_code)
    dynamic = dynamic or not _DYNAMIC.isdisjoint(body)
    return Uses(import_time=frozenset(body | passed), dynamic=dynamic, body=frozenset(body), trees=trees,
                everything=everything)


def _scan(code: CodeType) -> tuple[frozenset[str], list[tuple[CodeType, bool]], bool]:
    """Return the names ``code`` loads, the code objects it makes (and whether each is passed on), and ``import *``."""
    raw = code.co_code
    names, consts = code.co_names, code.co_consts
    loads: set[str] = set()
    nested: list[tuple[CodeType, bool]] = []
    star = False
    extended = 0
    last_const: object = None
    made: CodeType | None = None
    name_loads = _NAME_LOADS
    for index in range(0, len(raw), 2):
        op = raw[index]
        if op == _CACHE:
            continue
        argument = raw[index + 1] | extended
        if op == _EXTENDED_ARG:
            extended = argument << 8
            continue
        extended = 0
        if made is not None and op != _SET_FUNCTION_ATTRIBUTE:
            nested.append((made, op not in _BINDS))
            made = None
        shift = name_loads.get(op)
        if shift is not None:
            loads.add(names[argument >> shift])
        elif op == _LOAD_CONST:
            last_const = consts[argument]
        elif op == _MAKE_FUNCTION:
            made = last_const if type(last_const) is CodeType else None
        elif op == _IMPORT_STAR or (op == _CALL_INTRINSIC_1 and argument == _INTRINSIC_IMPORT_STAR):
            star = True
    if made is not None:
        nested.append((made, True))
    # Code objects in the constants that no MAKE_FUNCTION made here count as passed on.
    listed = {id(inner) for inner, _ in nested}
    nested.extend((const, True) for const in consts if type(const) is CodeType and id(const) not in listed)
    return frozenset(loads), nested, star


def code_tree(code: CodeType) -> frozenset[str]:
    """The names ``code`` and every code object nested in it load."""
    names, nested, _ = _scan(code)
    return names.union(*(code_tree(inner) for inner, _ in nested)) if nested else names


def imported_modules(code: CodeType, package: str, among: set[str]) -> set[str]:
    """The modules of ``among`` that ``code`` (or code nested in it) imports by statement (``from m import x``: ``m.x``).

    ``package`` is the module's ``__package__``, against which relative
    imports resolve. Names only: whether ``m.x`` is a module is the caller's
    to know. A module whose name (or last part) is none of the code's names
    cannot be imported by it: most calls end there, without reading a single
    instruction.
    """
    names: set[str] = set()
    codes = [code]
    for current in codes:
        names.update(current.co_names)
        codes.extend(const for const in current.co_consts if isinstance(const, CodeType))
    if not any(name in names or name.rpartition(".")[2] in names for name in among):
        return set()
    found: set[str] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        level: Any = 0
        fromlist: Any = None
        previous: list[Any] = []
        for instruction in dis.get_instructions(current):
            if instruction.opname == "IMPORT_NAME" and len(previous) >= 2:
                level, fromlist = previous[-2], previous[-1]
                name = instruction.argval
                if isinstance(level, int) and level > 0:
                    parts = package.split(".") if package else []
                    base = ".".join(parts[:len(parts) - level + 1]) if level <= len(parts) else ""
                    name = f"{base}.{name}" if name and base else (name or base)
                if name:
                    found.add(name)
                    if isinstance(fromlist, tuple):
                        found.update(f"{name}.{entry}" for entry in fromlist if isinstance(entry, str))
            if instruction.opname == "LOAD_CONST":
                previous.append(instruction.argval)
                del previous[:-2]
            elif instruction.opname not in ("CACHE", "EXTENDED_ARG"):
                previous.clear()
        stack.extend(const for const in current.co_consts if isinstance(const, CodeType))
    return found & among
