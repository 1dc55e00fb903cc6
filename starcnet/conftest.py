# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Shared pytest fixtures.
"""

import os
import warnings

import numpy as np
import pytest
from astropy.table import QTable

from starcnet.images import STARCNET_BANDS

try:
    from pytest_astropy_header.display import (PYTEST_HEADER_MODULES,
                                               TESTED_VERSIONS)
except ImportError:  # pragma: no cover
    PYTEST_HEADER_MODULES, TESTED_VERSIONS = {}, {}


try:
    from hypothesis import settings as _hypothesis_settings
except ImportError:  # pragma: no cover (hypothesis is in the test extra)
    _hypothesis_settings = None

#: Example budgets of the property-based tests (hypothesis): ``ci``, the
#: default and what CI runs, is small, reproducible (derandomized) and
#: keeps no example database; ``long`` (``HYPOTHESIS_PROFILE=long``) is
#: for local runs and keeps its database in ``.hypothesis/``.
HYPOTHESIS_PROFILES = {
    'ci': dict(max_examples=20, deadline=None, derandomize=True, database=None,
               print_blob=True, report_multiple_bugs=False),
    'long': dict(max_examples=600, deadline=None, print_blob=True),
}

if _hypothesis_settings is not None:
    for _name, _options in HYPOTHESIS_PROFILES.items():
        _hypothesis_settings.register_profile(_name, **_options)
    _hypothesis_settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', '').strip() or 'ci')


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # When a property test fails, hypothesis's pytest plugin imports
    # libcst here to suggest a patch of the failing examples; libcst warns
    # at import (mypy_extensions.TypedDict is deprecated), and
    # filterwarnings=error turns that into an INTERNALERROR that hides
    # the failure.  Only that warning, only while the report is made.
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='mypy_extensions.TypedDict is deprecated',
                                category=DeprecationWarning)
        return (yield)


def pytest_configure(config):
    config.option.astropy_header = True
    PYTEST_HEADER_MODULES.pop('Pandas', None)
    PYTEST_HEADER_MODULES.pop('h5py', None)
    PYTEST_HEADER_MODULES.pop('Matplotlib', None)
    PYTEST_HEADER_MODULES['photutils'] = 'photutils'
    PYTEST_HEADER_MODULES['regions'] = 'regions'
    PYTEST_HEADER_MODULES['torch'] = 'torch'
    from starcnet import __version__
    TESTED_VERSIONS['starcnet'] = __version__


@pytest.fixture(scope='session')
def tiny_model_path(tmp_path_factory):
    """
    A narrow (width 8, 2 GroupNorm groups) StarcNet with seeded random weights, saved in
    starcnet's safetensors format: fast, and independent of the bundled
    model.
    """
    path = tmp_path_factory.mktemp('models') / 'tiny.safetensors'
    return save_tiny_model(path)


def save_tiny_model(path, *, width=8, dropout=0.5, seed=0, name='tiny-test', ood=None,
                    members=None):
    """
    Save a narrow StarcNet with random weights seeded by ``seed`` (torch's
    global random state is left as it was) in starcnet's safetensors
    format, with the asinh test normalisation and, if given, an ``ood``
    entry; returns ``path``.  With ``members``, a deep ensemble of that
    many such networks (seeds ``seed``, ``seed + 1``, ...).
    """
    import torch

    from starcnet.models.network import StarcNet, StarcNetEnsemble
    from starcnet.models.registry import save_model

    with torch.random.fork_rng():
        networks = []
        for k in range(members or 1):
            torch.manual_seed(seed + k)
            networks.append(StarcNet(width=width, dropout=dropout))
    module = (networks[0] if members is None
              else StarcNetEnsemble.from_networks(networks))
    meta = {'format': 'starcnet-weights', 'format_version': 1, 'name': name,
            'description': 'random weights for tests', 'config': module.config,
            'bands': list(STARCNET_BANDS),
            'normalization': {'kind': 'asinh', 'offset': [0.0] * 5, 'scale': [0.1] * 5},
            'classes': {'1': 'symmetric cluster', '2': 'asymmetric cluster',
                        '3': 'association', '4': 'non-cluster'},
            'license': 'BSD-3-Clause', 'citation': 'none', 'training': {}}
    if ood is not None:
        meta['ood'] = ood
    save_model(module, path, meta)
    return path


def make_test_scene(shape=(200, 240), n=12, seed=0):
    """
    Five noisy bands with Gaussian sources at known positions.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    x = rng.uniform(20, nx - 21, n)
    y = rng.uniform(20, ny - 21, n)
    yy, xx = np.mgrid[:ny, :nx]
    bands = {}
    for k, band in enumerate(STARCNET_BANDS):
        img = rng.normal(0.05 * (k + 1), 0.01, shape)
        for xi, yi in zip(x, y):
            img += (1 + k) * np.exp(-((xx - xi) ** 2 + (yy - yi) ** 2) / (2 * 1.2 ** 2))
        bands[band] = img.astype(np.float32)
    return bands, QTable({'x': x, 'y': y})


def write_test_scene(directory):
    """
    `make_test_scene` written as one FITS file per band (with a TAN WCS
    and BUNIT = ELECTRONS/S) plus an ECSV source list.

    Returns
    -------
    band_args : list of str
        ``BAND=PATH`` arguments for the command line.
    catalog : `pathlib.Path`
        The source list.
    sources : `~astropy.table.QTable`
        The sources.
    """
    from astropy.io import fits

    from starcnet.simulation.demo import demo_wcs

    bands, sources = make_test_scene()
    wcs = demo_wcs(240)
    band_args = []
    for band, data in bands.items():
        header = wcs.to_header()
        header['BUNIT'] = 'ELECTRONS/S'
        path = directory / f'{band.lower()}.fits'
        fits.PrimaryHDU(data, header=header).writeto(path)
        band_args.append(f'{band}={path}')
    catalog = directory / 'sources.ecsv'
    sources.write(catalog)
    return band_args, catalog, sources


@pytest.fixture
def samp_hub(tmp_path, monkeypatch):
    """
    A private SAMP hub (needs pyvo) for this test only; yields ``(hub,
    receivers)`` (see `starcnet.tests._samp.private_hub`).
    """
    import threading

    from starcnet.tests._samp import private_hub

    before = set(threading.enumerate())
    with private_hub(tmp_path, monkeypatch) as hub:
        yield hub
    assert not (tmp_path / 'samp').exists()
    left = [t for t in set(threading.enumerate()) - before if t.is_alive()]
    for thread in left:
        thread.join(timeout=10)
    assert not [t.name for t in left if t.is_alive()], 'SAMP threads left running'


@pytest.fixture
def scene():
    return make_test_scene()
