"""What versioned_import offers other programs: servers (WSGI/ASGI, G15) and IPython.

``serve`` holds the stable entry points that serve the newest application
object, each request pinned; ``ipython`` is the ``%load_ext`` extension
(IPython itself is never imported).

May import: everything below it, the public functions of ``_api`` included.
Never ``_cli``.
"""
