// What the command-line tools share: logging set-up, --version, and the
// single place where errors become one line on stderr and a non-zero exit.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vae::cli {

// spdlog to stderr, "[HH:MM:SS] level message"; VAE_LOG_LEVEL=debug|info|warn.
// Also: SIGXFSZ is ignored, so a file-size limit is a write error.
void setup_logging();

// A distributed run's rank > 0: its lines say "[rank N]", and only
// warnings and errors are shown (rank 0 reports progress for all).
void log_as_rank(int64_t rank);

// Adds --version printing "<tool> <project version>".
void add_version_flag(CLI::App& app);

// Throws std::invalid_argument when `out` (the value of `flag`) is named as
// a checkpoint (.pt, .manifest.json), or would write over an input of a tool
// that reads `checkpoint` and the data in `data_dir` (vae/io.hpp's
// refuse_output_over_input: the one rule for every tool).
void refuse_to_overwrite(const std::string& out, const std::string& checkpoint, const std::string& data_dir,
                         const std::string& flag);

// Throws std::invalid_argument unless `out` ends in one of `extensions`.
void require_extension(const std::string& out, const std::vector<std::string>& extensions, const std::string& flag);

// Runs body; any exception becomes one critical log line and exit code 1.
int run_guarded(const std::function<int()>& body);

}  // namespace vae::cli
