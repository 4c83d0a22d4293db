// Training: the loop of the guide (forward, loss, backward, step), with
// per-epoch evaluation, metrics, pictures and checkpoints in a run folder.
//
//   vae::TrainResult r = vae::train(cfg, {});
//   // cfg.train.out_dir now holds config.toml, metrics.jsonl,
//   // checkpoints/last.pt and samples.png
//
// The Trainer reads top to bottom as named phases:
//   run()        for each epoch: run_epoch(), end_epoch(); then finish()
//   run_epoch()  for each batch: step(), progress, a requested stop
//   step()       forward + loss + backward (a TrainStep), reduce_gradients(),
//                the finite check, clipping, the optimizer
//   end_epoch()  evaluate, metrics, checkpoints and retention, pictures
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vae/checkpoint.hpp"
#include "vae/config.hpp"
#include "vae/data.hpp"
#include "vae/errors.hpp"
#include "vae/gradients.hpp"
#include "vae/metrics.hpp"
#include "vae/model.hpp"
#include "vae/run_dir.hpp"
#include "vae/sampler.hpp"

namespace torch::optim {
class Optimizer;
}

namespace vae {

class TrainStep;     // src/train_step.hpp
class Objective;     // vae/objective.hpp
class ProcessGroup;  // vae/distributed.hpp

struct Progress {
  int64_t epoch;       // 1-based
  int64_t epochs;
  int64_t batch;       // batches done in this epoch
  int64_t batches;     // batches per epoch
  double mean_loss;    // running mean train loss per image this epoch
  double seconds;      // since the epoch started
};

// Told of each epoch's end and of the run's (on the writer, rank 0, only),
// after the epoch's checkpoints. The run folder's metrics.jsonl and pictures
// are two (src/epoch_outputs.cpp); another metrics sink (a CSV file, a
// TensorBoard writer, a remote tracker) is one more class, passed in
// TrainOptions::listeners.
class EpochListener {
 public:
  virtual ~EpochListener() = default;
  // m: the epoch's metrics; history: every epoch of the run so far, m last.
  virtual void epoch_ended(const EpochMetrics& m, const std::vector<EpochMetrics>& history) = 0;
  // After the last epoch (not after a stop by signal).
  virtual void run_finished(const std::vector<EpochMetrics>& /*history*/) {}
  // After a stop by signal, with the epochs finished so far (none: not called).
  virtual void run_stopped(const std::vector<EpochMetrics>& /*history*/) {}
};

struct TrainOptions {
  // Overwrite a run folder that already holds a run.
  bool force = false;
  // Continue from this checkpoint file or run folder (its newest complete
  // checkpoint) instead of starting afresh. cfg must then describe the same
  // model, batch size and seed as the checkpoint's config; other changes are
  // logged and applied.
  std::string resume;
  // The checkpoint to resume from, already loaded (vae-train reads it for
  // its config); used instead of `resume`, so the file is read once. It was
  // read under `lock`, the run folder's lock, which the Trainer keeps.
  std::shared_ptr<const LoadedModel> resume_from;
  std::shared_ptr<RunLock> lock;
  // Called a few times a second during an epoch; may be empty.
  std::function<void(const Progress&)> on_progress;
  // Polled after every step (after the epoch's checkpoint for an epoch's
  // last step); a non-zero value (a signal number) makes the trainer write
  // checkpoints/last.pt at that step and return.
  std::function<int()> stop_requested;
  // Training across processes (null: one process). Every process runs a
  // Trainer with the same config; each computes its slice of every global
  // batch, the gradients are summed, rank 0 alone writes the run folder.
  // A stop requested on any process stops all at the same step.
  std::shared_ptr<ProcessGroup> group;
  // Told after the run folder's own outputs at each epoch's end.
  std::vector<std::shared_ptr<EpochListener>> listeners;
};

struct TrainResult {
  std::vector<EpochMetrics> history;  // this invocation's epochs
  std::string checkpoint;  // path of the last checkpoint
  std::string samples;     // path of the final sample grid (empty if stopped, or not a VAE)
  int stopped_by = 0;      // the stop_requested value that ended the run early
};

class Trainer {
 public:
  // Set-up: validates cfg, configures threads and BLAS, loads and checks the
  // data, prepares the run folder, builds (or restores) model, optimizer,
  // gradient block and step. Throws ConfigError, DataError, IoError or
  // CheckpointError with a one-line message.
  Trainer(const Config& cfg, const TrainOptions& options);
  ~Trainer();

  // Trains the remaining epochs. Throws DivergedError on a non-finite loss
  // with train.nonfinite = stop.
  TrainResult run();

