// Menny's convolution for MLX on x86-64 CPUs: a direct (no im2col) stride-1 2D
// convolution with AVX2/FMA kernels, forward and backward, as an MLX primitive.
// menny_base/fast_ops.py explains when it is used and why it exists.
//
// Layout is MLX's: x (N, H, W, C), weight (O, K, K, C), optional bias (O,), y (N, Ho,
// Wo, O), float32, zero padding P on every side, Ho = H + 2P - K + 1; O must be a multiple
// of 16. The bias is where each output's sum starts, so adding it costs nothing.
//
// How: the input is copied once into a zero-padded buffer, so the kernels never test
// borders. The weights are repacked so that 16 output channels of one tap and one input
// channel are 16 consecutive floats: two AVX registers. One output tile is 4 neighbouring
// pixels x 16 output channels (8 registers of sums); for every tap and input channel it
// loads the 16 weights once and broadcasts each pixel's input value: 8 fused
// multiply-adds per 6 loads, the same shape as a GEMM micro-kernel, but reading the
// input in place instead of through a patch matrix.
//   Input gradient: for stride 1 it is the same convolution of the output gradient
//   (padded by K-1-P) with the kernel flipped and its channel axes swapped.
//   Weight gradient: for each tap, the sum over all pixels of (input value) x (output
//   gradient): 4 input channels x 16 output channels of sums per tile, over blocks of
//   rows that stay in cache.
// Work is split over threads by output rows (the weight gradient: one partial sum per
// thread, added at the end, in a fixed order); a small convolution stays on one thread.
// The bias's gradient is MLX's sum of the output gradient.

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include <immintrin.h>

#include "common.h"

