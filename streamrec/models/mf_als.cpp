// Implicit ALS of MatrixFactorization with conjugate-gradient solves.
#include <cmath>
#include <vector>

#include "streamrec/core/parallel.h"
#include "streamrec/models/mf.h"

namespace streamrec::models {

void MatrixFactorization::gram(const std::vector<float>& M, uint32_t rows,
                               std::vector<float>& out) const {
  out.assign(size_t{k_} * k_, 0.0f);
  std::vector<double> acc(size_t{k_} * k_, 0.0);
  for (uint32_t r = 0; r < rows; ++r) {
    const float* m = &M[size_t{r} * k_];
    for (uint32_t a = 0; a < k_; ++a) {
      const double ma = m[a];
      double* row = &acc[size_t{a} * k_];
      for (uint32_t b = a; b < k_; ++b) row[b] += ma * m[b];
    }
  }
  for (uint32_t a = 0; a < k_; ++a)
    for (uint32_t b = a; b < k_; ++b)
      out[size_t{a} * k_ + b] = out[size_t{b} * k_ + a] =
          static_cast<float>(acc[size_t{a} * k_ + b]);
}

// Minimizes sum_i c_i (1 - x.y_i)^2 + sum_{other} (x.y)^2 + reg |x|^2, i.e. solves
// (YtY + Y_u^T (C_u - I) Y_u + reg I) x = Y_u^T C_u 1, by CG from the current x.
void MatrixFactorization::als_solve_row(float* x, const float* Y, const std::vector<float>& YtY,
                                        std::span<const uint32_t> cols,
                                        std::span<const float> values) const {
  const uint32_t k = k_;
  std::vector<float> r(k), p(k), Ap(k);
  // r = b - A x
  for (uint32_t a = 0; a < k; ++a) {
    float s = reg_ * x[a];
    const float* g = &YtY[size_t{a} * k];
    for (uint32_t b = 0; b < k; ++b) s += g[b] * x[b];
    r[a] = -s;
  }
  for (size_t n = 0; n < cols.size(); ++n) {
    const float* y = &Y[size_t{cols[n]} * k];
    const float c = 1.0f + alpha_ * values[n];
    float xy = 0;
    for (uint32_t a = 0; a < k; ++a) xy += x[a] * y[a];
    const float w = c - (c - 1.0f) * xy;  // c * 1 - (c - 1) * x.y
    for (uint32_t a = 0; a < k; ++a) r[a] += w * y[a];
  }
  p = r;
  float rs = 0;
  for (float v : r) rs += v * v;
  const int64_t steps = params_.integer("cg_steps");
  for (int64_t it = 0; it < steps && rs > 1e-20f; ++it) {
    for (uint32_t a = 0; a < k; ++a) {
      float s = reg_ * p[a];
      const float* g = &YtY[size_t{a} * k];
      for (uint32_t b = 0; b < k; ++b) s += g[b] * p[b];
      Ap[a] = s;
    }
    for (size_t n = 0; n < cols.size(); ++n) {
      const float* y = &Y[size_t{cols[n]} * k];
      const float c = 1.0f + alpha_ * values[n];
      float py = 0;
      for (uint32_t a = 0; a < k; ++a) py += p[a] * y[a];
      const float w = (c - 1.0f) * py;
      for (uint32_t a = 0; a < k; ++a) Ap[a] += w * y[a];
    }
    float pAp = 0;
    for (uint32_t a = 0; a < k; ++a) pAp += p[a] * Ap[a];
    if (pAp <= 0) break;
    const float step = rs / pAp;
    float rs_new = 0;
    for (uint32_t a = 0; a < k; ++a) {
      x[a] += step * p[a];
      r[a] -= step * Ap[a];
      rs_new += r[a] * r[a];
    }
    for (uint32_t a = 0; a < k; ++a) p[a] = r[a] + (rs_new / rs) * p[a];
    rs = rs_new;
  }
}

void MatrixFactorization::fit_als(const TrainData& data) {
  const int64_t epochs = params_.integer("epochs") > 0 ? params_.integer("epochs") : 15;
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    gram(Q_, n_items_, QtQ_);
    parallel_for(n_users_, [&](size_t b, size_t e, int) {
      for (size_t u = b; u < e; ++u)
        als_solve_row(&P_[u * k_], Q_.data(), QtQ_, user_items_[u], user_values_[u]);
    });
    gram(P_, n_users_, PtP_);
    parallel_for(n_items_, [&](size_t b, size_t e, int) {
      for (size_t i = b; i < e; ++i)
        als_solve_row(&Q_[i * k_], P_.data(), PtP_, item_users_[i], item_values_[i]);
    });
    report_progress(epoch + 1, epochs);
  }
  gram(Q_, n_items_, QtQ_);
}

}  // namespace streamrec::models
