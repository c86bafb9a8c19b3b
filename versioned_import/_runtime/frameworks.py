"""Framework caches built from old code, refreshed after every publish (G15).

Web frameworks cache what they derived from application modules: Django its
URL resolvers and template engines (with their tag libraries), FastAPI the
OpenAPI document of an app. After a publish those caches describe code that is
no longer current, so each is dropped and the framework rebuilds it, from the
new code, on the next request.

One table, module name -> refresher. A refresher runs only when its framework
is already in ``sys.modules``: versioned_import never imports a framework, and
a process without one pays a dictionary lookup per publish.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._report import ReloadReport

__all__ = ["refresh", "stale_reader_done", "serving", "REFRESHERS"]

# Application objects the WSGI/ASGI adapters have served: their own caches are
# dropped too (an app object that outlives a publish may have cached old routes).
_served: weakref.WeakSet[Any] = weakref.WeakSet()


def serving(app: object) -> None:
    """Remember an application object an adapter serves, so that ``refresh`` reaches its caches."""
    try:
        _served.add(app)
    except TypeError:
        pass  # not weak-referenceable (a builtin, a __slots__ object): it has no cache of ours to drop


def _django_urls() -> None:
    # The resolver caches urlpatterns lists and view lookups; the next request builds a new one.
    from django.urls import clear_url_caches  # type: ignore[import-not-found]  # only when Django is loaded

    clear_url_caches()


def _django_templates() -> None:
    # As Django's own setting_changed receiver does for TEMPLATES
    # (django.test.signals.reset_template_engines): the engines hold the
    # template tag libraries imported from application modules, and the
    # cached loaders hold templates compiled against them.
    from django.template import engines  # type: ignore[import-not-found]

    engines.__dict__.pop("templates", None)
    engines._templates = None
    engines._engines = {}
    from django.template.engine import Engine  # type: ignore[import-not-found]

    Engine.get_default.cache_clear()
    renderers = sys.modules.get("django.forms.renderers")
    if renderers is not None:
        renderers.get_default_renderer.cache_clear()


def _served_apps() -> None:
    # FastAPI caches its OpenAPI document on the app object (``app.openapi_schema``).
    for app in list(_served):
        if getattr(app, "openapi_schema", None) is not None:
            app.openapi_schema = None


# Module that must already be imported -> what to refresh.
REFRESHERS: dict[str, Callable[[], None]] = {
    "django.urls": _django_urls,
    "django.template": _django_templates,
    "fastapi": _served_apps,
}


def refresh(report: ReloadReport) -> None:
    """After a publish or rollback, drop the caches of every framework already imported."""
    if report.error is not None or not report.reloaded:
        return
    _refresh_all()


def stale_reader_done() -> None:
    """A reader pinned to an older world finished: drop again what it may have cached from old code.

    A request that started before a publish runs the old code to its end,
    and may ask a framework for a cache that the publish just dropped (Django
    resolves the URL after the middleware ran): the framework rebuilds it
    from the old code the request sees, and would keep it for every later
    request. Dropping the caches once more when such a request ends bounds
    that to the requests in flight at the publish.
    """
    try:
        _refresh_all()
    except RuntimeError:
        import logging

        logging.getLogger("versioned_import").exception("after a request that started before a publish")


def _refresh_all() -> None:
    failed = []
    for module, refresher in REFRESHERS.items():
        if module in sys.modules:
            try:
                refresher()
            except Exception as exc:  # one framework's surprise must not keep the others' caches stale
                failed.append((module, exc))
    if failed:
        raise RuntimeError(f"refreshing the caches of {', '.join(m for m, _ in failed)} after a publish failed; "
                           "the new code is published, but that framework may serve old routes or templates "
                           "until a restart") from failed[0][1]
