#include "vae/gmm.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/linalg.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

namespace vae {
namespace {

constexpr double kLog2Pi = 1.8378770664093453;
constexpr double kRegCovar = 1e-6;
const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// k-means++ seeding, then Lloyd's iterations: the starting means.
torch::Tensor kmeans_start(const torch::Tensor& x, int64_t k, at::Generator& gen) {
  const int64_t n = x.size(0);
  std::vector<int64_t> picked{torch::randint(n, {1}, gen, torch::kInt64).item<int64_t>()};
  torch::Tensor d2 = (x - x[picked[0]]).pow(2).sum(1);
  while (static_cast<int64_t>(picked.size()) < k) {
    // A point with probability proportional to its squared distance to the
    // nearest centre; uniformly where every point is already a centre.
    const double total = d2.sum().item<double>();
    const torch::Tensor p = total > 0 ? d2 / total : torch::full({n}, 1.0 / static_cast<double>(n), kF64);
    const int64_t next = torch::multinomial(p, 1, /*replacement=*/true, gen).item<int64_t>();
    picked.push_back(next);
    d2 = torch::minimum(d2, (x - x[next]).pow(2).sum(1));
  }
  torch::Tensor centres = x.index_select(0, torch::tensor(picked, torch::kInt64));
  for (int it = 0; it < 10; ++it) {
    const torch::Tensor nearest = torch::cdist(x, centres).argmin(1);
    const torch::Tensor one_hot = torch::one_hot(nearest, k).to(torch::kFloat64);  // [N, K]
    const torch::Tensor counts = one_hot.sum(0);
    const torch::Tensor sums = one_hot.t().matmul(x);
    // A centre that lost every point stays where it was.
    centres = torch::where(counts.unsqueeze(1) > 0, sums / counts.clamp_min(1).unsqueeze(1), centres);
  }
  return centres;
}

// log N(x; mean_k, cov_k) for every component: [N, K].
torch::Tensor component_log_densities(const Gmm& g, const torch::Tensor& x) {
  const int64_t k = g.means.size(0), z = g.means.size(1);
  const torch::Tensor chol = torch::linalg::cholesky(g.covariances);  // [K, Z, Z]
  std::vector<torch::Tensor> cols;
  for (int64_t c = 0; c < k; ++c) {
    const torch::Tensor diff = (x - g.means[c]).t();  // [Z, N]
    const torch::Tensor y = torch::linalg_solve_triangular(chol[c], diff, /*upper=*/false);
    const torch::Tensor log_det = 2 * chol[c].diagonal().log().sum();
    cols.push_back(-0.5 * (static_cast<double>(z) * kLog2Pi + log_det + y.pow(2).sum(0)));
  }
  return torch::stack(cols, 1);
}

// The M-step from responsibilities r [N, K].
void maximize(Gmm& g, const torch::Tensor& x, const torch::Tensor& r) {
  const int64_t k = r.size(1), z = x.size(1);
  const torch::Tensor nk = r.sum(0) + 10 * std::numeric_limits<double>::epsilon();  // [K]
  g.weights = nk / nk.sum();
  g.means = r.t().matmul(x) / nk.unsqueeze(1);
  std::vector<torch::Tensor> covs;
  for (int64_t c = 0; c < k; ++c) {
    const torch::Tensor diff = x - g.means[c];
    torch::Tensor cov = g.covariance == GmmCovariance::kDiag
                            ? torch::diag((r.select(1, c).unsqueeze(1) * diff.pow(2)).sum(0) / nk[c])
                            : (diff * r.select(1, c).unsqueeze(1)).t().matmul(diff) / nk[c];
    covs.push_back(cov + kRegCovar * torch::eye(z, kF64));
  }
  g.covariances = torch::stack(covs);
}

}  // namespace

const char* name(GmmCovariance c) { return c == GmmCovariance::kDiag ? "diag" : "full"; }

Gmm fit_gmm(const torch::Tensor& codes, int64_t k, GmmCovariance covariance, uint64_t seed, int64_t max_iter,
            double tol) {
  if (codes.dim() != 2) throw std::invalid_argument("a GMM is fitted to codes [N, Z]");
  if (k < 1) throw std::invalid_argument("a GMM needs at least one component");
  if (codes.size(0) < k)
    throw std::invalid_argument("a GMM of " + std::to_string(k) + " components needs at least as many codes, got " +
                                std::to_string(codes.size(0)));
  const torch::Tensor x = codes.to(torch::kCPU, torch::kFloat64).contiguous();
  if (!torch::isfinite(x).all().item<bool>()) throw std::invalid_argument("the codes are not all finite");
  auto gen = at::detail::createCPUGenerator(seed);
  Gmm g;
  g.covariance = covariance;
  // Start: hard assignments to the k-means centres.
  const torch::Tensor centres = kmeans_start(x, k, gen);
  maximize(g, x, torch::one_hot(torch::cdist(x, centres).argmin(1), k).to(torch::kFloat64));
  double previous = -std::numeric_limits<double>::infinity();
  for (g.iterations = 1; g.iterations <= max_iter; ++g.iterations) {
    const torch::Tensor joint = component_log_densities(g, x) + g.weights.log().unsqueeze(0);  // [N, K]
    const torch::Tensor log_px = torch::logsumexp(joint, 1);
    g.mean_log_likelihood = log_px.mean().item<double>();
    if (g.mean_log_likelihood - previous < tol) {
      g.converged = true;
      break;
    }
    previous = g.mean_log_likelihood;
    maximize(g, x, torch::exp(joint - log_px.unsqueeze(1)));
  }
  g.iterations = std::min(g.iterations, max_iter);
  return g;
}

torch::Tensor gmm_log_density(const Gmm& g, const torch::Tensor& x) {
  const torch::Tensor xd = x.to(torch::kCPU, torch::kFloat64);
  return torch::logsumexp(component_log_densities(g, xd) + g.weights.log().unsqueeze(0), 1);
}

torch::Tensor sample_gmm(const Gmm& g, int64_t n, at::Generator& gen) {
  const torch::Tensor which = torch::multinomial(g.weights, n, /*replacement=*/true, gen);
  const torch::Tensor eps = torch::randn({n, g.means.size(1), 1}, gen, torch::kFloat64);
  const torch::Tensor chol = torch::linalg::cholesky(g.covariances).index_select(0, which);  // [n, Z, Z]
  return (g.means.index_select(0, which) + chol.matmul(eps).squeeze(2)).to(torch::kFloat32);
}

std::string gmm_to_json(const Gmm& g, const std::string& provenance) {
  const auto list = [](const torch::Tensor& t) {
    const torch::Tensor c = t.contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  nlohmann::ordered_json j = {
      {"format", "vae-gmm 1"},
      {"provenance", nlohmann::ordered_json::parse(provenance)},
      {"components", g.means.size(0)},
      {"latent", g.means.size(1)},
      {"covariance", name(g.covariance)},
      {"mean_log_likelihood", g.mean_log_likelihood},
      {"iterations", g.iterations},
      {"converged", g.converged},
      {"weights", list(g.weights)},
      {"means", list(g.means)},
      {"covariances", list(g.covariances)},
  };
  return j.dump(1) + "\n";
}

Gmm gmm_from_json(const std::string& text, std::string* provenance) {
  nlohmann::ordered_json j;  // the provenance keeps its keys' order
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("not JSON (") + e.what() + ")");
  }
  try {
    if (!j.is_object() || j.value("format", "") != "vae-gmm 1") throw std::runtime_error("not a vae-gmm 1 file");
    const int64_t k = j.at("components").get<int64_t>(), z = j.at("latent").get<int64_t>();
    if (k < 1 || z < 1 || k > 100000 || z > 65536) throw std::runtime_error("components or latent out of range");
    const auto tensor = [&](const char* key, std::vector<int64_t> shape) {
      const std::vector<double> v = j.at(key).get<std::vector<double>>();
      int64_t want = 1;
      for (int64_t s : shape) want *= s;
      if (static_cast<int64_t>(v.size()) != want) throw std::runtime_error(std::string(key) + " has the wrong size");
      for (double d : v)
        if (!std::isfinite(d)) throw std::runtime_error(std::string(key) + " holds a non-finite number");
      return torch::tensor(v, kF64).reshape(shape);
    };
    Gmm g;
    const std::string cov = j.at("covariance").get<std::string>();
    if (cov != "full" && cov != "diag") throw std::runtime_error("covariance must be full or diag");
    g.covariance = cov == "diag" ? GmmCovariance::kDiag : GmmCovariance::kFull;
    g.weights = tensor("weights", {k});
    g.means = tensor("means", {k, z});
    g.covariances = tensor("covariances", {k, z, z});
    g.mean_log_likelihood = j.at("mean_log_likelihood").get<double>();
    g.iterations = j.at("iterations").get<int64_t>();
    g.converged = j.at("converged").get<bool>();
    if ((g.weights < 0).any().item<bool>() || std::abs(g.weights.sum().item<double>() - 1) > 1e-6)
      throw std::runtime_error("weights are not a distribution");
    const auto [chol, info] = torch::linalg_cholesky_ex(g.covariances);
    if ((info != 0).any().item<bool>() || !torch::allclose(g.covariances, g.covariances.transpose(1, 2)))
      throw std::runtime_error("a covariance is not symmetric positive definite");
    if (provenance) *provenance = j.at("provenance").dump();
    return g;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("a field is missing or of the wrong type (") + e.what() + ")");
  }
}

}  // namespace vae
