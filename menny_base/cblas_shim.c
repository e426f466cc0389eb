/*
 * A tiny CBLAS shim so MLX on Linux can use numpy's OpenBLAS.
 *
 * The mlx[cpu] wheel calls cblas_sgemm/dgemm/cgemm from a bundled reference BLAS
 * (about 3 GFLOP/s). numpy already ships an optimized OpenBLAS, but with renamed,
 * 64-bit-integer entry points (scipy_cblas_sgemm64_ ...). This file exports the
 * standard names with 32-bit int arguments and forwards each call to the function
 * pointer that kernels_playground/fast_blas.py binds at import time. Loaded with
 * RTLD_GLOBAL before mlx.core, these symbols win the dynamic linker's lookup.
 */
#include <stdint.h>

typedef void (*sgemm64_fn)(int, int, int, int64_t, int64_t, int64_t, float, const float *,
                           int64_t, const float *, int64_t, float, float *, int64_t);
typedef void (*dgemm64_fn)(int, int, int, int64_t, int64_t, int64_t, double, const double *,
                           int64_t, const double *, int64_t, double, double *, int64_t);
typedef void (*cgemm64_fn)(int, int, int, int64_t, int64_t, int64_t, const void *, const void *,
                           int64_t, const void *, int64_t, const void *, void *, int64_t);

static sgemm64_fn target_sgemm;
static dgemm64_fn target_dgemm;
static cgemm64_fn target_cgemm;

/* Called once from Python (ctypes) with the addresses of the ILP64 functions. */
int menny_bind_blas(void *sgemm, void *dgemm, void *cgemm) {
    target_sgemm = (sgemm64_fn)sgemm;
    target_dgemm = (dgemm64_fn)dgemm;
    target_cgemm = (cgemm64_fn)cgemm;
    return target_sgemm && target_dgemm && target_cgemm;
}

void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c,
                 int ldc) {
    target_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cblas_dgemm(int order, int trans_a, int trans_b, int m, int n, int k, double alpha,
                 const double *a, int lda, const double *b, int ldb, double beta, double *c,
                 int ldc) {
    target_dgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void cblas_cgemm(int order, int trans_a, int trans_b, int m, int n, int k, const void *alpha,
                 const void *a, int lda, const void *b, int ldb, const void *beta, void *c,
                 int ldc) {
    target_cgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
