# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The training loop of `fit`, in steps: argument checks, data
preparation (split, epoch data), the network and optimiser, one epoch,
validation, the choice of the best state (with early stopping) and the
temperature.
"""

import contextlib
import copy
import dataclasses
import logging
import math
import time

import numpy as np
import torch
from torch import nn

from ..models.network import SCALES, StarcNet
from ..utils._progress import add_progress_bar
from .augment import _band_dropout, dihedral_augment
from .data import _check_data, _validation_split, class_weights
from .results import TrainingResult, _versions, fit_temperature

__all__ = ['fit', 'FREEZABLE']

log = logging.getLogger('starcnet')

#: Names accepted by the ``freeze`` argument of `fit`: the branches of
#: `~starcnet.models.StarcNet` (``'full'``, ``'middle'``, ``'small'``),
#: ``'convs'`` (the convolutions and their GroupNorms in every branch),
#: ``'branches'`` (all three branches: only the final linear layer
#: learns) and ``'head'`` (the final linear layer).
FREEZABLE = tuple(name for name, _ in SCALES) + ('convs', 'branches', 'head')

_BALANCE = ('loss', 'sampling', None)


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
        augmentation and band dropout.  The split draws from a local
        `numpy.random.Generator`, the batch order, augmentation and band
        dropout from a local `torch.Generator`; the weight
        initialisation and the network's dropout layers, which can only
        draw from torch's global generators, run on a fork of them
        (`torch.random.fork_rng`) seeded with ``seed``.  The caller's
        random state (torch's and numpy's) is not changed, and one seed
        gives one result.
    device : str or `torch.device`, optional
        ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or ``'auto'`` (a CUDA GPU
        when there is one): the network is trained there, the base
        model loaded there, and every batch, its augmentation, band
        dropout and normalisation, the loss weights and the validation
        run there.  The cutouts stay in CPU memory, one batch at a time
        is copied over.
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
        `save_trained`; so is ``metadata['ood']``, the out-of-distribution
        score and threshold fitted on the validation set and its labels
        (`starcnet.models.uncertainty.fit_ood`, kind ``'combined'``,
        quantile 0.99: about 1% of cutouts like the validation set are
        flagged; for a validation set of 26 cutouts or fewer, the 0.99
        quantile of the energy scores instead), absent without a
        validation set.

    Raises
    ------
    ValueError
        If the cutouts and labels do not match, a label is not 1-4, an
        argument is out of range, the cutouts do not fit the model, or
        ``device`` is not one of those above.
    RuntimeError
        If ``device`` asks for CUDA and torch sees no GPU.

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


def _fit(cutouts, labels, *, device, seed, **kwargs):
    from ..models.inference import resolve_device

    device = resolve_device(device)
    # weight initialisation and nn.Dropout can only draw from torch's
    # global generators: run on a fork of them, seeded, so that the
    # caller's random state is untouched (everything else draws from
    # local generators)
    if device.type == 'cuda':
        devices = [torch.cuda.current_device() if device.index is None else device.index]
    else:
        devices = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        return _fit_seeded(cutouts, labels, device=device, seed=seed, **kwargs)


def _check_arguments(cutouts, labels, *, train_data, val_fraction, band_dropout,
                     epochs, batch_size, patience, balance):
    """Refuse inconsistent or out-of-range arguments of `fit`."""
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


@dataclasses.dataclass
class _Data:
    """The training and validation data of one `fit` run."""

    #: a function of the epoch (1, 2, ...) giving (cutouts, 0-based
    #: labels) as CPU tensors
    epoch_data: object
    x_val: np.ndarray
    y_val: np.ndarray           # classes 1-4
    train_idx: object           # indices into the input cutouts, or None
    val_idx: object
    split: str
    all_labels: object = None   # classes 1-4 of all fixed cutouts, or None


def _prepare_data(cutouts, labels, *, train_data, validation, val_fraction,
                  groups, rng):
    """Split fixed arrays, or wrap a given validation set and ``train_data``."""
    if validation is not None:
        x_val, y_val = _check_data(*validation, 'validation')
    if train_data is not None:
        if validation is None:
            x_val = np.zeros((0, 5, 32, 32), np.float32)
            y_val = np.zeros(0, np.int64)

        def epoch_data(epoch):
            x, y = _check_data(*train_data(epoch), f'train_data({epoch})')
            return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y - 1)

        return _Data(epoch_data, x_val, y_val, None, None,
                     'given validation set' if len(y_val) else 'none')

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
    return _Data(lambda epoch: fixed, x_val, y_val, train_idx, val_idx, split, labels)


def _base_model(model, device):
    """(module, info) of the model to fine-tune, on ``device``."""
    from ..models.registry import load_model

    return load_model(model, device=device)


def _default_normalization():
    from .. import conf
    from ..models.registry import get_model_info

    info = get_model_info(conf.default_model)
    if info.normalization is None:  # pragma: no cover - model not built
        msg = 'give a normalization: the bundled model is not installed'
        raise ValueError(msg)
    return info.normalization


def _prepare_model(model, *, width, normalization, bands, learning_rate,
                   sample_shape, device):
    """
    The network on ``device`` (new, or the base model), its
    normalisation, band names and learning rate, and the base model's
    info (`None` for a new network).
    """
    from ..normalization import Normalization

    n_bands = sample_shape[1]
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
    normalization.check(n_bands, tuple(sample_shape))
    if bands is None:
        from ..images import STARCNET_BANDS
        bands = STARCNET_BANDS
    bands = [str(b) for b in bands]
    if len(bands) != n_bands:
        msg = f'{len(bands)} band names for cutouts with {n_bands} bands'
        raise ValueError(msg)
    if module is None:
        # initialised on the CPU (torch's forked global generator), so
        # that one seed gives the same initial weights on every device
        module = StarcNet(width=width, n_bands=n_bands)
    return module.to(device), base_info, normalization, bands, learning_rate


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


def _trainable(module, freeze):
    """Freeze what ``freeze`` names; the parameters left to train."""
    frozen = _frozen_parameters(module, freeze)
    for name, param in module.named_parameters():
        param.requires_grad_(name not in frozen)
    trainable = [p for p in module.parameters() if p.requires_grad]
    if not trainable:
        msg = f'freeze={tuple(freeze)} leaves no parameter to train'
        raise ValueError(msg)
    return trainable


def _optimizer(trainable, *, learning_rate, weight_decay, epochs, steps_per_epoch):
    """AdamW with a linear warm-up and a cosine decay to 0 at the last step."""
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=weight_decay)
    total = max(epochs * steps_per_epoch, 1)
    warmup = min(steps_per_epoch, total // 10)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        step = min(step, total)   # epochs of another size do not wrap around
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)


def _epoch_order(y_train, balance, generator):
    """The order of the training cutouts in an epoch (class-balanced draws or a permutation)."""
    if balance == 'sampling':
        counts = np.bincount(y_train.numpy(), minlength=4)
        sample_p = torch.from_numpy((1.0 / counts[y_train.numpy()]).astype(np.float64))
        return torch.multinomial(sample_p, len(y_train), replacement=True,
                                 generator=generator)
    return torch.randperm(len(y_train), generator=generator)


def _train_epoch(module, x_train, y_train, order, *, batch_size, normalization,
                 loss_fn, optimizer, scheduler, augment, band_dropout, generator,
                 device, amp=contextlib.nullcontext):
    """
    One pass over the training cutouts in ``order``.

    Every batch is copied from CPU memory to ``device`` and augmented,
    given missing bands and normalised there, as at inference; the
    random draws come from ``generator``.

    Returns
    -------
    losses : list of (`torch.Tensor`, int)
        Each batch's mean loss (a 0-d tensor on ``device``) and size.
    """
    module.train()
    n_bands = x_train.shape[1]
    losses = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        xb = x_train[idx].to(device)
        yb = y_train[idx].to(device)
        if augment:
            xb = dihedral_augment(xb, generator)
        missing = None
        if band_dropout:
            missing = _band_dropout(len(idx), n_bands, band_dropout, generator,
                                    device=device)
        # normalised on the device, missing bands zeroed, as at inference
        xb = normalization.apply(xb, missing=missing)
        with amp():
            logits = module(xb)
        loss = loss_fn(logits.float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append((loss.detach(), len(idx)))
    return losses


def _mean_loss(losses):
    """The mean of the per-batch losses of `_train_epoch`, weighted by batch size."""
    total, n = 0.0, 0
    for loss, size in losses:
        total += loss.item() * size
        n += size
    return total / n


def _evaluate(predictor, x, y):
    """Accuracy, mean cross-entropy and raw logits on a validation set."""
    if not len(x):
        return float('nan'), float('nan'), np.zeros((0, 4), np.float32)
    predictor.network.eval()
    logits = predictor.logits(x)
    # rows with non-finite output (NaN from the predictor) count as wrong
    predicted = np.where(np.isfinite(logits).all(1), logits.argmax(1), -1)
    acc = float(np.mean(predicted == y))
    return acc, _mean_nll(logits, y), logits


def _mean_nll(logits, y):
    """Mean cross-entropy of logits (N, n_classes) for 0-based classes ``y``."""
    lp = torch.log_softmax(torch.from_numpy(np.asarray(logits)).double(), dim=1)
    yt = torch.from_numpy(np.asarray(y))
    return float(-lp[torch.arange(len(yt)), yt].mean())


class _BestState:
    """
    The state with the best validation accuracy (ties: lower loss) and
    the epochs since it, for early stopping.
    """

    def __init__(self, patience):
        self.patience = patience
        self.accuracy, self.loss, self.state, self.epoch = -1.0, math.inf, None, 0
        self.since = 0

    def keep(self, module, accuracy, loss, epoch):
        self.accuracy, self.loss, self.epoch = accuracy, loss, epoch
        self.state = copy.deepcopy(module.state_dict())
        self.since = 0

    def update(self, module, accuracy, loss, epoch, scored):
        """Keep the state if it is better (always without a validation set)."""
        if not scored or accuracy > self.accuracy or (
                accuracy == self.accuracy and loss < self.loss):
            self.keep(module, accuracy, loss, epoch)
        else:
            self.since += 1

    @property
    def stop(self):
        return self.patience is not None and self.since >= self.patience

    def restore(self, module):
        if self.state is not None:
            module.load_state_dict(self.state)


def _calibrate(predictor, x_val, y_val):
    """
    Temperature of the kept state on the validation set, the NLL before
    and after, and the out-of-distribution entry (`_fit_ood`; `None`
    without a validation set).
    """
    if not len(y_val):
        return 1.0, None, None
    _, nll_before, val_logits = _evaluate(predictor, x_val, y_val - 1)
    temperature = fit_temperature(val_logits, y_val)
    val_nll = {'before': nll_before,
               'after': _mean_nll(val_logits / np.float32(temperature), y_val - 1)}
    log.info('temperature %.3f: validation NLL %.4f -> %.4f', temperature,
             val_nll['before'], val_nll['after'])
    return temperature, val_nll, _fit_ood(predictor, x_val, y_val, temperature)


def _fit_ood(predictor, x_val, y_val, temperature):
    """
    The ``ood`` entry of a trained model: the combined Mahalanobis score
    (`starcnet.models.uncertainty.fit_ood`) fitted on the validation set
    with its labels, at the 0.99 quantile; on a validation set too small
    for it (at most 26 cutouts), the energy threshold of the calibrated
    validation logits (none for a deep ensemble, whose combined logits
    have the same energy for every cutout); `None` if no validation
    output is finite.
    """
    from ..models import uncertainty as unc

    x = np.asarray(x_val)
    what = f'the validation set of fit ({len(x)} cutouts)'
    try:
        return unc.fit_ood(predictor, x, np.asarray(y_val), kind='combined',
                           quantile=0.99, fitted_on=what)
    except ValueError as exc:
        if predictor.is_ensemble:
            log.info('no Mahalanobis OOD score (%s), and no energy score for an '
                     'ensemble: no OOD entry', exc)
            return None
        log.info('no Mahalanobis OOD score (%s): storing the energy threshold', exc)
    scores = unc.energy_score(predictor.logits(x) / np.float32(temperature))
    scores = scores[np.isfinite(scores)]
    if not scores.size:
        return None
    return unc._ood_entry(scores, 0.99, what)


def _fit_seeded(cutouts, labels, *, train_data, validation, model, width,
                normalization, bands, epochs, batch_size, learning_rate,
                weight_decay, val_fraction, groups, patience, balance, augment,
                band_dropout, freeze, seed, device, autocast, progress_bar):
    from ..models.inference import Predictor

    t_start = time.time()
    _check_arguments(cutouts, labels, train_data=train_data, val_fraction=val_fraction,
                     band_dropout=band_dropout, epochs=epochs, batch_size=batch_size,
                     patience=patience, balance=balance)
    if autocast:
        def amp():
            return torch.autocast(device.type, dtype=torch.bfloat16)
    else:
        amp = contextlib.nullcontext
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(int(seed))

    data = _prepare_data(cutouts, labels, train_data=train_data, validation=validation,
                         val_fraction=val_fraction, groups=groups, rng=rng)
    x_val, y_val = data.x_val, data.y_val
    x_train, y_train = data.epoch_data(1)
    if len(y_val) and x_val.shape[1:] != x_train.shape[1:]:
        msg = (f'validation cutouts have shape {x_val.shape[1:]}, the training '
               f'cutouts {tuple(x_train.shape[1:])}')
        raise ValueError(msg)

    module, base_info, normalization, bands, learning_rate = _prepare_model(
        model, width=width, normalization=normalization, bands=bands,
        learning_rate=learning_rate, sample_shape=tuple(x_train.shape), device=device)
    trainable = _trainable(module, freeze)
    # validation through the inference path, with the raw (temperature 1)
    # logits that the temperature is fitted on
    predictor = Predictor(module, normalization, device=device, batch_size=512,
                          precision='bfloat16' if autocast else 'float32')

    first_labels = y_train.numpy() + 1
    weights = class_weights(first_labels)
    loss_weight = (torch.from_numpy(weights).to(device) if balance == 'loss' else None)
    loss_fn = nn.CrossEntropyLoss(weight=loss_weight)
    optimizer, scheduler = _optimizer(
        trainable, learning_rate=learning_rate, weight_decay=weight_decay,
        epochs=epochs, steps_per_epoch=math.ceil(len(x_train) / batch_size))

    history = {'train_loss': [], 'val_loss': [], 'val_accuracy': [], 'lr': [],
               'seconds': [], 'class_weights': weights.tolist(),
               'n_train': int(len(x_train)), 'n_val': int(len(y_val)),
               'train_index': None if data.train_idx is None else data.train_idx.tolist(),
               'val_index': None if data.val_idx is None else data.val_idx.tolist()}
    best = _BestState(patience)
    if base_info is not None and len(y_val):
        acc, loss, _ = _evaluate(predictor, x_val, y_val - 1)
        best.keep(module, acc, loss, 0)
        history['initial_val_accuracy'] = acc
        log.info('base model %s: val acc %.4f', base_info.name, acc)
    stopped_early, epochs_run = False, 0
    epoch_iter = add_progress_bar(range(1, epochs + 1), desc='StarcNet training',
                                  unit='epoch', progress_bar=progress_bar)
    for epoch in epoch_iter:
        t0 = time.time()
        if epoch > 1 and train_data is not None:
            x_train, y_train = data.epoch_data(epoch)
        order = _epoch_order(y_train, balance, generator)
        losses = _train_epoch(
            module, x_train, y_train, order, batch_size=batch_size,
            normalization=normalization, loss_fn=loss_fn, optimizer=optimizer,
            scheduler=scheduler, augment=augment, band_dropout=band_dropout,
            generator=generator, device=device, amp=amp)
        epochs_run = epoch
        history['train_loss'].append(_mean_loss(losses))
        history['lr'].append(optimizer.param_groups[0]['lr'])
        acc, vloss, _ = _evaluate(predictor, x_val, y_val - 1)
        history['val_accuracy'].append(acc)
        history['val_loss'].append(vloss)
        history['seconds'].append(time.time() - t0)
        best.update(module, acc, vloss, epoch, scored=bool(len(y_val)))
        log.info(f'epoch {epoch:3d}/{epochs}: '
                 f'train loss {history["train_loss"][-1]:.4f}'
                 f'  val loss {vloss:.4f}  val acc {acc:.4f}'
                 f'  ({history["seconds"][-1]:.0f} s)')
        if best.stop:
            stopped_early = True
            log.info('no improvement for %d epochs: stopping', patience)
            break
    best.restore(module)
    temperature, val_nll, ood = _calibrate(predictor, x_val, y_val)
    for param in module.parameters():
        param.requires_grad_(True)
    history.update(best_epoch=best.epoch, best_val_accuracy=best.accuracy,
                   epochs_run=epochs_run, stopped_early=stopped_early,
                   temperature=temperature)
    module = module.to('cpu').to(memory_format=torch.contiguous_format).eval()

    all_labels = data.all_labels if train_data is None else first_labels
    training = {
        'base_model': None if base_info is None else base_info.name,
        'base_model_sha256': None if base_info is None else base_info.sha256,
        'n_cutouts': int(all_labels.size),
        'class_counts': {str(k + 1): int(c) for k, c in enumerate(
            np.bincount(all_labels - 1, minlength=4))},
        'train_data': ('fresh every epoch (train_data callable)' if train_data is not None
                       else 'fixed arrays'),
        'n_train': history['n_train'], 'n_val': history['n_val'],
        'split': data.split,
        'epochs': int(epochs), 'epochs_run': epochs_run,
        'stopped_early': stopped_early, 'patience': patience,
        'best_epoch': best.epoch,
        'val_accuracy': None if not len(y_val) else float(best.accuracy),
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
        from ..legus import CLASS_NAMES
        classes = {str(k): v for k, v in CLASS_NAMES.items()}
    metadata = {'config': dict(module.config), 'bands': bands,
                'normalization': normalization.to_metadata(),
                'temperature': temperature,
                'classes': classes, 'training': training}
    if ood is not None:
        metadata['ood'] = ood
    return TrainingResult(module=module, metadata=metadata, history=history)
