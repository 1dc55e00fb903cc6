# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
What training gives: `TrainingResult`, its temperature
(`fit_temperature`) and its safetensors file (`save_trained`).
Importing this module does not import torch.
"""

import copy
import dataclasses
import math
import os
import platform

import numpy as np

__all__ = ['TrainingResult', 'fit_temperature', 'save_trained']


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

    module: object
    metadata: dict
    history: dict

    def __repr__(self):
        t = self.metadata.get('training', {})
        return (f'<TrainingResult width={self.module.config["width"]} '
                f'base={t.get("base_model")!r} epochs_run={t.get("epochs_run")} '
                f'best_epoch={t.get("best_epoch")} '
                f'val_accuracy={t.get("val_accuracy")}>')


def _versions():
    """
    The software a model was trained with, and the machine: simulated
    training sets made with other versions of scipy or on another CPU
    need not be bit-identical.
    """
    from importlib.metadata import PackageNotFoundError, version

    import astropy
    import torch

    import starcnet
    versions = {'python': platform.python_version(), 'numpy': np.__version__,
                'astropy': astropy.__version__, 'torch': torch.__version__,
                'starcnet': getattr(starcnet, '__version__', 'unknown')}
    for package in ('scipy', 'photutils'):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            pass
    versions['machine'] = f'{platform.machine()} {_cpu_name()}'.strip()
    return versions


def _cpu_name():
    """The CPU's model name, where the system says it ('' otherwise)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


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
        ``(N, n_classes)`` raw logits (temperature 1), or the raw logits
        of the members of an ensemble, ``(n_members, N, n_classes)``:
        then the NLL is that of the members' mean probability
        ``mean(softmax(logits / T), axis=0)``, the probability
        `~starcnet.models.Predictor` gives an ensemble (not always
        convex in ``1 / T``; the search finds a minimum).
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
    members = z.ndim == 3
    if members:
        z = z.transpose(1, 0, 2)   # (N, n_members, n_classes)
    if z.ndim not in (2, 3) or y.shape != (z.shape[0],) or not z.shape[0]:
        msg = (f'logits must be (N, n_classes) or (n_members, N, n_classes) with one '
               f'label each, got shape {np.shape(logits)} and '
               f'{y.shape[0] if y.ndim else 0} labels')
        raise ValueError(msg)
    if (not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y))
            or y.min() < 1 or y.max() > z.shape[-1]):
        msg = f'labels must be classes 1..{z.shape[-1]}'
        raise ValueError(msg)
    if not np.all(np.isfinite(z)):
        msg = 'logits must be finite'
        raise ValueError(msg)
    lo, hi = (math.log(float(v)) for v in bounds)
    index = y.astype(np.int64) - 1
    rows = np.arange(len(index))

    def log_softmax(scaled):
        top = scaled.max(axis=-1, keepdims=True)
        return scaled - top - np.log(np.exp(scaled - top).sum(axis=-1, keepdims=True))

    def nll(log_t):
        logp = log_softmax(z / math.exp(log_t))
        if members:   # log of the mean member probability
            top = logp.max(axis=1)
            logp = top + np.log(np.exp(logp - top[:, None]).mean(axis=1))
        return float(-np.mean(logp[rows, index]))

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
    from ..models.registry import get_model_info, list_models, save_model

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
