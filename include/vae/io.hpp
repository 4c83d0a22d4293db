// File helpers shared by data, checkpoints and images.
#pragma once

#include <stdexcept>

#include "vae/errors.hpp"
#include "vae/text.hpp"  // ends_with, shape_text and join, which lived here
#include <string>
#include <string_view>
#include <vector>

namespace vae {

// Replaces `path` with `bytes` so that a reader sees either the old file or the
// whole new one: writes `path.tmp.<pid>` in the same folder, fsyncs it, renames
// it over `path`, and fsyncs the folder. On failure the temporary is removed,
// the old file is untouched, and IoError is thrown.
void write_file_atomic(const std::string& path, std::string_view bytes);

// Writes `bytes` to `path` (created or truncated) and fsyncs it; no rename.
// On failure removes `path` and throws IoError naming `name_for_errors`.
void write_file_durable(const std::string& path, std::string_view bytes,
                        const std::string& name_for_errors);

// rename(2) then fsync of the folder; throws IoError.
void rename_durable(const std::string& from, const std::string& to);

// Reads a whole file; throws IoError when it cannot.
std::string read_file(const std::string& path);

// Reads a whole regular file (links followed) into a buffer of its size;
// throws IoError, before opening it, for anything else: a device such as
// /dev/zero would be read without end, a FIFO without a writer would block
// open() forever.
std::string read_regular_file(const std::string& path);

// Creates a folder and its parents; throws IoError when it cannot.
void make_dirs(const std::string& path);

// The one rule for every tool's output paths, checked before anything is
// computed: throws std::invalid_argument "FLAG OUT: refusing to write over
// ..." when `out`, followed through links,
//  - is one of `inputs` (the files the tool reads: its checkpoint and manifest),
//  - is an existing file inside one of `data_dirs` (the data folders it reads),
//  - is a file a run writes in its run folder (a folder with checkpoints/:
//    config.toml, metrics.jsonl, loss.png, samples.png, test_files.txt,
//    skipped_files.txt, .lock, and anything in checkpoints/ or images/),
//  - or is an existing data file: named as a data set's files are (IDX,
//    train_images.npy ...), or holding a checkpoint, IDX data or gzip.
// A new file, or an earlier output of a tool (a sample grid, codes), is fine.
void refuse_output_over_input(const std::string& out, const std::vector<std::string>& inputs,
                              const std::vector<std::string>& data_dirs, const std::string& flag);

}  // namespace vae
