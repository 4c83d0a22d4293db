// Run configuration: plain structs with documented defaults, read from TOML.
//
//   vae::Config cfg = vae::load_config_file("configs/mnist_vae.toml");
//   vae::set_key(cfg, "train.epochs", "3");   // a command-line override
//   vae::validate(cfg);              // throws vae::ConfigError naming the key
//   std::string text = vae::to_toml(cfg);  // what the run folder keeps
//
// A config file has four tables, [data], [model], [loss] and [train]; every
// key is optional and an unknown key is an error. Every key is one line of
// the table in src/config_keys.cpp (name, member, allowed values, help, flag,
// resume rule), which drives parsing, validation, printing, config.toml, the
// resume comparison and the command-line flags. See configs/*.toml.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vae/errors.hpp"

namespace vae {

// The choices of the string-valued keys, parsed once when the config is read.
enum class Binarize { kNone, kStatic, kDynamic };
enum class Noise { kGaussian, kMask, kSaltPepper };
enum class Likelihood { kBernoulli, kGaussian };
enum class Kind { kVae, kAe, kSparseAe, kDenoisingAe, kRae, kWae, kInfoVae, kVqVae };
enum class Arch { kMlp, kConv };
enum class Sparsity { kL1, kKl };
enum class OptimizerKind { kAdam, kRmsprop };
enum class DeviceChoice { kAuto, kCpu, kCuda };
enum class NonFinite { kStop, kSkip };
enum class DistBackend { kAuto, kGloo, kNccl };
enum class DataFormat { kAuto, kIdx, kNpy, kImages, kAmat };
enum class OnBadImage { kError, kSkip };
enum class LrSchedule { kConstant, kMultistep, kCosine, kPlateau };
enum class Prior { kStandard, kVamp };
enum class Activation { kRelu, kTanh, kGated };
enum class MmdKernel { kImq, kRbf };
enum class RaeRegularizer { kL2, kGp };

// The config-file spelling of a choice: name(Kind::kSparseAe) == "sparse_ae".
const char* name(Binarize v);
const char* name(Noise v);
const char* name(Likelihood v);
const char* name(Kind v);
const char* name(Arch v);
const char* name(Sparsity v);
const char* name(OptimizerKind v);
const char* name(DeviceChoice v);
const char* name(NonFinite v);
const char* name(DistBackend v);
const char* name(DataFormat v);
const char* name(OnBadImage v);
const char* name(LrSchedule v);
const char* name(Prior v);
const char* name(Activation v);
const char* name(MmdKernel v);
const char* name(RaeRegularizer v);

// The choice spelled `text`; throws ConfigError naming `key` and the choices.
template <typename E>
E parse_choice(const std::string& text, const std::string& key);

struct DataConfig {
  // Folder holding the four IDX files (raw or .gz, official MNIST names),
  // NumPy arrays (train_images.npy, test_images.npy, optional *_labels.npy),
  // or images: DIR/train/<class>/*.png|jpg|... (and DIR/test/<class>/), or
  // a flat folder of images without classes (vae/image_folder.hpp).
  std::string dir = "data/mnist";
  // idx, npy, images, amat (binarized MNIST: binarized_mnist_{train,valid,
  // test}.amat[.gz]), or auto: npy when dir holds train_images.npy, idx when
  // it holds the IDX files, amat when it holds binarized_mnist_train.amat,
  // else images.
  DataFormat format = DataFormat::kAuto;
  // Images only. [H, W]: every image is resized (area averaging) so that it
  // covers H x W, then centre-cropped to it; empty: images must all have one
  // size, which is used as it is.
  std::vector<int64_t> image_size;
  // Images only: 1 (grey) or 3 (RGB); other images are converted and
  // counted. 0: 3 when the first image is in colour, else 1. A transparent
  // image is composited over white.
  int64_t channels = 0;
  // Images only: the fraction of each class held out as the test split when
  // the folder has no test/ sub-folder, drawn with split_seed.
  double test_fraction = 0.1;
  uint64_t split_seed = 1;
  // The fraction of the training images held out as the validation split
  // (drawn with split_seed), on which best.pt and early stopping choose;
  // 0: none (both choose on the test split). binarized MNIST (amat) has a
  // validation file of its own and needs 0 here.
  double valid_fraction = 0.0;
  // Images only: a file that cannot be used (corrupt, truncated, empty, not
  // an image, too large, unreadable): error stops before training, naming
  // it; skip trains on the rest and writes the list into the run folder.
  OnBadImage on_bad_image = OnBadImage::kError;
  // Images only: an image with more pixels than this is refused before it
  // is decoded (a decompression bomb).
  int64_t max_image_pixels = 100000000;
  // Whether pixels are binarized, once (static) or per use (dynamic), to
  // compare with binarized-MNIST results (see vae/transforms.hpp).
  Binarize binarize = Binarize::kNone;
  // denoising_ae's corruption of the input (the target stays clean), drawn
  // fresh for each batch: gaussian (x + level * N(0, 1), clipped to [0, 1];
  // the Keras post uses 0.5), mask (a fraction `level` of the pixels set to
  // 0) or salt_pepper (a fraction `level` set to 0 or 1).
  Noise noise = Noise::kGaussian;
  double noise_level = 0.5;
};

struct ModelConfig {
  // The image shape: channels (1 grey, 3 RGB), height and width in pixels;
  // the input has channels*height*width values. A new run takes them from
  // its data (the keys here are overwritten); a resume checks the data has
  // the checkpoint's.
  int64_t image_channels = 1;
  int64_t image_height = 28;
  int64_t image_width = 28;
  // The class names of the data (sorted class folder names), in label
  // order; set from the data like the shape. Empty: unnamed classes.
  std::vector<std::string> class_names;
  // Hidden layer widths of the encoder; the decoder mirrors them.
  // The guide's VAE is 784-512-256-2, so {512, 256} with latent 2.
  std::vector<int64_t> hidden = {512, 256};
  // Dimension Z of the latent code.
  int64_t latent = 2;
  // p(x|z): bernoulli (BCE on the decoder's logits, summed over pixels; the
  // guide's) or gaussian (mean sigmoid(logits), fixed variance 1/2 per
  // pixel: the summed squared error plus D/2 * log(pi), in nats).
  Likelihood likelihood = Likelihood::kBernoulli;
  // vae (the guide's variational autoencoder), ae (plain), sparse_ae,
  // denoising_ae, rae (the regularized autoencoder RAE-L2, a linear code),
  // wae (the Wasserstein autoencoder WAE-MMD: a linear code pulled toward
  // N(0, I) by an MMD penalty), info_vae (the VAE plus that penalty) or
  // vq_vae (a code quantized to a learned codebook; see codebook_size).
  // The autoencoders share the encoder and decoder; their code layer is
  // encoder.fc_code with a ReLU (a sigmoid for sparse_ae with sparsity kl)
  // instead of the two heads and the sampling.
  Kind kind = Kind::kVae;
  // mlp (dense layers of the `hidden` widths) or conv: 3x3 stride-2
  // convolutions with conv_channels channels (ReLU), then the dense `hidden`
  // layers; the decoder mirrors it with transposed convolutions. As in the
  // Keras VAE example, 28 x 28 gets two stages, 32 and 64 channels.
  Arch arch = Arch::kMlp;
  // conv: the channels of each stride-2 stage; the image sides must be
  // divisible by 2^stages. Empty: as many stages as halve both sides while
  // they stay even and >= 4 (28: 2, 32: 3, 64: 4), with 32, 64, 128, 256,
  // 256, ... channels.
  std::vector<int64_t> conv_channels;
  // sparse_ae's penalty: l1 (activity penalty on the code, as in the Keras
  // post) or kl (KL toward a target mean activation rho, sigmoid code).
  Sparsity sparsity = Sparsity::kL1;
  // A conditional VAE (kind vae only): the label, one-hot over `classes`,
  // is fed to the encoder (beside the image, or beside the convolutional
  // features for arch conv) and to the decoder (beside z), so
  // `vae-sample --label D` generates class D. Labels must lie in [0, classes).
  bool conditional = false;
  int64_t classes = 10;
  // vae: p(z). standard: N(0, I). vamp: the VampPrior (Tomczak & Welling
  // 2018), the mixture (1/K) sum_k q(z | u_k) of the encoder's posteriors at
  // K = pseudo_inputs learned pseudo-inputs u_k (pixels in [0, 1]); its KL
  // is estimated by Monte Carlo, and samples come from a random component.
  Prior prior = Prior::kStandard;
  int64_t pseudo_inputs = 500;
  // The dense layers' activation: relu (the guide's), tanh (the IWAE
  // paper's), or gated: h = (W x + b) * sigmoid(V x + c), the VampPrior
  // paper's gated dense layers (each layer fcN gets a gate fcN_gate).
  // Convolutions keep their ReLU.
  Activation activation = Activation::kRelu;
  // Gaussian heads: clamp every log-variance to [-6, 2] (a hardtanh, as the
  // VampPrior paper's encoder), so no variance collapses or explodes.
  bool bounded_log_var = false;
  // vae: a second stochastic layer (the IWAE paper's two-layer model) when
  // top_latent > 0. q(z2|z1) is a dense net z1 -> top_hidden -> (mu2,
  // log_var2) over top_latent dimensions; p(z1|z2) mirrors it, z2 ->
  // reversed top_hidden -> (mu1, log_var1); p(z2) = N(0, I). The encoder and
  // decoder above are q(z1|x) and p(x|z1). 784-200-200-100 / 100-100-50 is
  // hidden [200, 200], latent 100, top_hidden [100, 100], top_latent 50.
  int64_t top_latent = 0;
  std::vector<int64_t> top_hidden = {100, 100};
  // vq_vae (van den Oord et al. 2017): the code is a grid of positions,
  // each replaced by the nearest of codebook_size learned vectors of
  // code_dim numbers (encoder.codebook / the EMA buffers). mlp: latent /
  // code_dim positions of the dense code (latent a multiple of code_dim);
  // conv: one position per cell of the last conv stage's grid (7 x 7 for
  // 28 x 28), reached by 1x1 convolutions (encoder.code_conv,
  // decoder.code_deconv) instead of the dense layers, so latent must be
  // code_dim x the grid's cells. The code vector is position-major:
  // [positions, code_dim]. codebook_ema: the codebook follows the moving
  // averages of the codes assigned to each vector (loss.vq_ema_decay; the
  // paper's appendix) as buffers, instead of being a parameter learned by
  // the codebook term's gradient.
  int64_t codebook_size = 512;
  int64_t code_dim = 16;
  bool codebook_ema = false;
};

struct LossConfig {
  // Weight of the KL term in the training objective (beta-VAE; 1 is the
  // plain VAE). Test losses are always the unweighted negative ELBO.
  double beta = 1.0;
  // Linear KL warm-up: the weight rises from 0 to beta over this many epochs
  // (per step), then stays at beta; 0: no warm-up.
  int64_t kl_warmup_epochs = 0;
  // sparse_ae, sparsity l1: weight of sum |code|, relative to the mean BCE
  // per pixel as in the Keras post, so the penalty in nats per image is
  // l1_weight * D * sum |code|.
  double l1_weight = 1e-5;
  // sparse_ae, sparsity kl: weight * sum_j KL(rho || mean activation of
  // unit j over the batch), per image.
  double sparsity_weight = 1.0;
  double rho = 0.05;
  // rae (RAE-L2): per image, rae_code_weight * ||code||^2 / 2, and weight
  // decay rae_decoder_decay on the decoder's parameters (as pythae's
  // embedding_weight and reg_weight).
  double rae_code_weight = 1e-4;
  double rae_decoder_decay = 1e-7;
  // rae: how the decoder is kept smooth: l2 (RAE-L2, the weight decay
  // above) or gp (RAE-GP: per image rae_gp_weight * ||d(sum of the decoded
  // pixels)/dz||^2 at z = the code, the RAE paper's gradient penalty as its
  // code computes it; no weight decay). pythae's default weight, 1e-7.
  RaeRegularizer rae_regularizer = RaeRegularizer::kL2;
  double rae_gp_weight = 1e-7;
  // vae: k > 1 trains on the importance-weighted bound with k samples per
  // image (IWAE, Burda et al. 2016): -log (1/k) sum_i p(x, z_i) / q(z_i|x);
  // 1 is the negative ELBO. Needs beta = 1 and no KL warm-up.
  int64_t iw_samples = 1;
  // wae and info_vae: the MMD penalty between the batch's codes and as many
  // draws from N(0, I), per batch of B images B * mmd_weight * MMD^2 (the
  // unbiased estimate, over the whole global batch). The kernel: imq,
  // sum over s in {0.1, 0.2, 0.5, 1, 2, 5, 10} of s C / (s C + |a - b|^2),
  // or rbf, exp(-|a - b|^2 / C), with C = 2 Z (the WAE paper's choice for
  // a prior of unit variance).
  double mmd_weight = 10.0;
  MmdKernel mmd_kernel = MmdKernel::kImq;
  // vq_vae: per image, the codebook term ||sg(z_e) - z_q||^2 (not with
  // model.codebook_ema) plus vq_commitment * ||z_e - sg(z_q)||^2, summed
  // over the positions (the paper's beta, 0.25); vq_ema_decay: the moving
  // averages' decay with model.codebook_ema.
  double vq_commitment = 0.25;
  double vq_ema_decay = 0.99;
  // vq_vae: a codebook vector no position chose for this many training
  // steps is moved onto a random code of the batch (0: never, the paper's
  // plain algorithm, under which most vectors die).
  int64_t vq_restart_steps = 100;
};

struct TrainConfig {
  // adam or rmsprop (the guide's Keras version uses RMSprop).
  OptimizerKind optimizer = OptimizerKind::kAdam;
  // Learning rate; must be > 0 and finite.
  double lr = 1e-3;
  // The learning rate of each epoch (set at its start, from the epoch and
  // the history alone, so a resume and every process agree): constant;
  // multistep (lr * lr_gamma^(milestones passed), PyTorch's MultiStepLR);
  // cosine (from lr down to lr_min over train.epochs, CosineAnnealingLR);
  // plateau (times lr_gamma, not below lr_min, when the validation loss, or
  // test loss without one, has not improved for more than lr_patience
  // epochs: ReduceLROnPlateau).
  LrSchedule lr_schedule = LrSchedule::kConstant;
  std::vector<int64_t> lr_milestones;  // multistep: epochs after which lr is multiplied by lr_gamma
  double lr_gamma = 0.1;
  int64_t lr_patience = 10;
  double lr_min = 0.0;
  // L2 weight decay of the optimizer (torch::optim's weight_decay); 0: none.
  double weight_decay = 0.0;
  int64_t batch_size = 128;
  int64_t epochs = 10;
  // Seeds weights, sampling noise, the data order (one order per epoch) and
  // the evaluation's draws. TOML integers are signed, so at most 2^63 - 1.
  uint64_t seed = 1;
  // auto (CUDA when available, else CPU), cpu or cuda.
  DeviceChoice device = DeviceChoice::kAuto;
  // LibTorch intra-op threads; 0 keeps LibTorch's default. OpenBLAS runs its
  // own pool, so 1 avoids oversubscribing small machines (docs/BENCHMARKS.md).
  int64_t threads = 1;
  // OpenBLAS's own threads for the matrix products; 0 keeps its default
  // (one per core, or OPENBLAS_NUM_THREADS).
  int64_t blas_threads = 0;
  // The MLP VAE (bernoulli, unconditional) on the CPU trains through a
  // hand-written step (src/train_step.hpp) instead of autograd: the same
  // gradients, faster. false: always autograd.
  bool fused_step = true;
  // An MLP encoder's first layer multiplies only the input's nonzeros when
  // at most 35% of a batch is nonzero (MNIST: 13-19%; src/sparse_input.hpp):
  // the same products up to float rounding, faster. false: always dense.
  bool sparse_input = true;
  // Rescale the gradient, all parameters together, so its L2 norm is at
  // most this; 0: no clipping.
  double clip_grad_norm = 0;
  // Run folder: config.toml, metrics.jsonl, checkpoints/, samples.
  std::string out_dir = "runs/mnist_vae";
  // A NaN or Inf loss or gradient: stop the run (the last checkpoint stays
  // as it was), or skip the batch and count it in metrics.jsonl.
  NonFinite nonfinite = NonFinite::kStop;
  // Checkpoints kept besides checkpoints/last.pt: best.pt (lowest
  // validation loss, or test loss without a validation split) when
  // keep_best, and epoch-NNNN.pt every keep_every epochs (0: none).
  bool keep_best = true;
  int64_t keep_every = 0;
  // Early stopping: the run ends when the validation loss (test loss
  // without a validation split) has not improved for this many epochs;
  // 0: never.
  int64_t early_stop_patience = 0;
  // Every this many epochs, images/recon-NNNN.png (test inputs above their
  // reconstructions), images/samples-NNNN.png (the same 64 z each time) and
  // loss.png; 0: none.
  int64_t image_every = 1;
  // Also write checkpoints/last.pt every this many steps (0: at the end of
  // each epoch only), so a killed or restarted run loses at most that many.
  int64_t checkpoint_every_steps = 0;
  // Under torchrun (or any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR
  // and MASTER_PORT): the c10d backend that sums the gradients (auto: gloo,
  // the one Debian's LibTorch has; nccl where the build has it), and the
  // bound in seconds on every wait for the other processes.
  DistBackend dist_backend = DistBackend::kAuto;
  double dist_timeout = 300;
};

struct Config {
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  TrainConfig train;
};

// Parses TOML text. `origin` names the source in error messages (a path).
// Throws ConfigError with the origin, line and key on syntax errors, unknown
// keys or tables, and values of the wrong type.
Config parse_config(const std::string& toml_text, const std::string& origin);

// Reads and parses a TOML file; a missing or unreadable file is a ConfigError.
Config load_config_file(const std::string& path);

// Checks ranges and choices; throws ConfigError naming the key and the
// allowed values. Does not touch the file system.
// shape_known = false skips the rules that depend on the image shape (the
// conv stages), for a config checked before its data is read: a new run
// takes the shape from the data, then checks again.
void validate(const Config& cfg, bool shape_known = true);

// Renders every key as TOML that parse_config reads back to an equal Config.
std::string to_toml(const Config& cfg);

// What may happen to a key when a run is resumed with a changed config.
enum class OnResume {
  kRefuse,  // a different value is an error (the model, the data order)
  kLog,     // the new value applies and the change is logged
  kIgnore,  // not compared (train.out_dir: the run folder itself)
};

// One config key, as the table in src/config_keys.cpp describes it.
struct KeyInfo {
  std::string name;     // "train.lr"
  std::string help;     // one line, for --help
  std::string flag;     // "--lr", or empty when the key has no flag
  std::string allowed;  // "a finite number > 0", for messages
  OnResume on_resume = OnResume::kLog;
  std::string resume_reason;  // why a change is refused ("it changes the data order")
  // The value as TOML text ("1e-3", "\"adam\"", "[512, 256]").
  std::function<std::string(const Config&)> to_text;
  // Sets the value from command-line text ("1e-3", "adam", "512,256");
  // throws ConfigError naming the key. validate() checks the range.
  std::function<void(Config&, const std::string&)> set_from_text;
  // Whether the key means anything for this config (model.sparsity only for
  // sparse_ae); a resume compares only keys that matter.
  std::function<bool(const Config&)> matters;
};

// A key's TOML text as messages show it: a plain string without its quotes
// ("adam" -> adam); anything else as it is.
std::string display_value(const std::string& toml_text);

// Every key, in the order of config.toml.
const std::vector<KeyInfo>& config_keys();

// Sets key `name` from command-line text; throws ConfigError for an unknown
// key or a value of the wrong type.
void set_key(Config& cfg, const std::string& name, const std::string& text);

// The first key of `section` ("model"; empty: all) whose value matters and
// differs, as "model.latent (2 vs 20)"; empty when none does.
std::string first_difference(const Config& a, const Config& b, const std::string& section = "");

// Number of input values per image (channels * height * width).
inline int64_t input_dim(const ModelConfig& m) { return m.image_channels * m.image_height * m.image_width; }

// The shape of one image as tensors hold it: {H, W} for grey, {C, H, W} else.
std::vector<int64_t> image_dims(const ModelConfig& m);

// The channels of each conv stage: model.conv_channels, or the automatic
// ones for the image size (see ModelConfig::conv_channels).
std::vector<int64_t> conv_stages(const ModelConfig& m);

// "784-512-256-2": the layer widths, for logs and file names.
std::string describe_layers(const ModelConfig& m);

}  // namespace vae
