// The guide's variational autoencoder: the objective in vae.hpp.
#include "vae.hpp"

namespace vae {

std::unique_ptr<Objective> make_vae_objective(const Config& cfg) { return std::make_unique<VaeObjective>(cfg); }

}  // namespace vae
