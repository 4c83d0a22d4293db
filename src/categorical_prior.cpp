#include "vae/categorical_prior.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace vae {

CategoricalPrior fit_categorical(const torch::Tensor& indices, int64_t codebook_size) {
  if (indices.dim() < 2 || indices.size(0) < 1 || indices.scalar_type() != torch::kInt64)
    throw std::invalid_argument("fit_categorical: needs int64 indices [N, positions...] with N >= 1");
  const torch::Tensor flat = indices.to(torch::kCPU).reshape({indices.size(0), -1});  // [N, P]
  if (flat.min().item<int64_t>() < 0 || flat.max().item<int64_t>() >= codebook_size)
    throw std::invalid_argument("fit_categorical: an index lies outside [0, " + std::to_string(codebook_size) + ")");
  const int64_t p = flat.size(1);
  // One bincount over position * K + index counts every position at once.
  const torch::Tensor keyed = flat + torch::arange(p, torch::kInt64).unsqueeze(0) * codebook_size;
  CategoricalPrior out;
  out.grid = indices.sizes().slice(1).vec();
  out.counts = torch::bincount(keyed.reshape({-1}), {}, p * codebook_size).reshape({p, codebook_size});
  out.images = indices.size(0);
  return out;
}

torch::Tensor sample_categorical(const CategoricalPrior& p, int64_t n, at::Generator& gen) {
  const torch::Tensor probs = p.counts.to(torch::kFloat64);  // multinomial normalises each row
  std::vector<int64_t> shape = p.grid;
  shape.insert(shape.begin(), n);
  return torch::multinomial(probs, n, /*replacement=*/true, gen).t().contiguous().reshape(shape);
}

double categorical_nll(const CategoricalPrior& p, const torch::Tensor& indices) {
  const torch::Tensor flat = indices.to(torch::kCPU).reshape({indices.size(0), -1});
  const torch::Tensor c = p.counts.to(torch::kFloat64);
  const torch::Tensor log_p = torch::log(c / c.sum(1, /*keepdim=*/true));  // [P, K]
  const torch::Tensor picked = log_p.gather(1, flat.t().contiguous());     // [P, N]
  return -picked.sum().item<double>() / static_cast<double>(flat.size(0));
}

std::string categorical_to_json(const CategoricalPrior& p, const std::string& provenance) {
  const torch::Tensor c = p.counts.contiguous();
  nlohmann::ordered_json j = {
      {"format", "vae-categorical 1"},
      {"provenance", nlohmann::ordered_json::parse(provenance)},
      {"grid", p.grid},
      {"codebook_size", c.size(1)},
      {"images", p.images},
      {"counts", std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel())},
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
    if (!j.is_object() || j.value("format", "") != "vae-categorical 1")
      throw std::runtime_error("not a vae-categorical 1 file");
    CategoricalPrior p;
    p.grid = j.at("grid").get<std::vector<int64_t>>();
    const int64_t k = j.at("codebook_size").get<int64_t>();
    p.images = j.at("images").get<int64_t>();
    int64_t positions = 1;
    for (const int64_t g : p.grid) {
      if (g < 1 || g > 65536) throw std::runtime_error("the grid's sides must lie in [1, 65536]");
      positions *= g;
    }
    if (p.grid.empty() || p.grid.size() > 2 || k < 2 || k > 65536 || p.images < 1)
      throw std::runtime_error("grid, codebook_size or images out of range");
    const std::vector<int64_t> counts = j.at("counts").get<std::vector<int64_t>>();
    if (static_cast<int64_t>(counts.size()) != positions * k) throw std::runtime_error("counts has the wrong size");
    p.counts = torch::tensor(counts, torch::kInt64).reshape({positions, k});
    if ((p.counts < 0).any().item<bool>() || (p.counts.sum(1) != p.images).any().item<bool>())
      throw std::runtime_error("counts must be >= 0 and sum to images at every position");
    if (provenance) *provenance = j.at("provenance").dump();
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("a field is missing or of the wrong type (") + e.what() + ")");
  }
}

}  // namespace vae
