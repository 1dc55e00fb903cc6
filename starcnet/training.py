# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Train StarcNet models on labelled 5-band cutouts.

A minimal but complete training loop: per-band normalisation
(`starcnet.cutouts.normalize`), dihedral augmentation (the eight rotations and flips of
the square cutout, `dihedral_augment`), a class-balanced cross-entropy,
AdamW with a cosine learning-rate schedule and a held-out validation
split whose best-accuracy state is kept.  `train_model` is what
``scripts/make_default_model.py`` uses to build the bundled model.
"""

import copy
import math
import time

import numpy as np
import torch
from torch import nn

from .cutouts import normalize
from .models.network import StarcNet

__all__ = ['dihedral_augment', 'class_weights', 'train_model']


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


def _accuracy(module, x, y, batch_size, device):
    module.eval()
    correct, loss_sum = 0, 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].to(device)
            yb = y[start:start + batch_size].to(device)
            logits = module(xb)
            loss_sum += nn.functional.cross_entropy(logits, yb, reduction='sum').item()
            correct += (logits.argmax(1) == yb).sum().item()
    return correct / max(len(x), 1), loss_sum / max(len(x), 1)


def train_model(cutouts, labels, *, width=16, normalization, epochs=10,
                batch_size=128, learning_rate=2e-3, weight_decay=1e-4,
                val_fraction=0.1, seed=0, augment=True, device='cpu',
                progress=False):
    """
    Train a StarcNet classifier from labelled cutouts.

    Parameters
    ----------
    cutouts : array-like
        ``(N, 5, 32, 32)`` cutouts in image units (e-/s), not normalised.
    labels : array-like of int
        LEGUS classes 1-4.
    width : int, optional
        Feature width of the `~starcnet.models.network.StarcNet` (16 for
        the bundled model, 128 for the published one).
    normalization : dict
        Normalisation applied with `starcnet.cutouts.normalize` (stored with
        the model).
    epochs : int, optional
        Number of passes over the training split.
    batch_size : int, optional
        Mini-batch size.
    learning_rate : float, optional
        Peak AdamW learning rate; a cosine schedule (with a short linear
        warm-up) takes it to zero at the last step.
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
        Apply random dihedral transforms (`dihedral_augment`) to each
        training batch.
    device : str or `torch.device`, optional
        Torch device.
    progress : bool, optional
        Print one line per epoch.

    Returns
    -------
    module : `~starcnet.models.network.StarcNet`
        The trained network, in eval mode, on the CPU.
    history : dict
        Per-epoch ``train_loss``, ``val_loss``, ``val_accuracy``, ``lr``
        and ``seconds`` lists, plus ``best_epoch`` (1-based),
        ``best_val_accuracy``, ``n_train``, ``n_val`` and
        ``class_weights``.
    """
    labels = np.asarray(labels)
    cutouts = np.asarray(cutouts)
    if cutouts.ndim != 4 or cutouts.shape[0] != labels.shape[0]:
        msg = (f'cutouts must be (N, bands, 32, 32) with one label each, got '
               f'{cutouts.shape} and {labels.shape[0]} labels')
        raise ValueError(msg)
    if labels.size == 0 or labels.min() < 1 or labels.max() > 4:
        msg = 'labels must be LEGUS classes 1-4'
        raise ValueError(msg)
    if not 0 <= val_fraction < 1:
        msg = f'val_fraction must be in [0, 1), got {val_fraction}'
        raise ValueError(msg)

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(int(seed))

    # stratified split
    val_idx = []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        rng.shuffle(idx)
        val_idx.append(idx[:int(round(val_fraction * idx.size))])
    val_idx = np.sort(np.concatenate(val_idx)) if val_idx else np.array([], int)
    train_mask = np.ones(labels.size, bool)
    train_mask[val_idx] = False

    x_all = torch.from_numpy(normalize(cutouts, normalization))
    y_all = torch.from_numpy(labels.astype(np.int64) - 1)
    x_train, y_train = x_all[train_mask], y_all[train_mask]
    x_val, y_val = x_all[val_idx], y_all[val_idx]

    module = StarcNet(width=width, n_bands=cutouts.shape[1]).to(device)
    weights = class_weights(labels[train_mask])
    loss_fn = nn.CrossEntropyLoss(weight=torch.from_numpy(weights).to(device))
    optimizer = torch.optim.AdamW(module.parameters(), lr=learning_rate,
                                  weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / batch_size)
    total = max(epochs * steps_per_epoch, 1)
    warmup = min(steps_per_epoch, total // 10)

    def lr_at(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    history = {'train_loss': [], 'val_loss': [], 'val_accuracy': [], 'lr': [],
               'seconds': [], 'class_weights': weights.tolist(),
               'n_train': int(len(x_train)), 'n_val': int(len(x_val))}
    best_acc, best_state, best_epoch = -1.0, None, 0
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        module.train()
        order = torch.randperm(len(x_train), generator=gen)
        loss_sum = 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            xb = x_train[idx]
            if augment:
                xb = dihedral_augment(xb, gen)
            xb, yb = xb.to(device), y_train[idx].to(device)
            loss = loss_fn(module(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
        history['train_loss'].append(loss_sum / len(x_train))
        history['lr'].append(optimizer.param_groups[0]['lr'])
        if len(x_val):
            acc, vloss = _accuracy(module, x_val, y_val, 512, device)
        else:
            acc, vloss = float('nan'), float('nan')
        history['val_accuracy'].append(acc)
        history['val_loss'].append(vloss)
        history['seconds'].append(time.time() - t0)
        if not len(x_val) or acc > best_acc:
            best_acc, best_epoch = acc, epoch
            best_state = copy.deepcopy(module.state_dict())
        if progress:
            print(f'epoch {epoch:3d}/{epochs}: '
                  f'train loss {history["train_loss"][-1]:.4f}'
                  f'  val loss {vloss:.4f}  val acc {acc:.4f}'
                  f'  ({history["seconds"][-1]:.0f} s)', flush=True)
    if best_state is not None:
        module.load_state_dict(best_state)
    history['best_epoch'] = best_epoch
    history['best_val_accuracy'] = best_acc
    module = module.to('cpu').eval()
    return module, history
