# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Large CPU buffers without a page fault per batch (glibc only), opt-in.

Every activation of the published-size network on a batch of 32
cutouts is a 16 MB float32 array.  glibc's ``malloc`` serves blocks
that large with a fresh ``mmap`` and gives them back with ``munmap``
when torch frees them (or trims the top of its heap), so every layer of
every batch writes into new pages: thousands of page faults, each
zeroing a page, about a quarter of the run time of the network on a
CPU.  Inside `large_cpu_buffers` glibc's mmap threshold is at its
largest value (32 MB) and its trim threshold at 256 MB, so freed
activations stay in the heap and are reused.

These are settings of the whole process, and glibc cannot be put back
as it was: setting either threshold switches glibc's adaptive
thresholds off for the rest of the process, and glibc has no call to
switch them on again (nor to read the values in force).  So the library
never enters the block by itself; the ``starcnet`` command line and the
Dask workers that `starcnet.distributed` starts, which own their
process, do, and so can any program that owns its process.
"""

import ctypes
import os
import platform
import threading
from contextlib import contextmanager

__all__ = ['large_cpu_buffers']

#: mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: Values while the network runs: glibc's largest mmap threshold
#: (``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit systems) and a trim
#: threshold that keeps a few batches' activations in the heap.
MMAP_THRESHOLD = 32 * 1024 ** 2
TRIM_THRESHOLD = 256 * 1024 ** 2

#: Values afterwards: where glibc's adaptive thresholds end up once a
#: block of 32 MB or more has been freed (``DEFAULT_MMAP_THRESHOLD_MAX``
#: and twice it).
AFTER_MMAP_THRESHOLD = 32 * 1024 ** 2
AFTER_TRIM_THRESHOLD = 64 * 1024 ** 2

_USER_VARIABLES = ('MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_',
                   'MALLOC_TOP_PAD_', 'MALLOC_MMAP_MAX_', 'MALLOC_ARENA_MAX')

_lock = threading.Lock()
_depth = 0
_libc = None


def _glibc():
    """
    The C library if it is glibc with ``mallopt``, else `None`.
    """
    global _libc
    if _libc is None:
        _libc = False
        if platform.system() == 'Linux' and platform.libc_ver()[0] == 'glibc':
            try:
                libc = ctypes.CDLL(None)
                libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                libc.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc = libc
            except (OSError, AttributeError):  # pragma: no cover
                pass
    return _libc or None


def _user_tuned():
    return (any(name in os.environ for name in _USER_VARIABLES)
            or 'glibc.malloc' in os.environ.get('GLIBC_TUNABLES', ''))


def active():
    """
    Whether the tuned allocator settings are in force now.
    """
    return _depth > 0


@contextmanager
def large_cpu_buffers(enabled=None):
    """
    Keep large freed buffers in glibc's heap while the block runs
    (opt-in; changes the allocator of the whole process for good).

    Makes the network on a CPU about 1.3x (published size) to 2x
    (bundled model) faster.  starcnet's classes and functions do not
    use it by themselves; the ``starcnet`` command line and the worker
    processes that `starcnet.distributed` starts do.  Enter it around
    your own work in a program that owns its process::

        from starcnet.utils import large_cpu_buffers

        with large_cpu_buffers():
            catalog = clf(image, sources)

    While the block runs, glibc's mmap threshold is 32 MB (its largest)
    and its trim threshold 256 MB.  On the way out the free heap goes
    back to the system (``malloc_trim``) and the thresholds are set to
    32 MB and 64 MB, where glibc's adaptive thresholds end up in a
    process that has freed a large array.  glibc is **not** left as it
    was: setting a threshold switches its adaptive thresholds off for
    the rest of the process, and glibc cannot switch them on again
    (a later block leaves it as the first one did).  Nested blocks and
    blocks in several threads share one setting.

    It does nothing (and yields False) when ``starcnet.conf.tune_malloc``
    is False (unless ``enabled=True``), on systems other than Linux with
    glibc, or when glibc's malloc parameters were set by the user
    (``MALLOC_*_`` environment variables or ``glibc.malloc`` tunables).

    Parameters
    ----------
    enabled : bool or None, optional
        `None` (default) follows ``starcnet.conf.tune_malloc``; True or
        False decide regardless of it.

    Yields
    ------
    tuned : bool
        Whether the settings are in force (set by this block or by an
        enclosing one).
    """
    global _depth
    if enabled is None:
        from starcnet import conf

        enabled = conf.tune_malloc
    libc = _glibc() if enabled and not _user_tuned() else None
    if libc is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_TRIM_THRESHOLD, AFTER_TRIM_THRESHOLD)
                libc.mallopt(M_MMAP_THRESHOLD, AFTER_MMAP_THRESHOLD)
                libc.malloc_trim(0)
