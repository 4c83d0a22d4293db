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
#include "epoch_outputs.hpp"
#include "train_step.hpp"
#include "vae/digest.hpp"
#include "vae/distributed.hpp"
#include "vae/evaluate.hpp"
#include "vae/image.hpp"
#include "vae/inference.hpp"
#include "vae/io.hpp"
#include "vae/loss.hpp"
#include "vae/objective.hpp"
#include "vae/optim.hpp"
#include "vae/plot.hpp"
#include "vae/runtime.hpp"
#include "vae/transforms.hpp"
#include "vae/version.hpp"

namespace vae {
namespace {

using Clock = std::chrono::steady_clock;


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
  const std::string before = shape_text(m.image_channels, m.image_height, m.image_width);
  m.image_channels = ds.channels();
  m.image_height = ds.height();
  m.image_width = ds.width();
  m.class_names = ds.class_names;
  if (m.conditional && !ds.class_names.empty()) m.classes = static_cast<int64_t>(ds.class_names.size());
  // The stages as built, so the checkpoint does not depend on the automatic rule.
  if (m.arch == Arch::kConv && m.conv_channels.empty()) m.conv_channels = conv_stages(m);
  const std::string after = shape_text(m.image_channels, m.image_height, m.image_width);
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
  // OpenBLAS's buffers first, then the data and model: under a memory limit
  // these fail as allocations (one line) instead of OpenBLAS waiting for ever.
  if (device_.is_cpu()) reserve_blas_buffers();

