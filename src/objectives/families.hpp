// The model families behind vae/objective.hpp, one file each; the table in
// src/objective.cpp maps model.kind to these constructors.
#pragma once

#include <memory>

#include "vae/objective.hpp"

namespace vae {

std::unique_ptr<Objective> make_vae_objective(const Config& cfg);            // vae.cpp
std::unique_ptr<Objective> make_ae_objective(const Config& cfg);             // autoencoders.cpp
std::unique_ptr<Objective> make_sparse_ae_objective(const Config& cfg);      // autoencoders.cpp
std::unique_ptr<Objective> make_denoising_ae_objective(const Config& cfg);   // autoencoders.cpp
std::unique_ptr<Objective> make_rae_objective(const Config& cfg);            // rae.cpp
std::unique_ptr<Objective> make_wae_objective(const Config& cfg);            // wae.cpp
std::unique_ptr<Objective> make_info_vae_objective(const Config& cfg);       // wae.cpp
std::unique_ptr<Objective> make_vq_vae_objective(const Config& cfg);         // vq_vae.cpp

}  // namespace vae