namespace menny {
namespace {

constexpr int kLanes = 16;  // output channels per tile: two 8-float AVX registers
constexpr int kTile = 4;    // neighbouring output pixels per tile

// x (N, H, W, C) -> (N, H + 2P, W + 2P, C), zeros around; images split over threads.
std::unique_ptr<float[]> padded(const float* x, int n, int h, int w, int c, int p,
                                int threads) {
  const int hp = h + 2 * p, wp = w + 2 * p;
  std::unique_ptr<float[]> out(new float[size_t(n) * hp * wp * c]);  // every value set below
  const size_t row = size_t(wp) * c, edge = size_t(p) * c;
  parallel(std::min(threads, n), [&](int t, int ts) {
    for (int i = t; i < n; i += ts) {
      float* image = out.get() + size_t(i) * hp * row;
      std::memset(image, 0, sizeof(float) * p * row);
      std::memset(image + (size_t(h) + p) * row, 0, sizeof(float) * p * row);
      for (int r = 0; r < h; ++r) {
        float* dst = image + (size_t(r) + p) * row;
        std::memset(dst, 0, sizeof(float) * edge);
        std::memcpy(dst + edge, x + (size_t(i) * h + r) * w * c, sizeof(float) * w * c);
        std::memset(dst + edge + size_t(w) * c, 0, sizeof(float) * edge);
      }
    }
  });
  return out;
}

// (O, K, K, C) -> [O/16][K][K][C][16]: a tile's 16 weights for one tap and channel
// are contiguous. `flip` packs the input gradient's kernel instead: output channels
// C, input channels O, taps mirrored (which needs C, not O, to be a multiple of 16).
std::vector<float> packed(const float* w, int o, int k, int c, bool flip) {
  const int outs = flip ? c : o, ins = flip ? o : c;
  const size_t taps = size_t(k) * k * ins;  // floats per output channel, (kh, kw, input)
  std::vector<float> out(size_t(outs) * taps);
  if (!flip) {  // 16 rows of w side by side: written in order, read as 16 streams
    for (int ob = 0; ob < outs / kLanes; ++ob) {
      const float* rows = w + size_t(ob) * kLanes * taps;
      float* dst = out.data() + size_t(ob) * kLanes * taps;
      for (size_t i = 0; i < taps; ++i, dst += kLanes) {
        for (int lane = 0; lane < kLanes; ++lane) dst[lane] = rows[lane * taps + i];
      }
    }
    return out;
  }
  for (int q = 0; q < outs; ++q) {
    for (int kh = 0; kh < k; ++kh) {
      for (int kw = 0; kw < k; ++kw) {
        for (int r = 0; r < ins; ++r) {
          const float value = w[((size_t(r) * k + (k - 1 - kh)) * k + (k - 1 - kw)) * c + q];
          out[((((size_t(q / kLanes) * k + kh) * k + kw) * ins + r) * kLanes) + q % kLanes] =
              value;
        }
      }
    }
  }
  return out;
}

// y (N, Ho, Wo, O) from xp (N, Hp, Wp, C) zero-padded and wk packed; rows split by thread.
// bias (O,) or nullptr: added to every output (the sums start from it).
MENNY_AVX2 void direct_rows(const float* xp, int n, int hp, int wp, int c, const float* wk,
                            const float* bias, int o, int k, float* y, int thread, int threads) {
  const int ho = hp - k + 1, wo = wp - k + 1;
  const size_t block = size_t(k) * k * c * kLanes;  // one block of 16 output channels
  for (int row = thread; row < n * ho; row += threads) {
    const int img = row / ho, oh = row % ho;
    const float* x_row = xp + (size_t(img) * hp + oh) * wp * c;
    float* y_row = y + size_t(row) * wo * o;
    for (int ob = 0; ob < o / kLanes; ++ob) {
      const float* w_block = wk + ob * block;
      const __m256 b0 = bias ? _mm256_loadu_ps(bias + ob * kLanes) : _mm256_setzero_ps();
      const __m256 b1 = bias ? _mm256_loadu_ps(bias + ob * kLanes + 8) : _mm256_setzero_ps();
      int ow = 0;
      for (; ow + kTile <= wo; ow += kTile) {
        __m256 s00 = b0, s01 = b1, s10 = b0, s11 = b1, s20 = b0, s21 = b1, s30 = b0, s31 = b1;
        for (int kh = 0; kh < k; ++kh) {
          for (int kw = 0; kw < k; ++kw) {
            const float* in = x_row + (size_t(kh) * wp + ow + kw) * c;
            const float* wt = w_block + size_t(kh * k + kw) * c * kLanes;
            for (int ci = 0; ci < c; ++ci, wt += kLanes) {
              const __m256 w0 = _mm256_loadu_ps(wt), w1 = _mm256_loadu_ps(wt + 8);
              __m256 v = _mm256_broadcast_ss(in + ci);
              s00 = _mm256_fmadd_ps(v, w0, s00), s01 = _mm256_fmadd_ps(v, w1, s01);
              v = _mm256_broadcast_ss(in + c + ci);
              s10 = _mm256_fmadd_ps(v, w0, s10), s11 = _mm256_fmadd_ps(v, w1, s11);
              v = _mm256_broadcast_ss(in + 2 * c + ci);
              s20 = _mm256_fmadd_ps(v, w0, s20), s21 = _mm256_fmadd_ps(v, w1, s21);
              v = _mm256_broadcast_ss(in + 3 * c + ci);
              s30 = _mm256_fmadd_ps(v, w0, s30), s31 = _mm256_fmadd_ps(v, w1, s31);
            }
          }
        }
        float* out = y_row + size_t(ow) * o + ob * kLanes;
        _mm256_storeu_ps(out, s00), _mm256_storeu_ps(out + 8, s01);
        _mm256_storeu_ps(out + o, s10), _mm256_storeu_ps(out + o + 8, s11);
        _mm256_storeu_ps(out + 2 * o, s20), _mm256_storeu_ps(out + 2 * o + 8, s21);
        _mm256_storeu_ps(out + 3 * o, s30), _mm256_storeu_ps(out + 3 * o + 8, s31);
      }
      for (; ow < wo; ++ow) {  // the last pixels of a row narrower than a tile
        __m256 s0 = b0, s1 = b1;
        for (int kh = 0; kh < k; ++kh) {
          for (int kw = 0; kw < k; ++kw) {
            const float* in = x_row + (size_t(kh) * wp + ow + kw) * c;
            const float* wt = w_block + size_t(kh * k + kw) * c * kLanes;
            for (int ci = 0; ci < c; ++ci, wt += kLanes) {
              const __m256 v = _mm256_broadcast_ss(in + ci);
              s0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wt), s0);
              s1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(wt + 8), s1);
            }
          }
        }
        float* out = y_row + size_t(ow) * o + ob * kLanes;
        _mm256_storeu_ps(out, s0), _mm256_storeu_ps(out + 8, s1);
      }
    }
  }
}

