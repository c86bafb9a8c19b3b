"""Source files: reading the bytes, fingerprinting them, compiling them (G8).

A change is a change of the source bytes. ``os.stat`` is only the quick
pre-check: a file whose stat key is unchanged *and* was older than the
filesystem's timestamp granularity when we read it cannot have changed since
(git calls the other case "racily clean" and so do we). Bytecode caches are
hash-checked, never trusted by timestamp: CPython's timestamp pycs run stale
code after an edit that keeps the mtime second and the size.

The cache also carries what a first import needs to know the source without
reading it: the source bytes and the stat key they were read under
(``load_cached``). A first import whose source file still has that key, read
when it was not racy, takes both from the cache — the same pre-check, with
the whole key (nanosecond mtime and ctime, size, inode), that ``changed()``
applies — and otherwise reads and hashes the file. CPython ignores what
follows the code object in a pyc, and validates such a pyc by its hash as
usual.
"""

from __future__ import annotations

import marshal
import operator
import os
import struct
import sys
import time
from dataclasses import dataclass
from importlib.util import MAGIC_NUMBER, decode_source, source_hash
from types import CodeType

from .writers import open_for_writing

__all__ = ["Source", "SourceChangedWhileReading", "SourceBeingWritten", "read_source", "still_on_disk",
           "compile_source", "load_cached", "stat_key", "RACY_NS"]

# Timestamps coarser than this exist (FAT: 2 s); a file modified less than
# RACY_NS before we read it may be modified again without a visible mtime change.
RACY_NS = 2_000_000_000

# Flags word of a PEP 552 pyc: bit 0 = hash-based, bit 1 = check the source.
_CHECKED_HASH_PYC = (0b11).to_bytes(4, "little")


# The stat fields whose change may mean new content, read by one C call.
stat_key = operator.attrgetter("st_mtime_ns", "st_size", "st_ino", "st_ctime_ns")


class SourceChangedWhileReading(OSError):
    """The file changed while it was read (caught mid-write): ``source`` is what was read, marked ``writing``."""

    def __init__(self, message: str, source: Source | None = None) -> None:
        super().__init__(message)
        self.source = source


class SourceBeingWritten(SourceChangedWhileReading):
    """A process still had the file open for writing when it was read: ``source`` is what was read, maybe partial."""


@dataclass(frozen=True, slots=True)
class Source:
    """The exact bytes of one source file as read at one moment."""

    path: str
    data: bytes
    digest: bytes
    stat_key: tuple[int, int, int, int]
    racy: bool
    # Whether a process had the file open for writing right after it was read (None: not asked, or unknowable).
    writing: bool | None = None

    def text(self) -> str:
        """Decode the bytes as the compiler does (coding cookie, BOM, universal newlines)."""
        return decode_source(self.data)


def read_source(path: str, probe: bool = True) -> Source:
    """Read ``path`` and fingerprint it; raise ``OSError`` if it is missing, unreadable or mid-write.

    With ``probe``, the kernel is asked right after the read whether a process
    still has the file open for writing (``_writers``): a save in place caught
    between its truncation and its last write raises ``SourceBeingWritten``.
    Both it and ``SourceChangedWhileReading`` carry what was read. A first import does not ask (CPython would
    not either).
    """
    with open(path, "rb") as stream:
        before = stat_key(os.fstat(stream.fileno()))
        data = stream.read()
        # The same open file before and after: an editor's atomic save (a
        # rename over the path) leaves what we read whole; a write in place does not.
        after = stat_key(os.fstat(stream.fileno()))
        # Asked after the read, on the file read: no writer now and the same content fields
        # since before the read mean the bytes are those of a file its writer closed.
        writing = open_for_writing(stream.fileno()) if probe else None
        if writing is False and stat_key(os.fstat(stream.fileno()))[:2] != after[:2]:
            writing = True  # written and closed again in between: what was read is not what is there
    now = time.time_ns()
    # Content fields only: replacing the path changes the old inode's ctime (its link count), not its bytes.
    racy = before[0] >= now - RACY_NS
    if after[:2] != before[:2] or len(data) != before[1]:
        raise SourceChangedWhileReading(f"{path} changed while it was being read; it is probably being written",
                                        Source(path, data, source_hash(data), after, True, True))
    source = Source(path, data, source_hash(data), before, racy, writing)
    if writing:
        raise SourceBeingWritten(f"{path} is open for writing by a process: it is probably being saved", source)
    return source


