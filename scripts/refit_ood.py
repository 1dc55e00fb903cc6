#!/usr/bin/env python
# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Refit the ``ood`` entry of a bundled model on its own validation set and
write it into the model's file (the weights are untouched): how
``sim-small-v5`` got the ``centre`` threshold of the OFF_CENTRE flag.

One command (repository root)::

    python scripts/refit_ood.py sim-small-v5

The validation set is rebuilt from the seeds ``scripts/make_default_model.py``
used (``_pool.TRAIN_SEEDS``, the ``starcnet`` ones from the model's
training seed; cached in ``--cache``), with the size the model's
``training`` metadata records.  Before anything is written the entry is
refitted the way `starcnet.training.fit` fits it (``fit_ood(...,
kind='combined')`` with the validation labels) and must come out equal to
the stored one in every part the stored one has: the proof that the set
is the one the model was fitted on.  Then the parts this starcnet adds
(the ``centre`` threshold of `~starcnet.CutoutFlag.OFF_CENTRE`) are
written into the file's ``ood`` entry in place (atomically), the stored
parts and the rest of the file's metadata unchanged; ``--dry-run`` only
prints them.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'scripts'))

from _pool import TRAIN_SEEDS, mixed_set, trained_on  # noqa: E402


def validation_set(info, workers, cache):
    """The cutouts and labels of the model's validation set."""
    training = info.training or {}
    generators = tuple(training.get('generators') or trained_on(info.name)[1])
    n_val = int(training['n_val'])
    per_class = n_val // (len(generators) * info.config.get('n_classes', 4))
    seed = int(training.get('seed', 1))
    seeds = {**TRAIN_SEEDS, 'starcnet': tuple(seed + k for k in range(3))}
    x, y = mixed_set(generators, per_class, 1, seeds=seeds, workers=workers, cache=cache)
    if len(y) != n_val:
        msg = f'rebuilt {len(y)} validation cutouts, the model records {n_val}'
        raise SystemExit(msg)
    return x, y


def _same(a, b, rtol=1e-6):
    """Entries equal up to their rounding to 7 significant digits."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            _same(a[k], b[k], rtol) for k in a)
    if isinstance(a, str) or (isinstance(a, list) and a and isinstance(a[0], str)):
        return a == b
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help='a bundled model with a combined ood entry')
    parser.add_argument('--cache', default=str(REPO / 'build' / 'simulated'))
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--dry-run', action='store_true')
    args = parser.parse_args(argv)

    from starcnet.models import Predictor, load_model, save_model
    from starcnet.models import uncertainty as unc
    from starcnet.models.registry import _bundled_path, get_model_info
    from starcnet.models.weights import read_metadata

    entry = get_model_info(args.model)
    if entry.kind != 'bundled':
        msg = f'{args.model} is not a bundled model'
        raise SystemExit(msg)
    network, info = load_model(args.model)[:2]
    stored = info.ood
    if stored is None or stored.get('kind') != 'combined':
        msg = f'{args.model} has no combined ood entry to refit'
        raise SystemExit(msg)
    x, y = validation_set(info, args.workers, args.cache)
    predictor = Predictor.from_model(args.model, device='cpu')
    logits, features = predictor.logits(x, return_features=True)
    fitted_on = stored['fitted_on']

    new = unc._fit_from_outputs(logits, features, x, y, None, kind='combined',
                                quantile=stored['quantile'], fitted_on=fitted_on)
    if not _same(stored, {k: v for k, v in new.items() if k in stored}):
        msg = ('refitting the stored entry on the rebuilt validation set does not give '
               'it back: not the set it was fitted on (a different install of the '
               'simulators?); nothing written')
        raise SystemExit(msg)
    # the stored parts, exactly as they were; the new ones added
    new = {**new, **stored}
    added = sorted(set(new) - set(stored))
    print(f'{args.model}: the stored entry is reproduced from {len(y)} validation '
          f'cutouts; adding {added}: '
          + ', '.join(f'{k} {new[k]}' for k in added))
    if args.dry_run:
        return 0
    path = _bundled_path(entry)
    # the file's own metadata, only its ood entry replaced (the registry's
    # description and other fields stay in the registry)
    metadata = read_metadata(path)
    save_model(network, path, {**metadata, 'ood': new}, overwrite=True)
    reloaded = load_model(args.model)[1]
    assert reloaded.ood == new
    assert {**read_metadata(path), 'ood': None} == {**metadata, 'ood': None}
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
