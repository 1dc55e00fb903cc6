# Licensed under a 3-clause BSD style license - see LICENSE.rst
r"""
Active learning: which candidates to label next, and the loop that
labels, fine-tunes and evaluates.

The acquisition rules are pure functions of sampled class probabilities
``samples`` of shape ``(S, N, C)`` (``S`` Monte Carlo dropout passes of
``N`` candidates over ``C`` classes, see
`~starcnet.models.Predictor.sample_proba`); each gives one score per
candidate, **higher meaning "label this first"**:

* ``'mutual_information'`` (BALD, Houlsby et al. 2011): the
  disagreement between the passes,
  `~starcnet.models.uncertainty.mutual_information`;
* ``'entropy'``: the entropy of the mean probabilities,
  `~starcnet.models.uncertainty.predictive_entropy` (the model's doubt
  and the object's ambiguity together);
* ``'margin'``: minus the difference between the two largest mean
  probabilities (a small margin scores high);
* ``'random'``: uniform numbers from a seeded `numpy.random.Generator`
  (the baseline; it needs no samples).

`select_batch` scores the unlabelled candidates with a model and returns
the ``n`` best; `ActiveLearner` runs the loop: select, ask an oracle (a
function of the chosen indices returning their classes: the truth of a
simulation, or the labels of a review journal, see
`starcnet.review.review_labels`), fine-tune, evaluate.

References
----------
Houlsby, N., Huszár, F., Ghahramani, Z. & Lengyel, M. 2011, "Bayesian
Active Learning for Classification and Preference Learning",
arXiv:1112.5745.
"""

import copy
import logging
import math
import os
import tempfile
import time

import numpy as np

from ..models.uncertainty import mean_proba, mutual_information, predictive_entropy

__all__ = ['RULES', 'acquisition_scores', 'select_batch', 'ActiveLearner',
           'NO_CLASS', 'NOT_REVIEWED']

log = logging.getLogger('starcnet')

#: The acquisition rules of `acquisition_scores` and `select_batch`.
RULES = ('mutual_information', 'entropy', 'margin', 'random')

#: Label of a candidate that was looked at but got no class (a review
#: ``'skip'`` or ``'unsure'``): it is not chosen again and not trained on.
NO_CLASS = 0
#: Label of a candidate with no review yet: `ActiveLearner.teach`
#: leaves it unlabelled (it can be chosen again).
NOT_REVIEWED = -1


def _check_rule(rule):
    if rule not in RULES:
        msg = f'rule must be one of {", ".join(map(repr, RULES))}, got {rule!r}'
        raise ValueError(msg)
    return rule


def _margin(samples):
    mean = mean_proba(samples)
    top2 = np.sort(mean, axis=1)[:, -2:]
    return -(top2[:, 1] - top2[:, 0])


def acquisition_scores(samples, rule='mutual_information', *, seed=0):
    """
    Acquisition score of every candidate: higher means label it first.

    Parameters
    ----------
    samples : array-like or int
        ``(S, N, C)`` sampled class probabilities; for ``rule='random'``
        the number of candidates ``N`` is enough.
    rule : {'mutual_information', 'entropy', 'margin', 'random'}, optional
        See the module description.
    seed : int or `numpy.random.Generator`, optional
        Only for ``'random'``: the seed of a local generator (the global
        numpy random state is neither used nor changed).

    Returns
    -------
    scores : `~numpy.ndarray`
        float64 ``(N,)``; NaN for candidates whose samples are not finite.

    Examples
    --------
    Two candidates: the passes agree on the first and disagree on the
    second, which mutual information ranks first:

    >>> import numpy as np
    >>> from starcnet.training.active import acquisition_scores
    >>> samples = np.array([[[0.7, 0.1, 0.1, 0.1], [0.9, 0.1, 0.0, 0.0]],
    ...                     [[0.7, 0.1, 0.1, 0.1], [0.0, 0.1, 0.9, 0.0]]])
    >>> acquisition_scores(samples).round(3)
    array([0.   , 0.624])
    """
    _check_rule(rule)
    if rule == 'random':
        if isinstance(samples, (int, np.integer)) and not isinstance(samples, bool):
            n = int(samples)
        else:
            n = np.shape(samples)[1]
        return np.random.default_rng(seed).random(n)
    if rule == 'mutual_information':
        return mutual_information(samples)
    if rule == 'entropy':
        return predictive_entropy(samples)
    return _margin(samples)


