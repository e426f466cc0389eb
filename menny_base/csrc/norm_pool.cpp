// BatchNorm -> ReLU -> 2x2 max-pool in one MLX primitive, forward and backward, for
// Menny's blocks. menny_base/fast_ops.py says when it is used and why.
//
// x (N, H, W, C) float32 with H and W even, gamma and beta (C,), and in eval mode the
// running mean and variance (C,), which then replace the batch's. Outputs:
//   y (N, H/2, W/2, C)  max(0, max over each 2x2 window of gamma * xhat + beta)
//   mean, var (C,)      the statistics used (the batch's var is the biased one, as
//                       BatchNorm normalises with)
//   which (N, H/2, W/2, C) float32: the window position (0, 1, 2 or 3) the maximum came
//                       from (float, like the values beside it, so the loops vectorise)
// with xhat = (x - mean) / sqrt(var + eps).
//
// Why one primitive: in MLX these are a dozen elementwise passes, reductions and
// broadcasts over the block's largest map, forward and backward, each on one thread.
// Here the forward pass reads x three times (two for the statistics, one to normalise
// and pool) and writes a quarter of it; the backward pass sums the pooled gradient (reading
// x where the maxima were), then reads x once and writes dx. All passes are split over
// threads by rows.
//
// Backward, with M = N*H*W values per channel and g the pooled gradient where y > 0:
//   dbeta = sum g,  dgamma = sum g * xhat[where the max was]
//   dx = gamma / (M sqrt(var + eps)) * (M * dz - dbeta - xhat * dgamma)
// (with the running statistics, constants, only the M * dz term remains)
// where dz is g at the position the maximum came from and 0 at the other three. Where a
// window holds equal maxima (flat regions of a drawn picture), the first one gets the
// gradient, as in PyTorch's max-pool; MLX's max gives each of them the whole gradient.

#include <cmath>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <vector>

#include <immintrin.h>

#include "common.h"

