#include "vae/categorical_prior.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace vae {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// log p(code_n | component c) for every code and component: [N, C], in
// chunks of codes so that no temporary exceeds about 2^24 numbers.
torch::Tensor component_log_likelihood(const torch::Tensor& log_probs, const torch::Tensor& flat) {
  const int64_t c = log_probs.size(0), p = log_probs.size(1), k = log_probs.size(2), n = flat.size(0);
  // Row (c, position) of log_probs viewed [C, P * K]; code n's entries at position * K + index.
  const torch::Tensor table = log_probs.reshape({c, p * k});
  const torch::Tensor offsets = torch::arange(p, torch::kInt64).unsqueeze(0) * k;
  const int64_t chunk = std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(c * p, 1));
  torch::Tensor out = torch::empty({n, c}, kF64);
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t len = std::min(chunk, n - start);
    const torch::Tensor keys = flat.narrow(0, start, len) + offsets;                 // [len, P]
    const torch::Tensor picked = table.index_select(1, keys.reshape({-1}));           // [C, len * P]
    out.narrow(0, start, len).copy_(picked.reshape({c, len, p}).sum(2).t());
  }
  return out;
}

// The M step: weights and per-component frequencies from responsibilities r [N, C].
void m_step(CategoricalPrior& out, const torch::Tensor& flat, const torch::Tensor& r, int64_t k) {
  const int64_t c = r.size(1), p = flat.size(1);
  const torch::Tensor keys = (flat + torch::arange(p, torch::kInt64).unsqueeze(0) * k).reshape({-1});  // [N * P]
  torch::Tensor counts = torch::zeros({c, p * k}, kF64);
  for (int64_t j = 0; j < c; ++j)  // each code's weight in component j, at each of its positions
    counts[j].index_add_(0, keys, r.select(1, j).repeat_interleave(p));
  counts = counts.reshape({c, p, k});
  const torch::Tensor mass = r.sum(0);  // [C]
  out.weights = mass / mass.sum();
  out.probs = counts / counts.sum(2, /*keepdim=*/true).clamp_min(std::numeric_limits<double>::min());
  // An empty component keeps a uniform row, so its log-probabilities stay finite.
  const torch::Tensor empty = (mass <= 0).reshape({c, 1, 1});
  out.probs = torch::where(empty, torch::full_like(out.probs, 1.0 / static_cast<double>(k)), out.probs);
}

}  // namespace

CategoricalPrior fit_categorical(const torch::Tensor& indices, int64_t codebook_size, int64_t components,
                                 uint64_t seed, int64_t max_iter, double tol) {
  if (indices.dim() < 2 || indices.scalar_type() != torch::kInt64)
    throw std::invalid_argument("fit_categorical: needs int64 indices [N, positions...]");
  const int64_t n = indices.size(0);
  if (components < 1 || n < components)
    throw std::invalid_argument("fit_categorical: needs at least " + std::to_string(std::max<int64_t>(components, 1)) +
                                " codes for " + std::to_string(components) + " components, got " + std::to_string(n));
  const torch::Tensor flat = indices.to(torch::kCPU).reshape({n, -1}).contiguous();  // [N, P]
  if (flat.min().item<int64_t>() < 0 || flat.max().item<int64_t>() >= codebook_size)
    throw std::invalid_argument("fit_categorical: an index lies outside [0, " + std::to_string(codebook_size) + ")");
  CategoricalPrior out;
  out.grid = indices.sizes().slice(1).vec();
  out.images = n;
  // The start, k-means++ with the Hamming distance (positions that differ):
  // a code drawn by the seed, then each next one with probability
  // proportional to its squared distance from the nearest drawn so far;
  // every code to its nearest.
  auto gen = at::detail::createCPUGenerator(seed);
  torch::Tensor matches = torch::empty({n, components}, torch::kInt64);
  torch::Tensor nearest = torch::full({n}, std::numeric_limits<int64_t>::max(), torch::kInt64);  // distance
  int64_t pick = torch::randint(n, {1}, gen, torch::kInt64).item<int64_t>();
  for (int64_t j = 0; j < components; ++j) {
    matches.select(1, j).copy_((flat == flat[pick]).sum(1));
    nearest = torch::minimum(nearest, flat.size(1) - matches.select(1, j));
    if (j + 1 == components) break;
    const torch::Tensor d2 = nearest.to(torch::kFloat64).pow(2);
    pick = d2.sum().item<double>() > 0 ? torch::multinomial(d2, 1, false, gen).item<int64_t>()
                                       : torch::randint(n, {1}, gen, torch::kInt64).item<int64_t>();
  }
  torch::Tensor r = torch::one_hot(matches.argmax(1), components).to(torch::kFloat64);
  double previous = -std::numeric_limits<double>::infinity();
  out.converged = components == 1;
  for (int64_t it = 0; it < std::max<int64_t>(max_iter, 1); ++it) {
    m_step(out, flat, r, codebook_size);
    const torch::Tensor joint = component_log_likelihood(torch::log(out.probs), flat) + torch::log(out.weights);
    const torch::Tensor log_p = torch::logsumexp(joint, 1);  // [N]
    out.mean_log_likelihood = log_p.mean().item<double>();
    r = torch::exp(joint - log_p.unsqueeze(1));
    out.iterations = components == 1 ? 0 : it + 1;
    if (components == 1) break;  // the frequencies are the fit
    if (out.mean_log_likelihood - previous < tol) {
      out.converged = true;
      break;
    }
    previous = out.mean_log_likelihood;
  }
  return out;
}

