# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Flags telling whether optional dependencies are installed.

``HAS_TQDM`` is `True` when ``tqdm`` can be imported, and so on for
every name in ``optional_deps``; the modules are not imported until a
flag is first read.
"""

import importlib.util

__all__ = [f'HAS_{name.upper()}' for name in ('tqdm', 'matplotlib', 'reproject', 'dask')]

#: Optional dependencies, as importable module names.
optional_deps = ['tqdm', 'matplotlib', 'reproject', 'dask']
_deps = {name.upper(): name for name in optional_deps}


def __getattr__(name):
    if name.startswith('HAS_') and name[4:] in _deps:
        module = _deps[name[4:]]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        globals()[name] = found
        return found
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
