"""The learned MGBP network (Figure 1), run through the same Algorithm-1 recursion as classic MGBP.

The network *is* the classic algorithm with its operators replaced (``../shared/DESIGN.md``):

=====================================  ==========================================================
role in Algorithm 1                    learned operator (latent space, 48 channels)
=====================================  ==========================================================
classic upscaler before each level     ``Upsample2x``: learnable depthwise 2× filter, bicubic init
``(u ∗ g) ↓ 2``                        ``Downscale``: strided conv 48→48, FilterBlock(48)
``u + (Y_{k-1} − d) ↑ 2 ∗ p``          ``u + Upscale([Y_{k-1}, d])``: FilterBlock(96), bias+ReLU,
                                       transposed conv 96→48
images ``Y_k``                         latent residuals ``R_k``; ``Synthesis`` turns them into
                                       pixels that are added to the classic upscale
=====================================  ==========================================================

Forward for N levels and input X::

    R0 = Analysis(X);  I0 = X + Synthesis(R0)
    for each level:  I = classic_up(I_prev);  d = Downscale(Analysis(I));  R = Upscale([R_prev, d])
                     R = BP^µ(R, R_0 … R_{k-1});  I = I + Synthesis(R)

Gradients flow through the engine's tape (:class:`mgbp_classic.nn.graph.Graph`): every module
application records its backward, and since the engine's backward *adds* into the shared parameter
gradients, a module used many times by the recursion simply sums its gradients. Every pass runs
with an engine context (:class:`mgbp_classic.nn.Engine`) that the caller may pass in (``engine=``)
and that the graph hands to every module.
"""
from dataclasses import dataclass, asdict

import numpy as np

from . import nn
from ._validate import ParamError, check_levels_mu
from .exceptions import ModelFileError
from .nn.graph import Graph, Sequential
from .nn.params import read_model_file
from .recursion import multigrid

__all__ = ["NetConfig", "MGBPNet", "multiscale_loss"]


# ----------------------------------------------------------------------------------------------
# The network
# ----------------------------------------------------------------------------------------------
@dataclass
class NetConfig:
    """Architecture of the MGBP network (DESIGN.md; the paper's Experiments section)."""

    channels: int = 3          # colour channels of the images
    features: int = 48         # latent channels of R_k
    growth: int = 16           # dense-block growth rate
    bottleneck: int = 64       # 1×1 bottleneck width inside a dense layer
    dense_layers: int = 3      # dense layers per FilterBlock (+ the 1×1 transition: "4-layer")
    seed: int = 0              # parameter initialisation

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        names = set(cls.__dataclass_fields__)
        unknown = set(d) - names
        if unknown:
            raise ParamError("config", f"unknown network config keys {sorted(unknown)}", subject="")
        return cls(**d)


#: What a model file may ask for: ``(NetConfig field, smallest, largest)``. A file
#: asking for more is refused before anything is allocated (the largest network allowed has about
#: 15 M parameters; the paper's has 0.26 M).
CONFIG_LIMITS = (("channels", 1, 4), ("features", 1, 256), ("growth", 1, 64), ("bottleneck", 1, 256),
                 ("dense_layers", 1, 8), ("seed", 0, 2 ** 63 - 1))


