"""The public functions, bound to the process's one ``State``."""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Literal

from . import _reload, _runtime
from ._core.finder import VersionedFinder
from ._core.frames import reload_machinery
from ._core.pins import pinned
from ._core.scope import combine_scopes, default_root, make_scope
from ._core.state import state
from ._effects.hot import Hot, hot
from ._report import ReloadReport, Replaced

__all__ = ["install", "uninstall", "reload", "reload_changed", "changed", "generation", "rollback", "unload",
           "pinned", "on_reload", "watch", "stop_watching", "hot", "Hot", "ReloadReport", "Replaced"]

log = logging.getLogger("versioned_import")


def install(*, roots: Iterable[str | os.PathLike[str]] | str | os.PathLike[str] | None = None,
            packages: Iterable[str] | str | None = None, exclude: Iterable[str] | str = (),
            watch: bool = False, interval: float = 0.5, rollback_depth: int = 1, control: bool = False,
            reload_signal: int | None = None) -> None:
    """Put the versioning finder first on ``sys.meta_path``.

    Modules whose source file lies under one of ``roots`` (directories), or
    whose dotted name is one of ``packages`` or below it, are versioned; with
    neither, the directory of the running script (else the current
    directory). ``exclude`` lists dotted names (with their submodules) never to
    version. The standard library, site-packages, built-in, frozen and
    extension modules and versioned_import itself are never versioned.

    ``watch=True`` starts the watcher (``watch(interval)``). ``rollback_depth``
    is how many previous generations each module keeps for ``rollback``.

    ``control=True`` opens this process's control channel, so that its owner
    can ask it from outside to reload, roll back or report
    (``python -m versioned_import reload --pid PID``; see docs/processes.md).
    ``reload_signal`` (e.g. ``signal.SIGHUP``; main thread only) makes that
    signal run ``reload_changed()`` on a thread of its own (with the channel
    on and workers forked from here: in all of them, or in none). After a fork, the
    child runs again whatever the parent ran: watcher, channel, signal.

    Calling ``install`` again (a framework and its user may both call it)
    adds to what earlier calls asked for, until ``uninstall()``: the roots,
    packages and exclusions of every call apply (an exclusion that would undo
    a package an earlier call asked for is a ``ValueError``), a call without
    roots or packages adds the script's directory, the deepest
    ``rollback_depth`` and, while watching, the shortest ``interval`` win, and
    the watcher, channel and signal any call asked for run (two different
    ``reload_signal`` values are a ``ValueError``). The finder moves back to
    the front. Modules already imported are not versioned retroactively. A
    refused call changes nothing.
    """
    watch = _flag("install", "watch", watch)
    control = _flag("install", "control", control)
    if isinstance(rollback_depth, bool) or not isinstance(rollback_depth, int):
        raise TypeError(f"install(rollback_depth=...) takes an int >= 0, not {rollback_depth!r}")
    if rollback_depth < 0:
        raise ValueError(f"install(rollback_depth=...) must be an int >= 0, not {rollback_depth!r}")
    interval = _checked_interval("install", interval)
    signum = _checked_signal(reload_signal)
    scope = make_scope(roots, packages, exclude, _script_root)
    _runtime.connect(state)
    with state.lock:
        finder = state.finder
        if finder is not None:
            # Added to what earlier calls asked for (checked before anything changes).
            scope = combine_scopes(finder.scope, scope)
            running = state.reload_signal
            if signum is not None and running is not None and running.alive() and running.signum != signum:
                raise ValueError(f"install(reload_signal={signum!r}) conflicts with an earlier "
                                 f"install(reload_signal={running.signum!r}): one signal reloads — use the same "
                                 "one, or call uninstall() first")
            rollback_depth = max(rollback_depth, state.rollback_depth)
            finder.scope = scope
        else:
            finder = state.finder = VersionedFinder(state, scope, functools.partial(_reload.prepare_first, state))
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        sys.meta_path.insert(0, finder)
        state.set_history_depth(rollback_depth)
        watcher = state.watcher
        if watch and watcher is not None and watcher.alive():
            interval = min(interval, watcher.interval)
    if control:
        _start_control()
    if signum is not None:
        _start_reload_signal(signum)
    if watch:
        globals()["watch"](interval)


