#include "epoch_outputs.hpp"

#include <algorithm>

#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/plot.hpp"

namespace vae {
namespace {

constexpr int64_t kReconCount = 32;  // test images in each reconstruction grid

class MetricsFile : public EpochListener {
 public:
  explicit MetricsFile(RunDir run) : run_(std::move(run)) {}
  void epoch_ended(const EpochMetrics& /*m*/, const std::vector<EpochMetrics>& history) override {
    write_file_atomic(run_.metrics(), to_jsonl(history));
  }

 private:
  RunDir run_;
};

class Pictures : public EpochListener {
 public:
  Pictures(const Config& cfg, RunDir run, const VAE& model, const Objective& objective, const Dataset& test,
           const torch::Device& device)
      : cfg_(cfg), run_(std::move(run)), model_(model), objective_(objective), test_(test), device_(device) {}

  void epoch_ended(const EpochMetrics& m, const std::vector<EpochMetrics>& history) override {
    if (cfg_.train.image_every <= 0 || m.epoch % cfg_.train.image_every != 0) return;
    write_epoch(m.epoch);
    write_loss_plot(history);
  }

  void run_finished(const std::vector<EpochMetrics>& history) override {
    if (objective_.has_prior()) {
      const SampleGrid grid = sample_grid_for(cfg_.model);
      write_png(run_.samples(), make_grid(sample_images(model_, grid.count, cfg_.train.seed, device_), grid.columns));
    }
    if (cfg_.train.image_every > 0 && !history.empty()) write_loss_plot(history);
  }

  // The curve so far; samples.png stays the finished run's.
  void run_stopped(const std::vector<EpochMetrics>& history) override {
    if (cfg_.train.image_every > 0) write_loss_plot(history);
  }

 private:
  void write_epoch(int64_t epoch);
  void write_loss_plot(const std::vector<EpochMetrics>& history);

  Config cfg_;
  RunDir run_;
  VAE model_;
  const Objective& objective_;
  const Dataset& test_;
  torch::Device device_;
};

void Pictures::write_epoch(int64_t epoch) {
  make_dirs(run_.images());
  const int64_t shown = std::min<int64_t>(kReconCount, test_.size());
  write_png(run_.epoch_image("recon", epoch),
                 reconstruction_grid(model_, test_.images.narrow(0, 0, shown), 8, device_,
                                     test_.labels.narrow(0, 0, shown)));
  if (objective_.has_prior()) {
    const SampleGrid grid = sample_grid_for(cfg_.model);
    write_png(run_.epoch_image("samples", epoch),
                   make_grid(sample_images(model_, grid.count, cfg_.train.seed, device_), grid.columns));
  }
}

void Pictures::write_loss_plot(const std::vector<EpochMetrics>& history) {
  plot::Series train{"train", {}, {}}, valid{"validation", {}, {}}, test{"test", {}, {}};
  for (const EpochMetrics& m : history) {
    const auto x = static_cast<double>(m.epoch);
    train.x.push_back(x);
    train.y.push_back(m.train_loss);
    if (m.has_valid) {
      valid.x.push_back(x);
      valid.y.push_back(m.valid.loss);
    }
    test.x.push_back(x);
    test.y.push_back(m.test.loss);
  }
  plot::Axes axes{objective_.title() + " " + describe_layers(cfg_.model) + ": loss per epoch",
                  "epoch", "loss (nats per image)"};
  axes.integer_x = true;
  std::vector<plot::Series> series{train, test};
  if (!valid.x.empty()) series.insert(series.begin() + 1, valid);
  plot::line_plot(run_.loss_plot(), axes, series);
}


}  // namespace

std::vector<std::shared_ptr<EpochListener>> epoch_outputs(const Config& cfg, const RunDir& run, const VAE& model,
                                                          const Objective& objective, const Dataset& test,
                                                          const torch::Device& device) {
  return {std::make_shared<MetricsFile>(run), std::make_shared<Pictures>(cfg, run, model, objective, test, device)};
}

}  // namespace vae
