"""G8 and the bytecode cache: a first import takes the source from the cache only while the file cannot have changed.

Our hash-checked pycs carry the source bytes and the stat key they were read
under, so that a first import needs not read and hash the file. The cache is
trusted only while the file has that very key (nanosecond mtime and ctime,
size, inode) and the bytes were not racy when read; an edit that keeps the
size and puts the modification time back changes the ctime, and is seen.
CPython itself still loads such a pyc (it checks the hash, and ignores what
follows the code).
"""

import importlib.util
import os
import sys
import time

from tests.support import Sandbox
from versioned_import._core.source import compile_source, load_cached, read_source


class SourceCacheTest(Sandbox):
    def setUp(self):
        super().setUp()
        saved = sys.dont_write_bytecode, sys.pycache_prefix
        sys.dont_write_bytecode, sys.pycache_prefix = False, os.path.join(self.root, "pycache")
        self.addCleanup(lambda: (setattr(sys, "dont_write_bytecode", saved[0]),
                                 setattr(sys, "pycache_prefix", saved[1])))

    def old_file(self, name, text):
        path = self.write(name, text)
        then = time.time() - 3600
        os.utime(path, (then, then))
        return path, importlib.util.cache_from_source(path)

    def test_a_cache_written_from_settled_bytes_gives_them_back(self):
        path, cached = self.old_file("sc_a.py", "VALUE = 1\n")
        source = read_source(path)
        compile_source(source, cached)
        loaded = load_cached(path, cached)
        self.assertIsNotNone(loaded)
        again, code = loaded
        self.assertEqual((again.data, again.digest, again.stat_key, again.racy),
                         (source.data, source.digest, source.stat_key, False))
        namespace = {}
        exec(code, namespace)
        self.assertEqual(namespace["VALUE"], 1)

    def test_an_edit_that_keeps_size_and_modification_time_is_seen(self):
        path, cached = self.old_file("sc_b.py", "VALUE = 1\n")
        compile_source(read_source(path), cached)
        before = os.stat(path)
        with open(path, "w", encoding="utf-8") as stream:
            stream.write("VALUE = 2\n")
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        self.assertEqual((os.stat(path).st_size, os.stat(path).st_mtime_ns), (before.st_size, before.st_mtime_ns))
        self.assertIsNone(load_cached(path, cached))  # the ctime moved: the file is read again
        self.assertEqual(read_source(path).data, b"VALUE = 2\n")

    def test_racy_bytes_are_not_carried(self):
        path = self.write("sc_c.py", "VALUE = 1\n")  # written just now: racy
        cached = importlib.util.cache_from_source(path)
        source = read_source(path)
        self.assertTrue(source.racy)
        compile_source(source, cached)
        self.assertIsNone(load_cached(path, cached))

    def test_cpython_loads_the_cache_without_the_library(self):
        path, cached = self.old_file("sc_d.py", "VALUE = 41 + 1\n")
        compile_source(read_source(path), cached)
        with open(cached, "rb") as stream:
            written = stream.read()
        environment = {"PYTHONPYCACHEPREFIX": sys.pycache_prefix, "PYTHONPATH": self.root}
        environment_without = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
        environment_without.update(environment)
        import subprocess

        result = subprocess.run([sys.executable, "-c", "import sc_d; print(sc_d.VALUE, sc_d.__cached__)"],
                                capture_output=True, text=True, env=environment_without, cwd=self.root, timeout=60)
        self.assertProcessOK(result)
        value, used = result.stdout.split()
        self.assertEqual((value, used), ("42", cached))
        with open(cached, "rb") as stream:
            self.assertEqual(stream.read(), written)  # accepted as it is, not compiled and written again
