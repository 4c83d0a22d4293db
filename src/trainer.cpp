#include "vae/trainer.hpp"

#include <ATen/core/Generator.h>
#include <spdlog/spdlog.h>
#include <torch/optim/optimizer.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <mutex>
#include <sstream>
#include <tuple>

#include <torch/version.h>

#include "test_hooks.hpp"
#include "train_step.hpp"
#include "vae/distributed.hpp"
#include "vae/evaluate.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/loss.hpp"
#include "vae/optim.hpp"
#include "vae/plot.hpp"
#include "vae/runtime.hpp"
#include "vae/transforms.hpp"
#include "vae/version.hpp"

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
  if (ds.channels() != cfg.model.image_channels || ds.height() != cfg.model.image_height ||
      ds.width() != cfg.model.image_width)
    throw DataError(source.describe() + ": " + what + " images are " + std::to_string(ds.channels()) + "x" +
                    std::to_string(ds.height()) + "x" + std::to_string(ds.width()) +
                    " (channels x height x width) but the model's are " + std::to_string(cfg.model.image_channels) +
                    "x" + std::to_string(cfg.model.image_height) + "x" + std::to_string(cfg.model.image_width));
  if (!ds.class_names.empty() && !cfg.model.class_names.empty() && ds.class_names != cfg.model.class_names)
    throw DataError(source.describe() + ": its classes differ from the model's (model.class_names), so labels "
                    "would name other classes");
}

// The keys a run takes from its data: the image shape and the class names
// (and, for a conditional model, the number of classes).
void take_shape_from_data(ModelConfig& m, const Dataset& ds) {
  const ModelConfig defaults;
  auto differs = [&](const char* key, int64_t asked, int64_t fallback, int64_t data, const char* what) {
    if (asked != fallback && asked != data)
      spdlog::warn("model.{} = {} in the config, but the data's images are {}{}: the model takes the data's shape "
                   "(data.image_size resizes images)",
                   key, asked, data, what);
  };
  differs("image_channels", m.image_channels, defaults.image_channels, ds.channels(), " channels");
  differs("image_height", m.image_height, defaults.image_height, ds.height(), " high");
  differs("image_width", m.image_width, defaults.image_width, ds.width(), " wide");
  const std::string before = std::to_string(m.image_channels) + "x" + std::to_string(m.image_height) + "x" +
                             std::to_string(m.image_width);
  m.image_channels = ds.channels();
  m.image_height = ds.height();
  m.image_width = ds.width();
  m.class_names = ds.class_names;
  if (m.conditional && !ds.class_names.empty()) m.classes = static_cast<int64_t>(ds.class_names.size());
  // The stages as built, so the checkpoint does not depend on the automatic rule.
  if (m.arch == Arch::kConv && m.conv_channels.empty()) m.conv_channels = conv_stages(m);
  const std::string after = std::to_string(m.image_channels) + "x" + std::to_string(m.image_height) + "x" +
                            std::to_string(m.image_width);
  if (after != before) spdlog::info("image shape {} (channels x height x width), from the data", after);
}

