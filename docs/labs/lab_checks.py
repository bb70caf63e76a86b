"""The checks of every lab (used by ``grader.py``): what each task is worth, how it is tested, and
what the messages say for the common mistakes.

Each check calls the submitted functions on inputs of its own and compares them with the package
(or with a few lines of reference code here, which ``tests/test_labs.py`` checks against the
package). ``call`` turns a ``NotImplementedError`` into "not written yet".
"""
import numpy as np

from grader import Check, Lab, call
import labkit as K

LABS = {}


def _lab(key, title, template, checks):
    LABS[key] = Lab(key, title, template, checks)


def relerr(a, b):
    """``max |a − b| / max |b|`` (absolute below a tiny ``|b|``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-12))


def _array(value, what):
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be an array of numbers, got {type(value).__name__}") from None
    return a


def _shape_message(got, want, what):
    return f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}"


# ================================================================================================
# Lab 1 — IBP and its predicted rate (lesson 2)
# ================================================================================================

def ref_ibp(x, steps, D, P, sign=1.0):
    y = P(x)
    history = []
    for t in range(steps + 1):
        e = x - D(y)
        history.append(float(np.sqrt(np.mean(e ** 2))))
        if t < steps:
            y = y + sign * P(e)
    return y, history


def ref_symbol(omega, scale):
    taps = K.Upscale(scale).taps
    m = np.arange(len(taps))
    omega = np.asarray(omega, dtype=np.float64)
    h = np.zeros(omega.shape)
    for r in range(scale):
        w = (omega + 2 * np.pi * r) / scale
        h += np.abs(np.exp(-1j * np.multiply.outer(w, m)) @ taps) ** 2
    return h / scale ** 2


LAB1_CASES = [(2, "wrap", (12, 10)), (4, "reflect", (9, 7)), (2, "reflect", (5, 8, 3))]


def _summary(issues, n):
    """One message per distinct issue, with how many of the ``n`` cases show it and the first one."""
    return "; ".join(f"{text} ({len(cases)} of {n} cases, e.g. {cases[0]})" if n > 1 else text
                     for text, cases in issues.items())


def check_ibp(sub):
    rng = np.random.default_rng(11)
    image_ok = history_ok = 0
    issues = {}
    steps = 5
    for scale, mode, shape in LAB1_CASES:
        x = rng.random(shape)
        D, P = K.Downscale(scale, mode=mode), K.Upscale(scale, mode=mode)
        out = call(sub.ibp, x.copy(), steps, D, P)
        if not (isinstance(out, tuple) and len(out) == 2):
            return 0, "ibp must return a pair (image, history)"
        y, hist = _array(out[0], "the image"), _array(out[1], "the history")
        ref_y, ref_h = ref_ibp(x, steps, D, P)
        case = f"×{scale}, mode={mode!r}, {'×'.join(map(str, shape))}"
        image_right = y.shape == ref_y.shape and relerr(y, ref_y) < 1e-9
        if image_right:
            image_ok += 1
        elif y.shape != ref_y.shape:
            issues.setdefault(_shape_message(y, ref_y, "the image"), []).append(case)
        else:
            for guess, why in ((P(x), "the image is the bicubic start P(X): the loop never updates Y"),
                               (ref_ibp(x, steps, D, P, sign=-1.0)[0],
                                "the image moves away from the data: the residual is X − D(Y), not D(Y) − X"),
                               (ref_ibp(x, steps - 1, D, P)[0], "one update too few (steps updates after Y⁽⁰⁾ = P(X))"),
                               (ref_ibp(x, steps + 1, D, P)[0], "one update too many (steps updates after Y⁽⁰⁾ = P(X))")):
                if relerr(y, guess) < 1e-9:
                    issues.setdefault(why, []).append(case)
                    break
            else:
                issues.setdefault("the image is wrong", []).append(f"{case}: relative error {relerr(y, ref_y):.2g}")
        # the history is judged on its own: against the reference when the image is right, for
        # consistency with the returned image (its last value) when it is not
        if hist.shape != (steps + 1,):
            issues.setdefault(f"the history has {hist.size} values for steps={steps}; it needs steps + 1 "
                              f"(t = 0 … steps, the start included)", []).append(case)
        elif image_right and relerr(hist, ref_h) < 1e-9:
            history_ok += 1
        elif not image_right and y.shape == ref_y.shape and \
                abs(hist[-1] - np.sqrt(np.mean((x - D(y)) ** 2))) <= 1e-9 * max(1.0, hist[-1]):
            history_ok += 1
        elif abs(hist[0] - ref_h[0] * np.sqrt(x.size)) < 1e-9 * max(1.0, hist[0]):
            issues.setdefault("the history is the Euclidean norm of the residual: use the RMS (root of the "
                              "mean of the squares)", []).append(case)
        elif abs(hist[0] - ref_h[0]) > 1e-9 * max(1.0, ref_h[0]):
            issues.setdefault("history[0] must be the RMS residual of the start Y⁽⁰⁾ = P(X), before any "
                              "update", []).append(case)
        else:
            issues.setdefault("history[t] should be the RMS of X − D(Y⁽ᵗ⁾)", []).append(
                f"{case}: relative error {relerr(hist, ref_h):.2g}")
    n = len(LAB1_CASES)
    if not issues:
        return 1, f"image and residual history right in {n} cases (×2, ×4; wrap and reflect; grey and RGB)"
    frac = 0.625 * image_ok / n + 0.375 * history_ok / n
    return frac, _summary(issues, n) + ("" if history_ok < n else "; the history is consistent with the image")


def check_symbol(sub):
    w = np.linspace(0, np.pi, 33)
    right, notes = 0, []
    for scale in (2, 4):
        h = _array(call(sub.symbol, w.copy(), scale), "symbol's result")
        ref = ref_symbol(w, scale)
        if h.shape != ref.shape:
            notes.append(_shape_message(h, ref, f"symbol(omega, {scale})") + " (one value per frequency)")
            continue
        if relerr(h, ref) < 1e-9:
            right += 1
            continue
        if abs(h[0] - scale ** 2) < 1e-6:
            notes.append(f"h(0) = {h[0]:.4g} at ×{scale}, where it must be 1: divide the sum by s²")
        elif abs(h[0] - scale) < 1e-6:
            notes.append(f"h(0) = {h[0]:.4g} at ×{scale}: the factor is 1/s², not 1/s (g = p/s)")
        elif relerr(h, np.abs(np.exp(-1j * np.multiply.outer(w / scale, np.arange(4 * scale))) @ K.Upscale(scale).taps)
                    ** 2 / scale ** 2) < 1e-9:
            notes.append(f"at ×{scale} only the alias r = 0 is summed: h sums |p̂|² over the s aliases (ω + 2πr)/s")
        else:
            notes.append(f"h(ω) is wrong at ×{scale}: relative error {relerr(h, ref):.2g}"
                         f" (h(π) = {h[-1]:.4f}, expected {ref[-1]:.4f})")
    if right == 2:
        return 1, "h(ω) right at ×2 and ×4 over [0, π]"
    return right / 2, "; ".join(notes)


def check_predicted_rate(sub):
    notes, right = [], 0
    for scale in (2, 4, 8):
        rho = float(call(sub.predicted_rate, scale))
        hpi = ref_symbol(np.array([np.pi]), scale)[0]
        want = 1 - hpi ** 2
        if abs(rho - want) < 1e-9:
            right += 1
        elif abs(rho - (1 - hpi)) < 1e-9:
            notes.append(f"×{scale}: {rho:.4f} is the rate of the 1-D symbol; in 2-D it is h(ω₁)h(ω₂), "
                         f"so ρ = 1 − h(π)² = {want:.4f}")
        else:
            notes.append(f"×{scale}: {rho:.4f}, expected {want:.4f} (this uses your symbol: check task 2 first)")
    if right == 3:
        return 1, "ρ right at ×2, ×4, ×8 (0.7766, 0.7646, 0.7641)"
    return right / 3, "; ".join(notes)


def check_measured_rate(sub):
    rng = np.random.default_rng(3)
    for rho, n, last in ((0.8, 30, 10), (0.5, 15, 4)):
        hist = list(rho ** np.arange(n) * (1 + 0.01 * rng.standard_normal(n)))
        got = float(call(sub.measured_rate, hist, last))
        want = (hist[-1] / hist[-1 - last]) ** (1 / last)
        if abs(got - want) > 1e-9:
            return 0, (f"on a history falling like {rho}^t (last={last}): {got:.6f}, expected {want:.6f} = "
                       f"(history[-1] / history[-1 - last]) ** (1 / last)")
    return 1, "right on two geometric histories"


_lab("lab1", "IBP and its predicted rate (lesson 2)", "lab1_ibp.py", [
    Check("task 1: ibp", 4, ("ibp",), check_ibp, forbid=("mgbp_classic.ibp", "ibp_rate", "library_mgbp", "imresize")),
    Check("task 2: symbol", 3, ("symbol",), check_symbol, forbid=("dp_symbol", "ibp_rate", "convergence")),
    Check("task 3: predicted_rate", 2, ("predicted_rate",), check_predicted_rate, forbid=("ibp_rate", "convergence")),
    Check("task 4: measured_rate", 1, ("measured_rate",), check_measured_rate),
])


# ================================================================================================
# Lab 2 — one back-projection step of Algorithm 1 (lesson 3)
# ================================================================================================

def _ops(mode="wrap"):
    return K.Downscale(2, mode=mode), K.Upscale(2, mode=mode)


def ref_bp(u, k, ys, mu, D, P):
    return K.library_back_project(u, k, ys, mu, K.ClassicOperators(D, P))


def ref_bp_flat(u, k, ys, mu, D, P):
    """The common mistake: line 3 without the recursion (an IBP step between levels k and k − 1)."""
    if k > 1:
        for _ in range(mu):
            u = u + P(ys[k - 2] - D(u))
    return u


def _pyramid(rng, shape, levels, mode):
    D, P = _ops(mode)
    x = rng.random(shape)
    ys = K.library_mgbp(x, levels=levels, mu=1, mode=mode).levels
    return D, P, [np.asarray(y) for y in ys]


LAB2_CASES = [(1, 2), (2, 1), (2, 2), (3, 1), (3, 2), (4, 2)]      # (k, µ)


def check_back_project(sub):
    rng = np.random.default_rng(21)
    right, issues = 0, {}
    for k, mu in LAB2_CASES:
        mode = "wrap" if k % 2 else "reflect"
        D, P, ys = _pyramid(rng, (6, 5), 3, mode)
        u = ys[k - 1] + 0.1 * rng.standard_normal(ys[k - 1].shape)       # an estimate at level k
        got = _array(call(sub.back_project, u.copy(), k, list(ys), mu, D, P), "back_project's result")
        want = ref_bp(u, k, ys, mu, D, P)
        case = f"k={k}, µ={mu}"
        if got.shape != want.shape:
            issues.setdefault(_shape_message(got, want, "BP^µ_k(u)") + " (the shape of u)", []).append(case)
        elif relerr(got, want) < 1e-9:
            right += 1
        elif k == 1:
            issues.setdefault("BP^µ_1 must return u unchanged (line 1: nothing happens at the input level)",
                              []).append(case)
        elif relerr(got, ref_bp_flat(u, k, ys, mu, D, P)) < 1e-9:
            issues.setdefault("for k ≥ 3 this is an IBP step between levels k and k − 1: line 3 must hand "
                              "(u ∗ g) ↓ 2 to BP^µ_{k−1} before comparing it with Y_{k−1}", []).append(case)
        elif mu > 1 and relerr(got, ref_bp(u, k, ys, 1, D, P)) < 1e-9:
            issues.setdefault("only one step is done: lines 3–4 repeat µ times", []).append(case)
        else:
            issues.setdefault("BP^µ_k(u) differs from Algorithm 1", []).append(
                f"{case}: relative error {relerr(got, want):.2g}")
    n = len(LAB2_CASES)
    if right == n:
        return 1, "BP^µ_k right for k = 1 … 4, µ = 1, 2 (wrap and reflect boundaries)"
    return right / n, _summary(issues, n)


def check_mgbp(sub):
    rng = np.random.default_rng(22)
    right, issues, cases = 0, {}, [(1, 2, "wrap"), (2, 1, "reflect"), (3, 2, "wrap")]
    for levels, mu, mode in cases:
        D, P = _ops(mode)
        x = rng.random((5, 6))
        got = call(sub.mgbp, x.copy(), levels, mu, D, P)
        want = [np.asarray(y) for y in K.library_mgbp(x, levels=levels, mu=mu, mode=mode).levels]
        case = f"N={levels}, µ={mu}, mode={mode!r}"
        if not isinstance(got, (list, tuple)) or len(got) != len(want):
            issues.setdefault(f"mgbp must return the list [Y_1, …, Y_{{N+1}}] ({len(want)} images for "
                              f"N={levels})", []).append(case)
            continue
        errs = [relerr(_array(g, "a level"), w) if np.shape(g) == w.shape else np.inf for g, w in zip(got, want)]
        if max(errs) < 1e-9:
            right += 1
        else:
            first = int(np.argmax(np.array(errs) > 1e-9))
            issues.setdefault(f"Y_{first + 1} is the first wrong level", []).append(
                case + ("" if first else ": Y_1 must be X itself"))
    if right == len(cases):
        return 1, "every level right for N = 1, 2, 3 (µ = 1, 2)"
    msg = _summary(issues, len(cases))
    return right / len(cases), msg + " (mgbp uses your back_project: check task 1 first)"


def check_level_residual(sub):
    rng = np.random.default_rng(23)
    right, issues, cases = 0, {}, [(2, 1), (3, 2), (4, 1)]
    for k, mu in cases:
        D, P, ys = _pyramid(rng, (5, 5), 3, "wrap")
        u = ys[k - 1] + 0.1 * rng.standard_normal(ys[k - 1].shape)
        got = _array(call(sub.level_residual, u.copy(), k, list(ys), mu, D, P), "level_residual's result")
        want = ys[k - 2] - ref_bp(D(u), k - 1, ys, mu, D, P)
        case = f"k={k}, µ={mu}"
        if got.shape != want.shape:
            if k > 2 and got.shape == ys[0].shape and relerr(got, ys[0] - _down(D, u, k - 1)) < 1e-9:
                issues.setdefault("that is the residual of model (4), X − D^{k−1}(u); the level residual "
                                  "lives on level k − 1: Y_{k−1} − BP^µ_{k−1}(D u)", []).append(case)
            else:
                issues.setdefault(_shape_message(got, want, "e_k(u)") + " (level k − 1)", []).append(case)
        elif relerr(got, want) < 1e-9:
            right += 1
        elif relerr(got, -want) < 1e-9:
            issues.setdefault("the sign is reversed: e_k(u) = Y_{k−1} − BP^µ_{k−1}(D u)", []).append(case)
        elif relerr(got, ys[k - 2] - ref_bp_flat(D(u), k - 1, ys, mu, D, P)) < 1e-9:
            right += 1                  # follow-through: right for the submitted back_project
            issues.setdefault("full marks as it follows your back_project, whose BP^µ_{k−1} is wrong for "
                              "k − 1 ≥ 3 (task 1)", []).append(case)
        else:
            issues.setdefault("e_k(u) is wrong", []).append(f"{case}: relative error {relerr(got, want):.2g}")
    if right == len(cases):
        return 1, "e_k(u) right for k = 2, 3, 4"
    return right / len(cases), _summary(issues, len(cases))


def _down(D, u, times):
    for _ in range(times):
        u = D(u)
    return u


def check_down_projections(sub):
    for mu in (1, 2, 3):
        for k in range(1, 6):
            got = call(sub.down_projections, k, mu)
            ops = K.TracingOperators(K.ClassicOperators(*_ops()))
            x = np.zeros((2, 2))
            ops.initial(x)
            ys = K.library_mgbp(x, levels=k, mu=mu, mode="wrap").levels
            K.library_back_project(np.zeros(ys[k - 1].shape), k, list(ys), mu, ops)
            want = sum(v for (name, _), v in ops.counts().items() if name == "down")
            if got != want:
                return 0, f"C({k}) for µ = {mu}: {got!r}, but BP^{mu}_{k} applies D {want} times"
    return 1, "C(k) right for k = 1 … 5, µ = 1, 2, 3"


_lab("lab2", "One back-projection step of Algorithm 1 (lesson 3)", "lab2_multigrid.py", [
    Check("task 1: back_project", 4, ("back_project",), check_back_project,
          forbid=("library_back_project", "mgbp_classic.recursion", "mgbp_classic.multigrid", "library_mgbp")),
    Check("task 2: mgbp", 3, ("mgbp",), check_mgbp,
          forbid=("library_back_project", "mgbp_classic.recursion", "mgbp_classic.multigrid", "library_mgbp")),
    Check("task 3: level_residual", 2, ("level_residual",), check_level_residual,
          forbid=("library_back_project", "mgbp_classic.recursion", "mgbp_classic.multigrid", "library_mgbp")),
    Check("task 4: down_projections", 1, ("down_projections",), check_down_projections),
])


# ================================================================================================
# Lab 3 — a convolution's backward pass (lesson 5)
# ================================================================================================

LAB3_CASES = [(3, 1, (2, 3, 5, 7), 4), (3, 2, (2, 3, 7, 6), 4), (1, 1, (1, 4, 3, 5), 2), (3, 2, (1, 2, 6, 9), 3)]


def _engine_conv(x, w, bias, stride, dy=None):
    y, cache = K.nn.conv2d_forward(x, w, bias, stride=stride)
    if dy is None:
        return y
    dw = np.zeros_like(w)
    db = np.zeros(w.shape[0])
    dx = K.nn.conv2d_backward(dy, cache, dw, db)
    return y, dx, dw, db


def _lab3_inputs(rng, case):
    ell, stride, shape, co = case
    x = rng.standard_normal(shape)
    w = rng.standard_normal((co, shape[1], ell, ell))
    bias = rng.standard_normal(co)
    return x, w, bias


def check_conv_forward(sub):
    rng = np.random.default_rng(31)
    right, issues = 0, {}
    for case in LAB3_CASES:
        ell, stride = case[0], case[1]
        x, w, bias = _lab3_inputs(rng, case)
        want = _engine_conv(x, w, bias, stride)
        got = _array(call(sub.conv2d_forward, x.copy(), w.copy(), bias.copy(), stride), "conv2d_forward's result")
        label = f"ℓ={ell}, stride {stride}, x {'×'.join(map(str, x.shape))}"
        if got.shape != want.shape:
            hint = " (the zero padding pad = ℓ // 2 keeps ⌊(n + 2·pad − ℓ)/stride⌋ + 1 rows)" \
                if got.ndim == 4 and got.shape[:2] == want.shape[:2] else " (n_b, Co, rows, columns)"
            issues.setdefault(_shape_message(got, want, "y") + hint, []).append(label)
        elif relerr(got, want) < 1e-9:
            right += 1
        elif relerr(got, _engine_conv(x, w[:, :, ::-1, ::-1].copy(), bias, stride)) < 1e-9 and ell > 1:
            issues.setdefault("that is a convolution with the flipped kernel: the lesson's (and PyTorch's) "
                              "convolution is a cross-correlation, w[o, c, ξ, η] · x[…, stride·i + ξ − pad, …]",
                              []).append(label)
        elif relerr(got, _engine_conv(x, w, None, stride)) < 1e-9:
            issues.setdefault("the bias is missing (y += bias[o])", []).append(label)
        else:
            issues.setdefault("y is wrong", []).append(f"{label}: relative error {relerr(got, want):.2g}")
    n = len(LAB3_CASES)
    if right == n:
        return 1, "y right for ℓ = 1, 3 at stride 1 and 2 (odd shapes)"
    return right / n, _summary(issues, n)


def check_conv_backward(sub):
    rng = np.random.default_rng(32)
    ok = {"dx": 0, "dw": 0, "dbias": 0}
    issues = {}
    for case in LAB3_CASES:
        ell, stride = case[0], case[1]
        x, w, bias = _lab3_inputs(rng, case)
        y = _engine_conv(x, w, bias, stride)
        dy = rng.standard_normal(y.shape)
        _, dx, dw, db = _engine_conv(x, w, bias, stride, dy)
        out = call(sub.conv2d_backward, dy.copy(), x.copy(), w.copy(), stride)
        if not (isinstance(out, tuple) and len(out) == 3):
            return 0, "conv2d_backward must return (dx, dw, dbias)"
        label = f"ℓ={ell}, stride {stride}"
        for name, got, want in (("dx", out[0], dx), ("dw", out[1], dw), ("dbias", out[2], db)):
            got = _array(got, name)
            if got.shape != want.shape:
                issues.setdefault(_shape_message(got, want, name) + f" (the shape of {name[1:]})", []).append(label)
            elif relerr(got, want) < 1e-9:
                ok[name] += 1
            elif name == "dx" and ell > 1 and \
                    relerr(got, _engine_conv(x, w[:, :, ::-1, ::-1].copy(), bias, stride, dy)[1]) < 1e-9:
                issues.setdefault("dx uses the kernel flipped: written as a scatter, each input pixel collects "
                                  "w[o, c, ξ, η] · dy[n, o, i, j] from every output (i, j) that read it, with "
                                  "the same ξ, η as the forward (the flip appears only when dx is written as "
                                  "a convolution of dy)", []).append(label)
            elif name == "dw" and got.shape == want.shape and x.shape[0] > 1 and relerr(
                    got, _engine_conv(x[:1], w, bias, stride, dy[:1])[2]) < 1e-9:
                issues.setdefault("dw holds the first image of the batch only: sum over n too", []).append(label)
            elif name == "dbias" and relerr(got, dy.sum(axis=(2, 3))[0]) < 1e-9:
                issues.setdefault("dbias must be summed over the batch and every pixel", []).append(label)
            else:
                issues.setdefault(f"{name} is wrong", []).append(f"{label}: relative error {relerr(got, want):.2g}")
    n = len(LAB3_CASES)
    frac = (2 * ok["dx"] + 2 * ok["dw"] + ok["dbias"]) / (5 * n)
    if frac == 1:
        return 1, "dx, dw and dbias right for ℓ = 1, 3 at stride 1 and 2"
    right = [k for k, v in ok.items() if v == n]
    return frac, _summary(issues, n) + (f"; {', '.join(right)} right" if right else "")


def check_numerical_gradient(sub):
    rng = np.random.default_rng(33)
    x = rng.standard_normal((2, 3, 4))
    r = rng.standard_normal(x.shape)

    def f(a):
        return float(np.sum(r * np.sin(a)) + 0.1 * np.sum(a ** 3))

    want = r * np.cos(x) + 0.3 * x ** 2
    x0 = x.copy()
    got = _array(call(sub.numerical_gradient, f, x, 1e-5), "numerical_gradient's result")
    if not np.array_equal(x, x0):
        return 0.5 if got.shape == want.shape and relerr(got, want) < 1e-7 else 0, \
            "x is left modified: restore every entry after perturbing it"
    if got.shape != want.shape:
        return 0, _shape_message(got, want, "the gradient") + " (one derivative per entry of x)"
    err = relerr(got, want)
    if err < 1e-7:
        return 1, f"agrees with the exact gradient of a smooth test function to {err:.0e}"
    fwd = np.zeros_like(x)
    for i in range(x.size):
        xp = x.copy().reshape(-1)
        xp[i] += 1e-5
        fwd.reshape(-1)[i] = (f(xp.reshape(x.shape)) - f(x)) / 1e-5
    if relerr(got, fwd) < 1e-6:
        return 0.5, (f"off by {err:.0e} ∝ ε: a one-sided difference (f(x + ε) − f(x))/ε; the central "
                     f"(f(x + ε) − f(x − ε))/2ε is accurate to O(ε²)")
    return 0, f"relative error {err:.2g} against the exact gradient of a smooth test function"


def check_relative_error(sub):
    cases = [(np.array([1.0, 2.0]), np.array([1.0, 2.5]), 0.2), (np.zeros(3), np.zeros(3), 0.0),
             (np.array([[0.0, -4.0]]), np.array([[1.0, -4.0]]), 0.25), (np.array([1e-3]), np.array([-1e-3]), 2.0)]
    for a, b, want in cases:
        got = float(call(sub.relative_error, a.copy(), b.copy()))
        if not abs(got - want) <= 1e-12:
            return 0, f"relative_error({a.tolist()}, {b.tolist()}) = {got!r}, expected {want}"
    return 1, "right, including two zero arrays (0)"


#: the engine and SciPy's correlations (the student's own functions have the engine's names: not listed)
_CONV_ENGINE = ("mgbp_classic.nn", "nn", "conv2d_c_forward", "conv_c_backward", "Conv2d", "correlate",
                "correlate2d", "convolve", "convolve2d", "scipy.signal", "scipy.ndimage")
_lab("lab3", "A convolution's backward pass (lesson 5)", "lab3_conv_backward.py", [
    Check("task 1: conv2d_forward", 2, ("conv2d_forward",), check_conv_forward, forbid=_CONV_ENGINE),
    Check("task 2: conv2d_backward", 5, ("conv2d_backward",), check_conv_backward, forbid=_CONV_ENGINE),
    Check("task 3: numerical_gradient", 2, ("numerical_gradient",), check_numerical_gradient),
    Check("task 4: relative_error", 1, ("relative_error",), check_relative_error),
])


# ================================================================================================
# Lab 4 — a tiny network trained in ten minutes (lesson 6)
# ================================================================================================

LAB4_TINY = dict(features=8, growth=4, bottleneck=8)


def _lab4_images():
    s = K.sample_image()
    return [s[:40, :48], s[30:, 50:]]


def check_make_batch(sub):
    images = _lab4_images()
    out = call(sub.make_batch, images, np.random.default_rng(5), 3, 16)
    if not (isinstance(out, tuple) and len(out) == 2):
        return 0, "make_batch must return (lr, hr)"
    lr, hr = out
    notes = []
    if np.asarray(hr).shape != (3, 3, 16, 16) or np.asarray(lr).shape != (3, 3, 8, 8):
        return 0, (f"shapes {np.shape(lr)} and {np.shape(hr)}; expected (3, 3, 8, 8) and (3, 3, 16, 16) "
                   f"for n=3, patch=16: the engine's layout (N, C, H, W)")
    frac = 0.0
    if lr.dtype == np.float32 and hr.dtype == np.float32:
        frac += 0.25
    else:
        notes.append(f"the arrays are {lr.dtype} and {hr.dtype}: the network trains in float32")
    crops = 0
    for p in np.asarray(hr, dtype=np.float64).transpose(0, 2, 3, 1):
        found = False
        for img in images:
            for y0 in range(img.shape[0] - 15):
                for x0 in range(img.shape[1] - 15):
                    if np.abs(img[y0:y0 + 16, x0:x0 + 16] - p).max() < 1e-6:
                        found = True
                        break
                if found:
                    break
            if found:
                break
        crops += found
    if crops == 3:
        frac += 0.25
    else:
        notes.append(f"{3 - crops} of 3 HR patches are not 16 × 16 crops of the images (no resizing, no flips "
                     f"in this lab)")
    lr_ok = all(np.abs(K.make_lr(np.asarray(h, np.float64).transpose(1, 2, 0), 2) -
                       np.asarray(l, np.float64).transpose(1, 2, 0)).max() < 1e-6 for h, l in zip(hr, lr))
    if lr_ok:
        frac += 0.3
    else:
        notes.append("lr must be make_lr(hr_patch, 2) of each patch (the protocol: bicubic ÷2, rounded to "
                     "8 bits), in the same order as hr")
    again = call(sub.make_batch, images, np.random.default_rng(5), 3, 16)
    other = call(sub.make_batch, images, np.random.default_rng(6), 3, 16)
    if np.array_equal(np.asarray(again[1]), np.asarray(hr)) and not np.array_equal(np.asarray(other[1]), np.asarray(hr)):
        frac += 0.2
    else:
        notes.append("the batch must come from the rng given: the same state gives the same batch, another "
                     "state another batch")
    if not notes:
        return 1, "shapes, float32, crops of the images, protocol LR, drawn from the rng"
    return frac, "; ".join(notes)


def check_l1_loss(sub):
    rng = np.random.default_rng(41)
    pred = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    target = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    target[0, 0, 0, :2] = pred[0, 0, 0, :2]                       # two zero differences: sign(0) = 0
    out = call(sub.l1_loss, pred.copy(), target.copy())
    if not (isinstance(out, tuple) and len(out) == 2):
        return 0, "l1_loss must return (loss, gradient)"
    loss, grad = float(out[0]), _array(out[1], "the gradient")
    want_loss, cache = K.nn.mae_forward(pred, target)
    want_grad = K.nn.mae_backward(cache)
    notes, frac = [], 0.0
    if abs(loss - want_loss) < 1e-6:
        frac += 0.4
    elif abs(loss - np.abs(pred - target).sum()) < 1e-3:
        notes.append("the loss is the sum of |pred − target|: loss (7) is the mean")
    else:
        notes.append(f"loss {loss:.6f}, expected the mean absolute error {want_loss:.6f}")
    if grad.shape != want_grad.shape:
        notes.append(_shape_message(grad, want_grad, "the gradient") + " (that of pred)")
    elif relerr(grad, want_grad) < 1e-5:
        frac += 0.6
    elif relerr(grad, np.sign(pred - target)) < 1e-6:
        notes.append("the gradient of a mean divides by the number of elements: sign(pred − target) / size")
    elif relerr(grad, -want_grad) < 1e-5:
        notes.append("the gradient has the wrong sign: d|p − t|/dp = sign(p − t)")
    else:
        notes.append(f"the gradient is wrong: relative error {relerr(grad, want_grad):.2g}")
    if not notes:
        return 1, "loss and gradient right (float32, two zero differences)"
    return frac, "; ".join(notes)


def ref_adam(params, grads, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m[...] = b1 * m + (1 - b1) * grads
    v[...] = b2 * v + (1 - b2) * grads * grads
    params[...] = params - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)


def check_adam_step(sub):
    rng = np.random.default_rng(42)
    n = 50
    p0 = rng.standard_normal(n)
    p_sub, m_sub, v_sub = p0.copy(), np.zeros(n), np.zeros(n)
    p_ref, m_ref, v_ref = p0.copy(), np.zeros(n), np.zeros(n)
    for t in (1, 2, 3, 4):
        g = rng.standard_normal(n)
        ret = call(sub.adam_step, p_sub, g.copy(), m_sub, v_sub, t, 1e-2)
        ref_adam(p_ref, g, m_ref, v_ref, t, 1e-2)
        if np.array_equal(p_sub, p0) and t == 1:
            moved = ret is not None and relerr(_array(ret, "the result"), p_ref) < 1e-9
            return 0, ("params did not change: update them in place, params[...] = … (a new array "
                       "assigned to the name params is lost when the function returns)"
                       + (" — the returned array is right" if moved else ""))
        if relerr(p_sub, p_ref) > 1e-9:
            p_nb = p0.copy()
            mm, vv = np.zeros(n), np.zeros(n)
            rr = np.random.default_rng(42)
            rr.standard_normal(n)
            for tt in range(1, t + 1):
                gg = rr.standard_normal(n)
                mm[...] = 0.9 * mm + 0.1 * gg
                vv[...] = 0.999 * vv + 0.001 * gg * gg
                p_nb -= 1e-2 * mm / (np.sqrt(vv) + 1e-8)
            if relerr(p_sub, p_nb) < 1e-9:
                return 0.5, ("the update has no bias correction: divide m by 1 − β₁ᵗ and v by 1 − β₂ᵗ "
                             "(at t = 1 the moments are a tenth and a thousandth of their size)")
            return 0, f"after step t = {t} the parameters differ from Adam's: relative error {relerr(p_sub, p_ref):.2g}"
    return 1, "parameters and moments right over four steps (bias correction included)"


def ref_train_step(net, lr, hr, state, mu=2, loss_fn=None, adam_fn=None):
    """One reference step; ``loss_fn``/``adam_fn`` replace the loss and Adam (follow-through marking)."""
    net.store.zero_grad()
    graph = K.nn.Graph()
    out = net.run(graph, graph.input(lr), levels=1, mu=mu)[-1]
    if loss_fn is None:
        loss, cache = K.nn.mae_forward(out.data, hr)
        grad = K.nn.mae_backward(cache)
    else:
        loss, grad = loss_fn(out.data, hr)
    out.accumulate(np.asarray(grad, dtype=out.data.dtype))
    graph.backward()
    state["t"] += 1
    (adam_fn or ref_adam)(net.store.params, net.store.grads, state["m"], state["v"], state["t"], state["lr"])
    return loss


def _lab4_batch(seed=7, n=4, patch=16):
    rng = np.random.default_rng(seed)
    img = K.sample_image()
    hrs = []
    for _ in range(n):
        y0, x0 = rng.integers(0, img.shape[0] - patch + 1), rng.integers(0, img.shape[1] - patch + 1)
        hrs.append(img[y0:y0 + patch, x0:x0 + patch])
    lrs = [K.make_lr(h, 2) for h in hrs]
    f = lambda a: np.ascontiguousarray(np.stack(a).transpose(0, 3, 1, 2), dtype=np.float32)  # noqa: E731
    return f(lrs), f(hrs)


def _new_state(net, lr):
    return {"m": np.zeros_like(net.store.params), "v": np.zeros_like(net.store.params), "t": 0, "lr": lr}


def _train_step_run(sub, loss_fn=None, adam_fn=None):
    """The submitted train_step and the reference side by side: one step, then four more."""
    lr, hr = _lab4_batch()
    init = K.MGBPNet(K.NetConfig(**LAB4_TINY, seed=3)).store.params.copy()
    net_s, net_r = K.MGBPNet(K.NetConfig(**LAB4_TINY, seed=3)), K.MGBPNet(K.NetConfig(**LAB4_TINY, seed=3))
    st_s, st_r = _new_state(net_s, 2e-3), _new_state(net_r, 2e-3)
    loss = call(sub.train_step, net_s, lr.copy(), hr.copy(), st_s)
    want = ref_train_step(net_r, lr, hr, st_r, loss_fn=loss_fn, adam_fn=adam_fn)
    first = (net_s.store.params - init, net_r.store.params - init)
    t1 = st_s["t"]
    for seed in (8, 9, 10, 11):
        lr2, hr2 = _lab4_batch(seed)
        call(sub.train_step, net_s, lr2.copy(), hr2.copy(), st_s)
        ref_train_step(net_r, lr2, hr2, st_r, loss_fn=loss_fn, adam_fn=adam_fn)
    scale = max(float(np.abs(first[1]).max()), 1e-12)
    return {"loss": loss, "want": float(want), "t1": t1, "moved": bool(np.any(first[0])),
            "first": float(np.abs(first[0] - first[1]).max() / scale),
            "drift": float(np.abs(net_s.store.params - net_r.store.params).max() / scale)}


def check_train_step(sub):
    r = _train_step_run(sub)
    if r["first"] >= 1e-3 or r["drift"] >= 1e-3:
        # follow-through: a step built on the submitted loss and Adam (tasks 2-3 are marked on their own)
        try:
            mine = _train_step_run(sub, loss_fn=lambda p, t: call(sub.l1_loss, p, t),
                                   adam_fn=lambda *a: call(sub.adam_step, *a))
        except Exception:                                   # noqa: BLE001 — they are judged in their own checks
            mine = None
        if mine is not None and mine["first"] < 1e-3 and mine["drift"] < 1e-3 and mine["moved"]:
            return 1, ("right for your l1_loss and adam_step (the step itself — tape, seed, backward, state — is "
                       "right; tasks 2–3 are marked on their own)")
    notes, frac = [], 0.0
    if r["t1"] != 1:
        notes.append(f"state['t'] is {r['t1']} after one step: count the steps (Adam's t starts at 1)")
    loss = r["loss"]
    if not (isinstance(loss, (float, np.floating)) or np.ndim(loss) == 0) or abs(float(loss) - r["want"]) > 1e-6:
        notes.append(f"the returned loss {loss!r} is not the batch's loss before the update ({r['want']:.6f})")
    if not r["moved"]:
        notes.append("the parameters did not move: run Adam on net.store.params with net.store.grads")
    elif r["first"] < 1e-3:
        frac += 0.5
    else:
        notes.append(f"the first update differs from the reference step ({r['first']:.2g} of its size): zero the "
                     "gradients, seed the output node with the loss's gradient, graph.backward(), then Adam")
    if r["drift"] < 1e-3:
        frac += 0.5
    elif r["first"] < 1e-3:
        notes.append(f"after five steps the parameters differ from the reference run by {r['drift']:.2g} of an "
                     "update: Adam's moments and the step count must carry over in state, and the gradients "
                     "must be zeroed before every backward pass (they add up)")
    if not notes:
        return 1, "the first update and five steps agree with the reference (tape, loss gradient, Adam state)"
    return frac, "; ".join(notes)


def check_train(sub):
    images = [K.sample_image()[:, :64]]
    out = call(sub.train, images, 6, 1, 2, 16)
    if not (isinstance(out, tuple) and len(out) == 2):
        return 0, "train must return (net, losses)"
    net, losses = out
    notes, frac = [], 0.0
    if len(losses) == 6 and all(np.isfinite(float(l)) for l in losses):
        frac += 0.4
    else:
        notes.append(f"{len(losses)} losses for steps=6: one per step")
    if not isinstance(net, K.MGBPNet) or net.store.size != K.MGBPNet(K.NetConfig(**LAB4_TINY)).store.size:
        notes.append("the network must be the tiny MGBPNet(NetConfig(**TINY, seed=seed))")
    elif np.array_equal(net.store.params, K.MGBPNet(K.NetConfig(**LAB4_TINY, seed=1)).store.params):
        notes.append("the returned network was not trained (its parameters are the initial ones)")
    else:
        frac += 0.3
    again = call(sub.train, images, 6, 1, 2, 16)[1]
    if len(again) == len(losses) and np.allclose(np.asarray(again, float), np.asarray(losses, float), rtol=0, atol=1e-7):
        frac += 0.3
    else:
        notes.append("the same seed must give the same losses (seed the network and the rng with it)")
    if not notes:
        return 1, "six steps, one loss each, the tiny network trained, reproducible from the seed"
    return frac, "; ".join(notes)


_TRAINER = ("mgbp_classic.train", "TrainingRun", "multiscale_loss", "Adam", "mae_forward", "mae_backward")
_lab("lab4", "A tiny network trained in ten minutes (lesson 6)", "lab4_tiny_training.py", [
    Check("task 1: make_batch", 2, ("make_batch",), check_make_batch, forbid=("PatchSampler",)),
    Check("task 2: l1_loss", 2, ("l1_loss",), check_l1_loss, forbid=_TRAINER),
    Check("task 3: adam_step", 2, ("adam_step",), check_adam_step, forbid=_TRAINER),
    Check("task 4: train_step", 2, ("train_step",), check_train_step, forbid=_TRAINER, timeout=120),
    Check("task 5: train", 2, ("train",), check_train, forbid=_TRAINER + ("PatchSampler",), timeout=120),
])


# ================================================================================================
# Lab 5 — a row of the deep filter (lesson 7)
# ================================================================================================

def _lab5_net(seed=1):
    net = K.MGBPNet(K.NetConfig(features=4, growth=2, bottleneck=4, seed=seed), dtype=np.float64)
    net.store.params[...] += 0.05 * np.random.default_rng(seed).standard_normal(net.store.size)
    return net


def _lab5_input(seed=2, shape=(5, 4, 3)):
    return np.random.default_rng(seed).random(shape)


def _ref_row(net, x, pixel, channel, levels, mu):
    fz = K.FrozenNetwork(net, x, levels=levels, mu=mu)
    return fz.rows([pixel], weights=np.eye(3)[channel])[0].astype(np.float64)


def _forward_image(net, levels, mu):
    def f(image):
        t = np.ascontiguousarray(np.asarray(image, dtype=np.float64).transpose(2, 0, 1)[None])
        return np.ascontiguousarray(net.forward(t, levels=levels, mu=mu)[-1][0].transpose(1, 2, 0))
    return f


def check_theorem_gap(sub):
    notes, right = [], 0
    for seed, levels, mu in ((1, 1, 2), (3, 2, 1)):
        net, x = _lab5_net(seed), _lab5_input(seed + 1)
        gap = float(call(sub.theorem_gap, net, x.copy(), levels, mu))
        want = K.FrozenNetwork(net, x, levels=levels, mu=mu).max_error()
        if not np.isfinite(gap) or gap < 0:
            notes.append(f"{gap!r} is not a maximum of absolute values")
        elif gap <= max(1e-10, 100 * want):
            right += 1
        elif gap > 0.01:
            notes.append(f"the gap is {gap:.2g} (N={levels}, µ={mu}), where Theorem 7.1 gives round-off "
                         f"({want:.0e}): F X is apply(x, bias=False), R is apply(zeros), net(X) the real forward pass")
        else:
            notes.append(f"the gap is {gap:.2g} (N={levels}, µ={mu}), round-off is {want:.0e}")
    if right == 2:
        return 1, "F X + R − net(X) at round-off for two networks and inputs (float64)"
    return right / 2, "; ".join(notes)


LAB5_PIXELS = [((3, 5), 0), ((7, 2), 1)]      # (y, x) of a 10 × 8 output (N = 1), channel


def _row_issue(got, want, net, x, pixel, channel, levels, mu, what):
    """The likely mistake behind a wrong row, or None."""
    y, xx = pixel
    out_shape = (x.shape[0] << levels, x.shape[1] << levels)
    if xx < out_shape[0] and y < out_shape[1] and relerr(got, _ref_row(net, x, (xx, y), channel, levels, mu)) < 1e-6:
        return (f"{what} is that of the output pixel with y and x swapped: a pixel is (y, x) = (row, column), "
                f"the tensors are indexed [n, channel, y, x]")
    for c in range(3):
        if c != channel and relerr(got, _ref_row(net, x, pixel, c, levels, mu)) < 1e-6:
            return f"{what} is the row of output channel {c}, not {channel}"
    if relerr(got, -want) < 1e-6:
        return f"{what} has the wrong sign"
    return None


def check_row_by_differences(sub):
    net, x = _lab5_net(1), _lab5_input(2)
    levels, mu = 1, 2
    f = _forward_image(net, levels, mu)
    right, issues = 0, {}
    for pixel, channel in LAB5_PIXELS:
        got = _array(call(sub.row_by_differences, f, x.copy(), pixel, channel, 1e-7), "the row")
        want = _ref_row(net, x, pixel, channel, levels, mu)
        case = f"pixel {pixel}, channel {channel}"
        if got.shape != want.shape:
            issues.setdefault(_shape_message(got, want, "the row") + " (that of the input image)", []).append(case)
        elif relerr(got, want) < 1e-5:
            right += 1
        else:
            issues.setdefault(_row_issue(got, want, net, x, pixel, channel, levels, mu, "the row") or
                              "the row disagrees with the backward pass", []).append(
                f"{case}: relative error {relerr(got, want):.2g}")
    n = len(LAB5_PIXELS)
    if right == n:
        return 1, "agrees with the backward pass of the frozen network at two pixels and channels"
    return right / n, _summary(issues, n)


def check_row_by_backward(sub):
    right, issues = 0, {}
    cases = [(1, 1, 2), (3, 2, 1), (5, 1, 1)]
    for seed, levels, mu in cases:
        net, x = _lab5_net(seed), _lab5_input(seed + 1)
        for pixel, channel in LAB5_PIXELS[:2]:
            case = f"N={levels}, µ={mu}, pixel {pixel}, channel {channel}"
            try:
                got = _array(call(sub.row_by_backward, net, x.copy(), pixel, channel, levels, mu), "the row")
            except IndexError as exc:
                issues.setdefault("an IndexError for a pixel inside the output: a pixel is (y, x) = (row, "
                                  "column), the tensors are indexed [n, channel, y, x]", []).append(
                    f"{case} of a {x.shape[0] << levels} × {x.shape[1] << levels} output: {exc}")
                continue
            want = _ref_row(net, x, pixel, channel, levels, mu)
            if got.shape != want.shape:
                issues.setdefault(_shape_message(got, want, "the row") + " (an (H, W, C) image: transpose the "
                                  "(1, C, H, W) gradient)", []).append(case)
            elif relerr(got, want) < 1e-9:
                right += 1
            else:
                issues.setdefault(_row_issue(got, want, net, x, pixel, channel, levels, mu, "the row") or
                                  "the row differs from the frozen network's", []).append(
                    f"{case}: relative error {relerr(got, want):.2g}")
    n = 2 * len(cases)
    if right == n:
        return 1, "equal to the frozen network's rows (N = 1, 2; µ = 1, 2; two pixels and channels)"
    return right / n, _summary(issues, n)


def check_luma_filter(sub):
    right, notes = 0, []
    for seed, levels, mu, pixel in ((1, 1, 2, (3, 5)), (3, 2, 1, (13, 6))):
        net, x = _lab5_net(seed), _lab5_input(seed + 1)
        got = _array(call(sub.luma_filter, net, x.copy(), pixel, levels, mu), "the luma filter")
        fz = K.FrozenNetwork(net, x, levels=levels, mu=mu)
        want = fz.rows([pixel], weights=K.LUMA_WEIGHTS)[0].astype(np.float64).sum(axis=2)
        if got.shape != want.shape:
            notes.append(_shape_message(got, want, "the luma filter") + " (the input grid, summed over the input "
                         "channels: a grey δ)")
        elif relerr(got, want) < 1e-9:
            right += 1
        elif relerr(got, fz.rows([pixel], weights=K.LUMA_WEIGHTS)[0].astype(np.float64) @ K.LUMA_WEIGHTS) < 1e-9:
            notes.append("the input channels are weighted by the luma weights too: a grey δ is the same δ in R, G "
                         "and B, so sum over the input channels")
        else:
            try:                          # follow-through: the luma view of the submitted rows
                mine = sum(w * _array(call(sub.row_by_backward, net, x.copy(), pixel, c, levels, mu), "a row")
                           for c, w in enumerate(K.LUMA_WEIGHTS)).sum(axis=2)
            except Exception:             # noqa: BLE001 — row_by_backward is judged in its own check
                mine = None
            if mine is not None and mine.shape == got.shape and relerr(got, mine) < 1e-9:
                right += 1
                notes.append("full marks as it follows your row_by_backward (task 3)")
            else:
                notes.append(f"pixel {pixel}: relative error {relerr(got, want):.2g}")
    if right == 2:
        return 1, "the luma view right at two pixels (N = 1, 2)" + (f"; {notes[0]}" if notes else "")
    return right / 2, "; ".join(notes)


_ROWS = (".rows", ".filters", "DeepFilter", "deepfilter.DeepFilter", ".max_error", ".linear_part", ".residual",
         "windowed")
_lab("lab5", "A row of the deep filter (lesson 7)", "lab5_deep_filter.py", [
    Check("task 1: theorem_gap", 2, ("theorem_gap",), check_theorem_gap, forbid=_ROWS),
    Check("task 2: row_by_differences", 3, ("row_by_differences",), check_row_by_differences, forbid=_ROWS),
    Check("task 3: row_by_backward", 3, ("row_by_backward",), check_row_by_backward,
          forbid=_ROWS + ("FrozenNetwork",)),
    Check("task 4: luma_filter", 2, ("luma_filter",), check_luma_filter, forbid=_ROWS + ("FrozenNetwork",)),
])
