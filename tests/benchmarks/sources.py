"""The modules and packages the figures import, generated as source text."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

# What every proxy figure reads and calls.
SMALL_MODULE = """\
x = 1


def f():
    return None


class Marker:
    pass


MARKER = Marker()
"""


def module_body(index: int) -> str:
    """A small ordinary module: a class, a few functions, some constants (about 25 lines)."""
    return f"""\
LIMIT = {index}
NAMES = tuple("name%d" % i for i in range(8))


class Thing:
    scale = {index % 7 + 1}

    def __init__(self, value=0):
        self.value = value

    def scaled(self):
        return self.value * self.scale

    @property
    def label(self):
        return "thing-%d" % self.value


def make(value):
    return Thing(value)


def total(things):
    return sum(t.scaled() for t in things)


def describe(thing):
    return "%s (limit %d)" % (thing.label, LIMIT)
"""


def definitions_module(classes: int = 25, functions: int = 25) -> str:
    """A module with ``classes`` classes (methods, a property, a classmethod) and ``functions`` functions.

    It ends with ``MARKER = Marker()``: one new object per generation, which
    the memory figure follows with a weak reference.
    """
    parts = ["import functools\n\n\nclass Marker:\n    pass\n\n\nMARKER = Marker()\n"]
    for i in range(classes):
        base = f"Class{i - 1}" if i % 5 else "object"
        parts.append(f"""
class Class{i}({base}):
    size = {i}

    def __init__(self, value={i}):
        self.value = value

    def method(self, other):
        return self.value + other + {i}

    @property
    def doubled(self):
        return self.value * 2

    @classmethod
    def build(cls):
        return cls()
""")
    for i in range(functions):
        decorator = "@functools.lru_cache(maxsize=16)\n" if i % 10 == 3 else ""
        parts.append(f"""
{decorator}def function{i}(a, b={i}):
    total = a + b
    for step in range(3):
        total += step * {i}
    return total
""")
    return "".join(parts)


@dataclass(frozen=True)
class Package:
    """A generated package: its name, the directory holding it, and the names the figures need."""

    name: str
    directory: str          # the sys.path entry
    modules: tuple[str, ...]
    tails: tuple[str, ...]  # importing these imports every module
    leaf: str               # imports nothing from the package
    leaf_dependents: tuple[str, ...]


# Blocks of 22: positions 0 and 1 import nothing from the package, every
# other position imports the two siblings before it. Position 0's transitive
# dependents are therefore positions 2..21 of its block: exactly 20.
BLOCK = 22


def write_package(directory: str, name: str, count: int = 300, age: float = 3600.0) -> Package:
    """Write package ``name`` of ``count`` modules under ``directory``; every non-leaf imports two siblings.

    The leaf reloaded by the reload figure is a 200-line module (the size
    DESIGN.md's "costs to beat" were measured with); the others are small.
    """
    root = os.path.join(directory, name)
    os.makedirs(root, exist_ok=True)
    modules = []
    tails = []
    for index in range(count):
        block, position = divmod(index, BLOCK)
        module = f"b{block:02d}_{position:02d}"
        if position >= 2:
            header = f"from . import b{block:02d}_{position - 1:02d}, b{block:02d}_{position - 2:02d}\n\n"
        else:
            header = ""
        body = definitions_module(classes=6, functions=12) if index == 0 else module_body(index)
        _write(os.path.join(root, module + ".py"), header + body, age)
        modules.append(f"{name}.{module}")
        if position == BLOCK - 1 or index == count - 1:
            tails.append(f"{name}.{module}")
    _write(os.path.join(root, "__init__.py"), '"""A generated benchmark package."""\n', age)
    leaf = modules[0]
    dependents = tuple(modules[2:BLOCK])
    return Package(name, directory, tuple(modules), tuple(tails), leaf, dependents)


def _write(path: str, text: str, age: float) -> None:
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
