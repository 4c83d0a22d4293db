#include "vae/trainer.hpp"

#include <ATen/core/Generator.h>
#include <spdlog/spdlog.h>
#include <torch/optim/optimizer.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <tuple>

#include "test_hooks.hpp"
#include "train_step.hpp"
#include "vae/evaluate.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/loss.hpp"
#include "vae/optim.hpp"
#include "vae/plot.hpp"
#include "vae/runtime.hpp"
#include "vae/transforms.hpp"

namespace vae {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kReconCount = 32;  // test images in each reconstruction grid

// Refuses a resume that would change the model or the data order; logs the
// other keys that change.
void check_resume_config(const Config& saved, const Config& now, const std::string& path) {
  for (const KeyInfo& k : config_keys()) {
    if (k.on_resume == OnResume::kIgnore || (!k.matters(saved) && !k.matters(now))) continue;
    const std::string a = display_value(k.to_text(saved)), b = display_value(k.to_text(now));
    if (a == b) continue;
    if (k.on_resume == OnResume::kLog) {
      spdlog::info("resume: {} changes from {} to {}", k.name, a, b);
    } else if (k.name.compare(0, 6, "model.") == 0) {
      throw ConfigError(path + ": cannot resume with a different model: " + k.name + " (" + a + " vs " + b +
                        ") (checkpoint vs config)");
    } else {
      throw ConfigError(path + ": cannot resume with a different " + k.name + " (" + a + " vs " + b +
                        "): " + k.resume_reason);
    }
  }
}

// The default generator of a device type: the CPU one draws the model's
// initial weights, the training device's one draws the training noise.
torch::Tensor generator_state(c10::DeviceType type) {
  auto gen = at::globalContext().defaultGenerator(c10::Device(type));
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(c10::DeviceType type, const torch::Tensor& state) {
  auto gen = at::globalContext().defaultGenerator(c10::Device(type));
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

void check_image_size(const Config& cfg, const Dataset& ds, const DataSource& source, const char* what) {
  if (ds.height() != cfg.model.image_height || ds.width() != cfg.model.image_width)
    throw DataError(source.describe() + ": " + what + " images are " + std::to_string(ds.height()) + "x" +
                    std::to_string(ds.width()) + " but model.image_height x model.image_width is " +
                    std::to_string(cfg.model.image_height) + "x" + std::to_string(cfg.model.image_width));
}

// The run folder's config.toml is what the run was started with; a resume
// without --config continues with the checkpoint's own config, so edits to
// the file would be ignored without a word.
void warn_if_edited(const std::string& path, const Config& checkpoint_config) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  try {
    Config file = load_config_file(path);
    file.train.out_dir = checkpoint_config.train.out_dir;
    const std::string d = first_difference(file, checkpoint_config);
    if (!d.empty())
      spdlog::warn("{} was edited ({}, file vs checkpoint) and is not read on --resume: the run continues with its "
                   "checkpoint's config. Change what may change with flags (e.g. --lr, --epochs), or pass "
                   "--config {}",
                   path, d, path);
  } catch (const ConfigError& e) {
    spdlog::warn("{} is not read on --resume (the checkpoint's config is): {}", path, e.what());
  }
}

void warn_on_reference_blas() {
  const BlasInfo blas = detect_blas();
  if (blas.reference)
    spdlog::warn(
        "BLAS is the slow reference implementation ({}): training runs 30-70x slower. "
        "Install libopenblas0-pthread (scripts/setup.sh does).",
        blas.library);
}

}  // namespace

Trainer::Trainer(const Config& cfg, const TrainOptions& options)
    : cfg_(cfg), options_(options), device_(torch::kCPU), run_(cfg.train.out_dir) {
  validate(cfg_);
  device_ = resolve_device(cfg_.train.device);
  configure_threads(cfg_.train.threads);
  configure_blas_threads(cfg_.train.blas_threads);
  warn_on_reference_blas();

  // A resume is checked before the data is read: a wrong model is named first.
  std::shared_ptr<const LoadedModel> resume = options_.resume_from;
  lock_ = options_.lock;
  if (!resume && !options_.resume.empty()) std::tie(lock_, resume) = lock_and_load_resume(options_.resume);
  if (resume) check_resume_config(resume->meta.config, cfg_, resume->path);

  source_ = open_data_source(cfg_.data);
  train_ = load_split(*source_, Split::kTrain, cfg_.data.binarize, /*for_training=*/true);
  test_ = load_split(*source_, Split::kTest, cfg_.data.binarize, /*for_training=*/false);
  check_image_size(cfg_, train_, *source_, "train");
  check_image_size(cfg_, test_, *source_, "test");
  check_labels(cfg_.model, train_);
  check_labels(cfg_.model, test_);
  plan_ = {train_.size(), cfg_.train.batch_size};

  // One writer per run folder, from here to the end of the run: before
  // --force clears it or anything is written into it (a resume holds it
  // since before its checkpoint was read).
  if (!lock_) {
    lock_ = std::make_shared<RunLock>(cfg_.train.out_dir);
    for (const std::string& line : run_.clean_up_after_crash()) spdlog::warn("{}", line);
  }
  if (resume) {
    run_.prepare_resumed();
    restore(*resume);
  } else {
    run_.prepare_new(options_.force);
    torch::manual_seed(cfg_.train.seed);
    model_ = VAE(cfg_.model);
    model_->to(device_);
    optimizer_ = make_optimizer(cfg_.train, model_);
  }
  grads_ = std::make_unique<FlatGradients>(model_->parameters());
  step_ = make_train_step(cfg_, model_, *grads_, device_, cfg_.train.batch_size);
  saved_step_ = resume ? state_.step : -1;
  write_file_atomic(run_.config(), to_toml(cfg_));
  // metrics.jsonl restarts from the checkpoint's history, so lines of epochs
  // the checkpoint does not cover (a crash after them) are dropped.
  write_file_atomic(run_.metrics(), to_jsonl(state_.history));

  // The whole data set lives on the device as bytes; batches are gathered
  // with index_select and converted to float per batch.
  train_images_ = train_.images.to(device_);
  test_images_ = test_.images.to(device_);
  if (cfg_.model.conditional) {
    train_labels_ = train_.labels.to(device_);
    test_labels_ = test_.labels.to(device_);
  }
  result_.checkpoint = run_.last();
  log_config();
}

Trainer::~Trainer() = default;

// Weights, optimizer moments, progress and generator states of a checkpoint;
// options (the learning rate) come from cfg_.
void Trainer::restore(const LoadedModel& checkpoint) {
  model_ = checkpoint.model;
  model_->to(device_);
  model_->train();
  optimizer_ = make_optimizer(cfg_.train, model_);
  load_optimizer_state(checkpoint, *optimizer_, device_);
  state_ = checkpoint.meta.state;
  if (state_.batch > plan_.batches())
    throw CheckpointError(checkpoint.path + ": resumes at batch " + std::to_string(state_.batch) +
                          " of an epoch of " + std::to_string(plan_.batches()) +
                          " batches: it was written for other data, or forged");
  if (state_.rng_cpu.defined()) set_generator_state(c10::DeviceType::CPU, state_.rng_cpu);
  if (device_.is_cuda() && state_.rng_cuda.defined()) set_generator_state(c10::DeviceType::CUDA, state_.rng_cuda);
  spdlog::info("resuming {} at epoch {} batch {} (step {})", checkpoint.path, state_.epoch + 1, state_.batch,
               state_.step);
  repair_retention();
}

// A run stopped between an epoch's saves (last.pt written; best.pt or
// epoch-NNNN.pt not yet) resumes at that epoch's end: write what is missing,
// from the restored state, which is what the interrupted saves would have
// written.
void Trainer::repair_retention() {
  if (state_.batch != 0 || state_.history.empty() || state_.history.back().epoch != state_.epoch) return;
  std::error_code ec;
  const int64_t epoch = state_.epoch;
  if (cfg_.train.keep_best && state_.history.back().test.loss <= state_.best_test_loss) {
    int64_t best_epoch = -1;
    try {
      best_epoch = parse_manifest(read_file(manifest_path_for(run_.best())), run_.best()).epoch;
    } catch (const std::exception&) {  // missing or unreadable: rewritten below
    }
    if (best_epoch != epoch) {
      spdlog::warn("{} held epoch {}, but epoch {} has the lowest test loss: rewritten", run_.best(), best_epoch, epoch);
      save(run_.best());
    }
  }
  if (cfg_.train.keep_every > 0 && epoch % cfg_.train.keep_every == 0 &&
      !std::filesystem::exists(run_.epoch_checkpoint(epoch), ec)) {
    spdlog::warn("{} was missing: written", run_.epoch_checkpoint(epoch));
    save(run_.epoch_checkpoint(epoch));
  }
}

void Trainer::log_config() const {
  spdlog::info("{}", runtime_summary(device_));
  for (const KeyInfo& k : config_keys()) spdlog::info("{:<22} {}", k.name, display_value(k.to_text(cfg_)));
  spdlog::info("{:<22} {} train / {} test, {}x{} ({})", "data.images", train_.size(), test_.size(), train_.height(),
               train_.width(), source_->describe());
  spdlog::info("{:<22} {}", "model.layers", describe_layers(cfg_.model));
  spdlog::info("{:<22} {}", "training step", step_->describe());
}

TrainResult Trainer::run() {
  for (int64_t epoch = state_.epoch + 1; epoch <= cfg_.train.epochs; ++epoch) {
    if (!run_epoch(epoch)) return result_;
    end_epoch(epoch);
    if (options_.stop_requested && epoch < cfg_.train.epochs)
      if (const int sig = options_.stop_requested()) return stopped(sig, epoch + 1, 0);
  }
  finish();
  return result_;
}

bool Trainer::run_epoch(int64_t epoch) {
  model_->train();
  const auto t0 = Clock::now();
  next_report_ = 0;
  const torch::Tensor order = epoch_permutation(plan_.images, cfg_.train.seed, epoch - 1).to(device_);
  for (int64_t b = state_.batch; b < plan_.batches(); ++b) {  // state_.batch > 0 only when resuming mid-epoch
    const torch::Tensor idx = order.narrow(0, plan_.start(b), plan_.length(b));
    const torch::Tensor x = binarize_batch(to_unit_float(train_images_.index_select(0, idx)), cfg_.data.binarize);
    const torch::Tensor y = train_labels_.defined() ? train_labels_.index_select(0, idx) : train_labels_;
    step(x, y, epoch, b);
    const double elapsed = state_.seconds + std::chrono::duration<double>(Clock::now() - t0).count();
    report_progress(epoch, b + 1, elapsed, b + 1 == plan_.batches());
    // A stop at an epoch's last batch is taken after the epoch's own checkpoint.
    if (options_.stop_requested && b + 1 < plan_.batches()) {
      if (const int sig = options_.stop_requested()) {
        state_.seconds = elapsed;
        save(run_.last());
        result_ = stopped(sig, epoch, b + 1);
        return false;
      }
    }
  }
  state_.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  return true;
}

// One optimizer step on batch x (labels y); false when the batch was skipped.
bool Trainer::step(const torch::Tensor& x, const torch::Tensor& y, int64_t epoch, int64_t batch) {
  const double w = kl_weight(cfg_.loss, epoch, batch, plan_.batches());
  double loss = step_->run(x, y, w);  // forward, loss, backward into grads_
  ++batches_run_;
  if (test_hooks::poison_step && test_hooks::poison_step(batches_run_)) loss = std::numeric_limits<double>::quiet_NaN();
  reduce_gradients();
  const bool finite = std::isfinite(loss) && grads_->all_finite();
  state_.batch = batch + 1;
  if (finite) {
    if (cfg_.train.clip_grad_norm > 0) grads_->clip_norm(cfg_.train.clip_grad_norm);
    optimizer_->step();
    ++state_.step;
    state_.loss_sum += loss;
    state_.seen += x.size(0);
    return true;
  }
  const std::string what = std::isfinite(loss) ? "gradient" : "loss";
  if (cfg_.train.nonfinite == NonFinite::kSkip) {
    ++state_.skipped;
    spdlog::warn("non-finite {} at epoch {} batch {}: batch skipped", what, epoch, batch + 1);
    return false;
  }
  throw DivergedError("training diverged: non-finite " + what + " at step " + std::to_string(state_.step + 1) +
                      " (epoch " + std::to_string(epoch) + ", batch " + std::to_string(batch + 1) + "); " +
                      last_checkpoint_note() + ". Try a smaller train.lr, or train.nonfinite = \"skip\"");
}

// One process sums nothing. With several, the gradients of the same global
// batch are summed here, one all-reduce of grads_->flat().
void Trainer::reduce_gradients() {}

void Trainer::report_progress(int64_t epoch, int64_t batch, double elapsed, bool force) {
  if (!options_.on_progress || (elapsed < next_report_ && !force)) return;
  next_report_ = elapsed + 0.25;
  const double mean = state_.seen > 0 ? state_.loss_sum / static_cast<double>(state_.seen) : 0.0;
  options_.on_progress({epoch, cfg_.train.epochs, batch, plan_.batches(), mean, elapsed});
}

void Trainer::end_epoch(int64_t epoch) {
  EpochMetrics m;
  m.epoch = epoch;
  m.step = state_.step;
  m.skipped = state_.skipped;
  m.train_loss = state_.seen > 0 ? state_.loss_sum / static_cast<double>(state_.seen)
                                 : std::numeric_limits<double>::quiet_NaN();
  m.seconds = state_.seconds;
  const auto te = Clock::now();
  const Evaluation e = evaluate(model_, test_images_, test_labels_, eval_options_for(cfg_));
  m.test = {e.loss, e.recon, e.kl, e.code_abs};
  m.eval_seconds = std::chrono::duration<double>(Clock::now() - te).count();
  if (state_.seen == 0 || !std::isfinite(m.test.loss))
    throw DivergedError("training diverged: " +
                        (state_.seen == 0 ? "every batch of epoch " + std::to_string(epoch) + " was non-finite"
                                          : "the test loss of epoch " + std::to_string(epoch) + " is not finite") +
                        "; " + last_checkpoint_note() + ". Try a smaller train.lr");

  TrainingState next;  // at the epoch boundary: no partial epoch
  next.epoch = epoch;
  next.step = state_.step;
  next.best_test_loss = state_.best_test_loss;
  next.history = std::move(state_.history);
  next.history.push_back(m);
  state_ = std::move(next);
  const bool best = m.test.loss < state_.best_test_loss;
  if (best) state_.best_test_loss = m.test.loss;
  save(run_.last());
  if (cfg_.train.keep_best && best) save(run_.best());
  if (cfg_.train.keep_every > 0 && epoch % cfg_.train.keep_every == 0) save(run_.epoch_checkpoint(epoch));
  write_file_atomic(run_.metrics(), to_jsonl(state_.history));
  if (cfg_.train.image_every > 0 && epoch % cfg_.train.image_every == 0) write_pictures(epoch);

  const double w_end = kl_weight(cfg_.loss, epoch, plan_.batches(), plan_.batches());
  spdlog::info("epoch {:>3}/{}  train {:8.3f}  test {:8.3f} (recon {:8.3f} + kl {:7.3f})  {:6.2f} s{}{}", epoch,
               cfg_.train.epochs, m.train_loss, m.test.loss, m.test.recon, m.test.kl, m.seconds,
               m.skipped ? "  skipped " + std::to_string(m.skipped) : "",
               !is_variational(cfg_.model) ? fmt::format("  mean |code| {:.4f}", m.test.code_abs)
               : w_end != 1.0              ? fmt::format("  kl weight {:.3g}", w_end)
                                           : std::string());
  result_.history.push_back(m);
}

void Trainer::save(const std::string& path) {
  saved_step_ = state_.step;
  state_.rng_cpu = generator_state(c10::DeviceType::CPU);
  if (device_.is_cuda()) state_.rng_cuda = generator_state(c10::DeviceType::CUDA);
  save_checkpoint(path, model_, *optimizer_, {cfg_, state_});
}

void Trainer::write_pictures(int64_t epoch) {
  make_dirs(run_.images());
  const int64_t shown = std::min<int64_t>(kReconCount, test_.size());
  write_png_gray(run_.epoch_image("recon", epoch),
                 reconstruction_grid(model_, test_.images.narrow(0, 0, shown), 8, device_,
                                     test_.labels.narrow(0, 0, shown)));
  if (is_variational(cfg_.model)) {
    const SampleGrid grid = sample_grid_for(cfg_.model);
    write_png_gray(run_.epoch_image("samples", epoch),
                   make_grid(sample_images(model_, grid.count, cfg_.train.seed, device_), grid.columns));
  }
  write_loss_plot();
}

void Trainer::write_loss_plot() {
  plot::Series train{"train", {}, {}}, test{"test", {}, {}};
  for (const EpochMetrics& m : state_.history) {
    train.x.push_back(static_cast<double>(m.epoch));
    train.y.push_back(m.train_loss);
    test.x.push_back(static_cast<double>(m.epoch));
    test.y.push_back(m.test.loss);
  }
  plot::Axes axes{(is_variational(cfg_.model) ? std::string("VAE") : std::string(name(cfg_.model.kind))) + " " +
                      describe_layers(cfg_.model) + ": loss per epoch",
                  "epoch", "loss (nats per image)"};
  axes.integer_x = true;
  plot::line_plot(run_.loss_plot(), axes, {train, test});
}

void Trainer::finish() {
  std::error_code ec;
  if (!std::filesystem::exists(run_.last(), ec)) save(run_.last());  // epochs = 0: the initial model
  if (is_variational(cfg_.model)) {  // the autoencoders have no prior to sample from
    result_.samples = run_.samples();
    const SampleGrid grid = sample_grid_for(cfg_.model);
    write_png_gray(result_.samples,
                   make_grid(sample_images(model_, grid.count, cfg_.train.seed, device_), grid.columns));
  }
  const bool plotted = cfg_.train.image_every > 0 && !state_.history.empty();
  if (plotted) write_loss_plot();
  spdlog::info("checkpoint {}", result_.checkpoint);
  if (!result_.samples.empty()) spdlog::info("samples    {}", result_.samples);
  spdlog::info("metrics    {}", run_.metrics());
  if (plotted) spdlog::info("loss plot  {}", run_.loss_plot());
}

TrainResult Trainer::stopped(int sig, int64_t epoch, int64_t batch) {
  spdlog::warn("stopped by signal {} at epoch {} batch {}/{} (step {}); checkpoint {}; continue with: vae-train "
               "--resume {}",
               sig, epoch, batch, plan_.batches(), state_.step, run_.last(), run_.root());
  result_.stopped_by = sig;
  return result_;
}

std::string Trainer::last_checkpoint_note() const {
  return saved_step_ < 0 ? std::string("no checkpoint was written")
                         : "the last checkpoint (step " + std::to_string(saved_step_) + ") was left as it was";
}

TrainResult train(const Config& cfg, const TrainOptions& options) { return Trainer(cfg, options).run(); }

std::pair<std::shared_ptr<RunLock>, std::shared_ptr<const LoadedModel>> lock_and_load_resume(const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::exists(what, ec)) throw CheckpointError(what + ": no such run folder or checkpoint");
  const std::string dir = resume_run_dir(what);
  auto lock = std::make_shared<RunLock>(dir);
  for (const std::string& line : RunDir(dir).clean_up_after_crash()) spdlog::warn("{}", line);
  return {lock, std::make_shared<const LoadedModel>(load_resume_checkpoint(what))};
}

