// Precompiled for vae_core, the apps and the tests: LibTorch's headers cost
// about 30 s per translation unit otherwise.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>
