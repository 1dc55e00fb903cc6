# Licensed under a 3-clause BSD style license - see LICENSE.rst
r"""
Per-source uncertainty from sampled probabilities, and an
out-of-distribution (OOD) score of logits.

Pure numpy functions.  ``samples`` is always an array of shape
``(S, N, C)``: ``S`` draws of the class probabilities of ``N`` sources
over ``C`` classes, e.g. ``S`` Monte Carlo dropout passes
(`~starcnet.models.Predictor.sample_proba`) or the ``S`` members of an
ensemble.  With :math:`p_{s,n,c}` the probability of class :math:`c` of
source :math:`n` in sample :math:`s` and natural logarithms throughout
(so entropies are in nats):

* mean probability :math:`\bar p_{n,c} = \frac1S \sum_s p_{s,n,c}`
  (`mean_proba`);
* its spread :math:`\sigma_{n,c} = \sqrt{\frac1S \sum_s (p_{s,n,c} -
  \bar p_{n,c})^2}` (`proba_std`, the population standard deviation);
* predictive entropy :math:`H[\bar p_n] = -\sum_c \bar p_{n,c} \log
  \bar p_{n,c}` (`predictive_entropy`): all the uncertainty, the
  object's ambiguity and the model's doubt, from 0 to :math:`\log C`;
* expected entropy :math:`E[H]_n = \frac1S \sum_s H[p_{s,n}]`
  (`expected_entropy`): the ambiguity each sample sees on its own;
* mutual information :math:`I_n = H[\bar p_n] - E[H]_n`
  (`mutual_information`): the disagreement between samples, the model's
  own doubt (epistemic uncertainty), from 0 (all samples agree) to
  :math:`\log C`;
* class quality :math:`q_n = \frac1S \#\{s : \arg\max_c p_{s,n,c} =
  \arg\max_c \bar p_{n,c}\}` (`class_quality`): the fraction of samples
  whose class is the class of the mean, as the ensemble agreement that
  PHANGS-HST releases with its machine classes; 1 when all agree.

The OOD score is the energy of Liu et al. (2020) of logits :math:`f`,
:math:`E(f) = -T \log \sum_c \exp(f_c / T)` (`energy_score`).  **Higher
means more unusual** (further from the training data): the network gives
in-distribution inputs large logits, hence a low (very negative) energy.
The flag `~starcnet.CutoutFlag.OUT_OF_DISTRIBUTION` is set where the
score is above the threshold stored with the model (`fit_ood_threshold`).

A source whose samples are not all finite (NaN rows of a network output
that was not finite) gets NaN in every quantity.

`review_priority` ranks sources for a person to look at: a number in
[0, 1] from the class probabilities (how ambiguous the class is, how
near the cluster / non-cluster boundary) and the source's flags (out of
distribution, repaired or missing inputs); see its formula.

References
----------
Liu, W., Wang, X., Owens, J. D. & Li, Y. 2020, "Energy-based
Out-of-distribution Detection", NeurIPS 33, arXiv:2010.03759.
"""

import numpy as np

__all__ = ['mean_proba', 'proba_std', 'entropy', 'predictive_entropy',
           'expected_entropy', 'mutual_information', 'class_quality',
           'uncertainty_summary', 'energy_score', 'fit_ood_threshold',
           'ood_flags', 'review_priority', 'REVIEW_FLAG_WEIGHTS']


