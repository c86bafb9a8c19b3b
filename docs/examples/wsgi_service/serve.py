"""A WSGI service whose pages (routes.py) take new code without a restart.

    python serve.py [PORT]        # then edit routes.py and reload the page

serve.py itself is the __main__ script: it is not reloadable. It holds only
the wiring; the code that changes lives in routes.py.
"""

import importlib
import os
import sys
from wsgiref.simple_server import make_server

import versioned_import as vi

HERE = os.path.dirname(os.path.abspath(__file__))


class App:
    """The WSGI application: dispatches to the current routes, one version of them per request."""

    def __init__(self):
        self.routes = importlib.import_module("routes")  # the proxy: always the current generation
        self.table = dict(self.routes.ROUTES)
        # The route table is a cache of routes.ROUTES: rebuild it whenever routes.py is published.
        self.unsubscribe = vi.on_reload(self.rebuild)

    def rebuild(self, report):
        if "routes" in report.reloaded:
            self.table = dict(self.routes.ROUTES)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        page = self.table.get(path)  # a function taken from the table runs the pinned generation's code
        with vi.pinned():  # one request, one version of routes.py, even if a reload publishes meanwhile
            if page is None:
                status, body = "404 Not Found", f"no page at {path}\n"
            else:
                self.routes.HITS[path] += 1
                status, body = "200 OK", page(environ)
        data = body.encode("utf-8")
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]


def make_app(watch=True):
    """Install versioned_import for this directory, then build the app (which imports routes)."""
    vi.install(roots=[HERE], watch=watch, interval=0.5)
    return App()


def main(argv):
    port = int(argv[0]) if argv else 8000
    app = make_app()
    with make_server("127.0.0.1", port, app) as server:
        try:
            print(f"serving http://127.0.0.1:{server.server_port}/ (edit routes.py; Ctrl-C stops)", flush=True)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