void take_shape_from(ModelConfig& m, const ModelConfig& saved) {
  m.image_channels = saved.image_channels;
  m.image_height = saved.image_height;
  m.image_width = saved.image_width;
  m.class_names = saved.class_names;
  if (!saved.class_names.empty()) m.classes = saved.classes;
  if (m.conv_channels.empty()) m.conv_channels = saved.conv_channels;  // [] asks for the automatic ones
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
    : cfg_(cfg), options_(options), device_(torch::kCPU), run_(cfg.train.out_dir), group_(options.group) {
  validate(cfg_, /*shape_known=*/false);
  if (group_) {
    rank_ = group_->rank();
    world_ = group_->size();
    writer_ = rank_ == 0;
  }
  scalars_ = torch::zeros({33}, torch::kFloat64);
  device_ = resolve_device(cfg_.train.device);
  configure_threads(cfg_.train.threads);
  configure_blas_threads(cfg_.train.blas_threads);
  warn_on_reference_blas();

  // A resume is checked before the data is read: a wrong model is named first.
  std::shared_ptr<const LoadedModel> resume = options_.resume_from;
  lock_ = options_.lock;
  if (!resume && !options_.resume.empty()) {
    if (!writer_) throw ConfigError("a distributed run's other ranks take the checkpoint from rank 0 (TrainOptions::resume_from)");
    std::tie(lock_, resume) = lock_and_load_resume(options_.resume);
  }
  if (resume) {
    take_shape_from(cfg_.model, resume->meta.config.model);
    check_resume_config(resume->meta.config, cfg_, resume->path);
  }

  try {
    source_ = open_data_source(cfg_.data);
    train_ = load_split(*source_, Split::kTrain, cfg_.data.binarize, /*for_training=*/true);
    test_ = load_split(*source_, Split::kTest, cfg_.data.binarize, /*for_training=*/false);
    if (writer_)
      for (const std::string& line : source_->notes()) spdlog::info("{}", line);
    if (!resume) {
      take_shape_from_data(cfg_.model, train_);
      validate(cfg_);
    }
    check_image_size(cfg_, train_, *source_, "train");
    check_image_size(cfg_, test_, *source_, "test");
    check_labels(cfg_.model, train_);
    check_labels(cfg_.model, test_);
  } catch (const std::exception& e) {
    if (group_) group_->all_gather("data", std::string("error ") + e.what());  // the others stop too, now
    throw;
  }
  plan_ = {train_.size(), cfg_.train.batch_size};
  if (group_) check_same_data();

  // One writer per run folder, from here to the end of the run: before
  // --force clears it or anything is written into it (a resume holds it
  // since before its checkpoint was read).
  if (!lock_ && writer_) {
    lock_ = std::make_shared<RunLock>(cfg_.train.out_dir);
    for (const std::string& line : run_.clean_up_after_crash()) spdlog::warn("{}", line);
  }
  if (resume) {
    if (writer_) run_.prepare_resumed();
    restore(*resume);
  } else {
    if (writer_) run_.prepare_new(options_.force);
    torch::manual_seed(cfg_.train.seed);
    model_ = VAE(cfg_.model);
    model_->to(device_);
    optimizer_ = make_optimizer(cfg_.train, model_);
  }
  grads_ = std::make_unique<FlatGradients>(model_->parameters());
  step_ = make_train_step(cfg_, model_, *grads_, device_, cfg_.train.batch_size);
  saved_step_ = resume ? state_.step : -1;
  if (writer_) {
    write_file_atomic(run_.config(), to_toml(cfg_));
    if (!test_.paths.empty()) {  // the split of an image folder, as drawn
      std::string lines;
      for (const std::string& p : test_.paths) lines += p + '\n';
      std::error_code ec;
      if (resume && std::filesystem::exists(run_.test_files(), ec) && read_file(run_.test_files()) != lines)
        spdlog::warn("the test split differs from the one this run started with (the folder changed): some test "
                     "images may have been trained on; {} lists the new one",
                     run_.test_files());
      write_file_atomic(run_.test_files(), lines);
    }
    if (const std::vector<std::string> skipped = source_->skipped(); !skipped.empty()) {
      std::string lines;
      for (const std::string& p : skipped) lines += p + '\n';
      write_file_atomic(run_.skipped_files(), lines);
      spdlog::warn("skipped {} image file(s) that could not be used; the list is in {}", skipped.size(),
                   run_.skipped_files());
    }
    // metrics.jsonl restarts from the checkpoint's history, so lines of epochs
    // the checkpoint does not cover (a crash after them) are dropped.
    write_file_atomic(run_.metrics(), to_jsonl(state_.history));
  }

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
  if (writer_) repair_retention();
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
  if (group_)
    spdlog::info("{:<22} {}; batch {} split {} ways, rank 0 writes the run folder", "distributed",
                 group_->describe(), cfg_.train.batch_size, world_);
}

TrainResult Trainer::run() {
  for (int64_t epoch = state_.epoch + 1; epoch <= cfg_.train.epochs; ++epoch) {
    if (!run_epoch(epoch)) return result_;
    end_epoch(epoch);
    if (epoch < cfg_.train.epochs)
      if (const int sig = stop_signal(/*at_epoch_end=*/true)) return stopped(sig, epoch + 1, 0);
  }
  finish();
  return result_;
}

bool Trainer::run_epoch(int64_t epoch) {
  model_->train();
  const auto t0 = Clock::now();
  next_report_ = 0;
  const torch::Tensor order = epoch_permutation(plan_.images, cfg_.train.seed, epoch - 1).to(device_);
  const int64_t every = cfg_.train.checkpoint_every_steps;
  for (int64_t b = state_.batch; b < plan_.batches(); ++b) {  // state_.batch > 0 only when resuming mid-epoch
    // This process's slice of the global batch (all of it for one process).
    const int64_t len = plan_.length(b);
    const RowSlice rows = rank_rows(len, rank_, world_);  // one process: all rows, drawn as a whole batch
    const int64_t mine = rank_row_count(len, rank_, world_);
    const torch::Tensor idx = order.narrow(0, plan_.start(b) + rows.offset, mine);
    const torch::Tensor x =
        binarize_batch(to_unit_float(train_images_.index_select(0, idx)), cfg_.data.binarize, rows);
    const torch::Tensor y = train_labels_.defined() ? train_labels_.index_select(0, idx) : train_labels_;
    const bool stepped = step(x, y, epoch, b, rows, len);
    const double elapsed = state_.seconds + std::chrono::duration<double>(Clock::now() - t0).count();
    report_progress(epoch, b + 1, elapsed, b + 1 == plan_.batches());
    if (b + 1 == plan_.batches()) break;  // a stop at an epoch's last batch comes after its own checkpoint
    if (const int sig = stop_signal(/*at_epoch_end=*/false)) {
      state_.seconds = elapsed;
      save(run_.last());
      result_ = stopped(sig, epoch, b + 1);
      return false;
    }
    if (every > 0 && stepped && state_.step % every == 0) {  // a restart loses at most `every` steps
      const double before = state_.seconds;
      state_.seconds = elapsed;
      save(run_.last());
      state_.seconds = before;
    }
  }
  state_.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  return true;
}

// One optimizer step on batch x (labels y); false when the batch was skipped.
bool Trainer::step(const torch::Tensor& x, const torch::Tensor& y, int64_t epoch, int64_t batch,
                   const RowSlice& rows, int64_t global_rows) {
  const double w = kl_weight(cfg_.loss, epoch, batch, plan_.batches());
  double loss = step_->run(x, y, w, rows);  // forward, loss, backward into grads_
  ++batches_run_;
  if (test_hooks::poison_step && test_hooks::poison_step(batches_run_)) loss = std::numeric_limits<double>::quiet_NaN();
  loss = reduce_gradients(loss);  // a non-finite loss on any process makes the sum non-finite
  const bool finite = std::isfinite(loss) && grads_->all_finite();
  state_.batch = batch + 1;
  if (finite) {
    if (cfg_.train.clip_grad_norm > 0) grads_->clip_norm(cfg_.train.clip_grad_norm);
    optimizer_->step();
    ++state_.step;
    state_.loss_sum += loss;
    state_.seen += global_rows;
    return true;
  }
  const std::string what = std::isfinite(loss) ? "gradient" : "loss";
  if (cfg_.train.nonfinite == NonFinite::kSkip) {
    ++state_.skipped;
    if (writer_) spdlog::warn("non-finite {} at epoch {} batch {}: batch skipped", what, epoch, batch + 1);
    return false;
  }
  throw DivergedError("training diverged: non-finite " + what + " at step " + std::to_string(state_.step + 1) +
                      " (epoch " + std::to_string(epoch) + ", batch " + std::to_string(batch + 1) + "); " +
                      last_checkpoint_note() + ". Try a smaller train.lr, or train.nonfinite = \"skip\"");
}

// One process sums nothing. With several, the gradients of the slices of
// one global batch are summed in one all-reduce of grads_->flat(); the
// losses and stop requests in a second, small one.
double Trainer::reduce_gradients(double loss) {
  if (!group_) return loss;
  const auto t0 = Clock::now();
  // The gradients and the scalars in flight together: each all-reduce
  // costs a round trip of latency (about 2 ms here even for 33 numbers).
  group_->sum({grads_->flat(), set_scalars(loss)});
  reduce_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  return read_scalars();
}

// `loss` and this process's stop request, to be summed with the others'.
torch::Tensor& Trainer::set_scalars(double loss) {
  scalars_.zero_();
  double* v = scalars_.data_ptr<double>();
  v[0] = loss;
  if (options_.stop_requested)
    if (const int sig = options_.stop_requested()) v[1 + std::clamp(sig, 1, 31)] = 1;
  return scalars_;
}

// The summed loss; the stop taken is the signal most processes got (ties:
// the larger number).
double Trainer::read_scalars() {
  const double* v = scalars_.data_ptr<double>();
  reduced_stop_ = 0;
  for (int sig = 1; sig < 32; ++sig)
    if (v[1 + sig] > 0 && (reduced_stop_ == 0 || v[1 + sig] >= v[1 + reduced_stop_])) reduced_stop_ = sig;
  return v[0];
}

// Between steps: the request summed with the last step's gradients. At an
// epoch's end (a request may have come during the evaluation and saves):
// one small all-reduce of its own.
int Trainer::stop_signal(bool at_epoch_end) {
  if (!group_) return options_.stop_requested ? options_.stop_requested() : 0;
  if (at_epoch_end) {
    group_->sum(set_scalars(0));
    read_scalars();
  }
  return reduced_stop_;
}

// Every process must train on the same images: sizes and byte sums compared.
void Trainer::check_same_data() const {
  const auto digest = [](const Dataset& d) {
    return std::to_string(d.size()) + " images " + std::to_string(d.height()) + "x" + std::to_string(d.width()) +
           ", byte sum " + std::to_string(d.images.sum().item<int64_t>()) +
           (d.labels.defined() ? ", label sum " + std::to_string(d.labels.sum().item<int64_t>()) : "");
  };
  const std::string mine = "train " + digest(train_) + "; test " + digest(test_);
  const std::vector<std::string> all = group_->all_gather("data", mine);
  for (size_t r = 0; r < all.size(); ++r)
    if (all[r].rfind("error ", 0) == 0)
      throw DistError("rank " + std::to_string(r) + " could not read its data: " + all[r].substr(6));
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw DataError(source_->describe() + ": rank " + std::to_string(r) + " reads other data than rank 0 (" +
                      all[r] + " vs " + all[0] + "): every process needs the same data.dir");
}

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
  EvalOptions eval = eval_options_for(cfg_);
  if (group_) {  // each process its slice of every evaluation batch
    eval.shard = rank_;
    eval.shards = world_;
    eval.sum_across = [this](torch::Tensor& t) { group_->sum(t); };
  }
  const Evaluation e = evaluate(model_, test_images_, test_labels_, eval);
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
  if (writer_) write_file_atomic(run_.metrics(), to_jsonl(state_.history));
  if (writer_ && cfg_.train.image_every > 0 && epoch % cfg_.train.image_every == 0) write_pictures(epoch);

  const double w_end = kl_weight(cfg_.loss, epoch, plan_.batches(), plan_.batches());
  spdlog::info("epoch {:>3}/{}  train {:8.3f}  test {:8.3f} (recon {:8.3f} + kl {:7.3f})  {:6.2f} s{}{}", epoch,
               cfg_.train.epochs, m.train_loss, m.test.loss, m.test.recon, m.test.kl, m.seconds,
               m.skipped ? "  skipped " + std::to_string(m.skipped) : "",
               !is_variational(cfg_.model) ? fmt::format("  mean |code| {:.4f}", m.test.code_abs)
               : w_end != 1.0              ? fmt::format("  kl weight {:.3g}", w_end)
                                           : std::string());
  if (group_) {
    spdlog::info("epoch {:>3}: summing across {} processes took {:.2f} s of {:.2f} s ({:.0f}%)", epoch, world_,
                 reduce_seconds_, m.seconds, 100 * reduce_seconds_ / std::max(m.seconds, 1e-9));
    reduce_seconds_ = 0;
  }
  result_.history.push_back(m);
}