// For one tap and 16 output channels: the sums of input x output gradient over `count`
// rows for CB input channels from `in` (CB x 2 registers of sums, added into d).
template <int CB>
MENNY_AVX2 inline void weight_grad_block(const float* in, size_t in_row, int c,
                                         const float* g, int o, int wo, int count, float* d) {
  __m256 sum[CB][2];
#pragma GCC unroll 4
  for (int j = 0; j < CB; ++j) {
    sum[j][0] = _mm256_loadu_ps(d + j * o), sum[j][1] = _mm256_loadu_ps(d + j * o + 8);
  }
  for (int r = 0; r < count; ++r, in += in_row, g += size_t(wo) * o) {
    const float* x = in;
    const float* grad = g;
    for (int ow = 0; ow < wo; ++ow, x += c, grad += o) {
      const __m256 g0 = _mm256_loadu_ps(grad), g1 = _mm256_loadu_ps(grad + 8);
#pragma GCC unroll 4
      for (int j = 0; j < CB; ++j) {
        const __m256 v = _mm256_broadcast_ss(x + j);
        sum[j][0] = _mm256_fmadd_ps(v, g0, sum[j][0]);
        sum[j][1] = _mm256_fmadd_ps(v, g1, sum[j][1]);
      }
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < CB; ++j) {
    _mm256_storeu_ps(d + j * o, sum[j][0]), _mm256_storeu_ps(d + j * o + 8, sum[j][1]);
  }
}

// dw (K, K, C, O) += sums over the output rows [first, last) of input x output gradient:
// input channels four at a time, the last one to three together (an RGB input's three).
MENNY_AVX2 void weight_grad_rows(const float* xp, const float* dy, int hp, int wp, int c,
                                 int o, int k, int first, int last, float* dw) {
  const int ho = hp - k + 1, wo = wp - k + 1;
  // Rows of one image taken together, so short rows still give each sum some work.
  const int rows_per_pass = std::max(1, 64 / wo);
  const size_t in_row = size_t(wp) * c;
  for (int start = first; start < last;) {
    const int img = start / ho, oh0 = start % ho;
    const int count = std::min({rows_per_pass, ho - oh0, last - start});
    const float* g_rows = dy + size_t(start) * wo * o;
    for (int kh = 0; kh < k; ++kh) {
      for (int kw = 0; kw < k; ++kw) {
        float* tap = dw + size_t(kh * k + kw) * c * o;
        const float* in = xp + ((size_t(img) * hp + oh0 + kh) * wp + kw) * c;
        for (int ob = 0; ob < o; ob += kLanes) {
          int cb = 0;
          for (; cb + 4 <= c; cb += 4) {
            weight_grad_block<4>(in + cb, in_row, c, g_rows + ob, o, wo, count,
                                 tap + size_t(cb) * o + ob);
          }
          float* d = tap + size_t(cb) * o + ob;
          switch (c - cb) {
            case 3: weight_grad_block<3>(in + cb, in_row, c, g_rows + ob, o, wo, count, d); break;
            case 2: weight_grad_block<2>(in + cb, in_row, c, g_rows + ob, o, wo, count, d); break;
            case 1: weight_grad_block<1>(in + cb, in_row, c, g_rows + ob, o, wo, count, d); break;
            default: break;
          }
        }
      }
    }
    start += count;
  }
}

// Threads worth starting for `fmas` multiply-adds: starting one costs tens of microseconds,
// so a small convolution (one image through a late layer) runs on the caller's alone.
int threads_for(double fmas, int threads) {
  constexpr double kPerThread = 4e6;  // about a quarter of a millisecond of work
  return std::max(1, std::min(threads, int(fmas / kPerThread)));
}

// One direct convolution of `in` (N, H, W, C), zero-padded by P, with the packed kernel
// wk (O outputs), into out.
void direct(const float* in, int n, int h, int wd, int c, int p, const std::vector<float>& wk,
            const float* bias, int o, int k, float* out, int threads) {
  const int ho = h + 2 * p - k + 1, wo = wd + 2 * p - k + 1;
  threads = threads_for(double(n) * ho * wo * o * k * k * c, threads);
  const auto xp = padded(in, n, h, wd, c, p, threads);
  parallel(threads, [&](int t, int ts) {
    direct_rows(xp.get(), n, h + 2 * p, wd + 2 * p, c, wk.data(), bias, o, k, out, t, ts);
  });
}

// The three computations on raw pointers (shapes as in the header comment).
void forward(const float* x, const float* w, const float* bias, float* y, int n, int h,
             int wd, int c, int o, int k, int p, int threads) {
  direct(x, n, h, wd, c, p, packed(w, o, k, c, false), bias, o, k, y, threads);
}

void input_grad(const float* dy, const float* w, float* dx, int n, int h, int wd, int c,
                int o, int k, int p, int threads) {
  const int ho = h + 2 * p - k + 1, wo = wd + 2 * p - k + 1;
  direct(dy, n, ho, wo, o, k - 1 - p, packed(w, o, k, c, true), nullptr, c, k, dx, threads);
}

void weight_grad(const float* x, const float* dy, float* dw, int n, int h, int wd, int c,
                 int o, int k, int p, int threads) {
  const int hp = h + 2 * p, wp = wd + 2 * p, rows = n * (hp - k + 1);
  threads = std::min(threads_for(double(rows) * (wp - k + 1) * o * k * k * c, threads), rows);
  const auto xp = padded(x, n, h, wd, c, p, threads);
  const size_t size = size_t(k) * k * c * o;
  std::vector<std::vector<float>> sums(threads, std::vector<float>(size, 0.0f));
  parallel(threads, [&](int t, int ts) {
    weight_grad_rows(xp.get(), dy, hp, wp, c, o, k, rows * t / ts, rows * (t + 1) / ts,
                     sums[t].data());
  });
  for (int t = 1; t < threads; ++t) {
    for (size_t i = 0; i < size; ++i) sums[0][i] += sums[t][i];
  }
  // (K, K, C, O) -> MLX's (O, K, K, C)
  for (int q = 0; q < o; ++q) {
    for (size_t tap_c = 0; tap_c < size_t(k) * k * c; ++tap_c) {
      dw[size_t(q) * k * k * c + tap_c] = sums[0][tap_c * o + q];
    }
  }
}

// One primitive class for the three computations; `kind_` says which.
class DirectConv : public mx::UnaryPrimitive {
 public:
  enum Kind { kForward, kInputGrad, kWeightGrad };

  DirectConv(mx::Stream stream, Kind kind, int padding, int threads)
      : mx::UnaryPrimitive(stream), kind_(kind), padding_(padding), threads_(threads) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override {
    const mx::array& a = inputs[0];
    const mx::array& b = inputs[1];
    out.set_data(mx::allocator::malloc(out.nbytes()));
    // (n, h, w, c) of the convolution's input, (o, k) of its kernel, whatever the kind
    const mx::array& input = kind_ == kInputGrad ? out : a;
    const mx::array& kernel = kind_ == kWeightGrad ? out : b;
    const int n = input.shape(0), h = input.shape(1), w = input.shape(2), c = input.shape(3);
    const int o = kernel.shape(0), k = kernel.shape(1);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    encoder.set_input_array(a);
    encoder.set_input_array(b);
    encoder.set_output_array(out);
    const float* bias = nullptr;
    if (inputs.size() > 2) {  // the forward pass's bias
      encoder.set_input_array(inputs[2]);
      bias = inputs[2].data<float>();
    }
    encoder.dispatch([pa = a.data<float>(), pb = b.data<float>(), bias, po = out.data<float>(),
                      n, h, w, c, o, k, p = padding_, ts = threads_, kind = kind_]() {
      if (kind == kForward) forward(pa, pb, bias, po, n, h, w, c, o, k, p, ts);
      else if (kind == kInputGrad) input_grad(pa, pb, po, n, h, w, c, o, k, p, ts);
      else weight_grad(pa, pb, po, n, h, w, c, o, k, p, ts);
    });
  }

  void eval_gpu(const std::vector<mx::array>&, mx::array&) override {
    throw std::runtime_error("Menny's direct convolution runs on the CPU only.");
  }

  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>&) override {
    if (kind_ != kForward) {
      throw std::runtime_error("Menny's direct convolution has no second derivative.");
    }
    const mx::array &x = primals[0], &w = primals[1];
    const mx::array dy = mx::contiguous(cotangents[0], false, stream());
    std::vector<mx::array> grads;
    for (int arg : argnums) {
      if (arg == 2) {  // the bias: the output gradient summed over images and pixels
        grads.push_back(mx::sum(dy, {0, 1, 2}, false, stream()));
      } else if (arg == 1) {
        grads.push_back(make(kWeightGrad, w.shape(), {x, dy}));
      } else if (x.shape(3) % kLanes == 0) {
        grads.push_back(make(kInputGrad, x.shape(), {dy, w}));
      } else {  // few input channels (an RGB image): MLX's own input gradient
        auto plain = [p = padding_](const std::vector<mx::array>& in) {
          return std::vector<mx::array>{mx::conv2d(in[0], in[1], {1, 1}, {p, p})};
        };
        grads.push_back(mx::vjp(plain, {x, w}, {dy}).second[0]);
      }
    }
    return grads;
  }

  const char* name() const override {
    return kind_ == kForward     ? "MennyDirectConv2d"
           : kind_ == kInputGrad ? "MennyDirectConv2dInputGrad"
                                 : "MennyDirectConv2dWeightGrad";
  }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& that = static_cast<const DirectConv&>(other);
    return kind_ == that.kind_ && padding_ == that.padding_ && threads_ == that.threads_;
  }

  mx::array make(Kind kind, const mx::Shape& shape, std::vector<mx::array> inputs) {
    return mx::array(shape, mx::float32,
                     std::make_shared<DirectConv>(stream(), kind, padding_, threads_),
                     std::move(inputs));
  }

 private:
  Kind kind_;
  int padding_;
  int threads_;
};

}  // namespace

