# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
``python -m starcnet``: the same as the ``starcnet`` command.
"""

import sys

from .cli import main

sys.exit(main())
