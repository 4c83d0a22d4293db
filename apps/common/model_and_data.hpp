// For the tools that run a checkpoint over a data split (vae-encode,
// vae-eval): one place that resolves the device, loads the checkpoint, and
// reads the split from --data-dir or, by default, the folder it trained on,
// binarized as in training (data.binarize).
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
  LoadedModel loaded = load_model(checkpoint, dev);
  const Config& cfg = loaded.meta.config;
  DataConfig source_cfg = cfg.data;
  if (!data_dir.empty()) {
    source_cfg.dir = data_dir;
    source_cfg.format = DataFormat::kAuto;  // another folder: whatever it holds
  }
  // The images the model was scored on in training: binarized as it was.
  // "all": the train split, then the test split.
  const std::unique_ptr<DataSource> source = open_data_source(source_cfg);
  Dataset data;
  if (split == "all") {
    const Dataset train = load_split(*source, Split::kTrain, cfg.data.binarize, /*for_training=*/false);
    data = load_split(*source, Split::kTest, cfg.data.binarize, /*for_training=*/false);
    data.images = torch::cat({train.images, data.images});
    data.labels = torch::cat({train.labels, data.labels});
    data.paths.insert(data.paths.begin(), train.paths.begin(), train.paths.end());
  } else {
    data = load_split(*source, parse_split(split), cfg.data.binarize, /*for_training=*/false);
  }
  check_labels(cfg.model, data);
  if (!data.class_names.empty() && !cfg.model.class_names.empty() && data.class_names != cfg.model.class_names)
    throw DataError(source_cfg.dir + ": its class folders differ from the model's classes (model.class_names), so "
                    "its labels would name other classes");
  return {dev, std::move(loaded), source_cfg.dir, std::move(data)};
}

}  // namespace vae::cli
