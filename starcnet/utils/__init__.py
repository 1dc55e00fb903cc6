# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Helpers shared by the package.  Public: `large_cpu_buffers`, the opt-in
glibc allocator settings that make the network faster on a CPU in a
process that starcnet may change for good (see :ref:`performance`).
The optional-dependency flags and progress bars are private.
"""

from ._allocator import large_cpu_buffers

__all__ = ['large_cpu_buffers']