def _samples(samples):
    """``samples`` as float64 ``(S, N, C)``, and which sources are finite."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 3 or samples.shape[0] < 1 or samples.shape[2] < 2:
        msg = ('samples must have shape (S, N, C): S >= 1 samples of the '
               f'probabilities of N sources over C >= 2 classes, got {samples.shape}')
        raise ValueError(msg)
    finite = np.isfinite(samples).all(axis=(0, 2))
    return samples, finite


def _nan_rows(values, finite):
    if not finite.all():
        values = np.array(values, dtype=np.float64)
        values[~finite] = np.nan
    return values


def entropy(proba):
    r"""
    Entropy :math:`-\sum_c p_c \log p_c` (nats) along the last axis, with
    :math:`0 \log 0 = 0`.

    Parameters
    ----------
    proba : array-like
        Probabilities, classes along the last axis.

    Returns
    -------
    entropy : `~numpy.ndarray`
        float64, the shape of ``proba`` without its last axis.

    Examples
    --------
    >>> from starcnet.models.uncertainty import entropy
    >>> float(entropy([0.5, 0.5]))  # log 2
    0.6931471805599453
    >>> float(entropy([1.0, 0.0]))
    0.0
    """
    proba = np.asarray(proba, dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        terms = np.where(proba > 0, proba * np.log(np.where(proba > 0, proba, 1.0)), 0.0)
    terms = np.where(np.isnan(proba), np.nan, terms)
    return 0.0 - terms.sum(axis=-1)     # 0.0 - x: no -0.0 for certain rows


def mean_proba(samples):
    r"""
    The mean probabilities :math:`\bar p_{n,c}` over the samples.

    Parameters
    ----------
    samples : array-like
        ``(S, N, C)`` sampled probabilities.

    Returns
    -------
    mean : `~numpy.ndarray`
        float64 ``(N, C)``; rows sum to 1 (NaN for sources whose samples
        are not finite).
    """
    samples, finite = _samples(samples)
    return _nan_rows(samples.mean(axis=0), finite)


def proba_std(samples):
    r"""
    The standard deviation :math:`\sigma_{n,c}` of the probabilities over
    the samples (population form, divided by ``S``; 0 for one sample).

    Returns
    -------
    std : `~numpy.ndarray`
        float64 ``(N, C)``.
    """
    samples, finite = _samples(samples)
    return _nan_rows(samples.std(axis=0), finite)


def predictive_entropy(samples):
    r"""
    The entropy of the mean probabilities, :math:`H[\bar p_n]` (nats).

    Returns
    -------
    entropy : `~numpy.ndarray`
        float64 ``(N,)``, from 0 to :math:`\log C`.
    """
    return entropy(mean_proba(samples))


def expected_entropy(samples):
    r"""
    The mean over the samples of their entropies, :math:`E[H]_n` (nats).

    Returns
    -------
    entropy : `~numpy.ndarray`
        float64 ``(N,)``.
    """
    samples, finite = _samples(samples)
    return _nan_rows(entropy(samples).mean(axis=0), finite)


def mutual_information(samples):
    r"""
    The mutual information between the class and the sample,
    :math:`I_n = H[\bar p_n] - E[H]_n` (nats): how much the samples
    disagree, the model's own doubt.

    It is 0 when all samples are equal and :math:`\log C` at most (e.g.
    two samples that are opposite one-hot vectors of two classes give
    :math:`\log 2`).  Rounding below 0 is clipped to 0.

    Returns
    -------
    mi : `~numpy.ndarray`
        float64 ``(N,)``.

    Examples
    --------
    >>> import numpy as np
    >>> from starcnet.models.uncertainty import mutual_information
    >>> opposite = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])   # (S=2, N=1, C=2)
    >>> mutual_information(opposite)  # log 2
    array([0.69314718])
    """
    samples, finite = _samples(samples)
    mi = entropy(samples.mean(axis=0)) - entropy(samples).mean(axis=0)
    return _nan_rows(np.maximum(mi, 0.0), finite)


def class_quality(samples):
    r"""
    The fraction of samples whose most probable class is that of the mean
    probabilities, :math:`q_n` (the PHANGS-HST ensemble agreement).

    Returns
    -------
    quality : `~numpy.ndarray`
        float64 ``(N,)``, in :math:`[1/S, 1]` (the class of the mean is
        usually one of the samples' classes; it can be none of them, then
        0); 1 when every sample gives the same class.
    """
    samples, finite = _samples(samples)
    with np.errstate(invalid='ignore'):
        mean = np.where(finite[None, :, None], samples, 0.0)
        classes = np.argmax(mean.mean(axis=0), axis=-1)
        agree = np.argmax(mean, axis=-1) == classes[None, :]
    return _nan_rows(agree.mean(axis=0), finite)


def uncertainty_summary(samples):
    """
    Every per-source quantity of this module at once.

    Parameters
    ----------
    samples : array-like
        ``(S, N, C)`` sampled probabilities.

    Returns
    -------
    summary : dict of `~numpy.ndarray`
        ``'mean'`` and ``'std'`` ``(N, C)``; ``'entropy'`` (predictive,
        nats), ``'expected_entropy'``, ``'mutual_information'`` (nats)
        and ``'class_quality'`` ``(N,)``; float64.
    """
    samples, finite = _samples(samples)
    mean = samples.mean(axis=0)
    h_mean = entropy(mean)
    h_expected = entropy(samples).mean(axis=0)
    summary = {
        'mean': mean,
        'std': samples.std(axis=0),
        'entropy': h_mean,
        'expected_entropy': h_expected,
        'mutual_information': np.maximum(h_mean - h_expected, 0.0),
    }
    summary = {key: _nan_rows(value, finite) for key, value in summary.items()}
    summary['class_quality'] = class_quality(samples)
    return summary


def energy_score(logits, temperature=1.0):
    r"""
    The energy score :math:`E(f) = -T \log \sum_c \exp(f_c / T)` of
    logits (Liu et al. 2020): higher means more out of distribution.

    Parameters
    ----------
    logits : array-like
        ``(N, C)`` logits; the classifier uses the calibrated logits of
        `~starcnet.models.Predictor.logits` (network output divided by
        the model's temperature) with ``temperature=1``.
    temperature : float, optional
        :math:`T` of the formula (> 0).

    Returns
    -------
    score : `~numpy.ndarray`
        float64 ``(N,)``; NaN where a row is not finite.

    Examples
    --------
    >>> from starcnet.models.uncertainty import energy_score
    >>> [round(float(e), 4) for e in energy_score([[0.0, 0.0], [10.0, 0.0]])]
    [-0.6931, -10.0]
    """
    from .inference import check_temperature

    temperature = check_temperature(temperature)
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] < 2:
        msg = f'logits must have shape (N, C) with C >= 2, got {logits.shape}'
        raise ValueError(msg)
    finite = np.isfinite(logits).all(axis=1)
    scaled = np.where(finite[:, None], logits, 0.0) / temperature
    top = scaled.max(axis=1)
    lse = top + np.log(np.exp(scaled - top[:, None]).sum(axis=1))
    return _nan_rows(-temperature * lse, finite)


def _logits_of(predictor):
    """The ``logits`` method of a Predictor or of a StarClusterClassifier."""
    inner = getattr(predictor, 'predictor', predictor)
    if not callable(getattr(inner, 'logits', None)):
        msg = ('fit_ood_threshold needs a starcnet.models.Predictor or a '
               f'StarClusterClassifier, got {type(predictor).__name__}')
        raise TypeError(msg)
    return inner.logits


def fit_ood_threshold(predictor, cutouts, missing=None, *, quantile=0.99,
                      fitted_on=''):
    """
    The OOD threshold of a model: a quantile of the energy scores of
    in-distribution cutouts.

    With the default ``quantile=0.99``, 1% of cutouts like ``cutouts``
    are flagged `~starcnet.CutoutFlag.OUT_OF_DISTRIBUTION` (the false
    alarm rate on in-distribution data).  Fit it on validation cutouts
    the model was not trained on.

    Parameters
    ----------
    predictor : `~starcnet.models.Predictor` or `~starcnet.StarClusterClassifier`
        The model (its calibrated logits are scored, as the classifier
        scores them).
    cutouts : array-like
        ``(N, n_bands, 32, 32)`` in-distribution cutouts in e-/s.
    missing : array-like of bool, optional
        ``(N, n_bands)`` bands without data, as in
        `~starcnet.models.Predictor.logits`.
    quantile : float, optional
        In (0, 1).
    fitted_on : str, optional
        What the cutouts were, recorded with the threshold.

    Returns
    -------
    ood : dict
        ``{'kind': 'energy', 'threshold': float, 'quantile': float,
        'fitted_on': str, 'n_cutouts': int}``, the ``ood`` entry of a
        model's metadata (`~starcnet.models.ModelInfo`); pass it as
        ``metadata={'ood': ood, ...}`` to `~starcnet.models.save_model`
        or ``dataclasses.replace(info, ood=ood)``.

    Raises
    ------
    ValueError
        If ``quantile`` is not in (0, 1) or no cutout has a finite score.
    """
    from .schema import check_ood

    if (isinstance(quantile, bool) or not isinstance(quantile, (int, float, np.number))
            or not 0 < quantile < 1):
        msg = f'quantile must be a number in (0, 1), got {quantile!r}'
        raise ValueError(msg)
    scores = energy_score(_logits_of(predictor)(cutouts, missing))
    scores = scores[np.isfinite(scores)]
    if not scores.size:
        msg = 'fit_ood_threshold needs cutouts with finite network output; none had'
        raise ValueError(msg)
    return check_ood(_ood_entry(scores, quantile, fitted_on), 'fit_ood_threshold')


def _ood_entry(scores, quantile, fitted_on):
    """The metadata entry of the ``quantile`` of finite energy ``scores``."""
    return {'kind': 'energy',
            'threshold': float(np.quantile(np.asarray(scores, np.float64), quantile)),
            'quantile': float(quantile), 'fitted_on': str(fitted_on),
            'n_cutouts': int(np.size(scores))}


def ood_flags(scores, ood):
    """
    Where scores pass a model's OOD threshold (``score > threshold``).

    Parameters
    ----------
    scores : array-like
        `energy_score` values.
    ood : dict
        The model's ``ood`` entry (`fit_ood_threshold`).

    Returns
    -------
    flags : `~numpy.ndarray`
        bool, False where a score is NaN.
    """
    with np.errstate(invalid='ignore'):
        return np.asarray(scores, dtype=np.float64) > float(ood['threshold'])


def _review_flag_weights():
    from ..cutouts import CutoutFlag

    return {CutoutFlag.OUT_OF_DISTRIBUTION: 0.5,
            CutoutFlag.MISSING_BAND: 0.25, CutoutFlag.EDGE: 0.25,
            CutoutFlag.NONFINITE: 0.25, CutoutFlag.MASKED: 0.25}


#: The weight :math:`w_f` of each `~starcnet.CutoutFlag` in `review_priority`
#: (flags not listed weigh 0): a convention, not a measured figure.
REVIEW_FLAG_WEIGHTS = _review_flag_weights()


def review_priority(proba, flags=None, *, cluster_classes=(0, 1)):
    r"""
    How much a source calls for a look by eye: a number in [0, 1],
    higher first.

    With :math:`p_c` the ``C`` class probabilities of a source (the
    classifier's ``prob_class1..4``: with Monte Carlo dropout the sample
    means, whose entropy includes the samples' disagreement) and
    :math:`p_\mathrm{cl} = p_1 + p_2` the cluster probability:

    .. math::

       u &= H(p) / \log C = -\textstyle\sum_c p_c \log p_c / \log C
            \quad\text{(ambiguity of the class, 0 to 1)}, \\
       b &= 1 - |2 p_\mathrm{cl} - 1|
            \quad\text{(nearness to the cluster / non-cluster boundary, 0 to 1)}, \\
       a &= (u + b) / 2, \\
       \mathrm{review\_priority} &= 1 - (1 - a) \textstyle\prod_{f \in \mathrm{flags}}
            (1 - w_f),

    with the flag weights :math:`w_f` of `REVIEW_FLAG_WEIGHTS`:
    0.5 for ``OUT_OF_DISTRIBUTION``, 0.25 for each of ``MISSING_BAND``,
    ``EDGE``, ``NONFINITE`` and ``MASKED`` (a class from a repaired or
    incomplete cutout), 0 for the others.  Read it as the chance that at
    least one reason calls for a look: without flags it is :math:`a`; a
    source flagged out of distribution is at least 0.5, however sure the
    network is (its confidence is what cannot be trusted there).

    A source with :math:`p = (0.49, 0, 0, 0.51)` (half cluster, half not)
    has :math:`a = 0.74`; one with :math:`p = (0.97, 0.01, 0.01, 0.01)`
    has :math:`a = 0.08` (:math:`u = 0.12`, :math:`b = 0.04`).

    Parameters
    ----------
    proba : array-like
        ``(N, C)`` class probabilities (rows sum to 1).
    flags : array-like of int, optional
        ``(N,)`` `~starcnet.CutoutFlag` bits (the ``starcnet_flags``
        column); default none set.
    cluster_classes : sequence of int, optional
        The columns of ``proba`` that are clusters (0-based; default the
        LEGUS classes 1 and 2).

    Returns
    -------
    priority : `~numpy.ndarray`
        float64 ``(N,)`` in [0, 1]; NaN where a row of ``proba`` is not
        finite.

    Examples
    --------
    >>> from starcnet.models.uncertainty import review_priority
    >>> review_priority([[0.49, 0, 0, 0.51], [0.97, 0.01, 0.01, 0.01]]).round(3)
    array([0.74, 0.08])
    >>> from starcnet import CutoutFlag
    >>> review_priority([[0.97, 0.01, 0.01, 0.01]],
    ...                 [CutoutFlag.OUT_OF_DISTRIBUTION]).round(3)
    array([0.54])
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2:
        msg = ('proba must have shape (N, C): the probabilities of N sources over '
               f'C >= 2 classes, got {proba.shape}')
        raise ValueError(msg)
    n, n_classes = proba.shape
    columns = np.asarray(cluster_classes, dtype=np.int64).reshape(-1)
    if (not columns.size or columns.min() < 0 or columns.max() >= n_classes
            or np.unique(columns).size != columns.size):
        msg = (f'cluster_classes must be distinct columns of proba (0 to {n_classes - 1}), '
               f'got {list(cluster_classes)!r}')
        raise ValueError(msg)
    finite = np.isfinite(proba).all(axis=1)
    clean = np.where(finite[:, None], np.clip(proba, 0.0, 1.0), 1.0 / n_classes)
    u = np.clip(entropy(clean) / np.log(n_classes), 0.0, 1.0)
    b = np.clip(1.0 - np.abs(2.0 * clean[:, columns].sum(axis=1) - 1.0), 0.0, 1.0)
    keep = 1.0 - (u + b) / 2.0
    if flags is not None:
        flags = np.asarray(flags)
        if flags.shape != (n,) or flags.dtype.kind not in 'iu':
            msg = (f'flags must be {n} integer CutoutFlag values (the starcnet_flags '
                   f'column), got shape {flags.shape} and dtype {flags.dtype}')
            raise ValueError(msg)
        flags = flags.astype(np.int64)
        for flag, weight in REVIEW_FLAG_WEIGHTS.items():
            keep = np.where(flags & int(flag), keep * (1.0 - weight), keep)
    return _nan_rows(1.0 - keep, finite)
