# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Give back the resident pages of memory-mapped images.

A memory map only reads the pages that are touched, but every touched
page then counts in the resident memory (RSS) of the process until the
map is closed.  With thousands of sources spread over a galaxy nearly
every page of every band is touched, so memory-mapping alone ends with
the whole data set resident.  The classifier works through the sources
in order of row and, once the network is past a strip of rows, tells
the kernel it no longer needs those pages (``madvise(MADV_DONTNEED)``)
with `RowReleaser`; the file itself stays in the page cache, which the
kernel may reclaim, and pages touched again are simply read again.

Only shared maps are given back: a read-only map (what
`starcnet.MultiBandImage.read` makes, ``fits.open(...,
mode='denywrite')``), whose pages are the file's own clean pages, or
(Python >= 3.13, which can tell) a shared writable one, whose changes
are in the page cache.  A private copy-on-write map (astropy's default,
``mode='readonly'``) may hold pages changed in memory only, which
``MADV_DONTNEED`` would throw away: such maps are left alone.
"""

import mmap
import os

import numpy as np

__all__ = ['RowReleaser', 'find_mmap', 'is_shared']

_PAGE = mmap.PAGESIZE
_HAVE_MADVISE = hasattr(mmap.mmap, 'madvise') and hasattr(mmap, 'MADV_DONTNEED')


def find_mmap(array):
    """
    The `mmap.mmap` an array's memory lives in, or None.

    Follows the ``base`` chain of views (numpy's, and `astropy.io.fits`
    ends it in the `mmap.mmap`).
    """
    base, seen = array, 0
    while base is not None and seen < 64:
        if isinstance(base, mmap.mmap):
            return base
        base, seen = getattr(base, 'base', None), seen + 1
    return None


def is_shared(mm):
    """
    Whether the pages of a map can be given back without losing data:
    a read-only map, or a shared writable one (Python >= 3.13 says).
    """
    with memoryview(mm) as view:
        if view.readonly:
            return True
    return getattr(mm, 'access', None) == mmap.ACCESS_WRITE


def _address(mm):
    """Start address of a mapping (without keeping a buffer export)."""
    return np.frombuffer(mm, dtype=np.uint8, count=1).__array_interface__['data'][0]


class _Mapped:
    """One 2-D array in a shared memory map: where its rows are."""

    def __init__(self, array, mm):
        self.mm = mm
        self.start = _address(mm)
        self.length = len(mm)
        self.data = array.__array_interface__['data'][0]
        self.row_stride = array.strides[0]
        self.nrows = array.shape[0]
        self.released = 0  # rows [0, released) were given back
        # first byte (page-aligned, relative to the map) not yet given back
        self._next = max(self.data - self.start, 0) // _PAGE * _PAGE

    def release(self, stop):
        stop = min(int(stop), self.nrows)
        if stop <= self.released or self.row_stride <= 0:
            return 0
        last = self.data + stop * self.row_stride - self.start
        # Only whole pages of finished rows (and, before the first row,
        # of the file header) are given back; a page shared with
        # unfinished rows waits for the next call.
        lo = self._next
        hi = min(last, self.length) // _PAGE * _PAGE
        self.released = stop
        if hi <= lo:
            return 0
        self._next = hi
        self.mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        return hi - lo


class RowReleaser:
    """
    Give back the pages of the first rows of memory-mapped 2-D arrays.

    Arrays that are not in a shared memory map (see `is_shared`), or not
    C-ordered by rows, are ignored, as is everything on systems without
    ``madvise``.

    Parameters
    ----------
    arrays : sequence of 2-D arrays or None
        E.g. the bands and masks of an image.

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet._memmap import RowReleaser
    >>> releaser = RowReleaser([np.zeros((4, 4))])   # not mapped: a no-op
    >>> releaser.release(2)
    0
    """

    def __init__(self, arrays):
        self._mapped = []
        if not _HAVE_MADVISE or os.name != 'posix':
            return
        for array in arrays:
            if array is None or not isinstance(array, np.ndarray) or array.ndim != 2:
                continue
            if array.strides[0] < array.strides[1] or array.strides[1] <= 0:
                continue
            mm = find_mmap(array)
            if mm is None or getattr(mm, 'closed', False):
                continue
            try:
                if is_shared(mm):
                    self._mapped.append(_Mapped(array, mm))
            except (ValueError, TypeError, BufferError):
                continue

    def __bool__(self):
        return bool(self._mapped)

    def release(self, stop_row):
        """
        Give back the pages of rows ``[0, stop_row)`` of every array.

        Rows given back before are skipped; reading them again is
        allowed (they are read from the file again).

        Returns
        -------
        nbytes : int
            Bytes of address space advised away.
        """
        total = 0
        for mapped in self._mapped:
            try:
                total += mapped.release(stop_row)
            except (OSError, ValueError):
                # A closed map or an unsupported advice: keep the pages.
                continue
        return total
