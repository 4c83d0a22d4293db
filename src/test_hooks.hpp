// Test seams, private to the library: tests include this header from src/.
#pragma once

#include <cstdint>
#include <functional>

namespace vae::test_hooks {

// When set and true for a training step (numbered from 1 over one
// Trainer::run), that step's loss is taken as NaN.
extern std::function<bool(int64_t step)> poison_step;

// After `bytes` more bytes, file writes fail with ENOSPC, as on a full disk;
// a negative value (the default) turns it off. Not thread-safe.
void inject_write_failure_after(int64_t bytes);

}  // namespace vae::test_hooks
