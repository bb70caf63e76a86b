"""The one validation policy (mgbp_classic._validate), seen through the public functions that use it."""
import numpy as np
import pytest

from mgbp_classic import _validate as V
from mgbp_classic.ibp import ibp
from mgbp_classic.multigrid import mgbp
from mgbp_classic.resize import imresize
from mgbp_classic.pipeline.upscale import upscale


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 2.0, "2", None])
def test_integers_are_never_bools_or_floats(value):
    with pytest.raises(ValueError, match=r"^levels must be an integer >= 1, got "):
        V.check_int(value, "levels", minimum=1)


def test_integers_accept_numpy_and_optional_none():
    assert V.check_int(np.int64(3), "mu", minimum=1) == 3 and type(V.check_int(np.uint8(3), "mu", minimum=1)) is int
    assert V.check_int(None, "n", minimum=1, optional=True) is None
    with pytest.raises(ValueError, match=r"^n must be None or an integer >= 1, got 0$"):
        V.check_int(0, "n", minimum=1, optional=True)


@pytest.mark.parametrize("call", [
    lambda: mgbp(np.zeros((8, 8)), levels=True, mu=1),
    lambda: mgbp(np.zeros((8, 8)), levels=1, mu=True),
    lambda: ibp(np.zeros((8, 8)), True),
    lambda: upscale(np.zeros((8, 8)), levels=True, method="bicubic"),
])
def test_true_is_not_one_anywhere(call):
    with pytest.raises(ValueError, match=r"must be an integer >= \d, got True"):
        call()


def test_dtype_policy_float32_stays_everything_else_float64():
    assert V.float_dtype(np.float32) == np.float32
    for dtype in (np.float16, np.float64, np.int32, np.uint8, np.bool_):
        assert V.float_dtype(dtype) == np.float64
    assert V.check_array(np.ones((2, 3), np.float32), "x").dtype == np.float32
    assert V.check_image(np.ones((2, 3), np.float16)).dtype == np.float64


def test_arrays_take_integers_by_value_images_refuse_them():
    ramp = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(V.check_array(ramp, "x"), ramp.astype(np.float64))      # 0..11, not /255
    assert imresize(ramp, 2).max() > 1
    with pytest.raises(ValueError, match=r"^image must be a float array with values in \[0, 1\], got dtype uint8$"):
        V.check_image(ramp)


def test_channels_any_for_arrays_named_set_for_images():
    assert V.check_array(np.zeros((2, 2, 5)), "x").shape == (2, 2, 5)
    assert ibp(np.zeros((4, 4, 5)), 2, iterations=1, tol=None).image.shape == (8, 8, 5)
    with pytest.raises(ValueError, match=r"with C in 1, 2, 3, 4, got shape \(2, 2, 5\)"):
        V.check_image(np.zeros((2, 2, 5)))
    with pytest.raises(ValueError, match=r"^image must be an \(H, W, 3\) array, got shape \(2, 2\)$"):
        V.check_image(np.zeros((2, 2)), channels=(3,))
    with pytest.raises(ValueError, match=r"H, W, C >= 1, got shape \(2, 2, 0\)"):
        V.check_array(np.zeros((2, 2, 0)), "x")


def test_nan_refused_by_solvers_and_images_propagated_by_operators():
    bad = np.array([[np.nan, 0.0], [0.0, 0.0]])
    for call in (lambda: V.check_array(bad, "x"), lambda: V.check_image(bad), lambda: mgbp(bad, levels=1, mu=1)):
        with pytest.raises(ValueError, match=r"must contain finite values only, got NaN or infinity"):
            call()
    assert np.isnan(imresize(bad, 2)).any()
    with pytest.raises(ValueError, match=r"^x must be a real numeric array, got dtype complex128$"):
        V.check_array(np.zeros((2, 2), complex), "x")


def test_levels_are_bounded_by_the_output_size():
    assert V.max_levels((1, 1), 4 ** 3) == 3 and V.max_levels((4, 4), 4) == 0
    assert V.check_levels(3, (1, 1), max_pixels=4 ** 3) == 3
    with pytest.raises(ValueError, match=r"^levels must be between 1 and 3 for a 1×1 image, got 4$"):
        V.check_levels(4, (1, 1), max_pixels=4 ** 3)
    with pytest.raises(ValueError, match=r"^image must have at most 1 pixels to be upscaled, got a 4×4 image$"):
        V.check_levels(1, (4, 4), max_pixels=4)


def test_tolerance_shape_callback_and_pixels():
    assert V.check_tol(None) is None and V.check_tol(1) == 1.0
    for tol in (-1.0, float("inf"), True, "0"):
        with pytest.raises(ValueError, match=r"^tol must be None or a finite number >= 0"):
            V.check_tol(tol)
    assert V.check_shape(4) == (4, 4) and V.check_shape((2, np.int64(3))) == (2, 3)
    with pytest.raises(ValueError, match=r"^shape must be a positive integer or a pair of them, got \(True, 2\)$"):
        V.check_shape((True, 2))
    with pytest.raises(ValueError, match=r"^callback must be callable or None, got int$"):
        V.check_callback(3)
    np.testing.assert_array_equal(V.check_pixels((1.0, 2), (4, 4)), [[1, 2]])
    with pytest.raises(ValueError, match=r"must lie in the 4×4 output"):
        V.check_pixels([(0, 4)], (4, 4))


def test_errors_name_the_parameter_they_blame_and_survive_pickling():
    import pickle

    from mgbp_classic.exceptions import ParamError
    with pytest.raises(ParamError) as info:
        V.check_levels(9, (72, 96))
    err = info.value
    assert (err.param, err.reason) == ("levels", "must be between 1 and 6 for a 72×96 image, got 9")
    assert str(err) == "levels must be between 1 and 6 for a 72×96 image, got 9" and isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))                 # a Dask task's error travels pickled
    assert type(again) is ParamError and (again.param, again.reason, str(again)) == (err.param, err.reason, str(err))
    whole = ParamError("resume", "cannot resume run.npz: its network differs", subject="")
    assert str(whole) == whole.reason == "cannot resume run.npz: its network differs"


def _levels_takers():
    """Every public entry point that takes ``levels``, called with ``levels=value``."""
    from mgbp_classic.multigrid import upscale_mgbp
    from mgbp_classic.pipeline.plan import target_size
    from mgbp_classic.pipeline.upscale import evaluation_levels
    return {
        "check_int": lambda v: V.check_int(v, "levels", minimum=1),
        "check_levels": lambda v: V.check_levels(v, (8, 8)),
        "target_size": lambda v: target_size((8, 8), levels=v)[0],
        "upscale": lambda v: upscale(np.zeros((8, 8)), levels=v, method="bicubic").shape[0] // 8,
        "mgbp": lambda v: upscale_mgbp(np.zeros((8, 8)), levels=v, mu=1, iterations=1)[-1].shape[0] // 8,
        "evaluation_levels": lambda v: evaluation_levels(2 ** 2, method="bicubic", levels=v),
    }


@pytest.mark.parametrize("name", list(_levels_takers()))
def test_levels_agree_everywhere_numpy_integers_yes_bools_no(name):
    call = _levels_takers()[name]
    assert call(np.int64(2)) in (2, 4)                   # 2 levels (or the factor 4 they make)
    for value in (True, 2.0, "2"):
        with pytest.raises(ValueError, match=r"^levels must be (None or )?an integer >= 1, got "):
            call(value)
