"""The BLAS shim: MLX's matrix products go to numpy's OpenBLAS, and stay correct."""

import os
import subprocess
import sys

import numpy as np
import pytest

import kernels_playground  # noqa: F401  (loads the shim before mlx.core)
from menny_base import fast_blas

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the shim is Linux-only"
)


def _status_in_fresh_python(code: str, **env: str) -> str:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code + "\nfrom menny_base import fast_blas\nprint(fast_blas.status)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@linux_only
def test_the_shim_is_active_after_import():
    assert fast_blas.status == "numpy's OpenBLAS via the CBLAS shim"


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 5, 3), (64, 300, 129), (256, 256, 256)])
def test_mlx_matmul_through_the_shim_matches_numpy(shape):
    import mlx.core as mx

    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    np.testing.assert_allclose(np.array(mx.array(a) @ mx.array(b)), a @ b, rtol=1e-4, atol=1e-4)
    # Transposed operands take the other CBLAS flags.
    np.testing.assert_allclose(
        np.array(mx.array(a.T.copy()).T @ mx.array(b)), a @ b, rtol=1e-4, atol=1e-4
    )


@linux_only
def test_it_can_be_switched_off():
    status = _status_in_fresh_python("import kernels_playground", MENNY_FAST_BLAS="0")
    assert status == "reference BLAS (MENNY_FAST_BLAS=0)"


@linux_only
def test_importing_mlx_first_is_reported_not_fatal():
    status = _status_in_fresh_python("import mlx.core\nimport kernels_playground")
    assert "mlx.core was imported before kernels_playground" in status


@linux_only
def test_a_missing_custom_library_is_one_log_line_not_an_import_error():
    status = _status_in_fresh_python(
        "import kernels_playground", MENNY_BLAS_LIBRARY="/nonexistent/libblas.so"
    )
    assert status.startswith("reference BLAS (")


@linux_only
def test_the_thread_count_can_be_set_and_products_stay_right():
    import mlx.core as mx

    before = fast_blas.threads()
    assert before is not None and before >= 1
    a = np.random.default_rng(0).standard_normal((128, 96)).astype(np.float32)
    try:
        assert fast_blas.set_threads(1) and fast_blas.threads() == 1
        np.testing.assert_allclose(np.array(mx.array(a) @ mx.array(a.T)), a @ a.T, rtol=1e-4)
    finally:
        fast_blas.set_threads(before)
    assert fast_blas.threads() == before


@linux_only
@pytest.mark.parametrize(
    "entry", ["import demo", "import menny_app.analysis", "import menny_core.cli"]
)
def test_every_entry_point_gets_the_fast_blas_whatever_it_imports_first(entry):
    # A tab module that imports mlx.core at its top once left `python demo.py` training
    # 2.5x slower; the packages load the shim before any of their modules runs.
    assert _status_in_fresh_python(entry) == "numpy's OpenBLAS via the CBLAS shim"
