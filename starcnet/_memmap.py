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

Private (copy-on-write) maps, which `astropy.io.fits` makes by default,
need care: a page the user modified in memory exists only in the
process, and ``MADV_DONTNEED`` would throw the modification away.  Such
pages are found in ``/proc/self/pagemap`` (resident but not file-backed)
and kept; where that file cannot be read, private maps are left alone.
"""

import mmap
import os
import struct

import numpy as np

__all__ = ['RowReleaser', 'find_mmap']

_PAGE = mmap.PAGESIZE
# /proc/self/pagemap: one 64-bit entry per page; bit 63 = present,
# bit 62 = swapped, bit 61 = file page or shared anonymous page.
_PRESENT = 1 << 63
_SWAPPED = 1 << 62
_FILE = 1 << 61
_HAVE_MADVISE = hasattr(mmap.mmap, 'madvise') and hasattr(mmap, 'MADV_DONTNEED')


def find_mmap(array):
    """
    The `mmap.mmap` an array's memory lives in, or None.

    Follows the ``base`` chain of views (numpy and `astropy.io.fits`
    both end it in the `mmap.mmap`).
    """
    base, seen = array, 0
    while base is not None and seen < 64:
        if isinstance(base, mmap.mmap):
            return base
        inner = getattr(base, '_mmap', None)
        if isinstance(inner, mmap.mmap):
            return inner
        base, seen = getattr(base, 'base', None), seen + 1
    return None


def _address(mm):
    """Start address of a mapping (without keeping a buffer export)."""
    return np.frombuffer(mm, dtype=np.uint8, count=1).__array_interface__['data'][0]


def _is_private(mm):
    access = getattr(mm, 'access', None)  # Python >= 3.13 only
    if access is not None:
        return access == mmap.ACCESS_COPY
    # Older Pythons do not say; assume the worst.
    return True


class _Mapped:
    """One 2-D array in a memory map: where its rows are."""

    def __init__(self, array, mm):
        self.mm = mm
        self.start = _address(mm)
        self.length = len(mm)
        self.data = array.__array_interface__['data'][0]
        self.row_stride = array.strides[0]
        self.nrows = array.shape[0]
        self.private = _is_private(mm)
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
        if not self.private:
            self.mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            return hi - lo
        return self._release_private(lo, hi)

    def _release_private(self, lo, hi):
        first_page = (self.start + lo) // _PAGE
        n_pages = (hi - lo) // _PAGE
        try:
            with open('/proc/self/pagemap', 'rb') as handle:
                handle.seek(first_page * 8)
                raw = handle.read(n_pages * 8)
        except OSError:
            return 0
        if len(raw) != n_pages * 8:
            return 0
        entries = np.array(struct.unpack(f'<{n_pages}Q', raw), dtype=np.uint64)
        # A resident or swapped page that is not file-backed is a
        # private copy: the user wrote to it.  Keep those.
        modified = (((entries & np.uint64(_PRESENT | _SWAPPED)) != 0)
                    & ((entries & np.uint64(_FILE)) == 0))
        released = 0
        # Runs of releasable pages.
        ok = np.concatenate([[False], ~modified, [False]])
        edges = np.flatnonzero(np.diff(ok.astype(np.int8)))
        for begin, end in zip(edges[::2], edges[1::2]):
            self.mm.madvise(mmap.MADV_DONTNEED, lo + begin * _PAGE,
                            (end - begin) * _PAGE)
            released += (end - begin) * _PAGE
        return released


class RowReleaser:
    """
    Give back the pages of the first rows of memory-mapped 2-D arrays.

    Arrays that are not memory-mapped (or not C-ordered by rows) are
    ignored, as is everything on systems without ``madvise``.

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
