# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The three-scale StarcNet convolutional network (Pérez et al. 2021).

The network sees three scales of the same 5-band 32x32 cutout: the
whole cutout, its central 20x20 pixels and its central 11x11 pixels,
the two crops upsampled (nearest neighbour) back to 32x32.  Each scale
goes through its own `StarcNetBranch`; the three feature vectors are
concatenated and mapped onto the four LEGUS classes.

Nothing here knows about astropy: inputs are float32 tensors of shape
``(N, n_bands, 32, 32)``, already normalised.
"""

import torch
from torch import nn

__all__ = ['StarcNet', 'StarcNetBranch', 'StarcNetEnsemble', 'SCALES', 'MAX_MEMBERS']

#: The three views of a 32x32 cutout, as (name, row/column slice): the
#: whole cutout, the central 20x20 and the central 11x11 pixels.
SCALES = (('full', slice(0, 32)),
          ('middle', slice(6, 26)),
          ('small', slice(11, 22)))

#: Number of convolution layers in a branch, and the one after which
#: the 2x2 max-pool sits (1-based).
N_CONV = 7
POOL_AFTER = 4

#: Fewest channels per GroupNorm group.
MIN_GROUP_SIZE = 4

#: Most members of a `StarcNetEnsemble`.
MAX_MEMBERS = 16


class StarcNetBranch(nn.Module):
    """
    One scale of StarcNet: seven 3x3 convolutions and a dense layer.

    Each convolution is followed by ``GroupNorm(groups, width)`` and a
    LeakyReLU (slope 0.01); a 2x2 max-pool follows the fourth
    convolution.  The feature map is flattened in (C, H, W) order into a
    ``Linear(width * (size // 2) ** 2, width)``, followed by GroupNorm,
    LeakyReLU and dropout.

    Parameters
    ----------
    n_bands : int
        Number of input channels (photometric bands).
    width : int
        Number of feature maps of every convolution and of the output
        vector (128 in the published network).
    size : int
        Side of the (square) input in pixels.
    groups : int
        Number of groups of every GroupNorm.
    dropout : float
        Dropout probability after the dense layer.
    """

    def __init__(self, n_bands=5, width=128, size=32, groups=8, dropout=0.5):
        super().__init__()
        channels = [n_bands] + [width] * N_CONV
        self.convs = nn.ModuleList(
            nn.Conv2d(channels[i], channels[i + 1], kernel_size=3, padding=1)
            for i in range(N_CONV))
        self.norms = nn.ModuleList(nn.GroupNorm(groups, width)
                                   for _ in range(N_CONV))
        self.activation = nn.LeakyReLU(0.01)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(width * (size // 2) ** 2, width)
        self.fc_norm = nn.GroupNorm(groups, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms), start=1):
            x = self.activation(norm(conv(x)))
            if i == POOL_AFTER:
                x = self.pool(x)
        x = torch.flatten(x, 1)
        return self.dropout(self.activation(self.fc_norm(self.fc(x))))


class StarcNet(nn.Module):
    """
    The three-scale StarcNet classifier.

    Parameters
    ----------
    width : int, optional
        Feature width of every branch; the published network has 128
        (15,265,156 parameters).  The bundled default model is narrower.
    n_bands : int, optional
        Number of photometric bands (channels) of the input cutouts.
    n_classes : int, optional
        Number of output classes.
    size : int, optional
        Side of the input cutouts in pixels (32 in the published model;
        the crops of `SCALES` assume 32).
    groups : int, optional
        Number of groups of every GroupNorm layer; each group needs at
        least `MIN_GROUP_SIZE` channels, because the GroupNorm after the
        dense layer normalises each group of a feature vector (two
        channels per group would keep only their sign).  Default: 8 (as
        published) or ``width // 4`` for narrow networks.
    dropout : float, optional
        Dropout probability after each branch's dense layer.

    Notes
    -----
    ``forward`` takes a float tensor of shape ``(N, n_bands, size,
    size)`` and returns raw logits of shape ``(N, n_classes)``; apply a
    softmax for probabilities.  `features` gives the penultimate feature
    vectors, the input of the final linear layer ``head``
    (``forward(x) == head(features(x))``), of length `n_features`.
    """

    def __init__(self, width=128, n_bands=5, n_classes=4, size=32, groups=None,
                 dropout=0.5):
        super().__init__()
        if groups is None:
            groups = max(1, min(8, width // MIN_GROUP_SIZE))
        if size != 32:
            msg = f'StarcNet is defined for 32x32 cutouts, got size={size}'
            raise ValueError(msg)
        if width % groups or width // groups < MIN_GROUP_SIZE:
            msg = (f'width ({width}) must be a multiple of the number of '
                   f'GroupNorm groups ({groups}) with at least '
                   f'{MIN_GROUP_SIZE} channels per group')
            raise ValueError(msg)
        self.config = {'width': width, 'n_bands': n_bands,
                       'n_classes': n_classes, 'size': size,
                       'groups': groups, 'dropout': dropout}
        self.branches = nn.ModuleDict(
            (name, StarcNetBranch(n_bands, width, size, groups, dropout))
            for name, _ in SCALES)
        self.upsample = nn.Upsample(size=(size, size), mode='nearest')
        self.head = nn.Linear(len(SCALES) * width, n_classes)

    @property
    def n_features(self):
        """Length of a penultimate feature vector: 3 branches x ``width``."""
        return self.head.in_features

    def features(self, x):
        """
        The penultimate features: the three branch outputs, concatenated.

        Parameters
        ----------
        x : `torch.Tensor`
            ``(N, n_bands, size, size)`` normalised cutouts.

        Returns
        -------
        features : `torch.Tensor`
            ``(N, n_features)``; ``head(features)`` are the logits.
        """
        features = []
        for name, crop in SCALES:
            view = x if crop == slice(0, 32) else self.upsample(x[:, :, crop, crop])
            features.append(self.branches[name](view))
        return torch.cat(features, dim=1)

    def forward(self, x, return_features=False):
        """
        Raw logits ``(N, n_classes)``; with ``return_features``, the tuple
        ``(logits, features)`` of one pass (`features`).
        """
        features = self.features(x)
        logits = self.head(features)
        return (logits, features) if return_features else logits


class StarcNetEnsemble(nn.Module):
    """
    A deep ensemble: several `StarcNet` networks of one configuration
    (trained from different seeds), run on the same input in one call.

    Parameters
    ----------
    members : int, optional
        Number of member networks (1 to `MAX_MEMBERS`).
    **kwargs
        The `StarcNet` arguments of every member (``width``, ...).

    Notes
    -----
    ``forward`` returns the raw logits of every member, shape
    ``(members, N, n_classes)``; the ensemble's class probabilities are
    the mean of the members' softmax probabilities, which
    `starcnet.models.Predictor` computes (after dividing every member's
    logits by the model's temperature).  `features` concatenates the
    members' penultimate features.  The members run one after the other
    on each batch: on a CPU that is as fast as one grouped network
    (measured for three width-16 members, see the uncertainty page of the
    documentation).
    """

    def __init__(self, members=3, **kwargs):
        super().__init__()
        if (isinstance(members, bool) or not isinstance(members, int)
                or not 1 <= members <= MAX_MEMBERS):
            msg = f'members must be an integer from 1 to {MAX_MEMBERS}, got {members!r}'
            raise ValueError(msg)
        self.members = nn.ModuleList(StarcNet(**kwargs) for _ in range(members))
        self.config = {**self.members[0].config, 'members': members}

    @classmethod
    def from_networks(cls, networks):
        """
        An ensemble holding copies of the weights of ``networks``, a
        sequence of `StarcNet` of the same configuration.
        """
        networks = list(networks)
        if not networks or not all(isinstance(n, StarcNet) for n in networks):
            msg = 'an ensemble needs one or more StarcNet networks'
            raise TypeError(msg)
        config = networks[0].config
        for k, network in enumerate(networks[1:], start=1):
            if network.config != config:
                msg = (f'every member of an ensemble needs the same configuration: '
                       f'member 0 has {config}, member {k} {network.config}')
                raise ValueError(msg)
        device = next(networks[0].parameters()).device
        with torch.device('meta'):
            ensemble = cls(members=len(networks), **config)
        for member, network in zip(ensemble.members, networks):
            member.load_state_dict({k: v.detach().clone() for k, v in
                                    network.state_dict().items()}, assign=True)
        return ensemble.to(device).eval()

    @property
    def n_members(self):
        """Number of member networks."""
        return len(self.members)

    @property
    def n_features(self):
        """Length of the concatenated penultimate features of the members."""
        return sum(member.n_features for member in self.members)

    def features(self, x):
        """
        The members' penultimate features, concatenated:
        ``(N, n_features)``.
        """
        return torch.cat([member.features(x) for member in self.members], dim=1)

    def forward(self, x, return_features=False):
        """
        Raw logits of every member, ``(members, N, n_classes)``; with
        ``return_features``, the tuple ``(logits, features)`` of one pass.
        """
        features = [member.features(x) for member in self.members]
        logits = torch.stack([member.head(f) for member, f in zip(self.members, features)])
        if return_features:
            return logits, torch.cat(features, dim=1)
        return logits