std::pair<Config, TrainOptions> prepare_training(const TrainRequest& request) {
  Config cfg;
  TrainOptions options;
  options.force = request.force;
  if (!request.resume.empty()) {
    // The checkpoint's config is the base; --config and flags may change
    // training settings (the Trainer refuses model changes, naming the key).
    auto [lock, checkpoint] = lock_and_load_resume(request.resume);
    options.lock = lock;
    cfg = request.config_path.empty() ? checkpoint->meta.config : load_config_file(request.config_path);
    cfg.train.out_dir = run_dir_of(checkpoint->path);
    if (request.config_path.empty()) warn_if_edited(RunDir(cfg.train.out_dir).config(), checkpoint->meta.config);
    options.resume_from = std::move(checkpoint);
  } else if (!request.config_path.empty()) {
    cfg = load_config_file(request.config_path);
  }
  for (const TrainRequest::Override& o : request.overrides) {
    if (!request.resume.empty() && o.key == "train.out_dir")
      throw ConfigError(o.flag + " cannot be combined with --resume (a run continues in its own folder)");
    try {
      set_key(cfg, o.key, o.text);
    } catch (const ConfigError& e) {
      throw ConfigError(o.flag + ": " + e.what());
    }
  }
  validate(cfg);
  return {cfg, options};
}

}  // namespace vae
