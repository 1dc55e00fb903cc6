# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Promises of the reliability page (``docs/reliability.rst``) that no
other test checked: a weights file never executes a pickle, one
classifier may be used from many threads at once, and a model name is
never taken as a path.
"""

import os
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from starcnet import StarClusterClassifier
from starcnet.conftest import make_test_scene
from starcnet.models import get_model_path, load_model


class _Payload:
    """Unpickling this creates the directory ``path``: code run by a pickle."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


@pytest.mark.parametrize('legacy', [False, True], ids=['zip', 'legacy-pickle'])
def test_weights_file_never_executes_a_pickle(tmp_path, legacy):
    marker = tmp_path / 'pickle-was-executed'
    path = tmp_path / 'evil.pth'
    state = {'conv1.weight': torch.zeros(1), 'payload': _Payload(str(marker))}
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(FileNotFoundError):   # the payload works when unpickled
        pickle.loads(pickle.dumps(_Payload(str(tmp_path / 'no' / 'such'))))
    for load in (load_model, StarClusterClassifier):
        with pytest.raises(ValueError, match='could not read the PyTorch checkpoint'):
            load(path)
        assert not marker.exists()


def test_one_classifier_from_many_threads():
    """12 threads on one classifier: bit-identical to one call at a time."""
    clf = StarClusterClassifier(device='cpu', batch_size=4)
    scenes = [make_test_scene(shape=(80, 90), n=6, seed=seed) for seed in range(4)]
    alone = [clf(bands, sources) for bands, sources in scenes]
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [(k % 4, pool.submit(clf, *scenes[k % 4])) for k in range(12)]
        together = [(k, future.result()) for k, future in futures]
    for k, catalog in together:
        for name in ('prob_class1', 'prob_class2', 'prob_class3', 'prob_class4',
                     'starcnet_flags'):
            assert (np.ma.getdata(catalog[name]).tobytes()
                    == np.ma.getdata(alone[k][name]).tobytes()), name


@pytest.mark.parametrize('name', ['../data/sim-small-v2', 'data/../../../setup.cfg',
                                  '/etc/passwd-not-a-model', '..', 'sim-small-v2/../x'])
def test_model_names_are_not_paths(name):
    """A model name with path parts is an unknown name, never a file to read."""
    for function in (get_model_path, load_model):
        with pytest.raises(ValueError, match='not a known model name'):
            function(name)
