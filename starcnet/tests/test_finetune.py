# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Acceptance test: fine-tuning the bundled default model on labelled
candidates of a scene improves its accuracy on the held-out candidates of
that scene.

The scene is a simulated LEGUS-like field whose bands are blurred with a
Gaussian of 2 px (a PSF about twice as broad as the broadest the bundled
model was trained on): a domain shift under which the bundled model is
close to chance (about 31%).  The candidates of the left half of the
image (about 300) are the training set, those of the right half the test
set.
"""

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from starcnet import conf
from starcnet.cutouts import normalize
from starcnet.metrics import accuracy
from starcnet.models.registry import load_model
from starcnet.simulation import BANDS, make_scene
from starcnet.training import cutouts_from_catalog, fit


def _predict(module, cutouts, normalization):
    with torch.no_grad():
        logits = module(torch.from_numpy(normalize(cutouts, normalization)))
    return logits.argmax(1).numpy() + 1


@pytest.fixture(scope='module')
def blurred_scene():
    images, truth = make_scene((768, 768), 600, min_separation=10, seed=5)
    images = {band: gaussian_filter(images[band], 2.0) for band in BANDS}
    return images, truth


def test_finetune_improves_held_out_accuracy(blurred_scene):
    torch.set_num_threads(2)
    images, truth = blurred_scene
    cutouts, labels, index, dropped = cutouts_from_catalog(
        images, truth, class_column='true_class')
    assert dropped == {'unlabelled': 0, 'invalid_class': 0, 'unclassifiable': 0}
    train = np.asarray(truth['x'])[index] < 384
    test = ~train
    assert train.sum() > 100 and test.sum() > 100

    base, info = load_model(conf.default_model)
    before = accuracy(labels[test], _predict(base, cutouts[test], info.normalization))

    result = fit(cutouts[train], labels[train], model=conf.default_model, epochs=6,
                 batch_size=32, learning_rate=5e-3, val_fraction=0, seed=0,
                 freeze=('convs',))
    assert result.metadata['normalization'] == info.normalization.to_metadata()
    assert result.metadata['config'] == base.config
    after = accuracy(labels[test], _predict(result.module, cutouts[test],
                                            result.metadata['normalization']))
    print(f'held-out accuracy: before {before:.3f}, after {after:.3f}')
    assert after >= before + 0.1
    # the frozen convolutions did not change
    new = result.module.state_dict()
    for key, value in base.state_dict().items():
        if '.convs.' in key or '.norms.' in key:
            assert torch.equal(value, new[key])
