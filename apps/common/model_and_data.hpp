// For the tools that run a checkpoint over a data split (vae-encode,
// vae-eval): the device, the checkpoint, and the split (vae/data.hpp's
// load_data_for_model).
#pragma once

#include <string>

#include "vae/checkpoint.hpp"
#include "vae/data.hpp"
#include "vae/runtime.hpp"

namespace vae::cli {

struct ModelAndData {
  torch::Device device;
  LoadedModel loaded;
  std::string data_dir;
  Dataset data;
};

inline ModelAndData load_model_and_split(const std::string& checkpoint, const std::string& data_dir,
                                         const std::string& split, const std::string& device) {
  const torch::Device dev = resolve_device(parse_choice<DeviceChoice>(device, "--device"));
  if (dev.is_cpu()) reserve_blas_buffers();  // before the model and data: see Trainer
  LoadedModel loaded = load_model(checkpoint, dev);
  DataForModel d = load_data_for_model(loaded.meta.config, data_dir, split);
  return {dev, std::move(loaded), std::move(d.dir), std::move(d.data)};
}

}  // namespace vae::cli