 private:
  bool patience_exhausted() const;
  bool run_epoch(int64_t epoch);  // false: stopped by a signal
  bool step(const torch::Tensor& x, const torch::Tensor& y, int64_t epoch, int64_t batch, const RowSlice& rows,
            int64_t global_rows);
  // Sums the gradients, the loss and the stop requests of all processes;
  // returns the global batch's loss.
  double reduce_gradients(double loss);
  torch::Tensor& set_scalars(double loss);
  double read_scalars();
  int stop_signal(bool at_epoch_end);  // a requested stop (signal number), the same on every process; 0: none
  void check_same_data() const;
  void end_epoch(int64_t epoch);
  void finish();

  // Set-up, in order.
  std::shared_ptr<const LoadedModel> checkpoint_to_resume();
  void load_data(bool resuming);
  void build_model(const LoadedModel* resume);
  void write_run_files(bool resuming);

  void restore(const LoadedModel& checkpoint);
  void repair_retention();
  void save(const std::string& path);
  void log_config() const;
  void report_progress(int64_t epoch, int64_t batch, double elapsed, bool force);
  TrainResult stopped(int sig, int64_t epoch, int64_t batch);
  std::string last_checkpoint_note() const;

  Config cfg_;
  TrainOptions options_;
  torch::Device device_;
  RunDir run_;
  std::shared_ptr<RunLock> lock_;  // held from set-up to the end of the run
  std::unique_ptr<DataSource> source_;
  Dataset train_, valid_, test_;  // as stored, on the CPU (pictures take test images from here); valid_ may be empty
  torch::Tensor train_images_, train_labels_, test_images_, test_labels_;  // on device_; labels only if conditional
  torch::Tensor valid_images_, valid_labels_;  // undefined without a validation split
  double current_lr_ = -1;  // the rate set for the running epoch (train.lr_schedule)
  BatchPlan plan_;
  VAE model_{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<FlatGradients> grads_;
  std::unique_ptr<Objective> objective_;  // what model.kind trains, evaluates and draws
  std::unique_ptr<TrainStep> step_;
  std::vector<std::shared_ptr<EpochListener>> listeners_;  // metrics.jsonl, pictures, then options_.listeners
  TrainingState state_;
  TrainResult result_;
  std::shared_ptr<ProcessGroup> group_;  // null: one process
  int64_t rank_ = 0, world_ = 1;
  bool writer_ = true;       // rank 0: writes the run folder
  int reduced_stop_ = 0;     // the stop request summed with the last step's gradients
  double reduce_seconds_ = 0;  // this epoch's time in the all-reduces (logged per epoch)
  torch::Tensor scalars_;    // float64 [1 + 32]: the loss, then stop requests by signal number
  int64_t saved_step_ = -1;  // the step of the newest checkpoint on disk; -1: none yet
  int64_t batches_run_ = 0;  // this invocation's steps, for the test hooks
  double next_report_ = 0;   // epoch seconds of the next progress report
};

// Trainer(cfg, options).run().
TrainResult train(const Config& cfg, const TrainOptions& options);

// What vae-train was asked for, before any file is read.
struct TrainRequest {
  std::string config_path;  // empty: the defaults (or, resuming, the checkpoint's config)
  std::string resume;       // a run folder or checkpoint file; empty: a new run
  bool force = false;
  struct Override {
    std::string key;   // "train.lr"
    std::string text;  // "3e-4"
    std::string flag;  // "--lr", for messages
  };
  std::vector<Override> overrides;  // applied in order, last wins
  // Resume the run folder (train.out_dir) when it holds a checkpoint, else
  // start a new run: the same command line serves a first start and every
  // restart (torchrun --max_restarts).
  bool auto_resume = false;
};

// The config a request asks for before any run folder is read: the file
// (or the defaults), then the overrides (train.out_dir refused when resuming).
Config requested_config(const TrainRequest& request, bool resuming = false);

// For a resume: takes the run folder's lock, finishes or removes what an
// interrupted save left there, and loads the checkpoint to resume from.
std::pair<std::shared_ptr<RunLock>, std::shared_ptr<const LoadedModel>> lock_and_load_resume(const std::string& what);

// The effective config and options of a request: the checkpoint's config
// when resuming without --config, else the file (or the defaults), then the
// overrides; validated. A resumed run stays in its checkpoint's run folder.
// Reads a resumed checkpoint once and hands it to the Trainer.
std::pair<Config, TrainOptions> prepare_training(const TrainRequest& request);

// The same across processes: every process checks that all run the same
// request (config, flags, vae and LibTorch versions) and says which rank
// differs; rank 0 alone reads the run folder and sends the effective config
// and the checkpoint to resume (its bytes) to the others, which may run on
// machines without the folder.
std::pair<Config, TrainOptions> prepare_training(const TrainRequest& request, std::shared_ptr<ProcessGroup> group);

}  // namespace vae
