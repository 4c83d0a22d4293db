// A Gaussian mixture fitted to a model's codes: the prior that lets any
// autoencoder generate (pythae's GaussianMixtureSampler, the RAE paper's
// "ex-post density estimation"). vae-sample --prior gmm fits one to the
// codes of the training images, keeps it beside the checkpoint, and
// decodes its draws.
//
//   vae::Gmm g = vae::fit_gmm(codes, 10, vae::GmmCovariance::kFull, 1);  // codes [N, Z]
//   torch::Tensor z = vae::sample_gmm(g, 64, gen);                     // [64, Z] float32
//   torch::Tensor lp = vae::gmm_log_density(g, codes);                  // [N] float64
#pragma once

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <string>

namespace vae {

enum class GmmCovariance { kFull, kDiag };
const char* name(GmmCovariance c);

struct Gmm {
  torch::Tensor weights;      // [K] float64, summing to 1
  torch::Tensor means;        // [K, Z] float64
  torch::Tensor covariances;  // [K, Z, Z] float64, positive definite (diagonal for kDiag)
  GmmCovariance covariance = GmmCovariance::kFull;
  double mean_log_likelihood = 0;  // per code, at the end of the fit
  int64_t iterations = 0;          // EM iterations run
  bool converged = false;          // the mean log-likelihood gained less than the tolerance
};

// EM from a k-means++ start (seeded by `seed`, CPU, float64), as
// scikit-learn's GaussianMixture: at most max_iter iterations, stopping when
// the mean log-likelihood gains less than tol; 1e-6 is added to every
// variance (reg_covar) so no component collapses on a point. codes [N, Z],
// N >= k. Throws std::invalid_argument for k < 1, N < k, or a non-finite code.
Gmm fit_gmm(const torch::Tensor& codes, int64_t k, GmmCovariance covariance, uint64_t seed, int64_t max_iter = 200,
            double tol = 1e-4);

// log p(x) under the mixture for x [N, Z] -> [N] float64.
torch::Tensor gmm_log_density(const Gmm& g, const torch::Tensor& x);

// n draws [n, Z] float32 from `gen` (a CPU generator): a component by its
// weight, then its Gaussian.
torch::Tensor sample_gmm(const Gmm& g, int64_t n, at::Generator& gen);

// The fit as JSON text (every number exactly: doubles round-trip), with
// `provenance` (a JSON object's text: what the codes were) kept beside it.
std::string gmm_to_json(const Gmm& g, const std::string& provenance);
// Reads gmm_to_json's text; the provenance object's text into *provenance.
// Throws std::runtime_error naming the problem for anything else (shapes,
// weights, a covariance that is not positive definite).
Gmm gmm_from_json(const std::string& text, std::string* provenance);

}  // namespace vae