  // A resume is checked before the data is read: a wrong model is named first.
  const std::shared_ptr<const LoadedModel> resume = checkpoint_to_resume();
  load_data(resume != nullptr);
  // One writer per run folder, from here to the end of the run: before
  // --force clears it or anything is written into it (a resume holds it
  // since before its checkpoint was read).
  if (!lock_ && writer_) {
    lock_ = std::make_shared<RunLock>(cfg_.train.out_dir);
    for (const std::string& line : run_.clean_up_after_crash()) spdlog::warn("{}", line);
  }
  build_model(resume.get());
  if (writer_) write_run_files(resume != nullptr);
  // The whole data set lives on the device as bytes; batches are gathered
  // with index_select and converted to float per batch.
  train_images_ = train_.images.to(device_);
  test_images_ = test_.images.to(device_);
  if (valid_.images.defined()) valid_images_ = valid_.images.to(device_);
  if (cfg_.model.conditional) {
    train_labels_ = train_.labels.to(device_);
    test_labels_ = test_.labels.to(device_);
    if (valid_.images.defined()) valid_labels_ = valid_.labels.to(device_);
  }
  listeners_ = epoch_outputs(cfg_, run_, model_, *objective_, test_, device_);
  for (const auto& listener : options_.listeners) listeners_.push_back(listener);
  result_.checkpoint = run_.last();
  log_config();
}

// The checkpoint a resume continues from (null: a new run), read under the
// run folder's lock; the model's shape comes from it, and a config that
// would change the model or the data order is refused.
std::shared_ptr<const LoadedModel> Trainer::checkpoint_to_resume() {
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
  return resume;
}

// Both splits, checked against the model; a new run takes the model's
// shape and class names from them. Every process reads the same data.
void Trainer::load_data(bool resuming) {
  try {
    source_ = open_data_source(cfg_.data);
    if (source_->has_validation() && cfg_.data.valid_fraction > 0)
      throw ConfigError("config key 'data.valid_fraction' must be 0 for " + source_->describe() +
                        ", which has a validation split of its own");
    const ValidSplit held{cfg_.data.valid_fraction, cfg_.data.split_seed};
    train_ = load_split(*source_, Split::kTrain, cfg_.data.binarize, /*for_training=*/true, held);
    if (has_validation(*source_, cfg_.data))
      valid_ = load_split(*source_, Split::kValid, cfg_.data.binarize, /*for_training=*/false, held);
    test_ = load_split(*source_, Split::kTest, cfg_.data.binarize, /*for_training=*/false);
    if (writer_)
      for (const std::string& line : source_->notes()) spdlog::info("{}", line);
    if (!resuming) {
      take_shape_from_data(cfg_.model, train_);
      validate(cfg_);
    }
    check_data_fits(cfg_.model, train_, source_->describe() + ": train");
    check_data_fits(cfg_.model, test_, source_->describe() + ": test");
    if (valid_.images.defined()) check_data_fits(cfg_.model, valid_, source_->describe() + ": valid");
  } catch (const std::exception& e) {
    if (group_) agree_failed(*group_, "data", e.what());  // the others stop too, now
    throw;
  }
  plan_ = {train_.size(), cfg_.train.batch_size};
  if (group_) check_same_data();
}

// The model, optimizer, gradient block and step: restored from the
// checkpoint, or new from the seed.
void Trainer::build_model(const LoadedModel* resume) {
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
  model_->encoder()->set_sparse_input(cfg_.train.sparse_input);
  grads_ = std::make_unique<FlatGradients>(model_->parameters());
  objective_ = make_objective(cfg_);
  step_ = make_train_step(cfg_, model_, *grads_, device_, cfg_.train.batch_size);
  saved_step_ = resume ? state_.step : -1;
}

// config.toml, an image folder's test split and skipped files, and
// metrics.jsonl restarted from the checkpoint's history (so lines of epochs
// the checkpoint does not cover, after a crash, are dropped).
void Trainer::write_run_files(bool resuming) {
  write_file_atomic(run_.config(), to_toml(cfg_));
  if (!test_.paths.empty()) {  // the split of an image folder, as drawn
    const std::string lines = join(test_.paths, "\n") + "\n";
    std::error_code ec;
    if (resuming && std::filesystem::exists(run_.test_files(), ec) && read_file(run_.test_files()) != lines)
      spdlog::warn("the test split differs from the one this run started with (the folder changed): some test "
                   "images may have been trained on; {} lists the new one",
                   run_.test_files());
    write_file_atomic(run_.test_files(), lines);
  }
  if (const std::vector<std::string> skipped = source_->skipped(); !skipped.empty()) {
    write_file_atomic(run_.skipped_files(), join(skipped, "\n") + "\n");
    spdlog::warn("skipped {} image file(s) that could not be used; the list is in {}", skipped.size(),
                 run_.skipped_files());
  }
  write_file_atomic(run_.metrics(), to_jsonl(state_.history));
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
  if (cfg_.train.keep_best && state_.history.back().selection_loss() <= state_.best_test_loss) {
    int64_t best_epoch = -1;
    try {
      best_epoch = parse_manifest(read_file(manifest_path_for(run_.best())), run_.best()).epoch;
    } catch (const std::exception&) {  // missing or unreadable: rewritten below
    }
    if (best_epoch != epoch) {
      spdlog::warn("{} held epoch {}, but epoch {} has the lowest {} loss: rewritten", run_.best(), best_epoch, epoch,
                   state_.history.back().has_valid ? "validation" : "test");
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
  if (valid_.images.defined())
    spdlog::info("{:<22} {} images{}: best.pt and early stopping choose on them", "data.validation", valid_.size(),
                 source_->has_validation() ? " (its own split)" : " held out of train (data.valid_fraction)");
  spdlog::info("{:<22} {}", "model.layers", describe_layers(cfg_.model));
  spdlog::info("{:<22} {}", "training step", step_->describe());
  if (group_)
    spdlog::info("{:<22} {}; batch {} split {} ways, rank 0 writes the run folder", "distributed",
                 group_->describe(), cfg_.train.batch_size, world_);
}

TrainResult Trainer::run() {
  for (int64_t epoch = state_.epoch + 1; epoch <= cfg_.train.epochs; ++epoch) {
    if (patience_exhausted()) break;
    if (!run_epoch(epoch)) return result_;
    end_epoch(epoch);
    if (epoch < cfg_.train.epochs)
      if (const int sig = stop_signal(/*at_epoch_end=*/true)) return stopped(sig, epoch + 1, 0);
  }
  finish();
  return result_;
}

// Early stopping: the selection loss (validation's, else test's) has not
// improved for train.early_stop_patience epochs. Read from the history, so
// a resumed run stops where the whole run would have.
bool Trainer::patience_exhausted() const {
  const int64_t patience = cfg_.train.early_stop_patience;
  const auto& h = state_.history;
  if (patience == 0 || h.empty()) return false;
  size_t best = 0;
  for (size_t i = 1; i < h.size(); ++i)
    if (h[i].selection_loss() < h[best].selection_loss()) best = i;
  const int64_t since = h.back().epoch - h[best].epoch;
  if (since < patience) return false;
  spdlog::info("early stop: the {} loss has not improved for {} epochs (best {:.3f} at epoch {}; "
               "train.early_stop_patience = {})",
               h.back().has_valid ? "validation" : "test", since, h[best].selection_loss(), h[best].epoch, patience);
  return true;
}

bool Trainer::run_epoch(int64_t epoch) {
  model_->train();
  // The schedule's rate for this epoch (a resumed partial epoch too).
  const double lr = scheduled_lr(cfg_.train, epoch, state_.history);
  set_lr(*optimizer_, lr);
  if (cfg_.train.lr_schedule != LrSchedule::kConstant && lr != current_lr_)
    spdlog::info("epoch {:>3}: learning rate {:.4g} (train.lr_schedule = {})", epoch, lr, name(cfg_.train.lr_schedule));
  current_lr_ = lr;
  const auto t0 = Clock::now();
  next_report_ = 0;
  const torch::Tensor order = epoch_permutation(plan_.images, cfg_.train.seed, epoch - 1).to(device_);
  const int64_t every = cfg_.train.checkpoint_every_steps;
  for (int64_t b = state_.batch; b < plan_.batches(); ++b) {  // state_.batch > 0 only when resuming mid-epoch
    // This process's slice of the global batch (all of it for one process).
    const int64_t len = plan_.length(b);
    RowSlice rows = rank_rows(len, rank_, world_);  // one process: all rows, drawn as a whole batch
    if (group_) rows.sum_across = [this](torch::Tensor& t) { group_->sum(t); };
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
    step_->commit();  // the same on every process: `finite` comes from the summed loss and gradients
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

// Every process must train on the same images: sizes and SHA-256 of the
// images and labels compared.
void Trainer::check_same_data() const {
  const auto sha256 = [](const torch::Tensor& t) {
    const torch::Tensor c = t.contiguous();
    return sha256_hex({static_cast<const char*>(c.data_ptr()), c.nbytes()});
  };
  const auto digest = [&sha256](const Dataset& d) {
    return std::to_string(d.size()) + " images " + shape_text(d.channels(), d.height(), d.width()) + ", sha256 " +
           sha256(d.images) + (d.labels.defined() ? ", labels sha256 " + sha256(d.labels) : "");
  };
  const std::string mine = "train " + digest(train_) + "; test " + digest(test_) +
                           (valid_.images.defined() ? "; valid " + digest(valid_) : "");
  agree(*group_, "data", mine, "could not read its data", [this](int64_t r, const std::string& theirs, const std::string& ours) {
    throw DataError(source_->describe() + ": rank " + std::to_string(r) + " reads other data than rank 0 (" + theirs +
                    " vs " + ours + "): every process needs the same data.dir");
  });
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
  if (valid_images_.defined()) {
    const Evaluation v = evaluate(model_, valid_images_, valid_labels_, eval);
    m.has_valid = true;
    m.valid = {v.loss, v.recon, v.kl, v.code_abs};
  }
  const Evaluation e = evaluate(model_, test_images_, test_labels_, eval);
  m.test = {e.loss, e.recon, e.kl, e.code_abs, e.perplexity, e.dead_codes};
  m.eval_seconds = std::chrono::duration<double>(Clock::now() - te).count();
  if (state_.seen == 0 || !std::isfinite(m.test.loss) || !std::isfinite(m.selection_loss()))
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
  const bool best = m.selection_loss() < state_.best_test_loss;  // the field holds the selection loss
  if (best) state_.best_test_loss = m.selection_loss();
  save(run_.last());
  if (cfg_.train.keep_best && best) save(run_.best());
  if (cfg_.train.keep_every > 0 && epoch % cfg_.train.keep_every == 0) save(run_.epoch_checkpoint(epoch));
  if (writer_)
    for (const auto& listener : listeners_) listener->epoch_ended(m, state_.history);

  const double w_end = kl_weight(cfg_.loss, epoch, plan_.batches(), plan_.batches());
  spdlog::info("epoch {:>3}/{}  train {:8.3f}  {}test {:8.3f} (recon {:8.3f} + kl {:7.3f})  {:6.2f} s{}{}", epoch,
               cfg_.train.epochs, m.train_loss, m.has_valid ? fmt::format("valid {:8.3f}  ", m.valid.loss) : "",
               m.test.loss, m.test.recon, m.test.kl, m.seconds,
               m.skipped ? "  skipped " + std::to_string(m.skipped) : "", objective_->epoch_note(m.test, w_end));
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

void Trainer::finish() {
  if (!writer_) return;
  std::error_code ec;
  if (!std::filesystem::exists(run_.last(), ec)) save(run_.last());  // epochs = 0: the initial model
  for (const auto& listener : listeners_) listener->run_finished(state_.history);
  if (objective_->has_prior()) result_.samples = run_.samples();  // the autoencoders have no prior to sample from
  spdlog::info("checkpoint {}", result_.checkpoint);
  if (!result_.samples.empty()) spdlog::info("samples    {}", result_.samples);
  spdlog::info("metrics    {}", run_.metrics());
  if (cfg_.train.image_every > 0 && !state_.history.empty()) spdlog::info("loss plot  {}", run_.loss_plot());
}

TrainResult Trainer::stopped(int sig, int64_t epoch, int64_t batch) {
  if (writer_)
    spdlog::warn("stopped by signal {} at epoch {} batch {}/{} (step {}); checkpoint {}; continue with: vae-train "
               "--resume {}",
               sig, epoch, batch, plan_.batches(), state_.step, run_.last(), run_.root());
  // A long run stopped and resumed shows its curve so far (loss.png).
  if (writer_ && !state_.history.empty()) {
    try {
      for (const auto& listener : listeners_) listener->run_stopped(state_.history);
    } catch (const std::exception& e) {
      spdlog::warn("the run's pictures were not updated: {}", e.what());
    }
  }
  result_.stopped_by = sig;
  return result_;
}

std::string Trainer::last_checkpoint_note() const {
  return saved_step_ < 0 ? std::string("no checkpoint was written")
                         : "the last checkpoint (step " + std::to_string(saved_step_) + ") was left as it was";
}

TrainResult train(const Config& cfg, const TrainOptions& options) { return Trainer(cfg, options).run(); }

}  // namespace vae
