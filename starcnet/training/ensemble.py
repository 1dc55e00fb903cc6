# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Deep ensembles: several networks trained from different seeds, used as one
model (`~starcnet.models.StarcNetEnsemble`).
"""

import copy
import logging

import numpy as np

from ..models.network import MAX_MEMBERS, StarcNetEnsemble
from .data import _check_data
from .loop import _fit_ood, _mean_nll, fit
from .results import TrainingResult, fit_temperature

__all__ = ['fit_ensemble', 'ensemble_of', 'member_of']

log = logging.getLogger('starcnet')


def _check_members(n_members):
    if (isinstance(n_members, bool) or not isinstance(n_members, (int, np.integer))
            or not 2 <= n_members <= MAX_MEMBERS):
        msg = f'n_members must be an integer from 2 to {MAX_MEMBERS}, got {n_members!r}'
        raise ValueError(msg)
    return int(n_members)


def fit_ensemble(cutouts=None, labels=None, *, validation, n_members=3, seed=0,
                 device='cpu', **kwargs):
    """
    Train a deep ensemble: ``n_members`` networks, each with `fit` on the
    same data from seeds ``seed, seed + 1, ...`` (different initial
    weights, batch order, augmentation and band dropout), calibrated
    together.

    Parameters
    ----------
    cutouts, labels
        As in `fit`.
    validation : (cutouts, labels)
        A fixed validation set (required: every member keeps its best
        state on it, and the ensemble's temperature and out-of-distribution
        entry are fitted on it, so it must be the same for all members
        and not part of anyone's training data).
    n_members : int, optional
        Number of networks (2 to `~starcnet.models.MAX_MEMBERS`; default 3).
    seed : int, optional
        Seed of the first member.
    device : str, optional
        As in `fit`.
    **kwargs
        Any other argument of `fit` (``width``, ``normalization``,
        ``epochs``, ``band_dropout``, ``train_data``, ...); the same for
        every member.

    Returns
    -------
    result : `TrainingResult`
        ``module`` is the `~starcnet.models.StarcNetEnsemble`;
        ``metadata['temperature']`` the one temperature that calibrates
        the members' mean probability on the validation set
        (`fit_temperature` of the members' logits); ``metadata['ood']``
        fitted on the concatenated features of the members;
        ``metadata['training']`` that of the first member with
        ``'members'``, the per-member seeds, best epochs, validation
        accuracies and training times, and the ensemble's validation
        accuracy; ``history['members']`` the members' histories.  Save it
        with `save_trained`.
    """
    n_members = _check_members(n_members)
    if validation is None:
        msg = 'fit_ensemble needs a fixed validation set: validation=(cutouts, labels)'
        raise ValueError(msg)
    if kwargs.get('val_fraction') not in (None, 0.1):
        msg = 'fit_ensemble takes a fixed validation set; val_fraction does not apply'
        raise ValueError(msg)
    x_val, y_val = _check_data(*validation, 'validation')
    results = []
    for k in range(n_members):
        log.info('ensemble member %d of %d (seed %d)', k + 1, n_members, seed + k)
        results.append(fit(cutouts, labels, validation=(x_val, y_val), seed=seed + k,
                           device=device, **kwargs))
    return ensemble_of(results, (x_val, y_val), device=device)


def ensemble_of(results, validation, *, device='cpu'):
    """
    One ensemble from trained members: `TrainingResult` of `fit` with the
    same network configuration, bands and normalisation (e.g. trained in
    separate processes), calibrated on ``validation``, as in
    `fit_ensemble`.
    """
    from ..models.inference import Predictor

    results = list(results)
    _check_members(len(results))
    first = results[0].metadata
    for k, result in enumerate(results[1:], start=1):
        for key in ('config', 'bands', 'normalization', 'classes'):
            if result.metadata[key] != first[key]:
                msg = (f'every member of an ensemble needs the same {key}: member 0 has '
                       f'{first[key]}, member {k} {result.metadata[key]}')
                raise ValueError(msg)
    x_val, y_val = _check_data(*validation, 'validation')
    ensemble = StarcNetEnsemble.from_networks([r.module for r in results])
    predictor = Predictor(ensemble, first['normalization'], device=device, batch_size=512)
    member_logits = predictor.member_logits(x_val)
    finite = np.isfinite(member_logits).all(axis=(0, 2))
    temperature = fit_temperature(member_logits[:, finite], y_val[finite])
    combined = Predictor.combine_members(member_logits[:, finite])
    calibrated = Predictor.combine_members(member_logits[:, finite] / np.float32(temperature))
    val_nll = {'before': _mean_nll(combined, y_val[finite] - 1),
               'after': _mean_nll(calibrated, y_val[finite] - 1)}
    # rows whose output is not finite count as wrong
    accuracy = float(np.sum(np.argmax(combined, axis=1) + 1 == y_val[finite]) / len(y_val))
    log.info('ensemble of %d: validation accuracy %.4f, temperature %.3f '
             '(NLL %.4f -> %.4f)', len(results), accuracy, temperature,
             val_nll['before'], val_nll['after'])
    ood = _fit_ood(predictor, x_val, y_val, temperature)
    module = ensemble.to('cpu').eval()
    training = copy.deepcopy(first['training'])
    members = [{'seed': r.metadata['training']['seed'],
                'best_epoch': r.metadata['training']['best_epoch'],
                'val_accuracy': r.metadata['training']['val_accuracy'],
                'temperature': r.metadata['training']['temperature'],
                'training_time_s': r.metadata['training']['training_time_s']}
               for r in results]
    training.update({
        'members': members, 'seed': members[0]['seed'],
        'val_accuracy': accuracy, 'temperature': temperature, 'val_nll': val_nll,
        'best_epoch': None,
        'training_time_s': round(sum(m['training_time_s'] for m in members), 1),
        'ensemble': (f'deep ensemble of {len(results)} networks trained from seeds '
                     + ', '.join(str(m['seed']) for m in members)
                     + '; probabilities are the mean of the members\' softmax of '
                       'logits / temperature')})
    metadata = {**copy.deepcopy(first), 'config': dict(module.config),
                'temperature': temperature, 'training': training}
    metadata.pop('ood', None)
    if ood is not None:
        metadata['ood'] = ood
    history = {'members': [r.history for r in results], 'temperature': temperature,
               'val_accuracy': accuracy}
    return TrainingResult(module=module, metadata=metadata, history=history)


def member_of(result, k, validation, *, device='cpu'):
    """
    Member ``k`` of an ensemble (`fit_ensemble` or `ensemble_of`) as a
    model of its own: its network, with its own temperature and
    out-of-distribution entry fitted on ``validation`` (as `fit` fits
    them), and the ensemble's training record with that member's seed,
    best epoch and validation accuracy.
    """
    from ..models.inference import Predictor
    from .loop import _calibrate

    members = result.metadata['training'].get('members')
    if not isinstance(result.module, StarcNetEnsemble) or not members:
        msg = 'member_of needs the result of fit_ensemble or ensemble_of'
        raise ValueError(msg)
    if not 0 <= k < len(members):
        msg = f'an ensemble of {len(members)} has no member {k}'
        raise ValueError(msg)
    x_val, y_val = _check_data(*validation, 'validation')
    module = copy.deepcopy(result.module.members[k]).eval()
    predictor = Predictor(module, result.metadata['normalization'], device=device,
                          batch_size=512)
    temperature, val_nll, ood = _calibrate(predictor, x_val, y_val)
    training = copy.deepcopy(result.metadata['training'])
    member = training.pop('members')[k]
    training.pop('ensemble', None)
    training.update({'seed': member['seed'], 'best_epoch': member['best_epoch'],
                     'val_accuracy': member['val_accuracy'], 'temperature': temperature,
                     'val_nll': val_nll, 'training_time_s': member['training_time_s'],
                     'member_of': f'member {k} of a deep ensemble of {len(members)}'})
    metadata = {**copy.deepcopy(result.metadata), 'config': dict(module.config),
                'temperature': temperature, 'training': training}
    metadata.pop('ood', None)
    if ood is not None:
        metadata['ood'] = ood
    return TrainingResult(module=module.to('cpu'), metadata=metadata, history={})
