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
`train_model` is the older, simpler entry point used by
``scripts/make_default_model.py`` to build the bundled model.
"""

import copy
import dataclasses
import logging
import math
import os
import platform
import time
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from .cutouts import CutoutFlag, extract_cutouts, table_positions
from .models.network import SCALES, StarcNet
from .utils._progress import add_progress_bar

__all__ = ['dihedral_augment', 'class_weights', 'train_model', 'fit', 'fit_temperature',
           'TrainingResult', 'LabelledCutouts', 'cutouts_from_catalog',
           'save_trained', 'FREEZABLE']

log = logging.getLogger('starcnet')

#: Names accepted by the ``freeze`` argument of `fit`: the branches of
#: `~starcnet.models.StarcNet` (``'full'``, ``'middle'``, ``'small'``),
#: ``'convs'`` (the convolutions and their GroupNorms in every branch),
#: ``'branches'`` (all three branches: only the final linear layer
#: learns) and ``'head'`` (the final linear layer).
FREEZABLE = tuple(name for name, _ in SCALES) + ('convs', 'branches', 'head')

_BALANCE = ('loss', 'sampling', None)


def dihedral_augment(batch, generator=None):
    """
    Apply a random element of the dihedral group D4 to each cutout.

    Each cutout of ``batch`` (a tensor ``(N, C, H, W)``, H == W) is
    rotated by a random multiple of 90 degrees and, with probability
    1/2, flipped left-right; all bands of a cutout get the same
    transform.  Pixel values are only moved, never changed.

    Parameters
    ----------
    batch : `torch.Tensor`
        Cutouts ``(N, C, H, W)``.
    generator : `torch.Generator`, optional
        Random generator (for reproducibility).

    Returns
    -------
    augmented : `torch.Tensor`
        New tensor of the same shape.
    """
    n = batch.shape[0]
    k = torch.randint(0, 4, (n,), generator=generator)
    flip = torch.randint(0, 2, (n,), generator=generator).bool()
    out = batch.clone()
    out[flip] = torch.flip(out[flip], dims=(-1,))
    for r in (1, 2, 3):
        sel = k == r
        if sel.any():
            out[sel] = torch.rot90(out[sel], r, dims=(-2, -1))
    return out


def class_weights(labels, n_classes=4):
    """
    Loss weights inverse to class frequency (classes 1..n_classes).

    Parameters
    ----------
    labels : array-like of int
        Classes 1..n_classes.
    n_classes : int, optional
        Number of classes.

    Returns
    -------
    weights : `~numpy.ndarray`
        float32 array of length ``n_classes``, mean 1 over the present
        classes; 0 for classes absent from ``labels``.
    """
    counts = np.bincount(np.asarray(labels, dtype=int) - 1, minlength=n_classes)
    weights = np.zeros(n_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = 1.0 / counts[present]
    weights *= present.sum() / weights.sum()
    return weights.astype(np.float32)


# ---------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class TrainingResult:
    """
    A trained network with what is needed to use, save and reproduce it.

    Attributes
    ----------
    module : `~starcnet.models.StarcNet`
        The network (the state with the best validation accuracy), in
        eval mode, on the CPU.
    metadata : dict
        ``'config'``, ``'bands'``, ``'normalization'`` (the metadata
        dict of `~starcnet.normalization.Normalization`),
        ``'temperature'`` (fitted on the validation set, 1 without one),
        ``'classes'`` and
        ``'training'`` (a JSON-serialisable summary: data size, split,
        epochs run, best epoch, validation accuracy, hyper-parameters,
        seed, base model and its sha256, package versions), ready for
        `save_trained` / `~starcnet.models.save_model`.
    history : dict
        Per-epoch lists ``train_loss``, ``val_loss``, ``val_accuracy``,
        ``lr`` and ``seconds``, and ``best_epoch`` (1-based; 0 when the
        base model itself was best), ``best_val_accuracy``,
        ``initial_val_accuracy`` (of the base model, fine-tuning only),
        ``epochs_run``, ``stopped_early``, ``temperature``, ``n_train``,
        ``n_val``, ``class_weights``, ``train_index`` and ``val_index``
        (indices into the input cutouts; `None` where there is no such
        split: ``train_data`` or ``validation`` given).
    """

    module: nn.Module
    metadata: dict
    history: dict

    def __repr__(self):
        t = self.metadata.get('training', {})
        return (f'<TrainingResult width={self.module.config["width"]} '
                f'base={t.get("base_model")!r} epochs_run={t.get("epochs_run")} '
                f'best_epoch={t.get("best_epoch")} '
                f'val_accuracy={t.get("val_accuracy")}>')


def _versions():
    import astropy

    import starcnet
    return {'python': platform.python_version(), 'numpy': np.__version__,
            'astropy': astropy.__version__, 'torch': torch.__version__,
            'starcnet': getattr(starcnet, '__version__', 'unknown')}


# ---------------------------------------------------------------------------
# Splits and freezing


def _validation_split(labels, val_fraction, groups, rng):
    """Indices of the validation set (sorted)."""
    n = labels.size
    if val_fraction == 0:
        return np.array([], dtype=np.int64)
    if groups is not None:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            msg = f'groups must have one entry per cutout ({n}), got shape {groups.shape}'
            raise ValueError(msg)
        names, inverse = np.unique(groups, return_inverse=True)
        if names.size < 2:
            msg = ('a split by groups needs at least two groups (e.g. two '
                   f'galaxies or scenes), got {names.size}')
            raise ValueError(msg)
        sizes = np.bincount(inverse)
        target = val_fraction * n
        chosen, total = [], 0
        for g in rng.permutation(names.size):
            if total >= target or len(chosen) == names.size - 1:
                break
            # take a group unless it overshoots more than it helps
            if total and abs(total + sizes[g] - target) > abs(total - target):
                continue
            chosen.append(g)
            total += sizes[g]
        return np.flatnonzero(np.isin(inverse, chosen))
    val_idx = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        rng.shuffle(idx)
        val_idx.append(idx[:int(round(val_fraction * idx.size))])
    return np.sort(np.concatenate(val_idx))


def _frozen_parameters(module, freeze):
    """Names of the parameters that ``freeze`` fixes."""
    if isinstance(freeze, str):
        freeze = (freeze,)
    freeze = tuple(freeze or ())
    unknown = [f for f in freeze if f not in FREEZABLE]
    if unknown:
        msg = (f'cannot freeze {", ".join(map(repr, unknown))}: choose from '
               f'{", ".join(FREEZABLE)}')
        raise ValueError(msg)
    frozen = set()
    for name, _ in module.named_parameters():
        parts = name.split('.')
        if parts[0] == 'head':
            if 'head' in freeze:
                frozen.add(name)
            continue
        branch, layer = parts[1], parts[2]
        if ('branches' in freeze or branch in freeze
                or ('convs' in freeze and layer in ('convs', 'norms'))):
            frozen.add(name)
    return frozen


# ---------------------------------------------------------------------------
# Training


def _evaluate(predictor, x, y):
    """Accuracy, mean cross-entropy and raw logits on a validation set."""
    if not len(x):
        return float('nan'), float('nan'), np.zeros((0, 4), np.float32)
    predictor.network.eval()
    logits = predictor.logits(x)
    acc = float(np.mean(logits.argmax(1) == y))
    return acc, _mean_nll(logits, y), logits


def _mean_nll(logits, y):
    """Mean cross-entropy of logits (N, n_classes) for 0-based classes ``y``."""
    lp = torch.log_softmax(torch.from_numpy(np.asarray(logits)).double(), dim=1)
    yt = torch.from_numpy(np.asarray(y))
    return float(-lp[torch.arange(len(yt)), yt].mean())


def fit_temperature(logits, labels, *, bounds=(0.05, 20.0)):
    """
    The temperature that best calibrates a model's logits.

    One scalar ``T`` minimising the mean negative log-likelihood of
    ``softmax(logits / T)`` on (validation) logits, found by a golden
    section search on ``log T`` (the NLL is convex in ``1 / T``, so the
    search finds the minimum).  Over-confident logits give ``T > 1``.

    Parameters
    ----------
    logits : array-like
        ``(N, n_classes)`` raw logits (temperature 1).
    labels : array-like of int
        Classes 1..n_classes (LEGUS classes 1-4), one per row.
    bounds : (float, float), optional
        Range of ``T`` searched.

    Returns
    -------
    temperature : float

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet.training import fit_temperature
    >>> logits = np.array([[4.0, 0, 0, 0], [0, 4.0, 0, 0], [4.0, 0, 0, 0]])
    >>> round(fit_temperature(logits, [1, 2, 3]), 2) > 1
    True
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or y.shape != (z.shape[0],) or not z.shape[0]:
        msg = (f'logits must be (N, n_classes) with one label each, got shape '
               f'{z.shape} and {y.shape[0] if y.ndim else 0} labels')
        raise ValueError(msg)
    if (not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y))
            or y.min() < 1 or y.max() > z.shape[1]):
        msg = f'labels must be classes 1..{z.shape[1]}'
        raise ValueError(msg)
    if not np.all(np.isfinite(z)):
        msg = 'logits must be finite'
        raise ValueError(msg)
    lo, hi = (math.log(float(v)) for v in bounds)
    index = y.astype(np.int64) - 1
    rows = np.arange(len(index))

    def nll(log_t):
        scaled = z / math.exp(log_t)
        top = scaled.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(scaled - top).sum(axis=1))
        return float(np.mean(lse - scaled[rows, index]))

    ratio = (math.sqrt(5) - 1) / 2
    c, d = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fc, fd = nll(c), nll(d)
    for _ in range(200):
        if hi - lo < 1e-7:
            break
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - ratio * (hi - lo)
            fc = nll(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + ratio * (hi - lo)
            fd = nll(d)
    return float(math.exp((lo + hi) / 2))


def _base_model(model, device):
    """(module, info) of the model to fine-tune, on ``device``."""
    from .models.registry import load_model

    return load_model(model, device=device)


def fit(cutouts=None, labels=None, *, train_data=None, validation=None,
        model=None, width=16, normalization=None, bands=None, epochs=10,
        batch_size=128, learning_rate=None, weight_decay=1e-4,
        val_fraction=0.1, groups=None, patience=None, balance='loss',
        augment=True, band_dropout=0.0, freeze=(), seed=0, device='cpu',
        autocast=False, progress_bar=False):
    """
    Train a StarcNet classifier from scratch or fine-tune a pretrained one.

    Parameters
    ----------
    cutouts : array-like, optional
        ``(N, 5, 32, 32)`` cutouts in image units (e-/s), not normalised,
        bands in the order of the model (see `cutouts_from_catalog`).
        Not with ``train_data``.
    labels : array-like of int, optional
        LEGUS classes 1-4, one per cutout.
    train_data : callable, optional
        Instead of fixed ``cutouts`` and ``labels``: a function of the
        epoch number (1, 2, ...) returning that epoch's ``(cutouts,
        labels)``, e.g. ``lambda epoch: simulate_candidates(2000,
        seed=epoch)``, so that every epoch sees fresh data.  It is
        called once per epoch (epoch 1 before training, to size the
        learning-rate schedule and the class weights).  Give a fixed
        ``validation`` set with it.
    validation : (cutouts, labels), optional
        A fixed validation set: no split of ``cutouts`` is made
        (``val_fraction`` and ``groups`` are ignored), every epoch is
        scored on it, the best state kept and the temperature fitted on
        it.
    model : str, os.PathLike or None, optional
        `None` trains a new network of feature width ``width``.
        Otherwise the model to fine-tune: a registry name
        (``'sim-small-v1'``, ``'legus-2021'``, see
        `~starcnet.models.list_models`) or a weights file; its
        configuration, bands and (unless ``normalization`` is given)
        normalisation are kept.
    width : int, optional
        Feature width of a new network (16 for the bundled model, 128
        for the published one).  Ignored when fine-tuning.
    normalization : `~starcnet.normalization.Normalization` or dict, optional
        Any kind (``'affine'``, ``'asinh'``, the level-free ``'local'``),
        applied on the device to every batch and stored with the model.
        Default: the base model's; for a new network, that of the
        bundled model.
    bands : sequence of str, optional
        Band names of the input channels, stored with the model.
        Default: the base model's, or F275W, F336W, F438W, F555W, F814W.
    epochs : int, optional
        Maximum number of passes over the training split.
    batch_size : int, optional
        Mini-batch size.
    learning_rate : float, optional
        Peak AdamW learning rate; a cosine schedule with a short linear
        warm-up takes it to zero at the last step.  Default: 2e-3 for a
        new network, 5e-4 when fine-tuning.
    weight_decay : float, optional
        AdamW weight decay.
    val_fraction : float, optional
        Fraction of the cutouts held out for validation; the state with
        the best validation accuracy is returned.  0: no validation, the
        final state is returned.
    groups : array-like, optional
        One label per cutout (e.g. galaxy or scene name): whole groups go
        to the validation side until it holds about ``val_fraction`` of
        the cutouts, so that validation measures generalisation to new
        galaxies.  Default: a random split stratified by class.
    patience : int, optional
        Stop when the validation accuracy has not improved for this many
        epochs.  Default: no early stopping.
    balance : {'loss', 'sampling', None}, optional
        Class balance: ``'loss'`` weights the cross-entropy inversely to
        the class frequencies of the training split (`class_weights`);
        ``'sampling'`` draws each epoch's cutouts with replacement,
        every class equally likely; `None` does neither.
    augment : bool, optional
        Apply random dihedral transforms (`dihedral_augment`) to each
        training batch.
    band_dropout : float, optional
        Fraction of the cutouts of every training batch in which one
        random band is marked missing: its normalised input is zeroed,
        exactly as the classifier does for a band without data
        (`~starcnet.cutouts.CutoutFlag.MISSING_BAND`).  Default 0.
    freeze : sequence of str, optional
        Parts of the network not to train, from `FREEZABLE`, e.g.
        ``('full',)`` (the full-cutout branch), ``('convs',)`` (all
        convolutions: only the dense layers learn) or ``('branches',)``
        (only the final linear layer learns).
    seed : int, optional
        Seed of the split, initialisation, batch order, dropout,
        augmentation and band dropout.  Training runs on a fork of
        torch's global random state (`torch.random.fork_rng`) and a local
        `torch.Generator`: the caller's random state is not changed, and
        one seed gives one result.
    device : str or `torch.device`, optional
        Torch device, e.g. ``'cpu'`` or ``'cuda'``: the base model is
        loaded there, and batches are normalised there.
    autocast : bool, optional
        Run the forward passes in bfloat16 (CUDA or CPU) with
        `torch.autocast`; weights and optimiser stay in float32.
    progress_bar : bool, optional
        Show a tqdm progress bar over the epochs (needs tqdm).  Each
        epoch is also logged at INFO level on the ``'starcnet'`` logger.

    Returns
    -------
    result : `TrainingResult`
        The network, its metadata and the training history.  With a
        validation set, the temperature that minimises the validation
        negative log-likelihood of the kept state (`fit_temperature`) is
        in ``metadata['temperature']`` (1 without one) and is stored by
        `save_trained`.

    Raises
    ------
    ValueError
        If the cutouts and labels do not match, a label is not 1-4, an
        argument is out of range, or the cutouts do not fit the model.

    Examples
    --------
    Fine-tune the bundled model on labelled cutouts (here simulated)::

        >>> from starcnet.simulation import simulate_candidates
        >>> from starcnet.training import fit
        >>> cutouts, labels = simulate_candidates(4, seed=1)
        >>> result = fit(cutouts, labels, model='sim-small-v1', epochs=1,
        ...              batch_size=8, val_fraction=0.25)
        >>> result.metadata['training']['base_model']
        'sim-small-v1'
    """
    return _fit(cutouts, labels, train_data=train_data, validation=validation,
                model=model, width=width,
                normalization=normalization, bands=bands, epochs=epochs,
                batch_size=batch_size, learning_rate=learning_rate,
                weight_decay=weight_decay, val_fraction=val_fraction,
                groups=groups, patience=patience, balance=balance,
                augment=augment, band_dropout=band_dropout, freeze=freeze,
                seed=seed, device=device, autocast=autocast,
                progress_bar=progress_bar)


def _default_normalization():
    from . import conf
    from .models.registry import get_model_info

    info = get_model_info(conf.default_model)
    if info.normalization is None:  # pragma: no cover - model not built
        msg = 'give a normalization: the bundled model is not installed'
        raise ValueError(msg)
    return info.normalization


def _check_data(cutouts, labels, what):
    """float32 cutouts and int64 labels, checked."""
    labels = np.asarray(labels)
    cutouts = np.asarray(cutouts, dtype=np.float32)
    if cutouts.ndim != 4 or labels.ndim != 1 or cutouts.shape[0] != labels.shape[0]:
        msg = (f'{what}: cutouts must be (N, bands, 32, 32) with one label each, got '
               f'{cutouts.shape} and {labels.shape[0] if labels.ndim else 0} labels')
        raise ValueError(msg)
    if (labels.size == 0 or not np.issubdtype(labels.dtype, np.number)
            or np.any(labels != np.round(labels)) or labels.min() < 1 or labels.max() > 4):
        msg = f'{what}: labels must be LEGUS classes 1-4'
        raise ValueError(msg)
    return cutouts, labels.astype(np.int64)


def _band_dropout(n, n_bands, fraction, generator):
    """(n, n_bands) bool: one random band of about ``fraction`` of the cutouts."""
    drop = torch.rand(n, generator=generator) < fraction
    band = torch.randint(0, n_bands, (n,), generator=generator)
    missing = torch.zeros((n, n_bands), dtype=torch.bool)
    missing[drop, band[drop]] = True
    return missing


def _fit(cutouts, labels, *, device, seed, **kwargs):
    device = torch.device(device)
    # dropout and initialisation draw from torch's global generators: run
    # on a fork of them, so that the caller's random state is untouched
    devices = [device.index or 0] if device.type == 'cuda' else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        return _fit_seeded(cutouts, labels, device=device, seed=seed, **kwargs)


def _fit_seeded(cutouts, labels, *, train_data, validation, model, width,
                normalization, bands, epochs, batch_size, learning_rate,
                weight_decay, val_fraction, groups, patience, balance, augment,
                band_dropout, freeze, seed, device, autocast, progress_bar,
                print_epochs=False):
    from .models.inference import Predictor
    from .normalization import Normalization

    t_start = time.time()
    if train_data is not None:
        if cutouts is not None or labels is not None:
            msg = 'give either cutouts and labels or train_data, not both'
            raise ValueError(msg)
        if not callable(train_data):
            msg = ('train_data must be a callable returning (cutouts, labels) '
                   f'for an epoch, got {type(train_data).__name__}')
            raise TypeError(msg)
    elif cutouts is None or labels is None:
        msg = 'fit needs cutouts and labels, or train_data'
        raise ValueError(msg)
    if not 0 <= val_fraction < 1:
        msg = f'val_fraction must be in [0, 1), got {val_fraction}'
        raise ValueError(msg)
    if not 0 <= band_dropout < 1:
        msg = f'band_dropout must be in [0, 1), got {band_dropout}'
        raise ValueError(msg)
    if int(epochs) < 1 or int(batch_size) < 1:
        msg = f'epochs and batch_size must be positive, got {epochs} and {batch_size}'
        raise ValueError(msg)
    if patience is not None and int(patience) < 1:
        msg = f'patience must be a positive number of epochs or None, got {patience}'
        raise ValueError(msg)
    if balance not in _BALANCE:
        msg = f'balance must be one of {_BALANCE}, got {balance!r}'
        raise ValueError(msg)
    if autocast:
        def amp():
            return torch.autocast(device.type, dtype=torch.bfloat16)
    else:
        import contextlib

        amp = contextlib.nullcontext

    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(int(seed))

    # the data: fixed arrays split here, fixed arrays with a given
    # validation set, or a fresh training set every epoch
    if validation is not None:
        x_val, y_val = _check_data(*validation, 'validation')
    if train_data is None:
        cutouts, labels = _check_data(cutouts, labels, 'fit')
        if validation is None:
            val_idx = _validation_split(labels, val_fraction, groups, rng)
            train_mask = np.ones(labels.size, bool)
            train_mask[val_idx] = False
            x_val, y_val = cutouts[val_idx], labels[val_idx]
            split = ('none' if not val_idx.size else
                     'by group' if groups is not None else 'random, stratified by class')
        else:
            val_idx, train_mask = None, np.ones(labels.size, bool)
            split = 'given validation set'
        train_idx = np.flatnonzero(train_mask)
        if train_idx.size == 0:
            msg = 'no cutouts left for training after the validation split'
            raise ValueError(msg)
        fixed = (torch.from_numpy(np.ascontiguousarray(cutouts[train_mask])),
                 torch.from_numpy(labels[train_mask] - 1))

        def epoch_data(epoch):
            return fixed
    else:
        train_idx = val_idx = None
        if validation is None:
            x_val = np.zeros((0, 5, 32, 32), np.float32)
            y_val = np.zeros(0, np.int64)
        split = 'given validation set' if len(y_val) else 'none'

        def epoch_data(epoch):
            x, y = _check_data(*train_data(epoch), f'train_data({epoch})')
            return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y - 1)

    x_train, y_train = epoch_data(1)
    n_bands = x_train.shape[1]
    if len(y_val) and x_val.shape[1:] != x_train.shape[1:]:
        msg = (f'validation cutouts have shape {x_val.shape[1:]}, the training '
               f'cutouts {tuple(x_train.shape[1:])}')
        raise ValueError(msg)

    base_info = None
    if model is None:
        module = None
        if normalization is None:
            normalization = _default_normalization()
        if learning_rate is None:
            learning_rate = 2e-3
    else:
        module, base_info = _base_model(model, device)
        if normalization is None:
            normalization = base_info.normalization
        if bands is None and base_info.bands is not None:
            bands = tuple(base_info.bands)
        if learning_rate is None:
            learning_rate = 5e-4
        if module.config['n_bands'] != n_bands:
            msg = (f'model {base_info.name} takes {module.config["n_bands"]} bands, '
                   f'the cutouts have {n_bands}')
            raise ValueError(msg)
    normalization = Normalization.from_metadata(normalization)
    normalization.check(n_bands, tuple(x_train.shape))
    if bands is None:
        from .images import STARCNET_BANDS
        bands = STARCNET_BANDS
    bands = [str(b) for b in bands]
    if len(bands) != n_bands:
        msg = f'{len(bands)} band names for cutouts with {n_bands} bands'
        raise ValueError(msg)

    if module is None:
        module = StarcNet(width=width, n_bands=n_bands)
    module = module.to(device)
    frozen = _frozen_parameters(module, freeze)
    for name, param in module.named_parameters():
        param.requires_grad_(name not in frozen)
    trainable = [p for p in module.parameters() if p.requires_grad]
    if not trainable:
        msg = f'freeze={tuple(freeze)} leaves no parameter to train'
        raise ValueError(msg)
    # validation through the inference path, with the raw (temperature 1)
    # logits that the temperature is fitted on
    predictor = Predictor(module, normalization, device=device, batch_size=512,
                          precision='bfloat16' if autocast else 'float32')

    first_labels = y_train.numpy() + 1
    weights = class_weights(first_labels)
    loss_weight = (torch.from_numpy(weights).to(device) if balance == 'loss' else None)
    loss_fn = nn.CrossEntropyLoss(weight=loss_weight)
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = max(epochs * steps_per_epoch, 1)
    warmup = min(steps_per_epoch, total // 10)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        step = min(step, total)   # epochs of another size do not wrap around
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)

    history = {'train_loss': [], 'val_loss': [], 'val_accuracy': [], 'lr': [],
               'seconds': [], 'class_weights': weights.tolist(),
               'n_train': int(len(x_train)), 'n_val': int(len(y_val)),
               'train_index': None if train_idx is None else train_idx.tolist(),
               'val_index': None if val_idx is None else val_idx.tolist()}
    best_acc, best_loss, best_state, best_epoch = -1.0, math.inf, None, 0
    if base_info is not None and len(y_val):
        best_acc, best_loss, _ = _evaluate(predictor, x_val, y_val - 1)
        best_state = copy.deepcopy(module.state_dict())
        history['initial_val_accuracy'] = best_acc
        log.info('base model %s: val acc %.4f', base_info.name, best_acc)
    since_best, stopped_early, epochs_run = 0, False, 0
    epoch_iter = add_progress_bar(range(1, epochs + 1), desc='StarcNet training',
                                  unit='epoch', progress_bar=progress_bar)
    for epoch in epoch_iter:
        t0 = time.time()
        if epoch > 1 and train_data is not None:
            x_train, y_train = epoch_data(epoch)
        module.train()
        if balance == 'sampling':
            counts = np.bincount(y_train.numpy(), minlength=4)
            sample_p = torch.from_numpy(
                (1.0 / counts[y_train.numpy()]).astype(np.float64))
            order = torch.multinomial(sample_p, len(x_train), replacement=True,
                                      generator=gen)
        else:
            order = torch.randperm(len(x_train), generator=gen)
        loss_sum = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            xb = x_train[idx]
            if augment:
                xb = dihedral_augment(xb, gen)
            missing = None
            if band_dropout:
                missing = _band_dropout(len(idx), n_bands, band_dropout, gen).to(device)
            xb, yb = xb.to(device), y_train[idx].to(device)
            # normalised on the device, missing bands zeroed, as at inference
            xb = normalization.apply(xb, missing=missing)
            with amp():
                logits = module(xb)
            loss = loss_fn(logits.float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
        epochs_run = epoch
        history['train_loss'].append(loss_sum / len(x_train))
        history['lr'].append(optimizer.param_groups[0]['lr'])
        acc, vloss, _ = _evaluate(predictor, x_val, y_val - 1)
        history['val_accuracy'].append(acc)
        history['val_loss'].append(vloss)
        history['seconds'].append(time.time() - t0)
        if not len(y_val) or acc > best_acc or (acc == best_acc and vloss < best_loss):
            best_acc, best_loss, best_epoch = acc, vloss, epoch
            best_state = copy.deepcopy(module.state_dict())
            since_best = 0
        else:
            since_best += 1
        line = (f'epoch {epoch:3d}/{epochs}: '
                f'train loss {history["train_loss"][-1]:.4f}'
                f'  val loss {vloss:.4f}  val acc {acc:.4f}'
                f'  ({history["seconds"][-1]:.0f} s)')
        log.info(line)
        if print_epochs:
            print(line, flush=True)
        if patience is not None and since_best >= patience:
            stopped_early = True
            log.info('no improvement for %d epochs: stopping', patience)
            break
    if best_state is not None:
        module.load_state_dict(best_state)
    # temperature scaling of the kept state, on the validation set
    temperature, val_nll = 1.0, None
    if len(y_val):
        _, nll_before, val_logits = _evaluate(predictor, x_val, y_val - 1)
        temperature = fit_temperature(val_logits, y_val)
        val_nll = {'before': nll_before,
                   'after': _mean_nll(val_logits / np.float32(temperature), y_val - 1)}
        log.info('temperature %.3f: validation NLL %.4f -> %.4f', temperature,
                 val_nll['before'], val_nll['after'])
    for param in module.parameters():
        param.requires_grad_(True)
    history.update(best_epoch=best_epoch, best_val_accuracy=best_acc,
                   epochs_run=epochs_run, stopped_early=stopped_early,
                   temperature=temperature)
    module = module.to('cpu').to(memory_format=torch.contiguous_format).eval()

    all_labels = labels if train_data is None else first_labels
    training = {
        'base_model': None if base_info is None else base_info.name,
        'base_model_sha256': None if base_info is None else base_info.sha256,
        'n_cutouts': int(all_labels.size),
        'class_counts': {str(k + 1): int(c) for k, c in enumerate(
            np.bincount(all_labels - 1, minlength=4))},
        'train_data': ('fresh every epoch (train_data callable)' if train_data is not None
                       else 'fixed arrays'),
        'n_train': history['n_train'], 'n_val': history['n_val'],
        'split': split,
        'epochs': int(epochs), 'epochs_run': epochs_run,
        'stopped_early': stopped_early, 'patience': patience,
        'best_epoch': best_epoch,
        'val_accuracy': None if not len(y_val) else float(best_acc),
        'initial_val_accuracy': history.get('initial_val_accuracy'),
        'temperature': temperature, 'val_nll': val_nll,
        'batch_size': int(batch_size), 'learning_rate': float(learning_rate),
        'weight_decay': float(weight_decay), 'balance': balance,
        'augmentation': ('dihedral (random 90-degree rotations and flips)'
                         if augment else 'none'),
        'band_dropout': float(band_dropout),
        'frozen': sorted(set(freeze if not isinstance(freeze, str) else (freeze,))),
        'seed': int(seed), 'device': str(device), 'autocast': bool(autocast),
        'versions': _versions(),
        'training_time_s': round(time.time() - t_start, 1),
    }
    if base_info is not None and base_info.classes:
        classes = {str(k): v for k, v in base_info.classes.items()}
    else:
        from .legus import CLASS_NAMES
        classes = {str(k): v for k, v in CLASS_NAMES.items()}
    metadata = {'config': dict(module.config), 'bands': bands,
                'normalization': normalization.to_metadata(),
                'temperature': temperature,
                'classes': classes, 'training': training}
    return TrainingResult(module=module, metadata=metadata, history=history)


def train_model(cutouts, labels, *, width=16, normalization, epochs=10,
                batch_size=128, learning_rate=2e-3, weight_decay=1e-4,
                val_fraction=0.1, seed=0, augment=True, device='cpu',
                progress=False):
    """
    Train a new StarcNet classifier from labelled cutouts.

    The simple entry point used by ``scripts/make_default_model.py``;
    `fit` does the same with more options (fine-tuning, group splits,
    early stopping, freezing) and returns metadata as well.

    Parameters
    ----------
    cutouts : array-like
        ``(N, 5, 32, 32)`` cutouts in image units (e-/s), not normalised.
    labels : array-like of int
        LEGUS classes 1-4.
    width : int, optional
        Feature width of the `~starcnet.models.network.StarcNet`.
    normalization : `~starcnet.normalization.Normalization` or dict
        The input normalisation (any kind).
    epochs : int, optional
        Number of passes over the training split.
    batch_size : int, optional
        Mini-batch size.
    learning_rate : float, optional
        Peak AdamW learning rate (cosine schedule, linear warm-up).
    weight_decay : float, optional
        AdamW weight decay.
    val_fraction : float, optional
        Fraction of the data (stratified by class) held out for
        validation; the state with the best validation accuracy is
        returned.  0 keeps the final state.
    seed : int, optional
        Seed of the split, initialisation, batch order, dropout and
        augmentation.
    augment : bool, optional
        Apply random dihedral transforms to each training batch.
    device : str or `torch.device`, optional
        Torch device.
    progress : bool, optional
        Print one line per epoch.

    Returns
    -------
    module : `~starcnet.models.network.StarcNet`
        The trained network, in eval mode, on the CPU.
    history : dict
        As `TrainingResult.history`.
    """
    result = _fit(cutouts, labels, train_data=None, validation=None, model=None,
                  width=width, normalization=normalization, bands=None,
                  epochs=epochs, batch_size=batch_size,
                  learning_rate=learning_rate, weight_decay=weight_decay,
                  val_fraction=val_fraction, groups=None, patience=None,
                  balance='loss', augment=augment, band_dropout=0.0, freeze=(),
                  seed=seed, device=device, autocast=False, progress_bar=False,
                  print_epochs=progress)
    return result.module, result.history


# ---------------------------------------------------------------------------
# Catalogs


class LabelledCutouts(NamedTuple):
    """
    Training cutouts made from an image and a labelled table.

    Attributes
    ----------
    cutouts : `~numpy.ndarray`
        float32 ``(N, n_bands, 32, 32)`` in e-/s, in the model's band order.
    labels : `~numpy.ndarray`
        int64 LEGUS classes 1-4.
    index : `~numpy.ndarray`
        Row of the input table of each cutout.
    dropped : dict
        Number of rows left out: ``'unlabelled'`` (masked or 0 class),
        ``'invalid_class'`` (any value other than 1-4) and
        ``'unclassifiable'`` (cutout flagged
        `~starcnet.cutouts.CutoutFlag.UNCLASSIFIED`: outside the image,
        or bad pixels at its centre).
    """

    cutouts: np.ndarray
    labels: np.ndarray
    index: np.ndarray
    dropped: dict


def cutouts_from_catalog(image, table, *, class_column='human_class', bands=None,
                         max_bad_fraction=0.5):
    """
    Labelled training cutouts from an image and a labelled table.

    Parameters
    ----------
    image : `~starcnet.MultiBandImage` or dict
        The bands (anything `~starcnet.MultiBandImage` takes), on one
        pixel grid.
    table : `~astropy.table.Table`
        One row per candidate with 0-based pixel positions (``x_centroid``
        / ``y_centroid``, ``xcentroid`` / ``ycentroid`` or ``x`` / ``y``,
        e.g. from `~starcnet.read_legus`) and a class column.
    class_column : str, optional
        Column with the LEGUS classes 1-4; masked values and 0 mean "not
        labelled".
    bands : sequence of str, optional
        Band order of the cutouts: that of the model to fine-tune.
        Default: F275W, F336W, F438W, F555W, F814W.  Equivalent filters
        may stand in (see `~starcnet.MultiBandImage.match_bands`).
    max_bad_fraction : float, optional
        As in `~starcnet.cutouts.extract_cutouts`.

    Returns
    -------
    labelled : `LabelledCutouts`
        ``(cutouts, labels, index, dropped)``: rows without a usable label
        or cutout are left out and counted in ``dropped`` (and logged).

    Raises
    ------
    ValueError
        If the table has no positions or no ``class_column``, or no row
        is left.
    """
    from .images import STARCNET_BANDS, MultiBandImage

    if not isinstance(image, MultiBandImage):
        image = MultiBandImage(image)
    if class_column not in table.colnames:
        msg = (f'the table has no class column {class_column!r}; its columns are '
               f'{", ".join(table.colnames)} (choose one with class_column=)')
        raise ValueError(msg)
    x, y = table_positions(table)

    column = table[class_column]
    values = np.ma.asarray(getattr(column, 'value', column))
    masked = np.ma.getmaskarray(values)
    raw = np.asarray(values.filled(0), dtype=float)
    unlabelled = masked | (raw == 0)
    valid = np.isin(raw, (1, 2, 3, 4))
    invalid = ~unlabelled & ~valid

    band_map = image.match_bands(STARCNET_BANDS if bands is None else bands)
    arrays, masks, scales = image.band_arrays(band_map.values())
    keep = np.flatnonzero(valid & ~unlabelled)
    cutouts, flags = extract_cutouts(arrays, x[keep], y[keep], masks=masks,
                                     max_bad_fraction=max_bad_fraction)
    good = (flags & CutoutFlag.UNCLASSIFIED) == 0
    cutouts = cutouts[good] * scales[None, :, None, None]
    index = keep[good]
    dropped = {'unlabelled': int(unlabelled.sum()), 'invalid_class': int(invalid.sum()),
               'unclassifiable': int((~good).sum())}
    log.info('%d labelled cutouts from %d rows; dropped: %s', index.size,
             len(table), ', '.join(f'{k} {v}' for k, v in dropped.items()))
    if index.size == 0:
        msg = (f'no usable labelled rows in the table (dropped: {dropped}); '
               f'check class_column={class_column!r} and the positions')
        raise ValueError(msg)
    return LabelledCutouts(cutouts.astype(np.float32), raw[index].astype(np.int64),
                           index, dropped)


# ---------------------------------------------------------------------------
# Saving


def save_trained(result, path, *, name=None, description='', license='',
                 citation='', overwrite=False):
    """
    Write a trained network and its metadata as a safetensors file.

    The file loads with `~starcnet.models.load_model` and
    ``StarClusterClassifier(model=path)``.

    Parameters
    ----------
    result : `TrainingResult`
        What `fit` returned.
    path : str or os.PathLike
        Output file, conventionally ending in ``.safetensors``.
    name : str, optional
        Model name stored in the file (default: the file name without
        extension).
    description : str, optional
        One-line description.
    license, citation : str, optional
        Licence of the weights and what to cite.  Fine-tuning a model
        whose weights have a licence or citation (e.g. ``'legus-2021'``)
        keeps them by default.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : str
        The path written.
    """
    from .models.registry import get_model_info, list_models, save_model

    meta = copy.deepcopy(result.metadata)
    base = meta['training'].get('base_model')
    if base in list_models():
        info = get_model_info(base)
        license = license or info.license
        citation = citation or info.citation
    meta['name'] = name or os.path.splitext(os.path.basename(os.fspath(path)))[0]
    meta['description'] = description or (
        f'StarcNet fine-tuned from {base}' if base
        else 'StarcNet trained with starcnet.training.fit')
    meta['license'] = license
    meta['citation'] = citation
    return save_model(result.module, path, meta, overwrite=overwrite)
