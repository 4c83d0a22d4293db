// The run folder's layout, and what may happen to it: a new run refuses a
// folder that holds one (unless --force, which clears it), a resumed run
// continues in the folder its checkpoint lives in.
//
//   RUN/config.toml  RUN/metrics.jsonl  RUN/loss.png  RUN/samples.png
//   RUN/checkpoints/{last,best,epoch-NNNN}.pt (+ .manifest.json)
//   RUN/images/{recon,samples}-NNNN.png
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vae {

class RunDir {
 public:
  explicit RunDir(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string config() const { return root_ + "/config.toml"; }
  std::string metrics() const { return root_ + "/metrics.jsonl"; }
  // Image folders: the files of the test split, and those left out.
  std::string test_files() const { return root_ + "/test_files.txt"; }
  std::string skipped_files() const { return root_ + "/skipped_files.txt"; }
  std::string loss_plot() const { return root_ + "/loss.png"; }
  std::string samples() const { return root_ + "/samples.png"; }
  std::string checkpoints() const { return root_ + "/checkpoints"; }
  std::string last() const { return checkpoints() + "/last.pt"; }
  std::string best() const { return checkpoints() + "/best.pt"; }
  std::string epoch_checkpoint(int64_t epoch) const { return checkpoints() + "/epoch-" + epoch_tag(epoch) + ".pt"; }
  std::string images() const { return root_ + "/images"; }
  std::string epoch_image(const std::string& what, int64_t epoch) const {
    return images() + "/" + what + "-" + epoch_tag(epoch) + ".png";
  }

  // Every file and folder a run writes, the one list of them (what --force
  // removes, and what no tool's output may overwrite: vae/io.hpp's
  // refuse_output_over_input). Header-only, like the paths above, so the
  // torch-free libraries can ask it.
  std::vector<std::string> outputs() const {
    return {config(), metrics(), test_files(), skipped_files(), loss_plot(), samples(), checkpoints(), images()};
  }
  // The holder's PID, beside the lock on the folder itself (RunLock).
  std::string lock_file() const { return root_ + "/.lock"; }

  // For a new run: refuses (IoError) a folder that already holds
  // checkpoints unless `force`, which removes every one of the old run's
  // outputs() first. Then creates the folders.
  void prepare_new(bool force) const;
  // For a resumed run: creates any missing folders.
  void prepare_resumed() const;
  // Whether checkpoints/ holds a .pt file (complete or not).
  bool has_checkpoints() const;

  // Under the lock: finishes or removes what an interrupted run left
  // (checkpoint saves, and the NAME.tmp.PID of every other atomic write).
  // Returns one line per file it acted on.
  std::vector<std::string> clean_up_after_crash() const;

  // "0004": epoch numbers in file names sort in order.
  static std::string epoch_tag(int64_t epoch);

 private:
  std::string root_;
};

// An exclusive lock on a run folder, held for the whole run: flock(2) on the
// folder itself (a lock file could be removed from under its holder), with
// the holder's PID in RUN/.lock for the message. The kernel releases it when
// the process ends, however it ends, so a crash never leaves a stale lock.
// Readers (vae-sample, vae-encode, vae-eval) take none: they read only
// complete checkpoints.
class RunLock {
 public:
  // Creates the folder if needed and takes the lock; throws IoError naming
  // the folder and the holder's PID when another process holds it.
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// The run folder of a --resume argument: the folder itself, or the run
// folder of a checkpoint file (see run_dir_of).
std::string resume_run_dir(const std::string& what);

// The run folder a checkpoint file belongs to (RUN/checkpoints/x.pt -> RUN);
// throws CheckpointError for a checkpoint outside a checkpoints/ folder.
std::string run_dir_of(const std::string& checkpoint_path);

}  // namespace vae