def _labelled_mask(labelled_mask, n):
    if labelled_mask is None:
        return np.zeros(n, dtype=bool)
    mask = np.asarray(labelled_mask)
    if mask.dtype != bool or mask.shape != (n,):
        msg = (f'labelled_mask must be a boolean array with one entry per cutout ({n}), '
               f'got dtype {mask.dtype} and shape {mask.shape}')
        raise ValueError(msg)
    return mask


def _top(scores, candidates, n):
    """The ``n`` candidates of highest score (ties: lower index; NaN last)."""
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.lexsort((candidates, -scores))    # by score, then by index
    return candidates[order[:n]].astype(np.int64)


def _as_predictor(model, device):
    from ..models.inference import Predictor

    if isinstance(model, Predictor):
        return model
    if isinstance(model, (str, os.PathLike)):
        return Predictor.from_model(model, device=device)
    if hasattr(model, 'module') and hasattr(model, 'metadata'):     # a TrainingResult
        meta = model.metadata
        return Predictor(copy.deepcopy(model.module).eval(), meta['normalization'],
                         temperature=meta.get('temperature', 1.0), device=device)
    msg = ('model must be a Predictor, a TrainingResult, a registered model name or '
           f'a weights file, got {type(model).__name__}')
    raise TypeError(msg)


def _head_only_parts(network):
    """
    ``(features, head, p)`` when ``network`` is a `~starcnet.models.StarcNet`
    whose only dropout layers (all with one ``p > 0``) are the last layer
    of each branch: a copy giving the concatenated branch features before
    dropout, the final linear layer, and ``p``.  `None` otherwise.
    """
    from torch import nn

    from ..models.network import StarcNet

    if type(network) is not StarcNet:
        return None
    dropouts = [m for m in network.modules()
                if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0]
    branch_dropouts = [b.dropout for b in network.branches.values()]
    if (len(dropouts) != len(branch_dropouts)
            or any(type(d) is not nn.Dropout for d in branch_dropouts)
            or {id(d) for d in dropouts} != {id(d) for d in branch_dropouts}
            or len({d.p for d in branch_dropouts}) != 1):
        return None
    features = copy.deepcopy(network).eval()
    for branch in features.branches.values():
        branch.dropout = nn.Identity()
    head = features.head
    features.head = nn.Identity()
    return features, head, float(branch_dropouts[0].p)


