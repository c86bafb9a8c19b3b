"""The service's pages: edit this file while serve.py runs.

Everything here is versioned: a reload runs it again in a fresh namespace,
so module-level state crosses over only through ``__reload__`` below.
"""

import collections

# How many times each page was served; kept across reloads by __reload__.
HITS = collections.Counter()


def __reload__(old):
    """Carry the counters over from the generation being replaced."""
    global HITS
    HITS = old.HITS


def hello(environ):
    return "Hello from the first version of routes.py\n"


def stats(environ):
    return "".join(f"{path} {count}\n" for path, count in sorted(HITS.items()))


ROUTES = {
    "/": hello,
    "/stats": stats,
}
