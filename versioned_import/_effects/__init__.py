"""Side effects (G17): what module code registers in process-wide state follows a reload exactly once.

Offers: ``lifecycle`` (what the transaction calls: ``begin``/``end`` around an
execution, then ``abandon``, ``published``, ``rolled_back``, ``unloaded``,
``discard``), ``hot`` (the module-facing API), ``registries`` (the table of
known registries: logging, atexit, signal handlers, prometheus_client, and the
ORMs). ``recording`` is how an execution's registrations are seen.

May import: ``_errors``, ``_report``, ``_core``. Never ``_continuity`` or
above.
"""
