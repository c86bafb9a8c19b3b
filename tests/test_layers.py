"""The package's architecture, held: wings import downwards only, no module imports in a circle.

Every module's imports are parsed (module-level, lazy ones inside functions,
and ``TYPE_CHECKING`` ones alike) and resolved to the module they name. A
module may import from its own wing and from wings below it; an import that
points up, or a circle of imports, fails the test naming the modules.
"""

from __future__ import annotations

import ast
import os
import unittest

from versioned_import._core.scope import PACKAGE_DIR, PACKAGE_NAME

# Bottom to top. A module directly in the package is its own layer.
LAYERS = ["_errors", "_report", "_core", "_continuity", "_effects", "_reload", "_runtime", "_api", "_integrations",
          "__init__", "_cli", "__main__"]
MAX_LINES = 500
MAX_TOP_LEVEL_MODULES = 10


def package_modules() -> dict[str, str]:
    """Map each module's dotted name (``versioned_import._core.state``) to its file."""
    modules = {}
    for directory, _, files in os.walk(PACKAGE_DIR):
        for file in files:
            if not file.endswith(".py"):
                continue
            relative = os.path.relpath(os.path.join(directory, file), os.path.dirname(PACKAGE_DIR))
            parts = relative[:-3].split(os.sep)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = os.path.join(directory, file)
    return modules


def imports_of(name: str, path: str, modules: dict[str, str]) -> set[str]:
    """Return the package modules ``name`` imports, wherever the import statement sits."""
    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read(), path)
    is_package = path.endswith("__init__.py")
    here = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # ``from pkg import sub`` names the submodule when there is one, else something in pkg.
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules else module
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]  # ``import a.b.c`` of a name inside a module
            if target and target != name:
                found.add(target)
    return found


def layer_of(name: str) -> int:
    parts = name.split(".")
    return LAYERS.index(parts[1] if len(parts) > 1 else "__init__")


class LayersTest(unittest.TestCase):
    def setUp(self) -> None:
        self.modules = package_modules()
        self.graph = {name: imports_of(name, path, self.modules) for name, path in self.modules.items()}

    def test_every_module_belongs_to_a_known_layer(self) -> None:
        for name in self.modules:
            parts = name.split(".")
            self.assertIn(parts[1] if len(parts) > 1 else "__init__", LAYERS, f"{name} is in no layer of LAYERS")

    def test_imports_flow_downwards(self) -> None:
        upward = [f"{name} (layer {LAYERS[layer_of(name)]}) imports {target} (layer {LAYERS[layer_of(target)]})"
                  for name, targets in sorted(self.graph.items()) for target in sorted(targets)
                  if layer_of(target) > layer_of(name)]
        self.assertEqual(upward, [], "upward imports:\n" + "\n".join(upward))

    def test_no_module_imports_in_a_circle(self) -> None:
        # Depth-first search; a back edge closes a circle, reported with every module on it.
        state: dict[str, int] = {}
        stack: list[str] = []
        circles = []

        def visit(name: str) -> None:
            state[name] = 1
            stack.append(name)
            for target in sorted(self.graph[name]):
                if state.get(target) == 1:
                    circles.append(" -> ".join(stack[stack.index(target):] + [target]))
                elif target not in state:
                    visit(target)
            stack.pop()
            state[name] = 2

        for name in sorted(self.graph):
            if name not in state:
                visit(name)
        self.assertEqual(circles, [], "import circles:\n" + "\n".join(circles))

    def test_the_checker_sees_lazy_and_type_checking_imports(self) -> None:
        # The checker itself: an import inside a function, and one under TYPE_CHECKING, both count.
        self.assertIn(f"{PACKAGE_NAME}._report", self.graph[f"{PACKAGE_NAME}._runtime.logs"])
        self.assertIn(f"{PACKAGE_NAME}._report", self.graph[f"{PACKAGE_NAME}._core.state"])  # TYPE_CHECKING only

    def test_modules_are_small_and_the_top_level_is_a_map(self) -> None:
        long = []
        for name, path in self.modules.items():
            with open(path, encoding="utf-8") as stream:
                count = sum(1 for _ in stream)
            if count > MAX_LINES:
                long.append(f"{name}: {count} lines")
        self.assertEqual(long, [], f"modules over {MAX_LINES} lines")
        top = [name for name in self.modules if name.count(".") == 1 and not os.path.isdir(
            os.path.join(PACKAGE_DIR, name.split(".")[1]))]
        self.assertLessEqual(len(top), MAX_TOP_LEVEL_MODULES, f"modules directly in the package: {sorted(top)}")

    def test_each_wing_says_what_it_offers_and_may_import(self) -> None:
        for name, path in self.modules.items():
            if path.endswith("__init__.py") and name != PACKAGE_NAME:
                with open(path, encoding="utf-8") as stream:
                    doc = ast.get_docstring(ast.parse(stream.read())) or ""
                self.assertIn("May import", doc, f"{name}/__init__.py must say which wings it may import")


class PackageRootTest(unittest.TestCase):
    """The places that must know where versioned_import lives see every wing, not one folder (G1, G16)."""

    def test_no_module_of_any_wing_is_in_scope(self) -> None:
        from versioned_import._core.scope import Scope, in_scope, never_versioned_dirs

        everything = Scope(roots=(os.path.dirname(PACKAGE_DIR),), packages=(PACKAGE_NAME,),
                           never_dirs=never_versioned_dirs())
        for name, path in package_modules().items():
            self.assertFalse(in_scope(name, path, True, everything), f"{name} would be versioned")
            # Under another name (a copy, a vendored package), the directory still keeps it out.
            self.assertFalse(in_scope("copied" + name.replace(PACKAGE_NAME, ""), path, True, everything), path)

    def test_run_hides_frames_of_every_wing_and_only_those(self) -> None:
        from versioned_import._core.scope import in_package_dir

        for path in package_modules().values():
            self.assertTrue(in_package_dir(path), path)
        self.assertFalse(in_package_dir(PACKAGE_DIR + "_extras" + os.sep + "module.py"))  # a sibling, not ours
        self.assertFalse(in_package_dir("<string>"))


if __name__ == "__main__":
    unittest.main()
