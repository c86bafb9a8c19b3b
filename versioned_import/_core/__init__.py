"""The import system and the state: what every other wing builds on.

Modules, bottom to top: ``scope`` (which modules are versioned, G1, and where
versioned_import itself lives), ``source`` (bytes read and compiled, G8),
``graph`` (who imported whom), ``frames`` (keeping our frames out of
tracebacks), ``pointers`` and ``atomic`` (C-level writes applied as one step),
``proxy`` (the module in ``sys.modules`` and its views, G2), ``state`` (the
one state object, and the typed sinks the layers above register), ``edges``
(dependency edges recorded during imports, G6), ``pins`` (G5, G12),
``finder`` (the ``sys.meta_path`` entry and its loader), ``publish`` (making
generations current in one step).

May import: ``_errors`` and ``_report`` only. Everything above reaches down
here; what must travel back up (continuity settling lineages, framework
caches, the log line) goes through the ``Settler``, ``ReportSink`` and
``PublishPlan`` protocols declared here.
"""