torch::Tensor sample_categorical(const CategoricalPrior& p, int64_t n, at::Generator& gen) {
  const int64_t positions = p.probs.size(1);
  const torch::Tensor which = torch::multinomial(p.weights, n, /*replacement=*/true, gen);  // [n]
  // The draws of each component together: every position's row gives that
  // component's m draws at once ([positions, m]), so nothing of size
  // n x positions x codebook_size is made.
  torch::Tensor out = torch::empty({n, positions}, torch::kInt64);
  for (int64_t j = 0; j < p.probs.size(0); ++j) {
    const torch::Tensor mine = (which == j).nonzero().reshape({-1});
    if (mine.numel() == 0) continue;
    out.index_copy_(0, mine, torch::multinomial(p.probs[j], mine.numel(), /*replacement=*/true, gen).t());
  }
  std::vector<int64_t> shape = p.grid;
  shape.insert(shape.begin(), n);
  return out.reshape(shape);
}

torch::Tensor categorical_log_density(const CategoricalPrior& p, const torch::Tensor& indices) {
  const torch::Tensor flat = indices.to(torch::kCPU).reshape({indices.size(0), -1});
  return torch::logsumexp(component_log_likelihood(torch::log(p.probs), flat) + torch::log(p.weights), 1);
}

std::string categorical_to_json(const CategoricalPrior& p, const std::string& provenance) {
  const auto list = [](const torch::Tensor& t) {
    const torch::Tensor c = t.contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  nlohmann::ordered_json j = {
      {"format", "vae-categorical 2"},
      {"provenance", nlohmann::ordered_json::parse(provenance)},
      {"grid", p.grid},
      {"components", p.weights.size(0)},
      {"codebook_size", p.probs.size(2)},
      {"images", p.images},
      {"mean_log_likelihood", p.mean_log_likelihood},
      {"iterations", p.iterations},
      {"converged", p.converged},
      {"weights", list(p.weights)},
      {"probs", list(p.probs)},
  };
  return j.dump() + "\n";
}

CategoricalPrior categorical_from_json(const std::string& text, std::string* provenance) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("not JSON (") + e.what() + ")");
  }
  try {
    if (!j.is_object() || j.value("format", "") != "vae-categorical 2")
      throw std::runtime_error("not a vae-categorical 2 file");
    CategoricalPrior p;
    p.grid = j.at("grid").get<std::vector<int64_t>>();
    const int64_t c = j.at("components").get<int64_t>(), k = j.at("codebook_size").get<int64_t>();
    int64_t positions = 1;
    for (const int64_t g : p.grid) {
      if (g < 1 || g > 65536) throw std::runtime_error("the grid's sides must lie in [1, 65536]");
      positions *= g;
    }
    if (p.grid.empty() || p.grid.size() > 2 || c < 1 || c > 10000 || k < 2 || k > 65536 || positions * k * c > (1 << 27))
      throw std::runtime_error("grid, components or codebook_size out of range");
    const auto tensor = [&](const char* key, std::vector<int64_t> shape) {
      const std::vector<double> v = j.at(key).get<std::vector<double>>();
      int64_t want = 1;
      for (const int64_t s : shape) want *= s;
      if (static_cast<int64_t>(v.size()) != want) throw std::runtime_error(std::string(key) + " has the wrong size");
      for (const double d : v)
        if (!std::isfinite(d) || d < 0 || d > 1) throw std::runtime_error(std::string(key) + " holds a number outside [0, 1]");
      return torch::tensor(v, kF64).reshape(shape);
    };
    p.weights = tensor("weights", {c});
    p.probs = tensor("probs", {c, positions, k});
    if (std::abs(p.weights.sum().item<double>() - 1) > 1e-6 ||
        ((p.probs.sum(2) - 1).abs() > 1e-6).any().item<bool>())
      throw std::runtime_error("weights or a position's probabilities do not sum to 1");
    p.images = j.at("images").get<int64_t>();
    p.mean_log_likelihood = j.at("mean_log_likelihood").get<double>();
    p.iterations = j.at("iterations").get<int64_t>();
    p.converged = j.at("converged").get<bool>();
    if (provenance) *provenance = j.at("provenance").dump();
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("a field is missing or of the wrong type (") + e.what() + ")");
  }
}

}  // namespace vae
