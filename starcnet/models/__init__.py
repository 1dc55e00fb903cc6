# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The torch side of starcnet: the network, the published-checkpoint
loader, the model description (`ModelInfo`) and its weights files, the
registry of named models and the astropy download cache, the model
builder (`load_model`) and the one inference path (`Predictor`).
Nothing here depends on astropy tables or images.

Modules: ``network``, ``legacy``, ``info``, ``schema`` (the file
metadata), ``weights`` (reading and writing weights files), ``registry``
(the named models, `register_model`), ``cache`` (downloads and the
astropy cache), ``loading`` (`load_model`), ``inference`` and
``uncertainty`` (per-source uncertainty of Monte Carlo dropout samples
and the out-of-distribution score; its functions stay in
``starcnet.models.uncertainty``).
"""

from .network import *  # noqa: F401, F403
from .legacy import *  # noqa: F401, F403
from .info import *  # noqa: F401, F403
from .weights import *  # noqa: F401, F403
from .registry import *  # noqa: F401, F403
from .cache import *  # noqa: F401, F403
from .loading import *  # noqa: F401, F403
from .inference import *  # noqa: F401, F403
