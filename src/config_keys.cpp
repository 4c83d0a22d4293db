// The key table: every config key in one line (name, member, allowed values,
// flag, what a resume may do with it, help), which drives parsing,
// validation, printing, config.toml, the resume comparison and the flags.
#include <cmath>
#include <limits>
#include <utility>

#include "config_internal.hpp"

namespace vae::detail {
namespace {

template <typename T>
struct Allowed {
  std::function<bool(const T&)> ok;  // empty: every value of the type
  std::string text;
};

template <typename T>
Allowed<T> in_range(T lo, T hi, std::string text) {
  return {[lo, hi](const T& v) { return v >= lo && v <= hi; }, std::move(text)};
}

template <typename T>
Allowed<T> any() {
  if constexpr (std::is_enum_v<T>) return {{}, choice_list<T>()};
  return {{}, ""};
}

struct Rule {
  OnResume on_resume = OnResume::kLog;
  const char* reason = "";
  std::function<bool(const Config&)> matters = [](const Config&) { return true; };
};

const Rule kLogged;
const Rule kModel{OnResume::kRefuse, "it is part of the model"};
const Rule kDataOrder{OnResume::kRefuse, "it changes the data order"};
const Rule kData{OnResume::kRefuse, "it changes the images the model learns"};
const Rule kIgnored{OnResume::kIgnore};

template <typename T, typename Get>
Key key(const char* name, Get get, Allowed<T> allowed, const char* flag, const Rule& rule, const char* help) {
  Key k;
  k.name = name;
  k.help = help;
  k.flag = flag;
  k.allowed = allowed.text;
  k.on_resume = rule.on_resume;
  k.resume_reason = rule.reason;
  k.matters = rule.matters;
  auto ref = [get](const Config& c) -> const T& { return get(const_cast<Config&>(c)); };
  k.to_text = [ref](const Config& c) { return Codec<T>::text(ref(c)); };
  k.set_from_text = [get, name](Config& c, const std::string& s) {
    get(c) = Codec<T>::parse(s, std::string("key '") + name + "'");
  };
  k.read = [get](Config& c, const toml::node& n, const std::string& where) { get(c) = Codec<T>::read(n, where); };
  k.check = [ref, allowed, name](const Config& c) {
    if (allowed.ok && !allowed.ok(ref(c)))
      throw ConfigError(std::string("config key '") + name + "' must be " + allowed.text + ", got " +
                        Codec<T>::text(ref(c)));
  };
  return k;
}

#define VAE_FIELD(path) [](Config& c) -> auto& { return c.path; }

// A path the system can open and a message can print: a NUL would cut it
// short in both, a line break would split the one-line error.
bool paths_ok(const std::string& s) {
  return !s.empty() && s.find('\0') == std::string::npos && s.find('\n') == std::string::npos &&
         s.find('\r') == std::string::npos;
}
bool widths_ok(const std::vector<int64_t>& v) {
  for (int64_t h : v)
    if (h < 1 || h > 65536) return false;
  return true;
}

const Allowed<std::string> kPath{paths_ok, "a non-empty path without NUL or line breaks"};

// The table, in the order of config.toml: [data] in data_keys(), [model] in
// model_keys(), [loss] in loss_keys(), [train] in train_keys(). Each line:
// name, member, allowed values, flag, what a resume may do with it, help.
std::vector<Key> data_keys() {
  return {
      key<std::string>("data.dir", VAE_FIELD(data.dir), kPath, "--data-dir", kLogged,
                       "folder with the four IDX files (raw or .gz), or NumPy arrays"),
      key<DataFormat>("data.format", VAE_FIELD(data.format), any<DataFormat>(), "--data-format", kLogged,
                      "auto, idx, npy or images (auto: looks at data.dir)"),
      key<std::vector<int64_t>>("data.image_size", VAE_FIELD(data.image_size),
                                {[](const std::vector<int64_t>& v) {
                                   return v.empty() || (v.size() == 2 && v[0] >= 1 && v[0] <= 4096 && v[1] >= 1 &&
                                                        v[1] <= 4096);
                                 },
                                 "[] or [H, W] with sides in [1, 4096]"},
                                "--image-size", kData, "images: resize and centre-crop to [H, W] ([]: as they are)"),
      key<int64_t>("data.channels", VAE_FIELD(data.channels),
                   {[](int64_t c) { return c == 0 || c == 1 || c == 3; }, "0, 1 or 3"}, "--channels", kData,
                   "images: 1 grey, 3 RGB, 0 as the first image"),
      key<double>("data.test_fraction", VAE_FIELD(data.test_fraction),
                  {[](double f) { return f > 0 && f <= 0.9; }, "in (0, 0.9]"},
                  "--test-fraction", kData, "images without test/: the fraction of each class held out"),
      key<double>("data.valid_fraction", VAE_FIELD(data.valid_fraction),
                  {[](double f) { return f >= 0 && f <= 0.5; }, "in [0, 0.5]"}, "--valid-fraction", kData,
                  "the fraction of the training images held out for validation (best.pt, early stopping)"),
      key<uint64_t>("data.split_seed", VAE_FIELD(data.split_seed),
                    in_range<uint64_t>(0, std::numeric_limits<int64_t>::max(), "an integer in [0, 2^63)"), "",
                    kData, "seeds the held-out splits (images without test/, data.valid_fraction)"),
      key<OnBadImage>("data.on_bad_image", VAE_FIELD(data.on_bad_image), any<OnBadImage>(), "--on-bad-image",
                      kLogged, "images: a file that cannot be used: error or skip"),
      key<int64_t>("data.max_image_pixels", VAE_FIELD(data.max_image_pixels),
                   in_range<int64_t>(1, int64_t{1} << 40, "in [1, 2^40]"), "", kLogged,
                   "images: refuse larger ones before decoding them"),
      key<Binarize>("data.binarize", VAE_FIELD(data.binarize), any<Binarize>(), "--binarize",
                    {OnResume::kRefuse, "it changes the data the model learns"},
                    "binarize pixels: none, static (once) or dynamic (each use)"),
      key<Noise>("data.noise", VAE_FIELD(data.noise), any<Noise>(), "", kLogged,
                 "denoising_ae's input corruption: gaussian, mask or salt_pepper"),
      key<double>("data.noise_level", VAE_FIELD(data.noise_level), in_range(0.0, 10.0, "in [0, 10]"), "", kLogged,
                  "its level: a standard deviation (gaussian) or a fraction of pixels"),
  };
}

std::vector<Key> model_keys() {
  const Rule sparse_only{OnResume::kRefuse, "it is part of the model",
                         [](const Config& c) { return c.model.kind == Kind::kSparseAe; }};
  const Rule conditional_only{OnResume::kRefuse, "it is part of the model",
                              [](const Config& c) { return c.model.conditional; }};
  const Rule conv_only{OnResume::kRefuse, "it is part of the model",
                       [](const Config& c) { return c.model.arch == Arch::kConv; }};
  const Rule vq_model{OnResume::kRefuse, "it is part of the model",
                      [](const Config& c) { return c.model.kind == Kind::kVqVae; }};
  return {
      key<int64_t>("model.image_channels", VAE_FIELD(model.image_channels),
                   {[](int64_t c) { return c == 1 || c == 3; }, "1 or 3"}, "", kModel,
                   "image channels (set from the data)"),
      key<int64_t>("model.image_height", VAE_FIELD(model.image_height), in_range<int64_t>(1, 4096, "in [1, 4096]"),
                   "", kModel, "image height in pixels (set from the data)"),
      key<int64_t>("model.image_width", VAE_FIELD(model.image_width), in_range<int64_t>(1, 4096, "in [1, 4096]"),
                   "", kModel, "image width in pixels (set from the data)"),
      key<std::vector<std::string>>("model.class_names", VAE_FIELD(model.class_names), any<std::vector<std::string>>(),
                                    "", kModel, "the data's class names, in label order (set from the data)"),
      key<std::vector<int64_t>>("model.hidden", VAE_FIELD(model.hidden),
                                {widths_ok, "a list of widths in [1, 65536]"}, "", kModel,
                                "encoder hidden widths; the decoder mirrors them"),
      key<int64_t>("model.latent", VAE_FIELD(model.latent), in_range<int64_t>(1, 65536, "in [1, 65536]"), "",
                   kModel, "latent dimension Z"),
      key<Likelihood>("model.likelihood", VAE_FIELD(model.likelihood), any<Likelihood>(), "", kModel,
                      "p(x|z): bernoulli (BCE) or gaussian (squared error, variance 1/2)"),
      key<Arch>("model.arch", VAE_FIELD(model.arch), any<Arch>(), "", kModel, "mlp or conv"),
      key<std::vector<int64_t>>("model.conv_channels", VAE_FIELD(model.conv_channels),
                                {widths_ok, "a list of widths in [1, 65536]"}, "", conv_only,
                                "conv: channels per stride-2 stage ([]: by image size)"),
      key<Kind>("model.kind", VAE_FIELD(model.kind), any<Kind>(), "", kModel,
                "vae, ae, sparse_ae, denoising_ae, rae, wae, info_vae or vq_vae"),
      key<Sparsity>("model.sparsity", VAE_FIELD(model.sparsity), any<Sparsity>(), "", sparse_only,
                    "sparse_ae's penalty: l1 or kl"),
      key<bool>("model.conditional", VAE_FIELD(model.conditional), any<bool>(), "", kModel,
                "a conditional VAE: one-hot labels into encoder and decoder"),
      key<int64_t>("model.classes", VAE_FIELD(model.classes), in_range<int64_t>(2, 65536, "in [2, 65536]"), "",
                   conditional_only, "classes of a conditional model"),
      key<Prior>("model.prior", VAE_FIELD(model.prior), any<Prior>(), "", kModel,
                 "vae: standard (N(0, I)) or vamp (the VampPrior over learned pseudo-inputs)"),
      key<int64_t>("model.pseudo_inputs", VAE_FIELD(model.pseudo_inputs),
                   in_range<int64_t>(1, 100000, "in [1, 100000]"), "", kModel, "vamp: the number of pseudo-inputs K"),
      key<Activation>("model.activation", VAE_FIELD(model.activation), any<Activation>(), "", kModel,
                      "dense layers: relu, tanh or gated (h = a * sigmoid(gate))"),
      key<bool>("model.bounded_log_var", VAE_FIELD(model.bounded_log_var), any<bool>(), "", kModel,
                "clamp the Gaussian heads' log-variances to [-6, 2]"),
      key<int64_t>("model.top_latent", VAE_FIELD(model.top_latent), in_range<int64_t>(0, 65536, "in [0, 65536]"),
                   "", kModel, "vae: a second stochastic layer z2 of this size (0: none)"),
      key<std::vector<int64_t>>("model.top_hidden", VAE_FIELD(model.top_hidden),
                                {widths_ok, "a list of widths in [1, 65536]"}, "", kModel,
                                "its dense widths: q(z2|z1); p(z1|z2) mirrors them"),
      key<int64_t>("model.codebook_size", VAE_FIELD(model.codebook_size),
                   in_range<int64_t>(2, 65536, "in [2, 65536]"), "", vq_model, "vq_vae: vectors in the codebook"),
      key<int64_t>("model.code_dim", VAE_FIELD(model.code_dim), in_range<int64_t>(1, 4096, "in [1, 4096]"), "",
                   vq_model, "vq_vae: numbers per codebook vector (one position of the code)"),
      key<bool>("model.codebook_ema", VAE_FIELD(model.codebook_ema), any<bool>(), "", vq_model,
                "vq_vae: the codebook follows moving averages of its codes instead of a gradient"),
  };
}

std::vector<Key> loss_keys() {
  const Rule rae_only{OnResume::kLog, "", [](const Config& c) { return c.model.kind == Kind::kRae; }};
  const Rule vae_only{OnResume::kLog, "", [](const Config& c) { return c.model.kind == Kind::kVae; }};
  const Rule vq_only{OnResume::kLog, "", [](const Config& c) { return c.model.kind == Kind::kVqVae; }};
  const Rule vq_ema_only{OnResume::kLog, "",
                         [](const Config& c) { return c.model.kind == Kind::kVqVae && c.model.codebook_ema; }};
  const Rule mmd_only{OnResume::kLog, "", [](const Config& c) {
                        return c.model.kind == Kind::kWae || c.model.kind == Kind::kInfoVae;
                      }};
  return {
      key<double>("loss.beta", VAE_FIELD(loss.beta), in_range(0.0, 1e6, "in [0, 1e6]"), "--beta", kLogged,
                  "weight of the KL term (beta-VAE when > 1)"),
      key<int64_t>("loss.kl_warmup_epochs", VAE_FIELD(loss.kl_warmup_epochs),
                   in_range<int64_t>(0, 1000000, "in [0, 1000000]"), "", kLogged,
                   "ramp the KL weight from 0 to beta over N epochs"),
      key<double>("loss.l1_weight", VAE_FIELD(loss.l1_weight), in_range(0.0, 1e3, "in [0, 1000]"), "", kLogged,
                  "sparse_ae l1: weight of sum |code| (per pixel, as Keras)"),
      key<double>("loss.sparsity_weight", VAE_FIELD(loss.sparsity_weight), in_range(0.0, 1e6, "in [0, 1e6]"), "",
                  kLogged, "sparse_ae kl: weight of the KL sparsity penalty"),
      key<double>("loss.rho", VAE_FIELD(loss.rho), {[](double r) { return r > 0 && r < 1; }, "in (0, 1)"}, "",
                  kLogged, "sparse_ae kl: target mean activation"),
      key<double>("loss.rae_code_weight", VAE_FIELD(loss.rae_code_weight), in_range(0.0, 1e6, "in [0, 1e6]"), "",
                  rae_only, "rae: weight of ||code||^2 / 2 per image"),
      key<double>("loss.rae_decoder_decay", VAE_FIELD(loss.rae_decoder_decay), in_range(0.0, 1.0, "in [0, 1]"), "",
                  rae_only, "rae: weight decay of the decoder's parameters (l2)"),
      key<RaeRegularizer>("loss.rae_regularizer", VAE_FIELD(loss.rae_regularizer), any<RaeRegularizer>(), "",
                          rae_only, "rae: the decoder's regularizer, l2 (weight decay) or gp (gradient penalty)"),
      key<double>("loss.rae_gp_weight", VAE_FIELD(loss.rae_gp_weight), in_range(0.0, 1e6, "in [0, 1e6]"), "", rae_only,
                  "rae gp: weight of ||d decoder / dz||^2 per image"),
      key<int64_t>("loss.iw_samples", VAE_FIELD(loss.iw_samples), in_range<int64_t>(1, 100000, "in [1, 100000]"), "",
                   vae_only, "vae: k > 1 trains on the importance-weighted bound of k samples (IWAE); 1: the ELBO"),
      key<double>("loss.mmd_weight", VAE_FIELD(loss.mmd_weight), in_range(0.0, 1e6, "in [0, 1e6]"), "", mmd_only,
                  "wae, info_vae: weight of the MMD penalty per image"),
      key<MmdKernel>("loss.mmd_kernel", VAE_FIELD(loss.mmd_kernel), any<MmdKernel>(), "", mmd_only,
                     "wae, info_vae: the MMD's kernel, imq or rbf"),
      key<double>("loss.vq_commitment", VAE_FIELD(loss.vq_commitment), in_range(0.0, 1e6, "in [0, 1e6]"), "",
                  vq_only, "vq_vae: weight of the commitment term ||z_e - sg(z_q)||^2"),
      key<double>("loss.vq_ema_decay", VAE_FIELD(loss.vq_ema_decay),
                  {[](double d) { return d > 0 && d < 1; }, "in (0, 1)"}, "", vq_ema_only,
                  "vq_vae with model.codebook_ema: the averages' decay"),
      key<int64_t>("loss.vq_restart_steps", VAE_FIELD(loss.vq_restart_steps),
                   in_range<int64_t>(0, 1000000000, "in [0, 1e9]"), "", vq_only,
                   "vq_vae: move a vector unused for this many steps onto a code of the batch (0: never)"),
  };
}

std::vector<Key> train_keys() {
  const auto schedule_is = [](LrSchedule s) {
    return Rule{OnResume::kLog, "", [s](const Config& c) { return c.train.lr_schedule == s; }};
  };
  const Rule scheduled{OnResume::kLog, "",
                       [](const Config& c) { return c.train.lr_schedule != LrSchedule::kConstant; }};
  return {
      key<OptimizerKind>("train.optimizer", VAE_FIELD(train.optimizer), any<OptimizerKind>(), "--optimizer",
                         {OnResume::kRefuse, "its state cannot be carried over"}, "adam or rmsprop"),
      key<double>("train.lr", VAE_FIELD(train.lr),
                  {[](double v) { return v > 0 && std::isfinite(v); }, "a finite number > 0"}, "--lr", kLogged,
                  "learning rate"),
      key<LrSchedule>("train.lr_schedule", VAE_FIELD(train.lr_schedule), any<LrSchedule>(), "--lr-schedule", kLogged,
                      "constant, multistep, cosine or plateau"),
      key<std::vector<int64_t>>("train.lr_milestones", VAE_FIELD(train.lr_milestones),
                                {[](const std::vector<int64_t>& v) {
                                   for (size_t i = 0; i < v.size(); ++i)
                                     if (v[i] < 1 || (i > 0 && v[i] <= v[i - 1])) return false;
                                   return true;
                                 },
                                 "ascending epochs >= 1"},
                                "", schedule_is(LrSchedule::kMultistep), "multistep: lr times lr_gamma after each of these epochs"),
      key<double>("train.lr_gamma", VAE_FIELD(train.lr_gamma), {[](double g) { return g > 0 && g <= 1; }, "in (0, 1]"},
                  "", scheduled, "multistep and plateau: the factor of each decrease"),
      key<int64_t>("train.lr_patience", VAE_FIELD(train.lr_patience), in_range<int64_t>(0, 1000000, "in [0, 1000000]"),
                   "", schedule_is(LrSchedule::kPlateau), "plateau: epochs without improvement tolerated"),
      key<double>("train.lr_min", VAE_FIELD(train.lr_min), in_range(0.0, 1e6, "in [0, 1e6]"), "", scheduled,
                  "cosine and plateau: the lowest learning rate"),
      key<double>("train.weight_decay", VAE_FIELD(train.weight_decay), in_range(0.0, 1.0, "in [0, 1]"),
                  "--weight-decay", kLogged, "L2 weight decay of the optimizer"),
      key<int64_t>("train.batch_size", VAE_FIELD(train.batch_size),
                   in_range<int64_t>(1, 1 << 20, "in [1, 1048576]"), "--batch-size", kDataOrder,
                   "images per step"),
      key<int64_t>("train.epochs", VAE_FIELD(train.epochs), in_range<int64_t>(0, 1000000, "in [0, 1000000]"),
                   "--epochs", kLogged, "epochs to train in all"),
      key<uint64_t>("train.seed", VAE_FIELD(train.seed),
                    in_range<uint64_t>(0, std::numeric_limits<int64_t>::max(), "an integer in [0, 2^63)"), "--seed",
                    kDataOrder, "seeds weights, noise, data order and evaluation"),
      key<DeviceChoice>("train.device", VAE_FIELD(train.device), any<DeviceChoice>(), "--device", kLogged,
                        "auto, cpu or cuda"),
      key<int64_t>("train.threads", VAE_FIELD(train.threads), in_range<int64_t>(0, 1024, "in [0, 1024]"),
                   "--threads", kLogged, "LibTorch intra-op threads (0: LibTorch's default)"),
      key<int64_t>("train.blas_threads", VAE_FIELD(train.blas_threads), in_range<int64_t>(0, 1024, "in [0, 1024]"),
                   "--blas-threads", kLogged, "OpenBLAS threads (0: OpenBLAS's default)"),
      key<bool>("train.fused_step", VAE_FIELD(train.fused_step), any<bool>(), "", kLogged,
                "the hand-written MLP VAE step on the CPU where it applies"),
      key<bool>("train.sparse_input", VAE_FIELD(train.sparse_input), any<bool>(), "--sparse-input", kLogged,
                "the first MLP layer multiplies only a mostly-zero input's nonzeros"),
      key<double>("train.clip_grad_norm", VAE_FIELD(train.clip_grad_norm), in_range(0.0, 1e12, "in [0, 1e12]"),
                  "--clip-grad-norm", kLogged, "clip the gradient's L2 norm to this (0: off)"),
      key<std::string>("train.out_dir", VAE_FIELD(train.out_dir), kPath, "--out-dir", kIgnored, "run folder"),
      key<NonFinite>("train.nonfinite", VAE_FIELD(train.nonfinite), any<NonFinite>(), "", kLogged,
                     "a NaN or Inf loss or gradient: stop, or skip the batch"),
      key<bool>("train.keep_best", VAE_FIELD(train.keep_best), any<bool>(), "", kLogged,
                "keep checkpoints/best.pt (lowest validation loss, else test loss)"),
      key<int64_t>("train.early_stop_patience", VAE_FIELD(train.early_stop_patience),
                   in_range<int64_t>(0, 1000000, "in [0, 1000000]"), "--early-stop-patience", kLogged,
                   "stop when the validation loss has not improved for N epochs (0: never)"),
      key<int64_t>("train.keep_every", VAE_FIELD(train.keep_every),
                   in_range<int64_t>(0, std::numeric_limits<int64_t>::max(), ">= 0 (0: keep no per-epoch copies)"),
                   "", kLogged, "also keep checkpoints/epoch-NNNN.pt every N epochs"),
      key<int64_t>("train.image_every", VAE_FIELD(train.image_every),
                   in_range<int64_t>(0, std::numeric_limits<int64_t>::max(), ">= 0 (0: no per-epoch images)"), "",
                   kLogged, "per-epoch reconstruction and sample grids every N epochs"),
      key<int64_t>("train.checkpoint_every_steps", VAE_FIELD(train.checkpoint_every_steps),
                   in_range<int64_t>(0, std::numeric_limits<int64_t>::max(), ">= 0 (0: at epoch ends only)"),
                   "--checkpoint-every-steps", kLogged, "also write checkpoints/last.pt every N steps"),
      key<DistBackend>("train.dist_backend", VAE_FIELD(train.dist_backend), any<DistBackend>(), "--dist-backend",
                       kLogged, "under torchrun: auto, gloo or nccl"),
      key<double>("train.dist_timeout", VAE_FIELD(train.dist_timeout), in_range(0.1, 86400.0, "in [0.1, 86400]"),
                  "--dist-timeout", kLogged, "under torchrun: seconds to wait for the other processes"),
  };
}
#undef VAE_FIELD

}  // namespace

const std::vector<Key>& keys() {
  static const std::vector<Key> table = [] {
    std::vector<Key> all = data_keys();
    for (auto part : {model_keys, loss_keys, train_keys})
      for (Key& k : part()) all.push_back(std::move(k));
    return all;
  }();
  return table;
}

const Key* find_key(const std::string& name) {
  for (const Key& k : keys())
    if (k.name == name) return &k;
  return nullptr;
}

std::string known_keys() {
  std::vector<std::string> names;
  for (const Key& k : keys()) names.push_back(k.name);
  return join(names, ", ");
}

}  // namespace vae::detail
