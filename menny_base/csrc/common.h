// What Menny's CPU primitives share: MLX's headers, the AVX2 target, and a tiny
// fork-join helper. See menny_base/fast_ops.py for what the primitives are for.

#pragma once

#include <optional>
#include <thread>
#include <vector>

#include "mlx/allocator.h"
#include "mlx/array.h"
#include "mlx/backend/cpu/encoder.h"
#include "mlx/ops.h"
#include "mlx/primitives.h"
#include "mlx/transforms.h"
#include "mlx/utils.h"

// Kernels are compiled for AVX2 + FMA; the module checks the CPU before it is used.
#define MENNY_AVX2 __attribute__((target("avx2,fma")))

namespace menny {

namespace mx = mlx::core;

// Run f(thread, threads) on `threads` threads (the caller's is thread 0).
template <class F>
void parallel(int threads, F f) {
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(f, t, threads);
  f(0, threads);
  for (auto& t : pool) t.join();
}

// The primitives, built from Python through module.cpp.
mx::array conv2d(const mx::array& x, const mx::array& weight,
                 const std::optional<mx::array>& bias, int padding, int threads);
std::vector<mx::array> norm_relu_pool(const mx::array& x, const mx::array& gamma,
                                      const mx::array& beta, float eps, int threads,
                                      const std::optional<mx::array>& running_mean,
                                      const std::optional<mx::array>& running_var);

mx::array correlate(const mx::array& padded, const mx::array& weights, int dilation,
                    int threads);

}  // namespace menny