def _sample_proba(predictor, cutouts, missing, *, n_samples, seed, sampling='auto'):
    """
    Monte Carlo dropout probabilities ``(S, N, C)``.

    ``sampling='full'``: `~starcnet.models.Predictor.sample_proba` (every
    pass runs the whole network).  ``'head'``: for a StarcNet, whose
    dropout layers are the last layer of each branch, the branch features
    are computed once and only the dropout masks and the final linear
    layer are drawn ``n_samples`` times: the same distribution as
    ``'full'`` (other random numbers) at about the cost of one plain
    pass.  ``'auto'``: ``'head'`` where it applies, else ``'full'``.
    """
    import torch

    from ..models.inference import _autocast, softmax

    if sampling not in ('auto', 'head', 'full'):
        msg = f"sampling must be 'auto', 'head' or 'full', got {sampling!r}"
        raise ValueError(msg)
    parts = None if sampling == 'full' else _head_only_parts(predictor.network)
    if parts is None:
        if sampling == 'head':
            msg = ("sampling='head' needs a StarcNet whose only dropout layers are "
                   "the last layer of each branch; use sampling='full'")
            raise ValueError(msg)
        return predictor.sample_proba(cutouts, missing, n_samples=n_samples, seed=seed)
    predictor.check_dropout()
    features, head, p = parts
    cutouts, missing = predictor._check_inputs(cutouts, missing)
    n_classes = predictor._n_classes()
    out = np.empty((n_samples, len(cutouts), n_classes), dtype=np.float32)
    generator = torch.Generator(device=predictor.device)
    generator.manual_seed(int(seed))
    step = predictor.network_batch_size()
    with torch.inference_mode(), _autocast(predictor.device, predictor.precision):
        for start, n_batch, tensor in predictor._batches(cutouts, missing, step, pad=False):
            f = features(tensor).float()
            for s in range(n_samples):
                keep = torch.empty_like(f).bernoulli_(1.0 - p, generator=generator)
                logits = head(f * keep / (1.0 - p))
                out[s, start:start + n_batch] = (
                    predictor._calibrated(logits, n_batch).cpu().numpy())
    out[:, ~np.isfinite(out).all(axis=(0, 2))] = np.nan
    if not out.size:
        return out
    return softmax(out.reshape(-1, n_classes)).reshape(out.shape)


