"""A user's program: CI type-checks it with ``mypy --strict`` against the installed package.

It must pass after the README's install command, from a directory outside the
clone (so mypy finds the package as a user's mypy would, through site-packages).
"""

from __future__ import annotations

from collections.abc import Callable

import versioned_import as vi


def on_report(report: vi.ReloadReport) -> None:
    names: tuple[str, ...] = report.reloaded
    generations: dict[str, int] = report.generations
    replaced: tuple[vi.Replaced, ...] = report.replaced
    print(names, generations, replaced, f"{report.elapsed * 1000:.1f} ms", report.ok)


def main() -> int:
    vi.install(roots=["src"], packages=["app"], exclude=("app.settings",), watch=False, interval=0.5)
    unsubscribe: Callable[[], None] = vi.on_reload(on_report)
    try:
        report: vi.ReloadReport = vi.reload("app.views", dependents=True)
        on_report(vi.reload_changed())
        changed: list[str] = vi.changed()
        number: int = vi.generation("app.views") + vi.rollback("app.views")
        with vi.pinned():
            print(report, changed, number)
        vi.unload("app.views")
    except vi.NotVersionedError as error:
        module: str | None = error.module
        print(module, error.path)
    except vi.ReloadError as error:
        print(error.__cause__)
    finally:
        unsubscribe()
        vi.stop_watching()
        vi.uninstall()
    vi.watch(1.0)
    return 0
