"""Adam (Kingma & Ba 2015) on the flat buffers of a :class:`~mgbp_classic.nn.params.ParamStore`."""
import numpy as np

from ._numba import PJIT
from numba import prange

__all__ = ["Adam"]


@PJIT
def _adam_kernel(p, g, m, v, lr, b1, b2, eps, bc1, bc2):
    # m = b1 m + (1 - b1) g ;  v = b2 v + (1 - b2) g^2
    # p -= lr * (m / bc1) / (sqrt(v / bc2) + eps)     (bc_i = 1 - b_i^t, the bias corrections)
    n = p.shape[0]
    for i in prange(n):
        gi = np.float64(g[i])
        mi = b1 * m[i] + (1.0 - b1) * gi
        vi = b2 * v[i] + (1.0 - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] - lr * (mi / bc1) / (np.sqrt(vi / bc2) + eps)


class Adam:
    """Adam with bias correction over all parameters of a store.

    Parameters
    ----------
    store : ParamStore
        A finalized store; its ``m`` and ``v`` buffers hold the moments.
    lr : float, optional
        Default learning rate (``step(lr=...)`` overrides it per step).
    betas : tuple of float, optional
        Moment decay rates ``(beta1, beta2)``.
    eps : float, optional
        Added to ``sqrt(v_hat)``.

    Notes
    -----
    With ``t`` the step count (starting at 1)::

        m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
        p = p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    Kingma & Ba, "Adam: a method for stochastic optimization", ICLR 2015, Algorithm 1.
    """

    def __init__(self, store, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if not store.finalized:
            raise RuntimeError("Adam needs a finalized store (call store.finalize() first)")
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {tuple(betas)}")
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.store = store
        self.lr, self.betas, self.eps = float(lr), (b1, b2), float(eps)
        self.t = 0

    def step(self, lr=None):
        """One update of every parameter from the accumulated gradients (which are left as they are)."""
        lr = self.lr if lr is None else float(lr)
        self.t += 1
        b1, b2 = self.betas
        s = self.store
        _adam_kernel(s.params, s.grads, s.m, s.v, lr, b1, b2, self.eps, 1.0 - b1 ** self.t, 1.0 - b2 ** self.t)

    def state_dict(self):
        """Arrays for an exact resume: step count, moments and hyper-parameters.

        Returns
        -------
        dict of str to ndarray
            Suitable as ``extra`` of :meth:`ParamStore.save`.
        """
        return {"adam_step": np.array(self.t, np.int64), "adam_m": self.store.m.copy(),
                "adam_v": self.store.v.copy(),
                "adam_hparams": np.array([self.lr, self.betas[0], self.betas[1], self.eps], np.float64)}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (e.g. the ``extra`` of ``ParamStore.load``)."""
        for key in ("adam_step", "adam_m", "adam_v", "adam_hparams"):
            if key not in state:
                raise KeyError(f"optimizer state lacks {key!r} (has {sorted(state)})")
        m, v = np.asarray(state["adam_m"]), np.asarray(state["adam_v"])
        if m.shape != self.store.m.shape or v.shape != self.store.v.shape:
            raise ValueError(f"optimizer moments must have shape {self.store.m.shape}, got {m.shape} and {v.shape}")
        self.store.m[...] = m
        self.store.v[...] = v
        self.t = int(state["adam_step"])
        lr, b1, b2, eps = (float(x) for x in np.asarray(state["adam_hparams"]))
        self.lr, self.betas, self.eps = lr, (b1, b2), eps