def select_batch(model, cutouts, labelled_mask=None, n=50, *, rule='mutual_information',
                 n_samples=16, seed=0, missing=None, sampling='auto', device='cpu'):
    """
    The unlabelled candidates to label next.

    Parameters
    ----------
    model : `~starcnet.models.Predictor`, `TrainingResult`, str or os.PathLike
        The current model (a predictor, what `fit` returned, a registry
        name or a weights file); not used for ``rule='random'``.
    cutouts : array-like
        ``(N, n_bands, 32, 32)`` cutouts of the pool, in e-/s.
    labelled_mask : array-like of bool, optional
        ``(N,)``: candidates already labelled (or looked at), never chosen.
        Default: none.
    n : int, optional
        How many to choose.  When fewer are unlabelled, all of those are
        returned.
    rule : {'mutual_information', 'entropy', 'margin', 'random'}, optional
        The acquisition rule (`acquisition_scores`).
    n_samples : int, optional
        Monte Carlo dropout passes per candidate.
    seed : int, optional
        Seed of the dropout masks, or of the random choice; one seed
        gives one result.  No global random state is used or changed.
    missing : array-like of bool, optional
        ``(N, n_bands)`` bands without data, as in
        `~starcnet.models.Predictor.logits`.
    sampling : {'auto', 'head', 'full'}, optional
        How the dropout passes are drawn: ``'full'`` runs the whole
        network ``n_samples`` times
        (`~starcnet.models.Predictor.sample_proba`); ``'head'`` (a
        StarcNet, whose dropout is the last layer of each branch)
        computes the branch features once and draws only the dropout
        masks and the final layer, the same distribution at about
        ``1 / n_samples`` of the cost; ``'auto'`` takes ``'head'`` where
        it applies.
    device : str, optional
        Device of a model given by name or file.

    Returns
    -------
    indices : `~numpy.ndarray`
        int64 indices into ``cutouts`` of unlabelled candidates, best
        first (ties: the lower index first; candidates whose network
        output is not finite last).

    Raises
    ------
    ValueError
        If ``rule`` is unknown, ``n`` is negative, ``labelled_mask`` does
        not match the cutouts, or the model has no dropout (for the
        sampled rules).
    """
    _check_rule(rule)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        msg = f'n must be a non-negative integer, got {n!r}'
        raise ValueError(msg)
    n_total = len(cutouts)
    mask = _labelled_mask(labelled_mask, n_total)
    candidates = np.flatnonzero(~mask)
    n = min(int(n), candidates.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if rule == 'random':
        scores = acquisition_scores(candidates.size, 'random', seed=seed)
        return _top(scores, candidates, n)
    predictor = _as_predictor(model, device)
    cutouts = np.asarray(cutouts, dtype=np.float32)
    sub_missing = None if missing is None else np.asarray(missing, dtype=bool)[candidates]
    samples = _sample_proba(predictor, cutouts[candidates], sub_missing,
                            n_samples=n_samples, seed=seed, sampling=sampling)
    return _top(acquisition_scores(samples, rule), candidates, n)


def _accuracies(proba, labels):
    """4-class and binary (classes 1-2 vs 3-4) accuracy; non-finite rows count as wrong."""
    labels = np.asarray(labels)
    finite = np.isfinite(proba).all(axis=1)
    pred = np.where(finite, np.argmax(np.nan_to_num(proba, nan=0.0), axis=1) + 1, 0)
    accuracy = float(np.mean(pred == labels))
    binary = float(np.mean(finite & ((pred <= 2) == (labels <= 2))))
    return {'accuracy': accuracy, 'binary_accuracy': binary, 'n': int(labels.size)}


class ActiveLearner:
    """
    The active-learning loop: choose candidates, get their labels,
    fine-tune, evaluate.

    Each round (`step`) chooses ``n`` unlabelled candidates of the pool
    with the current model and the acquisition rule (`select_batch`),
    asks the oracle for their classes (`teach`), fine-tunes a model on
    every candidate labelled so far (`retrain`) and, if given test data,
    evaluates it.  The rounds can also be driven by hand, e.g. with
    reviewers in between: `query`, then (once the labels are in a review
    journal) ``teach(rows, review_labels(journal, rows))``, then
    `retrain`.

    Parameters
    ----------
    cutouts : array-like
        ``(N, n_bands, 32, 32)`` cutouts of the unlabelled pool, in e-/s.
    oracle : callable, optional
        ``oracle(indices) -> labels``: LEGUS classes 1-4 of the pool
        candidates ``indices`` (an int array), `NO_CLASS` (0) for one
        looked at without a class, `NOT_REVIEWED` (-1) for one not
        reviewed yet.  Needed by `step` and `run` only.
    model : str or os.PathLike, optional
        The base model (registry name or weights file).  Default: the
        bundled default model (``starcnet.conf.default_model``).
    rule : {'mutual_information', 'entropy', 'margin', 'random'}, optional
        The acquisition rule.
    missing : array-like of bool, optional
        ``(N, n_bands)`` bands without data in the pool cutouts.
    n_samples : int, optional
        Monte Carlo dropout passes per candidate (sampled rules).
    restart : bool, optional
        `True` (default): each round fine-tunes the base model afresh
        on every label so far, so the model after ``k`` labels does not
        depend on how they were collected.  `False`: each round
        continues from the previous round's model.
    steps : int, optional
        Gradient steps per fine-tuning (about; whole epochs are run:
        ``ceil(steps / batches per epoch)`` of them, at most
        ``max_epochs``), so that its cost hardly depends on the number of
        labels.
    steps_per_label : float, optional
        With more labels, more steps: ``max(steps, ceil(steps_per_label *
        n_labelled))``.  Default 0 (``steps`` whatever the labels).
    max_epochs : int, optional
        Cap on the epochs of one fine-tuning.
    fit_options : dict, optional
        Other arguments of `fit` (``batch_size`` default 32,
        ``val_fraction`` default 0: with a few dozen labels a validation
        split is too small to choose a state; ``learning_rate``,
        ``freeze``, ``balance``, ``augment``, ``band_dropout``...).
    sampling : {'auto', 'head', 'full'}, optional
        As in `select_batch`.
    seed : int, optional
        Seed of everything random: round ``r`` chooses with, and
        fine-tunes with, seeds drawn from
        ``numpy.random.SeedSequence(seed)``; one seed gives one result.
    device : str, optional
        Device of the selection, fine-tuning and evaluation.

    Attributes
    ----------
    labels : `~numpy.ndarray`
        int64 ``(N,)``: class 1-4 of each labelled candidate, `NO_CLASS`
        for those looked at without a class, `NOT_REVIEWED` otherwise.
    history : list of dict
        One entry per round: ``round``, ``chosen`` (indices),
        ``n_queried`` and ``n_labelled`` (after the round),
        ``class_counts`` (of the labelled candidates), ``select_s``,
        ``fit_s``, and ``evaluation`` (see `evaluate`) where test data
        were given.
    result : `TrainingResult` or None
        The last fine-tuning (`None` before the first).
    predictor : `~starcnet.models.Predictor`
        The current model (the base model before the first fine-tuning).

    Examples
    --------
    A simulated pool, its truth as the oracle, two rounds of two labels
    (a real run takes hundreds of candidates and labels per round; see
    ``scripts/active_learning_curve.py``)::

        >>> from starcnet.simulation import simulate_candidates
        >>> from starcnet.training import ActiveLearner
        >>> pool, truth = simulate_candidates(2, seed=3)
        >>> learner = ActiveLearner(pool, lambda idx: truth[idx], steps=1,
        ...                         n_samples=2, seed=1)
        >>> history = learner.run([2, 4])
        >>> [h['n_labelled'] for h in history]
        [2, 4]
    """

    def __init__(self, cutouts, oracle=None, *, model=None, rule='mutual_information',
                 missing=None, n_samples=16, restart=True, steps=60, steps_per_label=0.0,
                 max_epochs=50, fit_options=None, sampling='auto', seed=0, device='cpu'):
        from .. import conf
        from ..models.inference import Predictor

        self.cutouts = np.asarray(cutouts, dtype=np.float32)
        if self.cutouts.ndim != 4 or not len(self.cutouts):
            msg = f'cutouts must be a non-empty (N, bands, 32, 32) array, got {self.cutouts.shape}'
            raise ValueError(msg)
        if oracle is not None and not callable(oracle):
            msg = f'oracle must be a callable (indices -> labels), got {type(oracle).__name__}'
            raise TypeError(msg)
        self.oracle = oracle
        self.rule = _check_rule(rule)
        self.missing = None if missing is None else np.asarray(missing, dtype=bool)
        if self.missing is not None and self.missing.shape != self.cutouts.shape[:2]:
            msg = (f'missing must have shape {self.cutouts.shape[:2]}, got '
                   f'{self.missing.shape}')
            raise ValueError(msg)
        self.base_model = conf.default_model if model is None else model
        if not isinstance(self.base_model, (str, os.PathLike)):
            msg = ('model must be a registered model name or a weights file, got '
                   f'{type(self.base_model).__name__}')
            raise TypeError(msg)
        for name, value in (('n_samples', n_samples), ('steps', steps),
                            ('max_epochs', max_epochs)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                msg = f'{name} must be a positive integer, got {value!r}'
                raise ValueError(msg)
        self.n_samples, self.steps, self.max_epochs = int(n_samples), int(steps), int(max_epochs)
        if not np.isfinite(steps_per_label) or steps_per_label < 0:
            msg = f'steps_per_label must be a number >= 0, got {steps_per_label!r}'
            raise ValueError(msg)
        self.steps_per_label = float(steps_per_label)
        self.restart = bool(restart)
        self.fit_options = {'batch_size': 32, 'val_fraction': 0.0}
        self.fit_options.update(fit_options or {})
        for reserved in ('cutouts', 'labels', 'model', 'epochs', 'seed', 'device',
                         'train_data'):
            if reserved in self.fit_options:
                msg = (f'fit_options cannot set {reserved!r}: the learner sets it '
                       '(epochs through steps and max_epochs)')
                raise ValueError(msg)
        self.sampling = sampling
        self.seed = int(seed)
        self.device = device
        self.labels = np.full(len(self.cutouts), NOT_REVIEWED, dtype=np.int64)
        self.history = []
        self.result = None
        self.base_predictor = Predictor.from_model(self.base_model, device=device)
        self.predictor = self.base_predictor
        self._round = 0

    def __repr__(self):
        return (f'<ActiveLearner rule={self.rule!r} pool={len(self.cutouts)} '
                f'labelled={self.n_labelled} rounds={self._round} restart={self.restart}>')

    # -- state -----------------------------------------------------------
    @property
    def queried(self):
        """Boolean ``(N,)``: candidates labelled or looked at (never chosen again)."""
        return self.labels != NOT_REVIEWED

    @property
    def n_labelled(self):
        """Number of candidates with a class 1-4 (what fine-tuning uses)."""
        return int(np.count_nonzero(self.labels > 0))

    def _seeds(self, round_number):
        """The selection and fine-tuning seeds of a round."""
        seq = np.random.SeedSequence(self.seed, spawn_key=(int(round_number),))
        select, fit = seq.generate_state(2)
        return int(select), int(fit)

    # -- the steps of a round ----------------------------------------------
    def query(self, n):
        """
        The ``n`` candidates to label next (`select_batch` with the
        current model), best first; fewer when fewer are left.
        """
        select_seed, _ = self._seeds(self._round + 1)
        return select_batch(self.predictor, self.cutouts, self.queried, n, rule=self.rule,
                            n_samples=self.n_samples, seed=select_seed,
                            missing=self.missing, sampling=self.sampling)

    def teach(self, indices, labels):
        """
        Record the labels of pool candidates.

        Parameters
        ----------
        indices : array-like of int
            Pool indices.
        labels : array-like
            Per index: a class 1-4, `NO_CLASS` (0; also ``'skip'``,
            ``'unsure'`` or `None`) for one looked at without a class,
            or `NOT_REVIEWED` (-1) for one not reviewed yet (left
            unlabelled).  A later label replaces an earlier one.

        Returns
        -------
        n_new : int
            How many of them now have a class 1-4.
        """
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and not np.issubdtype(indices.dtype, np.integer)):
            msg = 'indices must be a 1-d sequence of integer pool indices'
            raise TypeError(msg)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self.cutouts)):
            msg = f'indices must be pool indices 0 to {len(self.cutouts) - 1}'
            raise ValueError(msg)
        values = [NO_CLASS if v is None or (isinstance(v, str) and v in ('skip', 'unsure'))
                  else v for v in np.asarray(labels, dtype=object).ravel()]
        if len(values) != indices.size:
            msg = f'{len(values)} labels for {indices.size} indices'
            raise ValueError(msg)
        try:
            codes = np.array(values, dtype=float)
        except (TypeError, ValueError):
            codes = None
        if codes is None or not np.all(np.isin(codes, (NOT_REVIEWED, NO_CLASS, 1, 2, 3, 4))):
            msg = ('labels must be LEGUS classes 1-4, 0 / skip / unsure (looked at, no '
                   'class) or -1 (not reviewed)')
            raise ValueError(msg)
        codes = codes.astype(np.int64)
        reviewed = codes != NOT_REVIEWED
        self.labels[indices[reviewed]] = codes[reviewed]
        return int(np.count_nonzero(codes > 0))

    def _epochs(self, n):
        batches = math.ceil(n / int(self.fit_options['batch_size']))
        steps = max(self.steps, math.ceil(self.steps_per_label * n))
        return max(1, min(self.max_epochs, math.ceil(steps / batches)))

    def retrain(self):
        """
        Fine-tune on every candidate labelled so far (from the base model,
        or with ``restart=False`` from the current one); sets `result`
        and `predictor`.

        Each call ends a round: the next `query` and `retrain` draw the
        next round's seeds.

        Returns
        -------
        result : `TrainingResult` or None
            `None` (and the model unchanged) while nothing is labelled.
        """
        from .loop import fit
        from .results import save_trained

        rows = np.flatnonzero(self.labels > 0)
        if not rows.size:
            return None
        _, fit_seed = self._seeds(self._round + 1)
        kwargs = dict(self.fit_options, epochs=self._epochs(rows.size), seed=fit_seed,
                      device=self.device)
        cutouts = self.cutouts[rows]
        if self.missing is not None and self.missing[rows].any():
            # bands without data are zero after normalisation; the
            # training sees them as band dropout would
            log.info('active learning: %d labelled cutouts have missing bands',
                     int(self.missing[rows].any(axis=1).sum()))
        if self.restart or self.result is None:
            result = fit(cutouts, self.labels[rows], model=self.base_model, **kwargs)
        else:
            with tempfile.TemporaryDirectory(prefix='starcnet-al-') as folder:
                path = os.path.join(folder, 'previous.safetensors')
                save_trained(self.result, path, name='active-learning-previous-round')
                result = fit(cutouts, self.labels[rows], model=path, **kwargs)
        self.result = result
        self.predictor = _as_predictor(result, self.device)
        self._round += 1            # a fine-tuning ends a round
        return result

    def evaluate(self, cutouts, labels, missing=None):
        """
        Accuracy of the current model on labelled test cutouts.

        Returns
        -------
        evaluation : dict
            ``accuracy`` (4 classes), ``binary_accuracy`` (clusters,
            classes 1-2, against the rest) and ``n``; a cutout whose
            output is not finite counts as wrong.
        """
        return _accuracies(self.predictor.proba(cutouts, missing), labels)

    def step(self, n, test=None):
        """
        One round: `query` ``n``, ask the oracle, `teach`, `retrain` and,
        with ``test=(cutouts, labels)``, `evaluate`.

        Returns
        -------
        entry : dict
            The round's entry of `history`.
        """
        if self.oracle is None:
            msg = ('step and run need an oracle (indices -> labels); without one, '
                   'use query, teach and retrain')
            raise ValueError(msg)
        t0 = time.time()
        chosen = self.query(n)
        select_s = time.time() - t0
        labels = np.asarray(self.oracle(chosen.copy()))
        if labels.shape != chosen.shape:
            msg = (f'the oracle returned {labels.shape} labels for {chosen.shape[0]} '
                   'indices; it must return one label per index')
            raise ValueError(msg)
        self.teach(chosen, labels)
        t1 = time.time()
        if self.retrain() is None:
            self._round += 1        # nothing to fine-tune on: the round still counts
        entry = {'round': self._round, 'chosen': chosen.tolist(),
                 'n_queried': int(self.queried.sum()), 'n_labelled': self.n_labelled,
                 'class_counts': np.bincount(self.labels[self.labels > 0],
                                             minlength=5)[1:].tolist(),
                 'select_s': round(select_s, 2), 'fit_s': round(time.time() - t1, 2)}
        if test is not None:
            entry['evaluation'] = self.evaluate(*test)
        self.history.append(entry)
        log.info('active learning round %d (%s): %d labelled%s', self._round, self.rule,
                 entry['n_labelled'],
                 f', test accuracy {entry["evaluation"]["accuracy"]:.3f}'
                 if test is not None else '')
        return entry

    def run(self, budgets, test=None, callback=None):
        """
        Rounds until each budget in turn is reached.

        Parameters
        ----------
        budgets : sequence of int
            Increasing numbers of candidates queried (labelled or looked
            at) after each round, e.g. ``[50, 100, 200, 400]``.
        test : (cutouts, labels), optional
            Evaluated after every round.
        callback : callable, optional
            Called with each round's entry (e.g. to print progress).

        Returns
        -------
        history : list of dict
            The entries of the rounds run (see `history`).
        """
        budgets = [int(b) for b in budgets]
        if any(b < 1 for b in budgets) or any(b2 <= b1 for b1, b2 in zip(budgets, budgets[1:])):
            msg = f'budgets must be positive and increasing, got {budgets}'
            raise ValueError(msg)
        entries = []
        for budget in budgets:
            n = budget - int(self.queried.sum())
            if n <= 0:
                continue
            if self.queried.all():
                log.info('active learning: the pool is exhausted')
                break
            entry = self.step(n, test=test)
            entries.append(entry)
            if callback is not None:
                callback(entry)
        return entries
