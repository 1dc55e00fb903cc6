# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The torch side of starcnet: the network, the published-checkpoint
loader, the registry of named models and the one inference path
(`Predictor`).  Nothing here depends on
astropy tables or images.
"""

from .network import *  # noqa: F401, F403
from .legacy import *  # noqa: F401, F403
from .registry import *  # noqa: F401, F403
from .inference import *  # noqa: F401, F403