def _checked_signal(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"install(reload_signal=...) takes a signal number such as signal.SIGHUP, not {value!r}")
    if value not in signal.valid_signals() or value in (signal.SIGKILL, signal.SIGSTOP):
        raise ValueError(f"install(reload_signal={value!r}) is not a signal that can be caught; use e.g. "
                         "signal.SIGHUP or signal.SIGUSR1")
    return int(value)


# The channel and the signal are imported when first asked for: sockets, JSON and
# hashing are not a cost of ``import versioned_import``.

def _start_control() -> None:
    from ._runtime.channel import ChannelError
    from ._runtime.control import ControlServer

    with state.lock:
        if state.control is not None and state.control.alive():
            return
        try:
            state.control = ControlServer(state).start()
        except ChannelError as error:
            raise OSError(f"install(control=True) could not open the control channel: {error}") from error


def _reload_on_signal() -> None:
    """Reload what changed; with workers forked from here (and the channel on), in all of them or in none."""
    from ._runtime import channel as _channel
    from ._runtime import coordinate as _coordinate

    control = state.control
    if control is None or not control.alive() or not _channel.workers(os.getpid(), control.directory):
        _reload.reload_changed(state)
        return
    result = _coordinate.reload(os.getpid(), directory=control.directory)
    if not result["ok"]:
        log.error("reload on signal, over %d processes: %s: %s", len(result["processes"]), result["outcome"],
                  result["reason"], extra={"refusal": True})


def _start_reload_signal(signum: int) -> None:
    from ._runtime.signals import SignalReloader

    with state.lock:
        current = state.reload_signal
        if current is not None and current.alive() and current.signum == signum:
            return
        reloader = SignalReloader(signum, _reload_on_signal).start()
        state.reload_signal, old = reloader, current
    if old is not None:
        old.stop()


