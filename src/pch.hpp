// Precompiled for vae_core, the apps and the tests: LibTorch's headers are
// the bulk of every translation unit's compile time otherwise.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>
