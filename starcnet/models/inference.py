# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The one inference path: a network, its input normalisation and
temperature, on a device, in a precision, in batches.

`Predictor` is used by `~starcnet.StarClusterClassifier`, by the
validation of `starcnet.training.fit` and by
`starcnet.reproduce.published_logits`.  It normalises on the device
(`~starcnet.normalization.Normalization` on torch tensors), runs the
network under `torch.autocast` when asked, in channels-last memory
format, optionally through `torch.compile`, copies inputs through
pinned memory and asynchronously on CUDA, and caps CPU batches so that
their activations stay within glibc's mmap threshold.  Nothing here
depends on astropy.
"""


import numpy as np

from ..normalization import Normalization

__all__ = ['Predictor', 'PRECISIONS', 'CPU_NETWORK_BATCH', 'CPU_ACTIVATION_BYTES']

#: Numerical precisions of the network: the float32 reference, and
#: autocast to bfloat16 or float16 (faster on GPUs; check the agreement).
PRECISIONS = ('float32', 'bfloat16', 'float16')

#: Cutouts per network call on a CPU: at most 64, and at most what keeps
#: one activation map of a batch within ``CPU_ACTIVATION_BYTES`` (32 for
#: the published-size network), below glibc's largest mmap threshold
#: (see `starcnet.utils.large_cpu_buffers`).
CPU_NETWORK_BATCH = 64
CPU_ACTIVATION_BYTES = 16 * 1024 ** 2


def resolve_device(device):
    """
    A `torch.device` from ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.

    Raises
    ------
    ValueError
        For any other name.
    RuntimeError
        If CUDA is asked for and torch sees no GPU.
    """
    import torch

    device = str(device)
    if device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        resolved = torch.device(device)
    except RuntimeError:
        msg = f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        raise ValueError(msg) from None
    if resolved.type == 'cuda' and not torch.cuda.is_available():
        msg = (f'device {device!r} was asked for, but torch sees no CUDA GPU '
               "here; use device='cpu' or 'auto'")
        raise RuntimeError(msg)
    if resolved.type not in ('cpu', 'cuda'):
        msg = f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        raise ValueError(msg)
    return resolved


def _asynchronous(device):
    """
    Whether the device runs behind the host (CUDA): inputs are copied
    asynchronously and outputs copied back once, at the end.
    """
    return device.type == 'cuda'


def _to_device(tensor, device):
    """
    A batch of cutouts on the device: on CUDA through pinned memory and
    an asynchronous copy, so the GPU works on this batch while the CPU
    prepares the next one.
    """
    if device.type == 'cuda':
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def _check_precision(precision):
    precision = 'float32' if precision is None else str(precision)
    if precision not in PRECISIONS:
        msg = f'precision must be one of {", ".join(PRECISIONS)}, got {precision!r}'
        raise ValueError(msg)
    return precision


def _autocast(device, precision):
    """
    The autocast context of a device and precision (a no-op for float32).
    """
    import torch

    dtype = {'bfloat16': torch.bfloat16, 'float16': torch.float16}.get(precision)
    return torch.autocast(device_type=device.type, dtype=dtype,
                          enabled=dtype is not None)


def _network_batch_size(device, batch_size, width, free_bytes=None):
    """
    Cutouts per network call: at most `CPU_NETWORK_BATCH` on a CPU (32
    for the published-size network, see `CPU_ACTIVATION_BYTES`); on
    a GPU as many as a quarter of its free memory holds (at least
    ``batch_size``, at most 8192).
    """
    size = 32
    if device.type != 'cuda':
        per_cutout = width * size ** 2 * 4
        return max(1, min(batch_size, CPU_NETWORK_BATCH,
                          CPU_ACTIVATION_BYTES // per_cutout))
    if free_bytes is None:
        import torch

        free_bytes = torch.cuda.mem_get_info(device)[0]
    # float32 activations alive at once, per cutout: about three maps of
    # width x 32 x 32 in each of the three branches.
    per_cutout = 9 * width * size ** 2 * 4
    fits = int(free_bytes // 4 // per_cutout) // 256 * 256
    return int(max(batch_size, min(8192, fits)))


def softmax(logits):
    """
    Softmax of float32 logits (numpy) over the last axis: ``(N,
    n_classes)``, or with more leading axes, e.g. the ``(n_members, N,
    n_classes)`` of `Predictor.member_logits`.

    A row with a NaN or infinite logit gives a row of NaN (see
    ``finite_rows``); finite rows give finite probabilities summing to 1,
    however large the logits.
    """
    logits = np.asarray(logits, dtype=np.float32)
    finite = np.isfinite(logits).all(axis=-1)
    with np.errstate(over='ignore', invalid='ignore'):
        # finite logits more than 3.4e38 apart give -inf here, exp 0: right
        shifted = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(shifted)
        proba = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
    if not finite.all():
        proba[~finite] = np.nan
    return proba


def finite_rows(logits):
    """
    Which rows of ``(N, n_classes)`` logits are finite throughout.

    `Predictor.logits` sets every logit of a row to NaN when the network
    output of that cutout is not finite (NaN or infinite weights, or an
    input so extreme that the network overflows); such a row has no
    class.  The classifier masks it and flags it
    `~starcnet.cutouts.CutoutFlag.NONFINITE_OUTPUT`.

    Returns
    -------
    finite : `~numpy.ndarray`
        bool ``(N,)``.
    """
    return np.isfinite(np.asarray(logits)).all(axis=1)


def check_temperature(temperature, what='temperature'):
    """
    A model's temperature as a float: a finite number > 0 (not a bool,
    a string or `None`).  ``what`` names it in the error message.
    """
    if (isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number))
            or not np.isfinite(temperature) or temperature <= 0):
        msg = f'{what} must be a finite number > 0, got {temperature!r}'
        raise ValueError(msg)
    return float(temperature)


def _combine(member_logits):
    """
    ``log(mean(softmax(member_logits), axis=0))`` of a torch tensor
    ``(n_members, N, n_classes)``: logits of the members' mean probability.
    """
    import torch

    n = member_logits.shape[0]
    return torch.logsumexp(torch.log_softmax(member_logits, dim=-1), dim=0) - float(np.log(n))


def _sampling_network(network, generator):
    """
    A copy of ``network`` for Monte Carlo dropout: every ``nn.Dropout``
    with ``p > 0`` replaced by one that always drops, drawing its masks
    from ``generator``, every other layer as in ``network`` (evaluation
    mode).  The caller's network and torch's global random state are
    never touched.
    """
    import copy

    import torch
    from torch import nn

    class SampledDropout(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = float(p)

        def forward(self, x):
            keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=generator)
            return x * keep / (1.0 - self.p)

    clone = copy.deepcopy(network).eval()
    for parent in list(clone.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout and child.p > 0:
                setattr(parent, name, SampledDropout(child.p))
    return clone


class Predictor:
    """
    Calibrated logits of a StarcNet network for cutouts in e-/s.

    Parameters
    ----------
    network : `torch.nn.Module`
        The network (a `~starcnet.models.StarcNet`, in eval mode); it is
        moved to ``device`` and to channels-last memory format in place.
    normalization : `~starcnet.normalization.Normalization` or dict
        Its input normalisation.
    temperature : float, optional
        Logits are divided by it (temperature scaling, see
        `starcnet.training.fit_temperature`).  Default 1.
    device : str or `torch.device`, optional
        ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
    precision : {'float32', 'bfloat16', 'float16'}, optional
        Arithmetic of the network (`torch.autocast` for the last two).
    compile : bool, optional
        Run the network through `torch.compile` (fixed batch shape: the
        last batch is padded).
    batch_size : int, optional
        Cutouts per network call, capped on a CPU (`CPU_NETWORK_BATCH`,
        `CPU_ACTIVATION_BYTES`) and raised on a GPU to what a quarter of
        its free memory holds.

    See Also
    --------
    Predictor.from_model
    """

    def __init__(self, network, normalization, *, temperature=1.0, device='cpu',
                 precision='float32', compile=False, batch_size=256):
        import torch

        self.device = (device if isinstance(device, torch.device)
                       else resolve_device(device))
        self.precision = _check_precision(precision)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            msg = f'batch_size must be a positive integer, got {batch_size!r}'
            raise ValueError(msg)
        self.normalization = Normalization.from_metadata(normalization)
        config = dict(getattr(network, 'config', None) or {})
        self.n_bands = int(config.get('n_bands', 5))
        self.size = int(config.get('size', 32))
        self.width = int(config.get('width', 128))
        self.normalization.check(self.n_bands)
        self.temperature = check_temperature(1.0 if temperature is None else temperature)
        # channels_last (NHWC) lets oneDNN / cuDNN run the convolutions
        # without reordering every activation.
        self.network = network.to(self.device).to(memory_format=torch.channels_last)
        self.compile = bool(compile)
        self._compiled = None

    @classmethod
    def from_model(cls, model, **kwargs):
        """
        A predictor of a registered model or weights file.

        Parameters
        ----------
        model : str or os.PathLike
            Registry name or path (see `~starcnet.models.load_model`).
        **kwargs
            ``device``, ``precision``, ``compile``, ``batch_size``;
            ``temperature`` overrides the model's.

        Returns
        -------
        predictor : `Predictor`
            With ``info``, the model's `~starcnet.models.ModelInfo`.
        """
        from .registry import load_model

        device = kwargs.pop('device', 'cpu')
        import torch
        device = device if isinstance(device, torch.device) else resolve_device(device)
        network, info = load_model(model, device=device)
        kwargs.setdefault('temperature', info.temperature)
        predictor = cls(network, info.normalization, device=device, **kwargs)
        predictor.info = info
        return predictor

    def __repr__(self):
        return (f'<{self.__class__.__name__}(kind={self.normalization.kind!r}, '
                f"temperature={self.temperature:g}, device='{self.device}', "
                f'precision={self.precision!r}, compile={self.compile}, '
                f'batch_size={self.batch_size})>')

    def network_batch_size(self):
        """
        Cutouts per network call on this device.
        """
        return _network_batch_size(self.device, self.batch_size, self.width)

    def input_batch_size(self, batch_size=None):
        """
        How many cutouts a caller should hand over at once: ``batch_size``
        (default: `batch_size`) on a CPU; on a GPU, at least one device
        batch.
        """
        batch_size = self.batch_size if batch_size is None else int(batch_size)
        if _asynchronous(self.device):
            return _network_batch_size(self.device, batch_size, self.width)
        return batch_size

    def _network(self):
        if not self.compile:
            return self.network
        if self._compiled is None:
            import torch

            self._compiled = torch.compile(self.network, dynamic=False,
                                           options={'freezing': True})
        return self._compiled

    def _check_inputs(self, cutouts, missing):
        """The cutouts as float32 ``(N, n_bands, size, size)`` and the mask (or None)."""
        cutouts = np.asarray(cutouts, dtype=np.float32)
        expected = (self.n_bands, self.size, self.size)
        if cutouts.ndim != 4 or cutouts.shape[1:] != expected:
            msg = (f'cutouts must have shape (N, {", ".join(map(str, expected))}),'
                   f' got {cutouts.shape}')
            raise ValueError(msg)
        if missing is not None:
            missing = np.asarray(missing, dtype=bool)
            if missing.shape != cutouts.shape[:2]:
                msg = (f'missing must have shape (N, n_bands) = {cutouts.shape[:2]}, '
                       f'got {missing.shape}')
                raise ValueError(msg)
            if not missing.any():
                missing = None
        if not cutouts.flags.writeable:   # torch.from_numpy wants writeable memory
            cutouts = cutouts.copy()
        return cutouts, missing

    def _n_classes(self):
        return int(getattr(self.network, 'config', {}).get('n_classes', 4))

    def _batches(self, cutouts, missing, step, pad):
        """
        ``(start, n_batch, tensor)`` per network batch: the cutouts of
        the batch on the device, normalised, channels-last; padded with
        zeros to ``step`` cutouts when ``pad``.
        """
        import torch

        asynchronous = _asynchronous(self.device)
        for start in range(0, len(cutouts), step):
            tensor = torch.from_numpy(cutouts[start:start + step])
            flags = (None if missing is None
                     else torch.from_numpy(missing[start:start + step]))
            n_batch = len(tensor)
            if pad and n_batch < step:
                # one batch shape, one compilation; cutouts are
                # classified independently, so padding changes nothing
                tensor = torch.cat([tensor, tensor.new_zeros(
                    (step - n_batch, *tensor.shape[1:]))])
                if flags is not None:
                    flags = torch.cat([flags, flags.new_zeros(
                        (step - n_batch, *flags.shape[1:]))])
            tensor = _to_device(tensor, self.device)
            if flags is not None:
                flags = flags.to(self.device, non_blocking=asynchronous)
            tensor = self.normalization.apply(tensor, missing=flags)
            yield start, n_batch, tensor.contiguous(memory_format=torch.channels_last)

    def _calibrated(self, logits, n_batch):
        logits = logits[..., :n_batch, :].float()
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return logits

    def n_features(self):
        """
        Length of the network's penultimate feature vectors (see
        `logits` with ``return_features=True``).

        Raises
        ------
        TypeError
            If the network has no ``features`` (not a
            `~starcnet.models.StarcNet`).
        """
        n = getattr(self.network, 'n_features', None)
        if not callable(getattr(self.network, 'features', None)) or n is None:
            msg = (f'the network ({type(self.network).__name__}) gives no penultimate '
                   'features; return_features needs a starcnet.models.StarcNet')
            raise TypeError(msg)
        return int(n)

    def logits(self, cutouts, missing=None, *, return_features=False):
        """
        Calibrated logits (network output / `temperature`) for cutouts.

        Parameters
        ----------
        cutouts : array-like
            ``(N, n_bands, 32, 32)`` float cutouts in e-/s, not
            normalised.
        missing : array-like of bool, optional
            ``(N, n_bands)``: bands without data, whose normalised input
            is set to 0 (see `starcnet.cutouts.extract_cutouts`).
        return_features : bool, optional
            Also return the penultimate features of the same network pass
            (the input of the network's last linear layer,
            `~starcnet.models.StarcNet.features`), batch by batch as the
            logits: no second pass.

        Returns
        -------
        logits : `~numpy.ndarray`
            float32 ``(N, n_classes)``.  For an ensemble
            (`~starcnet.models.StarcNetEnsemble`), the logarithm of the
            mean of the members' calibrated probabilities (see
            `member_logits`).  ``softmax(logits)`` gives the
            probabilities; ``logits * temperature`` the raw output.  The
            output is checked here, once for every caller: a row with
            any logit that is not finite (NaN or infinite weights, an
            input so extreme that the network overflows, a float16
            overflow) is NaN throughout and has no class (see
            ``finite_rows``).
        features : `~numpy.ndarray`
            Only with ``return_features``: float32 ``(N, n_features)``
            (`n_features`), NaN in the rows whose logits are NaN.  Not
            divided by the temperature.
        """
        return self._run(cutouts, missing, return_features=return_features, members=False)

    def member_logits(self, cutouts, missing=None, *, return_features=False):
        """
        Calibrated logits of every member of an ensemble
        (`~starcnet.models.StarcNetEnsemble`), from one pass.

        Parameters
        ----------
        cutouts, missing, return_features
            As in `logits`.

        Returns
        -------
        logits : `~numpy.ndarray`
            float32 ``(n_members, N, n_classes)``: each member's output
            divided by `temperature`.  A source is NaN in every member
            where any member's output was not finite.  `combine_members`
            of them is `logits`.  A network that is not an ensemble is
            one member.
        features : `~numpy.ndarray`
            Only with ``return_features``: as in `logits` (the members'
            features concatenated).
        """
        return self._run(cutouts, missing, return_features=return_features, members=True)

    @staticmethod
    def combine_members(member_logits):
        """
        Ensemble logits from member logits ``(n_members, N, n_classes)``:
        ``log(mean over members of softmax(member logits))``, whose
        softmax is the members' mean probability.  NaN rows stay NaN.
        """
        import torch

        z = torch.from_numpy(np.array(member_logits, dtype=np.float32))
        return _combine(z).numpy()

    @property
    def is_ensemble(self):
        """Whether the network is a deep ensemble (its config has ``members``)."""
        return 'members' in getattr(self.network, 'config', {})

    @property
    def n_members(self):
        """Members of the network: its ``config['members']``, 1 for a single network."""
        return int(getattr(self.network, 'config', {}).get('members', 1))

    def _run(self, cutouts, missing, *, return_features, members):
        import torch

        cutouts, missing = self._check_inputs(cutouts, missing)
        ensemble = self.is_ensemble
        shape = (len(cutouts), self._n_classes())
        out = np.empty(((self.n_members,) + shape) if members else shape, dtype=np.float32)
        feats = (np.empty((len(cutouts), self.n_features()), dtype=np.float32)
                 if return_features else None)
        step = self.network_batch_size()
        asynchronous = _asynchronous(self.device)
        network = self._network()
        pending = []
        with torch.inference_mode(), _autocast(self.device, self.precision):
            for start, n_batch, tensor in self._batches(cutouts, missing, step,
                                                        pad=self.compile):
                if return_features:
                    raw, features = network(tensor, return_features=True)
                    features = features[:n_batch].float()
                else:
                    raw, features = network(tensor), None
                logits = self._calibrated(raw, n_batch)
                if not ensemble and members:
                    logits = logits[None]
                elif ensemble and not members:
                    logits = _combine(logits)
                if asynchronous:
                    # left on the device: copying back would wait for it
                    pending.append((start, logits, features))
                else:
                    out[..., start:start + n_batch, :] = logits.numpy()
                    if return_features:
                        feats[start:start + n_batch] = features.numpy()
            for start, logits, features in pending:
                n_batch = logits.shape[-2]
                out[..., start:start + n_batch, :] = logits.cpu().numpy()
                if return_features:
                    feats[start:start + n_batch] = features.cpu().numpy()
        # the one output check of the inference path
        if members:
            bad = ~np.isfinite(out).all(axis=(0, 2))
            out[:, bad] = np.nan
        else:
            bad = ~finite_rows(out)
            out[bad] = np.nan
        if return_features:
            feats[bad | ~finite_rows(feats)] = np.nan
            return out, feats
        return out

    def dropout_layers(self):
        """
        The dropout layers of the network that drop something (``p > 0``).

        Returns
        -------
        layers : list of `torch.nn.Module`
            The ``torch.nn.Dropout`` (and ``Dropout1d/2d/3d``) modules with
            ``p > 0``; empty for a model trained or built with dropout 0.
        """
        from torch import nn

        return [module for module in self.network.modules()
                if isinstance(module, nn.modules.dropout._DropoutNd) and module.p > 0]

    def check_dropout(self):
        """
        A `ValueError` unless the network has a dropout layer with
        ``p > 0`` (what Monte Carlo dropout samples).
        """
        if not self.dropout_layers():
            msg = ('Monte Carlo dropout needs a network with dropout, but this '
                   'one has none with p > 0 (its config "dropout" is '
                   f'{getattr(self.network, "config", {}).get("dropout")!r}); use a '
                   'model trained with dropout, e.g. the bundled models or legus-2021')
            raise ValueError(msg)

    def sample_logits(self, cutouts, missing=None, *, n_samples=16, seed=0):
        """
        Calibrated logits of ``n_samples`` Monte Carlo dropout passes.

        For a deep ensemble, each pass runs every member with its own
        dropout masks and gives the logits of their mean probability (as
        `logits` does without dropout).

        Sampling runs on a copy of the network made for the call (as
        much memory again as the network, while it runs), in which every
        ``torch.nn.Dropout`` with ``p > 0`` always drops and every other
        layer (e.g. GroupNorm) is as in evaluation.  The predictor's own
        network is never switched, so calls from other threads, plain or
        sampling, are not affected.  Each batch of cutouts is run ``n_samples`` times, eagerly
        (not through `torch.compile`), under the predictor's precision.

        Parameters
        ----------
        cutouts, missing
            As in `logits`.
        n_samples : int, optional
            Passes per cutout (>= 1).  The cost is ``n_samples`` times
            that of `logits`.
        seed : int, optional
            Seed of the dropout masks, drawn from a `torch.Generator` of
            the call's own: torch's global random state is neither used
            nor changed.  One seed gives the same output again on the
            same device with the same batch size.

        Returns
        -------
        logits : `~numpy.ndarray`
            float32 ``(n_samples, N, n_classes)``; rows not finite are
            NaN, as in `logits`.

        Raises
        ------
        ValueError
            If the network has no dropout with ``p > 0`` (`check_dropout`),
            or ``n_samples`` is not a positive integer.
        """
        import torch

        if (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer))
                or n_samples < 1):
            msg = f'n_samples must be a positive integer, got {n_samples!r}'
            raise ValueError(msg)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            msg = f'seed must be an integer, got {seed!r}'
            raise TypeError(msg)
        n_samples = int(n_samples)
        self.check_dropout()
        cutouts, missing = self._check_inputs(cutouts, missing)
        out = np.empty((n_samples, len(cutouts), self._n_classes()), dtype=np.float32)
        step = self.network_batch_size()
        generator = torch.Generator(device=self.device)
        generator.manual_seed(int(seed))
        network = _sampling_network(self.network, generator)
        with torch.inference_mode(), _autocast(self.device, self.precision):
            for start, n_batch, tensor in self._batches(cutouts, missing, step, pad=False):
                passes = [self._calibrated(network(tensor), n_batch)
                          for _ in range(n_samples)]
                if self.is_ensemble:   # each pass: the members' mean, as in logits
                    passes = [_combine(z) for z in passes]
                batch = torch.stack(passes)
                out[:, start:start + n_batch] = batch.cpu().numpy()
        # a source is NaN in every sample where any pass was not finite
        out[:, ~np.isfinite(out).all(axis=(0, 2))] = np.nan
        return out

    def sample_proba(self, cutouts, missing=None, *, n_samples=16, seed=0):
        """
        Class probabilities of ``n_samples`` Monte Carlo dropout passes:
        the softmax of each pass of `sample_logits` (temperature applied
        as in `proba`).

        Returns
        -------
        proba : `~numpy.ndarray`
            float32 ``(n_samples, N, n_classes)``; summarise them with
            `starcnet.models.uncertainty` (mean, spread, entropy, mutual
            information, class quality).  A source is NaN in every
            sample where any pass was not finite.
        """
        logits = self.sample_logits(cutouts, missing, n_samples=n_samples, seed=seed)
        if not logits.size:
            return logits
        return softmax(logits)

    def proba(self, cutouts, missing=None):
        """
        Class probabilities: the softmax of `logits`.
        """
        return softmax(self.logits(cutouts, missing))