def _network_config(path, config):
    """The :class:`NetConfig` a model file's config describes, every key checked (ModelFileError
    naming the file and the key)."""
    network = config.get("network")
    if not isinstance(network, dict):
        raise ModelFileError(f"{path}: not an MGBP network file (config key 'network' must be a JSON object, "
                             f"got {type(network).__name__})")
    fields = NetConfig.__dataclass_fields__
    for key in network:
        if key not in fields:
            raise ModelFileError(f"{path}: unknown network config key {key!r} (known: {', '.join(fields)})")
    for key, low, high in CONFIG_LIMITS:
        value = network.get(key, fields[key].default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ModelFileError(f"{path}: network config key {key!r} must be an integer from {low} to {high}, "
                                 f"got {value!r}")
    return NetConfig(**network)


class MGBPNet:
    """The MGBP network of Figure 1 with parameters in one flat :class:`mgbp_classic.nn.ParamStore`.

    Parameters
    ----------
    config : NetConfig, optional
        Architecture; the default is the paper's (48 features, growth 16).
    dtype : {numpy.float32, numpy.float64}
        Parameter and activation type; float64 only for finite-difference gradient checks.

    Examples
    --------
    >>> net = MGBPNet()
    >>> x = np.random.rand(1, 3, 16, 16).astype(np.float32)
    >>> [o.shape for o in net.forward(x, levels=2, mu=2)]
    [(1, 3, 32, 32), (1, 3, 64, 64)]
    """

    def __init__(self, config=None, *, dtype=np.float32):
        self.config = config or NetConfig()
        self.dtype = np.dtype(dtype)
        c = self.config
        f, g, b, nl = c.features, c.growth, c.bottleneck, c.dense_layers
        store = nn.ParamStore(seed=c.seed, dtype=self.dtype)

        def block(name, ch):
            return nn.FilterBlock(store, name, c=ch, growth=g, bottleneck=b, layers=nl)

        self.analysis = Sequential(
            nn.Conv2d(store, "analysis.conv", cin=c.channels, cout=f, k=3, stride=1, bias=False),
            block("analysis.block", f))
        self.synthesis = Sequential(
            block("synthesis.block", f),
            nn.BiasReLU(store, "synthesis.act", f),
            nn.Conv2d(store, "synthesis.conv", cin=f, cout=c.channels, k=3, stride=1, bias=True))
        self.upscale = Sequential(
            block("upscale.block", 2 * f),
            nn.BiasReLU(store, "upscale.act", 2 * f),
            nn.ConvTranspose2d(store, "upscale.conv", cin=2 * f, cout=f))
        self.downscale = Sequential(
            nn.Conv2d(store, "downscale.conv", cin=f, cout=f, k=3, stride=2, bias=False),
            block("downscale.block", f))
        self.classic = nn.Upsample2x(store, "classic", channels=c.channels)
        store.finalize()
        self.store = store
        self._rescale_init()

    def _rescale_init(self):
        """Give every convolution weight the standard deviation ``1 / sqrt(3 fan_in)``.

        He initialisation keeps the variance of *one* ReLU network constant, but the MGBP
        recursion adds module outputs again and again (``u + Upscale(...)`` at every step of
        every level), so He-initialised weights make the latent residuals, and the loss, grow by
        orders of magnitude before the first step. The smaller scale (that of a uniform
        ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, with ``fan_in = C_1 k^2`` from the weight's second
        dimension) starts the network near the classic upscaler. Deterministic: each tensor is
        scaled to the exact target deviation.
        """
        for name in self.store.names:
            if name.endswith("weight") and not name.startswith("classic."):
                w = self.store[name]
                fan_in = int(np.prod(w.shape[1:]))
                w *= (1.0 / np.sqrt(3.0 * fan_in)) / w.std()

    @property
    def num_parameters(self):
        """Exact number of learnable scalars."""
        return int(self.store.params.size)

    # -- the forward pass, through the shared Algorithm-1 recursion ---------------------------
    def run(self, graph, x, *, levels, mu):
        """Forward on a graph; returns the output nodes ``[I_1, …, I_levels]`` (2×, 4×, …)."""
        ops = _LatentOperators(self, graph)
        ys = multigrid(x, levels=levels, mu=mu, ops=ops)
        ops.finish(ys)
        return ops.images[1:]

    def forward(self, x, *, levels, mu, engine=None):
        """Inference: ``x`` (N, C, H, W) float32 → list of outputs at 2×, 4×, …, 2^levels×.

        ``engine`` (:class:`mgbp_classic.nn.Engine`, optional) is the context of the pass (e.g. one
        recording the ReLU gains); a fresh one when None.
        """
        check_levels_mu(levels, mu)
        graph = Graph(record=False, engine=engine)
        outs = self.run(graph, graph.input(np.ascontiguousarray(x, dtype=self.dtype)),
                        levels=levels, mu=mu)
        return [o.data for o in outs]

    # -- saving and loading --------------------------------------------------------------------
    def save(self, path, *, meta=None, extra=None):
        """Write the parameters and config (plus ``meta``, e.g. training record) atomically."""
        config = {"network": self.config.to_dict(), "meta": meta or {}}
        self.store.save(path, config=config, extra=extra)

    @classmethod
    def load(cls, path):
        """Load a model file written by :meth:`save`; returns ``(net, meta)``.

        Raises
        ------
        mgbp_classic.ModelFileError
            Missing, corrupt or mismatched file (one-line message naming the file).
        """
        _, config, _, _ = read_model_file(path)
        netcfg = _network_config(path, config)            # checked before the network is built
        meta = config.get("meta", {})
        if not isinstance(meta, dict):
            raise ModelFileError(f"{path}: config key 'meta' must be a JSON object, got {type(meta).__name__}")
        net = cls(netcfg)
        _, extra = net.store.load(path)
        net.extra = extra
        return net, meta


class _LatentOperators:
    """Algorithm 1's operators in latent space, recording on a :class:`Graph`."""

    def __init__(self, net, graph):
        self.net, self.g = net, graph
        self.images = []         # I_0, I_1, ... (nodes)
        self._upscaled = None    # classic_up(I_{k-1}) of the level in progress

    def initial(self, x):                         # Y_1: R_0 = Analysis(X), I_0 = X + Synthesis(R_0)
        r0 = self.g.apply(self.net.analysis, x)
        self.images.append(self.g.add(x, self.g.apply(self.net.synthesis, r0)))
        return r0

    def finish(self, ys):                         # I_k = classic_up(I_{k-1}) + Synthesis(R_k)
        if len(self.images) < len(ys):
            self.images.append(self.g.add(self._upscaled, self.g.apply(self.net.synthesis, ys[-1])))

    def lift(self, ys):                           # u = Upscale([R_{k-1}, Downscale(Analysis(I))])
        self.finish(ys)
        g, net = self.g, self.net
        self._upscaled = g.apply(net.classic, self.images[-1])
        d = g.apply(net.downscale, g.apply(net.analysis, self._upscaled))
        return g.apply(net.upscale, g.concat(ys[-1], d))

    def down(self, u):                            # (u ∗ g) ↓ 2  →  Downscale(u)
        return self.g.apply(self.net.downscale, u)

    def correct(self, u, y, d):                   # u + (Y_{k-1} − d) ↑ 2 ∗ p  →  u + Upscale([Y_{k-1}, d])
        return self.g.add(u, self.g.apply(self.net.upscale, self.g.concat(y, d)))


# ----------------------------------------------------------------------------------------------
# The multi-scale loss (7)
# ----------------------------------------------------------------------------------------------
def multiscale_loss(net, pyramid, *, mu, max_levels=3, backward=True, engine=None):
    """Loss (7) of the paper and, optionally, its gradient (added into ``net.store.grads``).

    Parameters
    ----------
    net : MGBPNet
    pyramid : sequence of ndarray
        ``pyramid[j]`` is the HR batch down-scaled by 2^j, (N, C, H/2^j, W/2^j) float32,
        for j = 0 … ``max_levels``.
    mu : int
        Back-projection steps.
    max_levels : int
        The loss sums over L = 1 … max_levels.
    backward : bool
        Also accumulate the gradients.
    engine : mgbp_classic.nn.Engine, optional
        The context of the passes (its scratch buffers are reused from step to step when the
        caller keeps one); a fresh one when None.

    Returns
    -------
    total : float
        ``Σ_{L=1..max_levels} Σ_{k=1..L} mean|Y^L_k − X_{L−k}|``.
    parts : dict
        ``{(L, k): mae}`` for every term.

    Notes
    -----
    For each L the network upscales the HR batch down-scaled by 2^L through L levels; its k-th
    output is compared with the HR batch down-scaled by 2^(L−k) (Lai et al. 2017, as used in
    the MGBP paper).
    """
    engine = nn.Engine() if engine is None else engine          # one context for every L
    total, parts = 0.0, {}
    for L in range(1, max_levels + 1):
        graph = Graph(record=backward, engine=engine)
        outs = net.run(graph, graph.input(pyramid[L]), levels=L, mu=mu)
        for k, out in enumerate(outs, start=1):
            loss, cache = nn.mae_forward(out.data, pyramid[L - k])
            parts[(L, k)] = float(loss)
            total += float(loss)
            if backward:
                out.accumulate(nn.mae_backward(cache))
        if backward:
            graph.backward()
    return total, parts
