# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
External programs and optional packages that some tests need: present,
or the test is skipped with the way to install them; never skipped in CI.
"""

import importlib
import os
import shutil

import pytest

__all__ = ['require_tool', 'require_module', 'missing', 'in_ci', 'stilts_input_formats']

#: How to install the programs the tests use.
INSTALL = {'stilts': 'apt-get install stilts starlink-ecsv-java',
           'ds9': 'apt-get install saods9 xpa-tools',
           'xpaget': 'apt-get install xpa-tools',
           'xvfb-run': 'apt-get install xvfb xauth',
           'chromium': 'apt-get install chromium'}


def in_ci():
    """Whether the environment variable ``CI`` is ``true`` (as on CI services)."""
    return os.environ.get('CI', '').strip().lower() == 'true'


def missing(reason):
    """Skip the calling test for ``reason``, or fail it when ``CI`` is ``true``."""
    if in_ci():
        pytest.fail(f'{reason}; CI=true, so this test must not be skipped')
    pytest.skip(reason, allow_module_level=True)


def require_tool(name, install=None):
    """
    The path of program ``name``; skip the calling test if it is absent,
    or fail it when ``CI`` is ``true``.

    Parameters
    ----------
    name : str
        The program, looked up on ``PATH``.
    install : str, optional
        How to install it, for the message (default from `INSTALL`).
    """
    path = shutil.which(name)
    if path is None:
        how = install or INSTALL.get(name, f'install {name}')
        missing(f'{name.upper() if name == "stilts" else name} is not installed: {how}')
    return path


def require_module(name, install=None):
    """
    Import module ``name``; skip the calling test if it is absent, or
    fail it when ``CI`` is ``true``.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f'{name} is not installed: {install or f"pip install {name}"}')


def stilts_input_formats(stilts):
    """
    The input table formats that this STILTS knows (``stilts tpipe
    help=ifmt``), lower case.
    """
    import subprocess

    text = subprocess.run([stilts, 'tpipe', 'help=ifmt'], capture_output=True,
                          text=True, timeout=120).stdout
    known = text.split('Known in-formats:')[-1]
    return {line.strip().lower() for line in known.splitlines() if line.strip()}
