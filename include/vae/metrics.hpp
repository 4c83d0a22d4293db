// What one epoch measured, and its line in metrics.jsonl. Torch-free.
//
//   std::string line = vae::to_json_line(m);          // {"epoch": 3, ...}
//   std::vector<vae::EpochMetrics> h = vae::parse_history(text, "run/metrics.jsonl");
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace vae {

inline constexpr double kNoNumber = std::numeric_limits<double>::quiet_NaN();

// Losses in nats per image. NaN where a quantity does not apply.
struct EpochMetrics {
  int64_t epoch = 0;      // 1-based
  int64_t step = 0;       // optimizer steps so far
  double train_loss = 0;  // mean training objective (recon + KL weight * kl [+ penalty])
  int64_t skipped = 0;    // batches skipped for a non-finite loss or gradient
  struct Test {
    double loss = 0;  // the evaluator's test loss (vae/evaluate.hpp): recon + kl
    double recon = 0;
    double kl = 0;
    double code_abs = 0;  // mean |code| over images and units (|mu| for the VAE)
    // vq_vae: the codebook's perplexity and unused vectors (vae/evaluate.hpp);
    // NaN, and not written, for the other kinds.
    double perplexity = kNoNumber;
    double dead_codes = kNoNumber;
  } test;
  // The validation split's (data.valid_fraction, or binarized MNIST's
  // valid file), when the run has one: best.pt and early stopping choose on it.
  bool has_valid = false;
  Test valid;
  // The loss best.pt and early stopping choose on: validation's, else test's.
  double selection_loss() const { return has_valid ? valid.loss : test.loss; }
  double seconds = 0;        // training time of the epoch (no evaluation)
  double eval_seconds = 0;   // evaluation time (validation and test)
};

// One JSON object on one line, without the newline; NaN and Inf as null.
std::string to_json_line(const EpochMetrics& m);

// Lines of to_json_line, one per epoch; empty lines are skipped. Throws
// std::invalid_argument naming `origin` and the line on malformed input.
std::vector<EpochMetrics> parse_history(const std::string& jsonl, const std::string& origin);

// The whole file: one line per epoch, each ending in a newline.
std::string to_jsonl(const std::vector<EpochMetrics>& history);

}  // namespace vae
