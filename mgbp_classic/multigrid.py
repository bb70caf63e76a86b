"""Algorithm 1 of the paper: Multi-Grid Back-Projection, written once for every set of operators.

The same recursion runs the classic algorithm (image-space blur/decimate and upsample/filter
operators) and the learned network (Analysis/Downscale/Upscale/Synthesis modules in latent space).
Only the *operators* differ; see ``../shared/DESIGN.md`` ("One recursion, two sets of operators").

Notation (paper, Algorithm 1)::

    MGBP(X, µ, L):                       BP^µ_k(u, Y_1, ..., Y_{k-1}):
      Y_1 = X                              if k > 1:
      for k = 2..L:                          for step = 1..µ:
        u   = (Y_{k-1} ↑ s) ∗ p                d = BP^µ_{k-1}((u ∗ g) ↓ s, Y_1, ..., Y_{k-2})
        Y_k = BP^µ_k(u, Y_1..Y_{k-1})          u = u + (Y_{k-1} − d) ↑ s ∗ p
                                           return u

Here ``levels = N`` is the number of 2× levels, so Algorithm 1's L = N + 1.
"""


def back_project(u, k, ys, mu, ops, callback=None):
    """The recursion BP^µ_k(u, Y_1, ..., Y_{k-1}) of Algorithm 1.

    Parameters
    ----------
    u : object
        Current estimate at level ``k`` (an image, or a latent tensor for the network).
    k : int
        Level index, 1-based as in the paper (level 1 is the input resolution).
    ys : sequence
        ``ys[j]`` is Y_{j+1}; only ``ys[:k-1]`` (Y_1 … Y_{k-1}) is used.
    mu : int
        Number of back-projection steps µ at every level (1: V-cycle, 2: W-cycle).
    ops : object
        The operators: ``ops.down(u)`` replaces ``(u ∗ g) ↓ s`` and
        ``ops.correct(u, y, d)`` replaces ``u + (y − d) ↑ s ∗ p``.
    callback : callable, optional
        Called as ``callback(k, step, u)`` after every update of ``u`` at level ``k``
        (``step`` counts from 1).

    Returns
    -------
    object
        The updated estimate at level ``k``.
    """
    if k > 1:
        for step in range(1, mu + 1):
            d = back_project(ops.down(u), k - 1, ys, mu, ops, callback)   # line 3
            u = ops.correct(u, ys[k - 2], d)                             # line 4: Y_{k-1} = ys[k-2]
            if callback is not None:
                callback(k, step, u)
    return u


def multigrid(x, *, levels, mu, ops, callback=None):
    """Algorithm 1, MGBP(X, µ, L = levels + 1), for any operators.

    Parameters
    ----------
    x : object
        The input (level-1) image.
    levels : int
        Number of 2× levels N ≥ 1 (Algorithm 1's L = N + 1).
    mu : int
        Back-projection steps µ ≥ 1 per level.
    ops : object
        Operators with ``initial(x)`` (Y_1 from X), ``lift(ys)`` (the first estimate at the next
        level from Y_1 … Y_{k-1}; classic: ``(Y_{k-1} ↑ s) ∗ p``), ``down`` and ``correct``
        (see :func:`back_project`).
    callback : callable, optional
        Passed to :func:`back_project`.

    Returns
    -------
    list
        ``[Y_1, Y_2, ..., Y_L]``: the input level and every upscaled level.

    Notes
    -----
    Callers validate ``levels`` and ``mu``; this function is the bare recursion.
    """
    ys = [ops.initial(x)]
    for k in range(2, levels + 2):
        u = ops.lift(ys)
        ys.append(back_project(u, k, ys, mu, ops, callback))
    return ys