void Trainer::save(const std::string& path) {
  saved_step_ = state_.step;
  if (!writer_) return;  // rank 0 writes; the state is the same on every process
  state_.rng_cpu = generator_state(c10::DeviceType::CPU);
  if (device_.is_cuda()) state_.rng_cuda = generator_state(c10::DeviceType::CUDA);
  save_checkpoint(path, model_, *optimizer_, {cfg_, state_});
}

void Trainer::write_pictures(int64_t epoch) {
  make_dirs(run_.images());
  const int64_t shown = std::min<int64_t>(kReconCount, test_.size());
  write_png(run_.epoch_image("recon", epoch),
                 reconstruction_grid(model_, test_.images.narrow(0, 0, shown), 8, device_,
                                     test_.labels.narrow(0, 0, shown)));
  if (is_variational(cfg_.model)) {
    const SampleGrid grid = sample_grid_for(cfg_.model);
    write_png(run_.epoch_image("samples", epoch),
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
  if (!writer_) return;
  std::error_code ec;
  if (!std::filesystem::exists(run_.last(), ec)) save(run_.last());  // epochs = 0: the initial model
  if (is_variational(cfg_.model)) {  // the autoencoders have no prior to sample from
    result_.samples = run_.samples();
    const SampleGrid grid = sample_grid_for(cfg_.model);
    write_png(result_.samples,
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
  if (writer_)
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

namespace {

void apply_overrides(Config& cfg, const TrainRequest& request, bool resuming) {
  for (const TrainRequest::Override& o : request.overrides) {
    if (resuming && o.key == "train.out_dir")
      throw ConfigError(o.flag + " cannot be combined with --resume (a run continues in its own folder)");
    try {
      set_key(cfg, o.key, o.text);
    } catch (const ConfigError& e) {
      throw ConfigError(o.flag + ": " + e.what());
    }
  }
}

}  // namespace

Config requested_config(const TrainRequest& request, bool resuming) {
  Config cfg = request.config_path.empty() ? Config() : load_config_file(request.config_path);
  apply_overrides(cfg, request, resuming);
  return cfg;
}

namespace {

// --auto-resume: the run folder's checkpoint when it has one.
TrainRequest resolve_auto_resume(const TrainRequest& request) {
  if (!request.auto_resume || !request.resume.empty()) return request;
  TrainRequest r = request;
  const Config asked = requested_config(request, false);
  validate(asked, /*shape_known=*/false);
  if (!RunDir(asked.train.out_dir).has_checkpoints()) {
    spdlog::info("--auto-resume: {} holds no checkpoint: a new run", asked.train.out_dir);
    return r;
  }
  spdlog::info("--auto-resume: continuing the run in {}", asked.train.out_dir);
  r.resume = asked.train.out_dir;
  r.overrides.erase(std::remove_if(r.overrides.begin(), r.overrides.end(),
                                   [](const TrainRequest::Override& o) { return o.key == "train.out_dir"; }),
                    r.overrides.end());
  return r;
}

}  // namespace

std::pair<Config, TrainOptions> prepare_training(const TrainRequest& original) {
  const TrainRequest request = resolve_auto_resume(original);
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
    apply_overrides(cfg, request, /*resuming=*/true);
  } else {
    cfg = requested_config(request, false);
  }
  validate(cfg, /*shape_known=*/false);
  return {cfg, options};
}

namespace {

// Rank 0's answer to the other ranks: the effective config, and the
// checkpoint to resume (its name and bytes), or the error that stopped it.
struct StartMessage {
  std::string error;
  std::string config;
  std::string checkpoint_path;
  std::string checkpoint;

  std::string encode() const {
    std::string out;
    for (const std::string* f : {&error, &config, &checkpoint_path, &checkpoint})
      out += std::to_string(f->size()) + ":" + *f;
    return out;
  }
  static StartMessage decode(const std::string& text) {
    StartMessage m;
    size_t at = 0;
    for (std::string* f : {&m.error, &m.config, &m.checkpoint_path, &m.checkpoint}) {
      const size_t colon = text.find(':', at);
      if (colon == std::string::npos) throw DistError("rank 0 sent a malformed start message");
      const size_t n = std::stoull(text.substr(at, colon - at));
      if (colon + 1 + n > text.size()) throw DistError("rank 0 sent a truncated start message");
      *f = text.substr(colon + 1, n);
      at = colon + 1 + n;
    }
    return m;
  }
};

// What every rank must agree on: the versions, the flags, the config asked for.
std::string request_identity(const TrainRequest& request, std::string& error) {
  std::string config;
  try {
    Config cfg = requested_config(request, !request.resume.empty());
    validate(cfg, /*shape_known=*/false);
    config = to_toml(cfg);
  } catch (const std::exception& e) {
    error = e.what();
  }
  return std::string("vae ") + kVersion + ", LibTorch " + TORCH_VERSION + "\n--resume " + request.resume +
         (request.auto_resume ? " --auto-resume" : "") + (request.force ? " --force" : "") + "\n" + config;
}

// The first line where two identities differ, for the message.
std::string identity_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb, section;
  while (true) {
    const bool ga = static_cast<bool>(std::getline(sa, la)), gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga || !gb || la != lb) {
      const std::string where = section.empty() ? "" : section + " ";
      return where + "'" + (ga ? la : "(nothing)") + "' vs '" + (gb ? lb : "(nothing)") + "'";
    }
    if (!la.empty() && la[0] == '[') section = la;
  }
}

}  // namespace

std::pair<Config, TrainOptions> prepare_training(const TrainRequest& request, std::shared_ptr<ProcessGroup> group) {
  std::string error;
  const std::string identity = request_identity(request, error);
  const std::vector<std::string> all =
      group->all_gather("request", (error.empty() ? "ok\n" : "error " + error + "\n") + identity);
  for (size_t r = 0; r < all.size(); ++r)
    if (all[r].rfind("error ", 0) == 0) {
      if (static_cast<int64_t>(r) == group->rank()) throw ConfigError(error);
      throw DistError("rank " + std::to_string(r) + " could not start: " + all[r].substr(6, all[r].find('\n') - 6));
    }
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw DistError("rank " + std::to_string(r) + " was started differently from rank 0: " +
                      identity_difference(all[r], all[0]) + " (rank " + std::to_string(r) +
                      " vs rank 0); every process needs the same binary, config and flags");

  StartMessage m;
  std::pair<Config, TrainOptions> out;
  if (group->rank() == 0) {
    try {
      out = prepare_training(request);
      m.config = to_toml(out.first);
      if (out.second.resume_from) {
        m.checkpoint_path = out.second.resume_from->path;
        m.checkpoint = *out.second.resume_from->archive;
      }
    } catch (const std::exception& e) {
      m.error = e.what();
      group->broadcast("start", m.encode());
      throw;
    }
    group->broadcast("start", m.encode());
  } else {
    m = StartMessage::decode(group->broadcast("start", ""));
    if (!m.error.empty()) throw DistError("rank 0 could not start: " + m.error);
    out.first = parse_config(m.config, "rank 0's config");
    if (!m.checkpoint.empty())
      out.second.resume_from = std::make_shared<const LoadedModel>(load_model_bytes(
          m.checkpoint_path + " (from rank 0)", std::make_shared<const std::string>(std::move(m.checkpoint)),
          torch::kCPU));
  }
  out.second.group = std::move(group);
  return out;
}

}  // namespace vae
