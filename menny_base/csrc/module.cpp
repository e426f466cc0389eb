// The Python module of Menny's CPU primitives: menny_base._cpu_ops, loaded and checked by
// menny_base/fast_ops.py.

#include <string>

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/vector.h>

#include "common.h"
#include "mlx/version.h"

namespace nb = nanobind;
using namespace nb::literals;

NB_MODULE(_cpu_ops, m) {
  m.doc() =
      "Menny's CPU primitives for MLX: a direct convolution, BatchNorm+ReLU+pool, and the "
      "playground's correlation.";
  m.def("conv2d", &menny::conv2d, "x"_a, "weight"_a, "bias"_a.none(), "padding"_a,
        "threads"_a);
  m.def("norm_relu_pool", &menny::norm_relu_pool, "x"_a, "gamma"_a, "beta"_a, "eps"_a,
        "threads"_a, "running_mean"_a.none() = nb::none(), "running_var"_a.none() = nb::none());
  m.def("correlate", &menny::correlate, "padded"_a, "weights"_a, "dilation"_a, "threads"_a);
  // The kernels are compiled for AVX2 and FMA: the running CPU must have both.
  m.def("cpu_supported", []() {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  });
  // The MLX this was compiled against: its C++ classes must match the running one.
  const std::string version = std::to_string(MLX_VERSION_MAJOR) + "." +
                              std::to_string(MLX_VERSION_MINOR) + "." +
                              std::to_string(MLX_VERSION_PATCH);
  m.attr("mlx_version") = nb::str(version.c_str());
}
