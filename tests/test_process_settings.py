"""The two process settings the command makes: freed memory kept mapped, idle OpenMP threads asleep.

Each check runs in a fresh interpreter: both settings belong to the whole process (the OpenMP
runtime reads its policy once, when Numba first loads it), so the test process itself is left alone.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, **env):
    """Run ``code`` in a fresh interpreter (``env`` added, ``None`` removes) and parse its last line as JSON."""
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for k, v in env.items():
        if v is None:
            environ.pop(k, None)
        else:
            environ[k] = v
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         cwd=ROOT, env=environ, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


# A parallel loop, then a second of sleep in the main thread: the CPU time spent meanwhile is what
# the pool's idle worker burns by spinning (a whole second on an idle machine; its share of a core
# when other processes compete for the cores, so the thresholds below are far from both ends).
_IDLE_CPU = """
    import json, os, time
    import numpy as np
    from numba import njit, prange, set_num_threads
    {setup}
    @njit(parallel=True)
    def touch(x):
        for i in prange(x.size):
            x[i] += 1.0
    set_num_threads(2)
    x = np.zeros(1 << 22)
    touch(x)
    touch(x)
    t0 = os.times()
    time.sleep(1.0)
    t1 = os.times()
    print(json.dumps({{"idle_cpu": t1.user + t1.system - t0.user - t0.system,
                      "policy": os.environ.get("OMP_WAIT_POLICY"), "result": result}}))
"""


def _idle_cpu(setup, **env):
    return _python(textwrap.dedent(_IDLE_CPU).format(setup=setup), **env)


def test_idle_threads_sleep_after_the_setting():
    out = _idle_cpu("from mgbp_classic._parallel import sleeping_idle_threads\nresult = sleeping_idle_threads()")
    assert out["result"] is True and out["policy"] == "PASSIVE"
    assert out["idle_cpu"] < 0.1


def test_idle_threads_spin_without_it():
    """The measurement can tell: with OpenMP's active policy the idle worker burns the sleep's time."""
    out = _idle_cpu("result = None", OMP_WAIT_POLICY="ACTIVE")
    assert out["idle_cpu"] > 0.3


def test_a_policy_the_user_chose_is_kept():
    out = _idle_cpu("from mgbp_classic._parallel import sleeping_idle_threads\nresult = sleeping_idle_threads()",
                    OMP_WAIT_POLICY="ACTIVE")
    assert out["result"] is False and out["policy"] == "ACTIVE"
    out = _python("""
        import json, os
        from mgbp_classic._parallel import sleeping_idle_threads
        print(json.dumps(sleeping_idle_threads()))
    """, OMP_WAIT_POLICY="passive")
    assert out is True


def test_too_late_once_openmp_is_loaded():
    """Called after Numba has loaded OpenMP it changes nothing and says so."""
    out = _python("""
        import json, os
        import numba
        numba.set_num_threads(2)                     # loads the threading layer (OpenMP)
        from mgbp_classic._parallel import sleeping_idle_threads
        print(json.dumps([sleeping_idle_threads(), os.environ.get("OMP_WAIT_POLICY")]))
    """)
    if out == [True, "PASSIVE"]:
        pytest.skip("Numba's threading layer here is not OpenMP")
    assert out == [False, None]


def test_the_command_makes_both_settings():
    out = _python("""
        import json, os
        from click.testing import CliRunner
        from cli.main import cli
        res = CliRunner().invoke(cli, ["info", "mgbp_classic/assets/mgbp_x2x4x8.npz"])
        assert res.exit_code == 0, res.output
        print(json.dumps(os.environ.get("OMP_WAIT_POLICY")))
    """)
    assert out == "PASSIVE"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_memory_stays_mapped():
    """A second array of the same size costs no page faults once freed memory is kept (64 MiB: ~16k pages),
    and faults again after the kept memory is released."""
    code = """
        import json, resource
        import numpy as np
        try:
            from numpy._core.multiarray import _set_madvise_hugepage
        except ImportError:                        # NumPy 1.x
            from numpy.core.multiarray import _set_madvise_hugepage
        _set_madvise_hugepage(False)               # count 4 KiB pages (NumPy asks for huge pages otherwise)
        {setup}
        def faults_of_one_array():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            a = np.empty(1 << 24, np.float32)
            a.fill(1.0)
            del a
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        faults_of_one_array()
        kept = faults_of_one_array()
        from mgbp_classic._heap import release_freed_memory
        released = release_freed_memory()
        print(json.dumps([ok, kept, released, faults_of_one_array()]))
    """
    code = textwrap.dedent(code)
    ok, kept, released, after_release = _python(
        code.format(setup="from mgbp_classic._heap import retain_freed_memory\nok = retain_freed_memory()"))
    _, default, _, _ = _python(code.format(setup="ok = None"))
    assert ok is True and released is True
    assert default > 10000                          # glibc maps and unmaps it every time
    assert kept < 1000
    assert after_release > 10000                    # handed back: the next array is faulted in again


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_memory_is_not_trimmed_however_much_is_freed_at_once():
    # three 48 MiB arrays below a 64 MiB mmap threshold, freed together: 144 MiB free at the top of
    # the heap, more than the threshold; glibc trims such a top unless trimming is off
    code = textwrap.dedent("""
        import json, resource
        import numpy as np
        try:
            from numpy._core.multiarray import _set_madvise_hugepage
        except ImportError:                        # NumPy 1.x
            from numpy.core.multiarray import _set_madvise_hugepage
        _set_madvise_hugepage(False)               # count 4 KiB pages
        from mgbp_classic._heap import retain_freed_memory
        ok = retain_freed_memory(threshold=1 << 26)
        def faults_of_three_arrays():
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            arrays = [np.empty(12 << 20, np.float32) for _ in range(3)]
            for a in arrays:
                a.fill(1.0)
            del a, arrays
            return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        first = faults_of_three_arrays()
        print(json.dumps([ok, first, faults_of_three_arrays()]))
    """)
    ok, first, second = _python(code)
    assert ok is True
    assert first > 10000                            # faulted in once
    assert second < 1000                            # and kept


def test_the_command_quiets_openblas_idle_threads_before_numpy_loads_it():
    # set by the entry point's module before any import loads NumPy (OpenBLAS reads it at load)
    code = """
        import json, os
        import mgbp_classic_cli.main
        print(json.dumps(os.environ.get("OPENBLAS_THREAD_TIMEOUT")))
    """
    assert _python(code, OPENBLAS_THREAD_TIMEOUT=None) == "4"
    assert _python(code, OPENBLAS_THREAD_TIMEOUT="10") == "10"      # a value the user set is kept
