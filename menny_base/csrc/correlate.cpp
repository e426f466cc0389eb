// The playground's one-kernel correlation (kernels_playground.convolve) for stride 1:
// out (H', W', C) = sum over taps (u, v) of w[u, v] * padded[i + u*D, j + v*D, c], each
// channel on its own, on an already padded float32 image (the edge modes are the
// playground's business). With stride 1, output row i and the input row a tap reads are
// both W'*C consecutive floats, so every tap is one multiply-add over contiguous memory;
// rows are split over threads. Taps are added in the kernel's order, as the MLX path does.

#include <algorithm>
#include <stdexcept>
#include <vector>

#include <immintrin.h>

#include "common.h"

namespace menny {
namespace {

MENNY_AVX2 void correlate_rows(const float* in, int width, int planes, const float* w, int kh,
                               int kw, int d, int rows, int cols, float* out, int t, int ts) {
  const int n = cols * planes;  // floats per output row
  for (int i = t; i < rows; i += ts) {
    float* dst = out + size_t(i) * n;
    for (int u = 0; u < kh; ++u) {
      for (int v = 0; v < kw; ++v) {
        const float* src = in + (size_t(i + u * d) * width + v * d) * planes;
        const float weight = w[u * kw + v];
        const __m256 wv = _mm256_set1_ps(weight);
        const bool first = u == 0 && v == 0;
        int j = 0;
        for (; j + 8 <= n; j += 8) {
          const __m256 x = _mm256_loadu_ps(src + j);
          _mm256_storeu_ps(dst + j, first ? _mm256_mul_ps(x, wv)
                                          : _mm256_fmadd_ps(x, wv, _mm256_loadu_ps(dst + j)));
        }
        for (; j < n; ++j) dst[j] = first ? src[j] * weight : dst[j] + src[j] * weight;
      }
    }
  }
}

class Correlate : public mx::UnaryPrimitive {
 public:
  Correlate(mx::Stream stream, int dilation, int threads)
      : mx::UnaryPrimitive(stream), dilation_(dilation), threads_(threads) {}

  void eval_cpu(const std::vector<mx::array>& in, mx::array& out) override {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(in[0]);
    encoder.set_input_array(in[1]);
    encoder.set_output_array(out);
    encoder.dispatch([p = in[0].data<float>(), w = in[1].data<float>(),
                      o = out.data<float>(), width = int(in[0].shape(1)),
                      planes = int(in[0].shape(2)), kh = int(in[1].shape(0)),
                      kw = int(in[1].shape(1)), d = dilation_, rows = int(out.shape(0)),
                      cols = int(out.shape(1)), threads = threads_]() {
      // A thread is worth starting for about a quarter of a millisecond of work.
      const double work = double(rows) * cols * planes * kh * kw;
      const int ts = std::max(1, std::min({threads, rows, int(work / 2e6)}));
      parallel(ts, [&](int t, int n) {
        correlate_rows(p, width, planes, w, kh, kw, d, rows, cols, o, t, n);
      });
    });
  }

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("Menny's correlation runs on the CPU only.");
  }

  const char* name() const override { return "MennyCorrelate"; }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& that = static_cast<const Correlate&>(other);
    return dilation_ == that.dilation_ && threads_ == that.threads_;
  }

 private:
  int dilation_;
  int threads_;
};

}  // namespace

mx::array correlate(const mx::array& padded, const mx::array& weights, int dilation,
                    int threads) {
  if (padded.ndim() != 3 || weights.ndim() != 2 || padded.dtype() != mx::float32 ||
      weights.dtype() != mx::float32 || dilation < 1 || threads < 1) {
    throw std::invalid_argument(
        "padded must be (H, W, C) and weights (KH, KW) float32, dilation and threads >= 1.");
  }
  const int rows = padded.shape(0) - (weights.shape(0) - 1) * dilation;
  const int cols = padded.shape(1) - (weights.shape(1) - 1) * dilation;
  if (rows < 1 || cols < 1) throw std::invalid_argument("the kernel is larger than the image.");
  const auto s = mx::to_stream(mx::Device(mx::Device::cpu));
  return mx::array({rows, cols, padded.shape(2)}, mx::float32,
                   std::make_shared<Correlate>(s, dilation, threads),
                   {mx::contiguous(padded, false, s), mx::contiguous(weights, false, s)});
}

}  // namespace menny