namespace menny {
namespace {

struct Shape {
  int n, h, w, c;
  int rows() const { return n * (h / 2); }  // pooled rows
  int64_t count() const { return int64_t(n) * h * w; }
};

// This thread's share of the per-channel sums over x of the values (centre == nullptr) or
// of their squared distances to `centre`: float within a row, double across rows.
MENNY_AVX2 void channel_sums(const float* x, const Shape& s, const float* centre,
                             double* sums, int t, int ts) {
  std::vector<float> row(s.c);
  for (int r = t; r < s.n * s.h; r += ts) {
    std::fill(row.begin(), row.end(), 0.0f);
    const float* in = x + size_t(r) * s.w * s.c;
    for (int i = 0; i < s.w; ++i, in += s.c) {
      if (centre == nullptr) {
        for (int ch = 0; ch < s.c; ++ch) row[ch] += in[ch];
      } else {
        for (int ch = 0; ch < s.c; ++ch) {
          const float d = in[ch] - centre[ch];
          row[ch] += d * d;
        }
      }
    }
    for (int ch = 0; ch < s.c; ++ch) sums[ch] += row[ch];
  }
}

// The per-channel sums of channel_sums over all threads.
std::vector<double> total(const float* x, const Shape& s, const float* centre, int threads) {
  std::vector<std::vector<double>> parts(threads, std::vector<double>(s.c, 0.0));
  parallel(threads, [&](int t, int ts) { channel_sums(x, s, centre, parts[t].data(), t, ts); });
  for (int t = 1; t < threads; ++t) {
    for (int ch = 0; ch < s.c; ++ch) parts[0][ch] += parts[t][ch];
  }
  return parts[0];
}

// One channel of one window: the normalised maximum after ReLU, and where it was (the
// first of equal values wins).
inline void pool_one(float a, float b, float d, float e, float scale, float shift, float& out,
                     float& at) {
  const float z0 = a * scale + shift, z1 = b * scale + shift;
  const float z2 = d * scale + shift, z3 = e * scale + shift;
  const float m01 = z1 > z0 ? z1 : z0, m23 = z3 > z2 ? z3 : z2;
  const float i01 = z1 > z0 ? 1.0f : 0.0f, i23 = z3 > z2 ? 3.0f : 2.0f;
  const float m = m23 > m01 ? m23 : m01;
  out = m > 0.0f ? m : 0.0f;
  at = m23 > m01 ? i23 : i01;
}

MENNY_AVX2 void pool_rows(const float* x, const float* scale, const float* shift,
                          const Shape& s, float* y, float* which, int t, int ts) {
  const int pw = s.w / 2;
  for (int r = t; r < s.rows(); r += ts) {
    const int img = r / (s.h / 2), ph = r % (s.h / 2);
    const float* top = x + (size_t(img) * s.h + 2 * ph) * s.w * s.c;
    const float* bottom = top + size_t(s.w) * s.c;
    float* out = y + size_t(r) * pw * s.c;
    float* at = which + size_t(r) * pw * s.c;
    for (int j = 0; j < pw; ++j, out += s.c, at += s.c) {
      const float *a = top + 2 * j * s.c, *b = a + s.c;
      const float *d = bottom + 2 * j * s.c, *e = d + s.c;
      int ch = 0;
      for (; ch + 8 <= s.c; ch += 8) {  // eight channels at a time, as pool_one does
        const __m256 k = _mm256_loadu_ps(scale + ch), sh = _mm256_loadu_ps(shift + ch);
        const __m256 z0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + ch), k, sh);
        const __m256 z1 = _mm256_fmadd_ps(_mm256_loadu_ps(b + ch), k, sh);
        const __m256 z2 = _mm256_fmadd_ps(_mm256_loadu_ps(d + ch), k, sh);
        const __m256 z3 = _mm256_fmadd_ps(_mm256_loadu_ps(e + ch), k, sh);
        const __m256 up01 = _mm256_cmp_ps(z1, z0, _CMP_GT_OQ);
        const __m256 up23 = _mm256_cmp_ps(z3, z2, _CMP_GT_OQ);
        const __m256 m01 = _mm256_blendv_ps(z0, z1, up01), m23 = _mm256_blendv_ps(z2, z3, up23);
        const __m256 i01 = _mm256_blendv_ps(_mm256_set1_ps(0), _mm256_set1_ps(1), up01);
        const __m256 i23 = _mm256_blendv_ps(_mm256_set1_ps(2), _mm256_set1_ps(3), up23);
        const __m256 right = _mm256_cmp_ps(m23, m01, _CMP_GT_OQ);
        const __m256 m = _mm256_blendv_ps(m01, m23, right);
        _mm256_storeu_ps(out + ch, _mm256_max_ps(m, _mm256_setzero_ps()));
        _mm256_storeu_ps(at + ch, _mm256_blendv_ps(i01, i23, right));
      }
      for (; ch < s.c; ++ch) {
        pool_one(a[ch], b[ch], d[ch], e[ch], scale[ch], shift[ch], out[ch], at[ch]);
      }
    }
  }
}

// Threads worth starting for the map `s` (one image late in the network is less work than
// starting a thread).
int threads_for(const Shape& s, int threads) {
  return std::max(1, std::min(threads, int(double(s.count()) * s.c / 2e5)));
}

