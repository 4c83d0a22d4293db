// The run folder's epoch outputs, as EpochListeners (vae/trainer.hpp):
// metrics.jsonl after every epoch; every train.image_every epochs the
// reconstruction and sample grids and the loss plot; samples.png and the
// loss plot at the end. Private to the library.
#pragma once

#include <memory>
#include <vector>

#include "vae/objective.hpp"
#include "vae/trainer.hpp"

namespace vae {

// model: the trained module (written to by the trainer); test: the test
// split as stored, on the CPU.
std::vector<std::shared_ptr<EpochListener>> epoch_outputs(const Config& cfg, const RunDir& run, const VAE& model,
                                                          const Objective& objective, const Dataset& test,
                                                          const torch::Device& device);

}  // namespace vae
