# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Fixtures of the model tests: a temporary astropy cache, a small
published-format checkpoint served from 127.0.0.1, and a registry that
forgets the test's registrations.
"""

import pytest
import torch
from astropy.config import paths as astropy_paths

from starcnet.models import registry

from .helpers import LocalServer, sha256_of
from .test_network import make_published_state_dict


@pytest.fixture
def temp_cache(tmp_path):
    """Redirect the 'starcnet' astropy cache to a temporary directory."""
    cache = tmp_path / 'cache'
    cache.mkdir()
    if hasattr(astropy_paths, 'temporary_cache_dir_path'):  # astropy >= 8
        context = astropy_paths.temporary_cache_dir_path(cache, namespace='starcnet')
    else:  # pragma: no cover
        context = astropy_paths.set_temp_cache(cache)
    with context:
        assert str(cache) in astropy_paths.get_cache_dir('starcnet')
        yield cache


@pytest.fixture
def weights(tmp_path):
    """A small published-format checkpoint: (path, state_dict, sha256)."""
    directory = tmp_path / 'served'
    directory.mkdir()
    state = make_published_state_dict(width=32, seed=5)
    path = directory / 'starcnet.pth'
    torch.save(state, path)
    return path, state, sha256_of(path)


@pytest.fixture
def server(weights):
    srv = LocalServer(weights[0].parent)
    yield srv
    srv.stop()


@pytest.fixture
def fresh_registry(monkeypatch):
    """The registry as it is, restored after the test (registrations of
    the test are forgotten)."""
    monkeypatch.setattr(registry, '_REGISTRY', dict(registry._REGISTRY))
    return registry._REGISTRY
