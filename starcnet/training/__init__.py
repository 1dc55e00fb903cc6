# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Train and fine-tune StarcNet models on labelled 5-band cutouts.

`fit` trains a network from scratch or fine-tunes any registered model
(the bundled ``'sim-small-v1'``, the published ``'legus-2021'``) or
weights file on labelled cutouts; `cutouts_from_catalog` makes those
cutouts from an image and a labelled table (e.g. a LEGUS catalog read
with `~starcnet.read_legus`); `save_trained` writes the result as a
safetensors file that `~starcnet.StarClusterClassifier` loads.

The training loop: per-band normalisation on the device
(`starcnet.normalization.Normalization`, any kind), band dropout (a random
band of some cutouts marked missing, as the classifier does for bands
without data), dihedral augmentation (the eight rotations and flips of the square
cutout, `dihedral_augment`), a class-balanced cross-entropy or
class-balanced sampling, AdamW with a cosine learning-rate schedule, a
validation split (stratified by class, or by group: galaxy or scene)
(or a fixed validation set, with fresh training data every epoch from a
callable) whose best-accuracy state is kept, early stopping, and
temperature scaling fitted on the validation set (`fit_temperature`).

The parts: ``starcnet.training.data`` (cutouts from catalogs, splits,
class weights; numpy only), ``starcnet.training.augment`` (torch),
``starcnet.training.loop`` (`fit`) and ``starcnet.training.results``
(`TrainingResult`, `fit_temperature`, `save_trained`);
``starcnet.training.active`` chooses which candidates to label next
(`select_batch`) and runs the active-learning loop (`ActiveLearner`).  Importing
``starcnet.training`` imports torch only when a torch-side name
(`fit`, `fit_ensemble`, `ensemble_of`, `dihedral_augment`, `FREEZABLE`,
`ActiveLearner`, `select_batch`, `acquisition_scores`) is first used.
`fit_ensemble` trains a deep ensemble (``starcnet.training.ensemble``).
"""

import importlib

from .data import LabelledCutouts, class_weights, cutouts_from_catalog
from .results import TrainingResult, fit_temperature, save_trained

__all__ = ['fit', 'fit_ensemble', 'ensemble_of', 'member_of', 'FREEZABLE',
           'dihedral_augment', 'class_weights',
           'fit_temperature', 'TrainingResult', 'LabelledCutouts',
           'cutouts_from_catalog', 'save_trained', 'ActiveLearner', 'select_batch',
           'acquisition_scores', 'RULES', 'NO_CLASS', 'NOT_REVIEWED']

# the names that need torch, imported on first use
_LAZY = {'fit': 'loop', 'FREEZABLE': 'loop', 'fit_ensemble': 'ensemble',
         'ensemble_of': 'ensemble', 'member_of': 'ensemble', 'dihedral_augment': 'augment',
         'ActiveLearner': 'active', 'select_batch': 'active',
         'acquisition_scores': 'active', 'RULES': 'active', 'NO_CLASS': 'active',
         'NOT_REVIEWED': 'active'}


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f'{__name__}.{_LAZY[name]}'), name)
        globals()[name] = value
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(__all__))