// running (mean, var) given: normalise with them (inference) instead of the batch's.
void forward(const float* x, const float* gamma, const float* beta, float eps, const Shape& s,
             int threads, const float* running_mean, const float* running_var, float* y,
             float* mean_out, float* var_out, float* which) {
  const double m = double(s.count());
  threads = threads_for(s, threads);
  std::vector<float> scale(s.c), shift(s.c);
  if (running_mean != nullptr) {
    std::copy(running_mean, running_mean + s.c, mean_out);
    std::copy(running_var, running_var + s.c, var_out);
  } else {
    const auto sums = total(x, s, nullptr, threads);
    for (int ch = 0; ch < s.c; ++ch) mean_out[ch] = float(sums[ch] / m);
    const auto centred = total(x, s, mean_out, threads);
    for (int ch = 0; ch < s.c; ++ch) var_out[ch] = float(centred[ch] / m);
  }
  for (int ch = 0; ch < s.c; ++ch) {
    const float inv = 1.0f / std::sqrt(var_out[ch] + eps);
    scale[ch] = gamma[ch] * inv;
    shift[ch] = beta[ch] - mean_out[ch] * scale[ch];
  }
  parallel(threads, [&](int t, int ts) {
    pool_rows(x, scale.data(), shift.data(), s, y, which, t, ts);
  });
}

// Pass 1 of the backward: per-thread (sum g, sum g * xhat) over the pooled cells.
MENNY_AVX2 void gradient_sums(const float* x, const float* y, const float* which,
                              const float* dy, const float* mean, const float* inv,
                              const Shape& s, double* sum_g, double* sum_gx, int t, int ts) {
  const int pw = s.w / 2;
  std::vector<float> row_g(s.c), row_gx(s.c);
  for (int r = t; r < s.rows(); r += ts) {
    std::fill(row_g.begin(), row_g.end(), 0.0f);
    std::fill(row_gx.begin(), row_gx.end(), 0.0f);
    const int img = r / (s.h / 2), ph = r % (s.h / 2);
    const float* top = x + (size_t(img) * s.h + 2 * ph) * s.w * s.c;
    const float* bottom = top + size_t(s.w) * s.c;
    const size_t base = size_t(r) * pw * s.c;
    for (int j = 0; j < pw; ++j) {
      const float *a = top + 2 * j * s.c, *b = a + s.c;
      const float *d = bottom + 2 * j * s.c, *e = d + s.c;
      const float* out = y + base + size_t(j) * s.c;
      const float* g_in = dy + base + size_t(j) * s.c;
      const float* at = which + base + size_t(j) * s.c;
      int ch = 0;
      for (; ch + 8 <= s.c; ch += 8) {
        const __m256 open =
            _mm256_cmp_ps(_mm256_loadu_ps(out + ch), _mm256_setzero_ps(), _CMP_GT_OQ);
        const __m256 g = _mm256_and_ps(open, _mm256_loadu_ps(g_in + ch));
        const __m256 q = _mm256_loadu_ps(at + ch);
        __m256 v = _mm256_loadu_ps(a + ch);  // the value the maximum came from
        v = _mm256_blendv_ps(v, _mm256_loadu_ps(b + ch),
                             _mm256_cmp_ps(q, _mm256_set1_ps(1), _CMP_EQ_OQ));
        v = _mm256_blendv_ps(v, _mm256_loadu_ps(d + ch),
                             _mm256_cmp_ps(q, _mm256_set1_ps(2), _CMP_EQ_OQ));
        v = _mm256_blendv_ps(v, _mm256_loadu_ps(e + ch),
                             _mm256_cmp_ps(q, _mm256_set1_ps(3), _CMP_EQ_OQ));
        const __m256 xhat = _mm256_mul_ps(_mm256_sub_ps(v, _mm256_loadu_ps(mean + ch)),
                                          _mm256_loadu_ps(inv + ch));
        _mm256_storeu_ps(&row_g[ch], _mm256_add_ps(_mm256_loadu_ps(&row_g[ch]), g));
        _mm256_storeu_ps(&row_gx[ch], _mm256_fmadd_ps(g, xhat, _mm256_loadu_ps(&row_gx[ch])));
      }
      for (; ch < s.c; ++ch) {
        const float g = out[ch] > 0.0f ? g_in[ch] : 0.0f;
        const float q = at[ch];
        const float v = q == 0.0f ? a[ch] : q == 1.0f ? b[ch] : q == 2.0f ? d[ch] : e[ch];
        row_g[ch] += g;
        row_gx[ch] += g * (v - mean[ch]) * inv[ch];
      }
    }
    for (int ch = 0; ch < s.c; ++ch) sum_g[ch] += row_g[ch], sum_gx[ch] += row_gx[ch];
  }
}

