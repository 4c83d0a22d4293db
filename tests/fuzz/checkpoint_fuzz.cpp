// Fuzzes the checkpoint loader past its manifest: every input is written as
// checkpoints/last.pt beside a manifest that matches it (as a forger would
// recompute one), so the bytes reach LibTorch's zip and pickle readers and
// our checks of every tensor. A clean error or a model that encodes are the
// only acceptable outcomes; a crash or a sanitizer report is a bug.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "vae/checkpoint.hpp"
#include "vae/digest.hpp"
#include "vae/io.hpp"
#include "vae/manifest.hpp"
#include "vae/optim.hpp"

namespace {

std::string scratch_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "vae-fuzz-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  std::filesystem::create_directories(tmpl + "/checkpoints");
  return tmpl;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = scratch_dir();
  const std::string path = dir + "/checkpoints/last.pt";
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  vae::Manifest m;
  m.files.push_back({"last.pt", bytes.size(), vae::sha256_hex(bytes)});
  vae::write_file_atomic(path, bytes);
  vae::write_file_atomic(vae::manifest_path_for(path), vae::manifest_to_json(m));
  try {
    vae::LoadedModel loaded = vae::load_model(path, torch::kCPU);
    const std::unique_ptr<torch::optim::Optimizer> opt = vae::make_optimizer(loaded.meta.config.train, loaded.model);
    vae::load_optimizer_state(loaded, *opt);
    // Use what was loaded: every weight is read.
    const auto& mc = loaded.meta.config.model;
    if (mc.conditional) return 0;
    torch::NoGradGuard no_grad;
    const torch::Tensor mu = loaded.model->encode(torch::zeros({1, vae::input_dim(mc)})).first;
    if (mu.size(1) != mc.latent) __builtin_trap();
  } catch (const std::exception&) {  // CheckpointError, ConfigError, c10::Error: a clean refusal
  }
  return 0;
}
