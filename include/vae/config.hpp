// Run configuration: plain structs with documented defaults, read from TOML.
//
//   vae::Config cfg = vae::load_config_file("configs/mnist_vae.toml");
//   cfg.train.epochs = 3;            // command-line overrides go here
//   vae::validate(cfg);              // throws vae::ConfigError naming the key
//   std::string text = vae::to_toml(cfg);  // what the run folder keeps
//
// A config file has four sections, [data], [model], [loss] and [train]; every key
// is optional and an unknown key is an error. See configs/*.toml.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace vae {

// Thrown for a config that cannot be used; what() is one line naming the key.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DataConfig {
  // Folder holding the four IDX files (raw or .gz, official MNIST names).
  std::string dir = "data/mnist";
  // "none", "static" or "dynamic": whether pixels are binarized, once or per
  // use, to compare with binarized-MNIST results (see vae/data.hpp).
  std::string binarize = "none";
  // denoising_ae's corruption of the input (the target stays clean), drawn
  // fresh for each batch: "gaussian" (x + level * N(0, 1), clipped to
  // [0, 1]; the Keras post uses 0.5), "mask" (a fraction `level` of the
  // pixels set to 0) or "salt_pepper" (a fraction `level` set to 0 or 1).
  std::string noise = "gaussian";
  double noise_level = 0.5;
};

struct ModelConfig {
  // Image height and width in pixels; the input has height*width values.
  int64_t image_height = 28;
  int64_t image_width = 28;
  // Hidden layer widths of the encoder; the decoder mirrors them.
  // The guide's VAE is 784-512-256-2, so {512, 256} with latent 2.
  std::vector<int64_t> hidden = {512, 256};
  // Dimension Z of the latent code.
  int64_t latent = 2;
  // p(x|z): "bernoulli" (BCE on the decoder's logits, summed over pixels;
  // the guide's) or "gaussian" (mean sigmoid(logits), fixed variance 1/2 per
  // pixel: the summed squared error plus D/2 * log(pi), in nats).
  std::string likelihood = "bernoulli";
  // "vae" (the guide's variational autoencoder), "ae" (plain), "sparse_ae"
  // or "denoising_ae". The autoencoders share the encoder and decoder; their
  // code layer is encoder.fc_code with a ReLU (a sigmoid for sparse_ae with
  // sparsity "kl") instead of the two heads and the sampling.
  std::string kind = "vae";
  // "mlp" (dense layers of the `hidden` widths) or "conv": as in the Keras
  // VAE example, two 3x3 stride-2 convolutions (32 and 64 channels, ReLU),
  // then the dense `hidden` layers; the decoder mirrors it with transposed
  // convolutions. conv needs the image sides divisible by 4.
  std::string arch = "mlp";
  // sparse_ae's penalty: "l1" (activity penalty on the code, as in the Keras
  // post) or "kl" (KL toward a target mean activation rho, sigmoid code).
  std::string sparsity = "l1";
  // A conditional VAE (kind "vae" only): the label, one-hot over `classes`,
  // is fed to the encoder (beside the image, or beside the convolutional
  // features for arch "conv") and to the decoder (beside z), so
  // `vae-sample --label D` generates class D. Labels must lie in [0, classes).
  bool conditional = false;
  int64_t classes = 10;
};

// Whether the model has a prior to sample from (only the VAE).
inline bool is_variational(const ModelConfig& m) { return m.kind == "vae"; }

struct LossConfig {
  // Weight of the KL term in the training objective (beta-VAE; 1 is the
  // plain VAE). Test losses are always the unweighted negative ELBO.
  double beta = 1.0;
  // Linear KL warm-up: the weight rises from 0 to beta over this many epochs
  // (per step), then stays at beta; 0: no warm-up.
  int64_t kl_warmup_epochs = 0;
  // sparse_ae, sparsity "l1": weight of sum |code|, relative to the mean BCE
  // per pixel as in the Keras post, so the penalty in nats per image is
  // l1_weight * D * sum |code|.
  double l1_weight = 1e-5;
  // sparse_ae, sparsity "kl": weight * sum_j KL(rho || mean activation of
  // unit j over the batch), per image.
  double sparsity_weight = 1.0;
  double rho = 0.05;
};

struct TrainConfig {
  // "adam" or "rmsprop" (the guide's Keras version uses RMSprop).
  std::string optimizer = "adam";
  // Learning rate; must be > 0 and finite.
  double lr = 1e-3;
  int64_t batch_size = 128;
  int64_t epochs = 10;
  // Seeds weights, sampling noise and the data order (one order per epoch).
  uint64_t seed = 1;
  // "auto" (CUDA when available, else CPU), "cpu" or "cuda".
  std::string device = "auto";
  // LibTorch intra-op threads; 0 keeps LibTorch's default. OpenBLAS runs its
  // own pool, so 1 avoids oversubscribing small machines (docs/BENCHMARKS.md).
  int64_t threads = 1;
  // OpenBLAS's own threads for the matrix products; 0 keeps its default
  // (one per core, or OPENBLAS_NUM_THREADS).
  int64_t blas_threads = 0;
  // The MLP VAE (bernoulli, unconditional) on the CPU trains through a
  // hand-written step (vae/fused_step.hpp) instead of autograd: the same
  // gradients, faster (docs/BENCHMARKS.md). false: always autograd.
  bool fused_step = true;
  // Run folder: config.toml, metrics.jsonl, checkpoints/, samples.
  std::string out_dir = "runs/mnist_vae";
  // A NaN or Inf loss or gradient: "stop" the run (the last checkpoint stays
  // as it was), or "skip" the batch and count it in metrics.jsonl.
  std::string nonfinite = "stop";
  // Checkpoints kept besides checkpoints/last.pt: best.pt (lowest test loss)
  // when keep_best, and epoch-NNNN.pt every keep_every epochs (0: none).
  bool keep_best = true;
  int64_t keep_every = 0;
  // Every this many epochs, images/recon-NNNN.png (test inputs above their
  // reconstructions) and images/samples-NNNN.png (the same 64 z each time);
  // 0: none.
  int64_t image_every = 1;
};

struct Config {
  DataConfig data;
  ModelConfig model;
  LossConfig loss;
  TrainConfig train;
};

// Parses TOML text. `origin` names the source in error messages (a path).
// Throws ConfigError on syntax errors, unknown keys and wrong types.
Config parse_config(const std::string& toml_text, const std::string& origin);

// Reads and parses a TOML file; a missing or unreadable file is a ConfigError.
Config load_config_file(const std::string& path);

// Checks ranges and choices; throws ConfigError naming the key and the
// allowed range. Does not touch the file system.
void validate(const Config& cfg);

// Renders every field as TOML that parse_config reads back to an equal Config.
std::string to_toml(const Config& cfg);

// Number of input values per image (height * width).
inline int64_t input_dim(const ModelConfig& m) { return m.image_height * m.image_width; }

// "784-512-256-2": the layer widths, for logs and file names.
std::string describe_layers(const ModelConfig& m);

bool operator==(const ModelConfig& a, const ModelConfig& b);

// The first field where a and b differ, as "model.latent (2 vs 20)"; empty
// when they are equal.
std::string model_difference(const ModelConfig& a, const ModelConfig& b);

}  // namespace vae