// Pass 2 of the backward: dx everywhere.
MENNY_AVX2 void input_gradient(const float* x, const float* y, const float* which,
                               const float* dy, const float* mean, const float* inv,
                               const float* k, const float* k_sum_g, const float* k_sum_gx,
                               float m, const Shape& s, float* dx, int t, int ts) {
  const int pw = s.w / 2;
  const __m256 mm = _mm256_set1_ps(m);
  for (int r = t; r < s.rows(); r += ts) {
    const int img = r / (s.h / 2), ph = r % (s.h / 2);
    const size_t top_at = (size_t(img) * s.h + 2 * ph) * s.w * s.c;
    const size_t bottom_at = top_at + size_t(s.w) * s.c;
    const size_t base = size_t(r) * pw * s.c;
    for (int j = 0; j < pw; ++j) {
      const size_t at[4] = {top_at + 2 * j * s.c, top_at + (2 * j + 1) * s.c,
                            bottom_at + 2 * j * s.c, bottom_at + (2 * j + 1) * s.c};
      const float* out = y + base + size_t(j) * s.c;
      const float* g_in = dy + base + size_t(j) * s.c;
      const float* from = which + base + size_t(j) * s.c;
      for (int q = 0; q < 4; ++q) {
        const float* in = x + at[q];
        float* grad = dx + at[q];
        const __m256 here = _mm256_set1_ps(float(q));
        int ch = 0;
        for (; ch + 8 <= s.c; ch += 8) {
          const __m256 open = _mm256_cmp_ps(_mm256_loadu_ps(out + ch), _mm256_setzero_ps(),
                                            _CMP_GT_OQ);
          const __m256 mine = _mm256_cmp_ps(_mm256_loadu_ps(from + ch), here, _CMP_EQ_OQ);
          const __m256 g = _mm256_and_ps(_mm256_and_ps(open, mine), _mm256_loadu_ps(g_in + ch));
          const __m256 xhat = _mm256_mul_ps(
              _mm256_sub_ps(_mm256_loadu_ps(in + ch), _mm256_loadu_ps(mean + ch)),
              _mm256_loadu_ps(inv + ch));
          // k * m * g - k_sum_g - xhat * k_sum_gx
          const __m256 first = _mm256_fmsub_ps(_mm256_mul_ps(_mm256_loadu_ps(k + ch), mm), g,
                                               _mm256_loadu_ps(k_sum_g + ch));
          _mm256_storeu_ps(grad + ch,
                           _mm256_fnmadd_ps(xhat, _mm256_loadu_ps(k_sum_gx + ch), first));
        }
        for (; ch < s.c; ++ch) {
          const float g = (out[ch] > 0.0f && from[ch] == float(q)) ? g_in[ch] : 0.0f;
          const float xhat = (in[ch] - mean[ch]) * inv[ch];
          grad[ch] = k[ch] * m * g - k_sum_g[ch] - xhat * k_sum_gx[ch];
        }
      }
    }
  }
}