mx::array conv2d(const mx::array& x, const mx::array& weight,
                 const std::optional<mx::array>& bias, int padding, int threads) {
  if (x.ndim() != 4 || weight.ndim() != 4 || x.dtype() != mx::float32 ||
      weight.dtype() != mx::float32) {
    throw std::invalid_argument("x and weight must be 4-axis float32 arrays.");
  }
  const int k = weight.shape(1), o = weight.shape(0);
  if (weight.shape(2) != k || weight.shape(3) != x.shape(3) || o % kLanes != 0 ||
      padding < 0 || padding >= k || threads < 1) {
    throw std::invalid_argument(
        "weight must be (O, K, K, C) with O a multiple of 16 and the input's C channels, "
        "0 <= padding < K, threads >= 1.");
  }
  if (bias && (bias->ndim() != 1 || bias->shape(0) != o || bias->dtype() != mx::float32)) {
    throw std::invalid_argument("bias must be (O,) float32.");
  }
  const int ho = x.shape(1) + 2 * padding - k + 1, wo = x.shape(2) + 2 * padding - k + 1;
  if (ho < 1 || wo < 1) throw std::invalid_argument("the kernel is larger than the input.");
  const auto stream = mx::to_stream(mx::Device(mx::Device::cpu));
  std::vector<mx::array> inputs = {mx::contiguous(x, false, stream),
                                   mx::contiguous(weight, false, stream)};
  if (bias) inputs.push_back(mx::contiguous(*bias, false, stream));
  return mx::array(
      {x.shape(0), ho, wo, o}, mx::float32,
      std::make_shared<DirectConv>(stream, DirectConv::kForward, padding, threads),
      std::move(inputs));
}

}  // namespace menny