def _flag(caller: str, parameter: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{caller}({parameter}=...) takes True or False, not {value!r}")
    return value


def _dependents(caller: str, value: object) -> bool | str:
    if not isinstance(value, bool) and value != "all":
        raise TypeError(f"{caller}(dependents=...) takes True, False or 'all', not {value!r}")
    return value  # a bool, or "all"


def _checked_interval(caller: str, interval: object) -> float:
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise TypeError(f"{caller}(interval=...) takes a number of seconds, not {type(interval).__name__}")
    if not (math.isfinite(interval) and 0 < interval <= 86_400):
        raise ValueError(f"{caller}(interval=...) must be a number of seconds > 0 and at most a day, "
                         f"not {interval!r}")
    return float(interval)


def uninstall() -> None:
    """Remove the finder and stop the watcher, the control channel and the reload signal; safe to call twice.

    Proxies already imported keep working and can still be reloaded.
    """
    stop_watching()
    with state.lock:
        services = [state.control, state.reload_signal]
        state.control = state.reload_signal = None
    for service in services:
        if service is not None:
            service.stop()
    with state.lock:
        finder, state.finder = state.finder, None
        if finder is not None and finder in sys.meta_path:
            sys.meta_path.remove(finder)


@reload_machinery  # a warning module code raises while reloading names the reload() call
def reload(*names: str | ModuleType, dependents: bool | Literal["all"] = True) -> ReloadReport:
    """Reload ``names`` and the versioned modules that imported them and must re-run, all-or-nothing.

    The new generations execute privately, in the order a fresh import of the
    new sources runs them; only when all of them (and their
    ``__reload__(old)`` hooks) succeed are they published together. Otherwise
    ``ReloadError`` is raised, naming the module and file, with the original
    exception as ``__cause__``, and nothing changes.

    ``dependents=True`` re-executes the dependents whose import-time code used
    something that changed, or whose file changed (G6): the others keep their
    generation, which already sees the new objects through continuity.
    ``"all"`` re-executes every dependent, transitively, as a restart would;
    ``False``, none.
    """
    if not names:
        raise TypeError("reload() needs at least one module name, e.g. reload('app.views')")
    return _reload.reload(state, names, dependents=_dependents("reload", dependents))


@reload_machinery
def reload_changed(dependents: bool | Literal["all"] = True) -> ReloadReport:
    """Reload every versioned module whose source bytes changed (and their dependents, as ``reload``)."""
    return _reload.reload_changed(state, dependents=_dependents("reload_changed", dependents))


def changed() -> list[str]:
    """Return the names of versioned modules whose source differs from their current generation.

    A file that still holds the source a rollback moved its module away from
    is not listed, until it is saved with other bytes (see ``rollback``).
    """
    return _reload.changed(state)


def generation(module_or_name: str | ModuleType) -> int:
    """Return the current generation number (1 after the first import) of a versioned module."""
    (record,) = _reload.resolve_records(state, [module_or_name], "generation")
    return record.generation


def rollback(name: str | ModuleType) -> int:
    """Undo the last reload that published ``name``: every module it published goes back, running no module code.

    Each module that reload published (``name``, the dependents it re-executed)
    is republished, in one step, as the generation it had before that reload,
    under a new number; the new number of ``name`` is returned. "Before" is
    before the reload undone: if a later reload published one of those modules
    again, or imported one of them when it executed, it was built on what goes
    away and is undone too, first. Rolling back again undoes the reload before
    (as far as ``install(rollback_depth=...)`` keeps generations).

    The rollback stays: the files on disk still hold what was rolled back
    from, and ``changed()``, ``reload_changed()`` and the watcher leave those
    bytes alone until a file is saved again (``reload(name)`` takes the file
    now; the report's ``held`` lists them). Acts on this process; ``python -m
    versioned_import rollback --pid`` rolls back a leader and its workers
    together. Raises ``ReloadError`` when nothing can be rolled back.
    """
    return _reload.rollback(state, name)


def unload(name: str | ModuleType) -> None:
    """Forget a versioned module and its submodules: out of ``sys.modules``, their parents and the library.

    A later import starts afresh at generation 1 with a new proxy.
    """
    _reload.unload(state, name)



def on_reload(callback: Callable[[ReloadReport], object]) -> Callable[[], None]:
    """Call ``callback(report)`` after every publish and every refused attempt; return an unsubscribe function.

    A callback that raises is logged (logger ``versioned_import``) and does not
    affect the reload or the other callbacks. Callbacks run before the reload
    lets go of its lock (a fork waits for them, see docs/processes.md): one
    may reload in turn, but must not wait for another thread's reload.
    """
    if not callable(callback):
        raise TypeError(f"on_reload() takes a callable, not {type(callback).__name__}")
    with state.lock:
        state.subscribers.append(callback)

    def unsubscribe() -> None:
        with state.lock:
            if callback in state.subscribers:
                state.subscribers.remove(callback)

    return unsubscribe


def watch(interval: float = 0.5) -> None:
    """Start (or retune) the background watcher that calls ``reload_changed()`` every ``interval`` seconds."""
    from ._runtime.watcher import Watcher

    interval = _checked_interval("watch", interval)
    with state.lock:
        if state.watcher is not None and state.watcher.alive():
            state.watcher.interval = float(interval)
            return
        state.watcher = Watcher(state, float(interval))
        state.watcher.start()


def stop_watching() -> None:
    """Stop the watcher promptly (it does not finish a whole interval first); safe to call twice."""
    with state.lock:
        watcher, state.watcher = state.watcher, None
    if watcher is not None:
        watcher.stop()



def _script_root() -> str:
    """The directory ``install()`` versions when given no roots or packages: the running script's, else the cwd."""
    return default_root(getattr(sys.modules.get("__main__"), "__file__", None))