// frozen: the statistics were the running ones, constants here (inference, saliency): the
// batch terms of the input gradient drop out.
void backward(const float* x, const float* gamma, const float* mean, const float* var,
              float eps, bool frozen, const float* y, const float* which, const float* dy,
              const Shape& s, int threads, float* dx, float* dgamma, float* dbeta) {
  threads = threads_for(s, threads);
  std::vector<float> inv(s.c);
  for (int ch = 0; ch < s.c; ++ch) inv[ch] = 1.0f / std::sqrt(var[ch] + eps);
  std::vector<std::vector<double>> sum_g(threads, std::vector<double>(s.c, 0.0));
  std::vector<std::vector<double>> sum_gx(threads, std::vector<double>(s.c, 0.0));
  parallel(threads, [&](int t, int ts) {
    gradient_sums(x, y, which, dy, mean, inv.data(), s, sum_g[t].data(), sum_gx[t].data(), t,
                  ts);
  });
  const float m = float(s.count());
  std::vector<float> k(s.c), k_sum_g(s.c), k_sum_gx(s.c);
  for (int ch = 0; ch < s.c; ++ch) {
    double g = 0, gx = 0;
    for (int t = 0; t < threads; ++t) g += sum_g[t][ch], gx += sum_gx[t][ch];
    dbeta[ch] = float(g), dgamma[ch] = float(gx);
    k[ch] = gamma[ch] * inv[ch] / m;
    k_sum_g[ch] = frozen ? 0.0f : k[ch] * float(g);
    k_sum_gx[ch] = frozen ? 0.0f : k[ch] * float(gx);
  }
  parallel(threads, [&](int t, int ts) {
    input_gradient(x, y, which, dy, mean, inv.data(), k.data(), k_sum_g.data(),
                   k_sum_gx.data(), m, s, dx, t, ts);
  });
}

Shape shape_of(const mx::array& x) {
  return {int(x.shape(0)), int(x.shape(1)), int(x.shape(2)), int(x.shape(3))};
}

void allocate(std::vector<mx::array>& outputs) {
  for (auto& out : outputs) out.set_data(mx::allocator::malloc(out.nbytes()));
}

// Backward: (x, gamma, mean, var, y, which, dy) -> (dx, dgamma, dbeta)
class NormReluPoolGrad : public mx::Primitive {
 public:
  NormReluPoolGrad(mx::Stream stream, float eps, bool frozen, int threads)
      : mx::Primitive(stream), eps_(eps), frozen_(frozen), threads_(threads) {}

  void eval_cpu(const std::vector<mx::array>& in, std::vector<mx::array>& out) override {
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : in) encoder.set_input_array(a);
    for (auto& a : out) encoder.set_output_array(a);
    encoder.dispatch([x = in[0].data<float>(), gamma = in[1].data<float>(),
                      mean = in[2].data<float>(), var = in[3].data<float>(),
                      y = in[4].data<float>(), which = in[5].data<float>(),
                      dy = in[6].data<float>(), dx = out[0].data<float>(),
                      dgamma = out[1].data<float>(), dbeta = out[2].data<float>(),
                      s = shape_of(in[0]), eps = eps_, frozen = frozen_, threads = threads_]() {
      backward(x, gamma, mean, var, eps, frozen, y, which, dy, s, threads, dx, dgamma, dbeta);
    });
  }

  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error("Menny's fused BatchNorm and pool runs on the CPU only.");
  }

  const char* name() const override { return "MennyNormReluPoolGrad"; }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& that = static_cast<const NormReluPoolGrad&>(other);
    return eps_ == that.eps_ && frozen_ == that.frozen_ && threads_ == that.threads_;
  }

 private:
  float eps_;
  bool frozen_;
  int threads_;
};

// Forward: (x, gamma, beta[, running mean, running var]) -> (y, mean, var, which); with
// the running statistics given ("frozen", inference) they are used and passed through.
class NormReluPool : public mx::Primitive {
 public:
  NormReluPool(mx::Stream stream, float eps, int threads)
      : mx::Primitive(stream), eps_(eps), threads_(threads) {}

  void eval_cpu(const std::vector<mx::array>& in, std::vector<mx::array>& out) override {
    allocate(out);
    auto& encoder = mx::cpu::get_command_encoder(stream());
    for (const auto& a : in) encoder.set_input_array(a);
    for (auto& a : out) encoder.set_output_array(a);
    const bool frozen = in.size() == 5;
    encoder.dispatch([x = in[0].data<float>(), gamma = in[1].data<float>(),
                      beta = in[2].data<float>(),
                      running_mean = frozen ? in[3].data<float>() : nullptr,
                      running_var = frozen ? in[4].data<float>() : nullptr,
                      y = out[0].data<float>(), mean = out[1].data<float>(),
                      var = out[2].data<float>(), which = out[3].data<float>(),
                      s = shape_of(in[0]), eps = eps_, threads = threads_]() {
      forward(x, gamma, beta, eps, s, threads, running_mean, running_var, y, mean, var, which);
    });
  }