def still_on_disk(source: Source) -> bool:
    """Whether the file still holds the bytes ``source`` read (its stat key, inode and change time included, is the same)."""
    try:
        return stat_key(os.stat(source.path)) == source.stat_key
    except OSError:
        return False


def compile_source(source: Source, cached: str | None) -> CodeType:
    """Compile ``source``, reusing a pyc at ``cached`` only if its hash matches the bytes.

    Compiled with ``dont_inherit=True`` so that the ``__future__`` flags of
    versioned_import's own modules never leak into user code.
    """
    if cached:
        code, trailer = _load_checked_pyc(cached, source.digest)
        if code is not None:
            if not source.racy and not sys.dont_write_bytecode and trailer != _trailer(source):
                _write_checked_pyc(cached, source.digest, code, source)  # so the next first import needs no read
            return code
    code = compile(source.data, source.path, "exec", dont_inherit=True)
    if cached and not sys.dont_write_bytecode:
        _write_checked_pyc(cached, source.digest, code, source)
    return code


def load_cached(path: str, cached: str | None) -> tuple[Source, CodeType] | None:
    """Return the source and code a pyc at ``cached`` carries, if the file at ``path`` cannot have changed since.

    That is: the pyc recorded the stat key the bytes were read under, the
    read was not racy, and the file has that very key now. Else None: the
    caller reads the source (``read_source``) and compiles it.
    """
    if not cached:
        return None
    try:
        key = stat_key(os.stat(path))
        with open(cached, "rb") as stream:
            data = stream.read()
    except OSError:
        return None
    if data[:4] != MAGIC_NUMBER or data[4:8] != _CHECKED_HASH_PYC or data[-8:] != _TRAILER_MAGIC:
        return None
    mtime, length, inode, ctime, size, _ = _TRAILER.unpack_from(data, len(data) - _TRAILER.size)
    start = len(data) - _TRAILER.size - size
    if (mtime, length, inode, ctime) != key or size != length or start < 16:
        return None
    text = data[start:start + size]
    try:
        code = marshal.loads(memoryview(data)[16:start])
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(code, CodeType):
        return None
    return Source(path, text, data[8:16], key, False), code


def _load_checked_pyc(cached: str, digest: bytes) -> tuple[CodeType | None, bytes]:
    """Return the code of a pyc whose hash matches ``digest`` (else None), and the pyc's trailer."""
    try:
        with open(cached, "rb") as stream:
            data = stream.read()
        if data[:4] != MAGIC_NUMBER or data[4:8] != _CHECKED_HASH_PYC or data[8:16] != digest:
            return None, b""
        code = marshal.loads(memoryview(data)[16:])
    except (OSError, EOFError, ValueError, TypeError):
        return None, b""  # an absent or damaged cache only means we compile
    return (code if isinstance(code, CodeType) else None), data[-_TRAILER.size:]


def _trailer(source: Source) -> bytes:
    return _TRAILER.pack(*source.stat_key, len(source.data), _TRAILER_MAGIC)


# What follows the code in our pycs: the source bytes, then the stat key they were read under and their
# length, then a marker (``load_cached``).
_TRAILER = struct.Struct("<qqqqQ8s")
_TRAILER_MAGIC = b"vi-src\x00\x01"


def _write_checked_pyc(cached: str, digest: bytes, code: CodeType, source: Source | None = None) -> None:
    payload = MAGIC_NUMBER + _CHECKED_HASH_PYC + digest + marshal.dumps(code)
    if source is not None and not source.racy:
        payload += source.data + _trailer(source)
    temporary = f"{cached}.{os.getpid()}.{id(code)}.tmp"
    try:
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        with open(temporary, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, cached)
    except OSError:
        # A read-only tree only costs a compile next time, exactly like CPython.
        try:
            os.unlink(temporary)
        except OSError:
            pass