  void eval_gpu(const std::vector<mx::array>&, std::vector<mx::array>&) override {
    throw std::runtime_error("Menny's fused BatchNorm and pool runs on the CPU only.");
  }

  // Only y carries a gradient: the batch statistics feed the running averages, not the
  // loss, and the running statistics are BatchNorm's frozen state, not parameters.
  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>& outputs) override {
    const auto s = stream();
    const bool frozen = primals.size() == 5;
    for (int arg : argnums) {
      if (arg > 2) {
        throw std::invalid_argument("the running statistics have no gradient here.");
      }
    }
    auto grads = mx::array::make_arrays(
        {primals[0].shape(), primals[1].shape(), primals[1].shape()},
        {mx::float32, mx::float32, mx::float32},
        std::make_shared<NormReluPoolGrad>(s, eps_, frozen, threads_),
        {primals[0], primals[1], outputs[1], outputs[2], outputs[0], outputs[3],
         mx::contiguous(cotangents[0], false, s)});
    std::vector<mx::array> result;
    for (int arg : argnums) result.push_back(grads[arg]);  // x, gamma, beta in order
    return result;
  }

  const char* name() const override { return "MennyNormReluPool"; }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& that = static_cast<const NormReluPool&>(other);
    return eps_ == that.eps_ && threads_ == that.threads_;
  }

 private:
  float eps_;
  int threads_;
};

}  // namespace

std::vector<mx::array> norm_relu_pool(const mx::array& x, const mx::array& gamma,
                                      const mx::array& beta, float eps, int threads,
                                      const std::optional<mx::array>& running_mean,
                                      const std::optional<mx::array>& running_var) {
  if (x.ndim() != 4 || x.dtype() != mx::float32 || gamma.dtype() != mx::float32 ||
      beta.dtype() != mx::float32) {
    throw std::invalid_argument("x must be (N, H, W, C) float32, gamma and beta float32.");
  }
  const int c = x.shape(3);
  if (x.shape(1) % 2 || x.shape(2) % 2 || x.shape(1) < 2 || x.shape(2) < 2 ||
      gamma.ndim() != 1 || beta.ndim() != 1 || gamma.shape(0) != c || beta.shape(0) != c ||
      !(eps > 0) || threads < 1) {
    throw std::invalid_argument(
        "H and W must be even, gamma and beta (C,), eps > 0 and threads >= 1.");
  }
  if (running_mean.has_value() != running_var.has_value()) {
    throw std::invalid_argument("give both running statistics or neither.");
  }
  const auto s = mx::to_stream(mx::Device(mx::Device::cpu));
  std::vector<mx::array> inputs = {mx::contiguous(x, false, s), mx::contiguous(gamma, false, s),
                                   mx::contiguous(beta, false, s)};
  for (const auto* stat : {&running_mean, &running_var}) {
    if (!stat->has_value()) continue;
    if ((*stat)->ndim() != 1 || (*stat)->shape(0) != c || (*stat)->dtype() != mx::float32) {
      throw std::invalid_argument("the running statistics must be (C,) float32.");
    }
    inputs.push_back(mx::contiguous(**stat, false, s));
  }
  const mx::Shape pooled = {x.shape(0), x.shape(1) / 2, x.shape(2) / 2, c};
  return mx::array::make_arrays(
      {pooled, {c}, {c}, pooled}, {mx::float32, mx::float32, mx::float32, mx::float32},
      std::make_shared<NormReluPool>(s, eps, threads), std::move(inputs));
}

}  // namespace menny
