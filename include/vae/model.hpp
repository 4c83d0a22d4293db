// The variational autoencoder of the guide, as LibTorch modules.
//
// Shapes: B = batch, D = image_height * image_width pixels (784), Z = latent.
//
//   vae::VAE model(cfg.model);            // 784-512-256-2 by default
//   vae::VAEOutput out = model->forward(x);   // x: float [B, D] or [B, H, W] in [0, 1]
//   torch::Tensor probs = model->decode(z);   // z: [B, Z] -> [B, D] in (0, 1)
//
// It mirrors the PyTorch module of the guide ("build an autoencoder in
// PyTorch and Keras"): an encoder
// fc1..fcK with ReLU and two heads fc_mean / fc_sd giving (mu, log_var); the
// reparameterization `sampling`; a decoder fc(K+2)..fc(2K+2) with ReLU and a
// sigmoid output. (model.activation swaps the ReLU for tanh or gated
// layers; model.top_latent adds a second stochastic layer, `top`.) For K = 2 the parameter names are exactly the guide's
// (encoder.fc1, encoder.fc2, encoder.fc_mean, encoder.fc_sd, decoder.fc4,
// decoder.fc5, decoder.fc6); for the classic 784-400-20 they follow the
// PyTorch example (fc1, heads, fc3, fc4).
//
// A conditional VAE (model.conditional) takes labels y beside x and z:
//   model->forward(x, y); model->decode(z, y);   // y: int64 [B] in [0, classes)
// The decoder also takes soft labels, float [B, classes] (rows of weights
// over the classes), which interpolation_images uses. Other models ignore y.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <utility>
#include <vector>

#include "vae/config.hpp"
#include "vae/row_slice.hpp"

namespace vae {

enum class CodeHead;  // vae/objective.hpp: the encoder's output layer

// x [B, D] -> (mu [B, Z], log_var [B, Z]). Where the model's objective asks
// for a code head (vae/objective.hpp: the autoencoder kinds) the heads are
// one code layer, fc_code, with a ReLU, a sigmoid or no activation: the result is
// (code [B, Z], an undefined tensor).
class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const ModelConfig& cfg);
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x, const torch::Tensor& y = {});

  // The dense layers, for the hand-written training step: the hidden layers
  // (after any convolutions) and the heads (fc_sd: null for autoencoders).
  const std::vector<torch::nn::Linear>& hidden_layers() const { return hidden_; }
  const torch::nn::Linear& mean_head() const { return fc_mean_; }
  const torch::nn::Linear& sd_head() const { return fc_sd_; }

  // Whether the layers that read the input (an MLP's first layer and its
  // gate, or the heads without hidden layers) multiply only its nonzeros
  // when it is mostly zeros (src/sparse_input.hpp): true by default,
  // train.sparse_input for training.
  void set_sparse_input(bool on) { sparse_input_ = on; }
  bool sparse_input() const { return sparse_input_; }

 private:
  ModelConfig cfg_;
  bool sparse_input_ = true;
  std::vector<torch::nn::Conv2d> convs_;  // model.arch = conv: conv1, conv2, ...
  std::vector<torch::nn::Linear> hidden_;
  std::vector<torch::nn::Linear> gates_;  // model.activation = gated: fcN_gate beside fcN
  torch::nn::Linear fc_mean_{nullptr};
  torch::nn::Linear fc_sd_{nullptr};
  torch::nn::Conv2d code_conv_{nullptr};  // a conv vq_vae: last stage -> code_dim channels, 1x1
  CodeHead code_activation_{};  // a code head's activation
};
TORCH_MODULE(Encoder);

// z [B, Z] -> logits [B, D]. The guide's sigmoid is applied by VAEImpl::decode;
// training uses the logits so the BCE can be computed stably.
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelConfig& cfg);
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& y = {});

  // The dense layers in order; the last gives the logits (mlp) or the
  // transposed convolutions' input (conv).
  const std::vector<torch::nn::Linear>& layers() const { return layers_; }

 private:
  ModelConfig cfg_;
  std::vector<torch::nn::Linear> layers_;
  std::vector<torch::nn::Linear> gates_;  // gated: one per layer but the last
  // model.arch = conv with K stages: the dense layers end in the last
  // stage's channels x H/2^K x W/2^K (ReLU), then K stride-2 transposed
  // convolutions and a stride-1 one back to C x H x W: deconv1..deconvK+1.
  std::vector<torch::nn::ConvTranspose2d> deconvs_;
  // A conv vq_vae: code_dim -> the last stage's channels, 1x1, in place of
  // the dense layers (layers_ empty).
  torch::nn::Conv2d code_deconv_{nullptr};
};
TORCH_MODULE(Decoder);

// The second stochastic layer of a two-layer VAE (model.top_latent > 0):
// q(z2 | z1) (q_fc1.., q_mean, q_sd) and p(z1 | z2) (p_fc1.., p_mean, p_sd),
// dense Gaussian nets with the model's activation. z1 [..., Z], z2 [..., Z2].
class TopLayerImpl : public torch::nn::Module {
 public:
  explicit TopLayerImpl(const ModelConfig& cfg);
  // q(z2 | z1): (mu2, log_var2), each [..., Z2].
  std::pair<torch::Tensor, torch::Tensor> posterior(const torch::Tensor& z1);
  // p(z1 | z2): (mu1, log_var1), each [..., Z].
  std::pair<torch::Tensor, torch::Tensor> prior(const torch::Tensor& z2);

 private:
  ModelConfig cfg_;
  std::vector<torch::nn::Linear> q_, q_gates_, p_, p_gates_;
  torch::nn::Linear q_mean_{nullptr}, q_sd_{nullptr}, p_mean_{nullptr}, p_sd_{nullptr};
};
TORCH_MODULE(TopLayer);

// A code quantized to the codebook (vq_vae): the nearest vector to each
// position.
struct Quantized {
  torch::Tensor codes;    // z_q [B, Z]: the chosen vectors, position-major
  torch::Tensor indices;  // int64 [B, positions]
};

struct VAEOutput {
  torch::Tensor logits;   // [B, D], decoder output before the sigmoid
  torch::Tensor mu;       // [B, Z]; an autoencoder's code
  torch::Tensor log_var;  // [B, Z]; undefined for the autoencoder kinds
};

class VAEImpl : public torch::nn::Module {
 public:
  explicit VAEImpl(const ModelConfig& cfg);

  // x: [B, D] or [B, H, W] float in [0, 1] -> (mu, log_var), each [B, Z]
  // (a code head: (code, undefined); vq_vae: the quantized code z_q).
  std::pair<torch::Tensor, torch::Tensor> encode(const torch::Tensor& x, const torch::Tensor& y = {});

  // Training mode: mu + exp(0.5 * log_var) * eps with eps ~ N(0, I) drawn from
  // the default generator (the reparameterization trick: gradients reach mu
  // and log_var). Eval mode: mu, so reconstructions are deterministic.
  // `rows`: mu is that slice of a global batch (training across processes).
  torch::Tensor sampling(const torch::Tensor& mu, const torch::Tensor& log_var, const RowSlice& rows = {});

  // z [B, Z] -> pixel probabilities [B, D] (the guide's sigmoid output).
  torch::Tensor decode(const torch::Tensor& z, const torch::Tensor& y = {});

  // Flattens x, encodes, samples, decodes to logits.
  VAEOutput forward(const torch::Tensor& x, const torch::Tensor& y = {}, const RowSlice& rows = {});

  // log p(z) of model.prior for z [..., Z] -> [...]: N(0, I), or the
  // VampPrior's log (1/K) sum_k N(z; mu_k, exp(log_var_k)) with (mu_k,
  // log_var_k) the encoder's output at pseudo-input k (gradients reach the
  // pseudo-inputs and the encoder). Not for a two-layer model, whose p(z1)
  // has no closed form: see prior_log_weight.
  torch::Tensor prior_log_density(const torch::Tensor& z);

  // The width of the noise one draw of the model's latents takes: Z, or
  // Z + Z2 for a two-layer model (eps[..., :Z] for z1, eps[..., Z:] for z2).
  int64_t noise_width() const { return cfg_.latent + cfg_.top_latent; }

  // An unbiased one-sample estimate of p(z1)'s importance weight for z1
  // [..., Z] with `top_eps` [..., Z2] (the tail of a noise_width() draw):
  // log p(z1 | z2) + log p(z2) - log q(z2 | z1) at z2 = mu2 + sigma2 *
  // top_eps for a two-layer model; prior_log_density(z1) otherwise
  // (top_eps ignored). -> [...].
  torch::Tensor prior_log_weight(const torch::Tensor& z1, const torch::Tensor& top_eps);

  // n draws z [n, Z] from p(z), from `gen` (a CPU generator), on the
  // model's device: N(0, I), a uniformly chosen VampPrior component, or
  // z2 ~ N(0, I) then z1 ~ p(z1 | z2) for a two-layer model.
  torch::Tensor sample_prior(int64_t n, at::Generator& gen);

  // The VampPrior's pseudo-inputs, pixels in [0, 1]: [K, D]; undefined for
  // the standard prior.
  torch::Tensor pseudo_inputs() const;

  // vq_vae: the codebook [codebook_size, code_dim] (a parameter, or with
  // model.codebook_ema the buffer the moving averages set); undefined otherwise.
  torch::Tensor codebook() const;
  // vq_vae: the nearest codebook vector (squared distance; the lowest
  // index on a tie) to each position of z_e [B, Z]. No gradient reaches
  // the codebook through `indices`; `codes` is the codebook's rows.
  Quantized quantize(const torch::Tensor& z_e);
  // vq_vae: x as for encode -> the quantized code of its encoder output
  // (encode's code, with the indices beside it).
  Quantized encode_quantized(const torch::Tensor& x, const torch::Tensor& y = {});
  // vq_vae: indices int64 [B, positions] -> codes z_q [B, Z].
  torch::Tensor codes_of(const torch::Tensor& indices);
  // vq_vae: the code's positions as a grid: {positions} (mlp) or {h, w}
  // (conv: the last conv stage's cells).
  std::vector<int64_t> code_grid() const;
  // vq_vae, after a training step's quantization of z_e [b, Z] to
  // `indices` [b, positions]: each vector's uses in the step's global batch
  // (summed over the processes by rows.sum_across where set, so every
  // process takes the same step), then
  //  - with model.codebook_ema (ema_decay > 0): one moving-average step of
  //    each vector toward the mean of its codes, Laplace-smoothed (an
  //    unused vector keeps its place while its count decays, then drifts
  //    toward 0 as the count nears the smoothing's 1e-5, as in Sonnet's
  //    VQ-VAE; the restarts below move it long before);
  //  - with restart_steps > 0: every vector unused for more than
  //    restart_steps steps moved onto a random code of this batch (drawn
  //    from the default generator, the same on every process), so dead
  //    vectors come back where the codes are.
  // Skipped for a batch with non-finite codes.
  void update_codebook(const torch::Tensor& z_e, const torch::Tensor& indices, const RowSlice& rows, double ema_decay,
                       int64_t restart_steps);
  // vq_vae: whether the codebook was set from the data (init_codebook);
  // kept in the checkpoint (the buffer codebook_initialized).
  bool codebook_initialized();
  // vq_vae, the first training step: every codebook vector set to a
  // position of the batch's codes z_e [b, Z] (this process's rows of the
  // global batch `rows`, the others' through rows.sum_across), chosen at
  // random from the default generator, the same on every process. The
  // U(-1/K, 1/K) start leaves all but a few vectors far from every code,
  // never chosen (the codebook collapse this prevents).
  void init_codebook(const torch::Tensor& z_e, const RowSlice& rows);

  const ModelConfig& config() const { return cfg_; }
  Encoder& encoder() { return encoder_; }
  Decoder& decoder() { return decoder_; }
  // The second stochastic layer; null unless model.top_latent > 0.
  TopLayer& top() { return top_; }

 private:
  // Codebook rows `which` (int64) set to `vectors`, as if each had just
  // been chosen once (the moving averages' state and the unused count too).
  void place_vectors(const torch::Tensor& which, const torch::Tensor& vectors);

  ModelConfig cfg_;
  Encoder encoder_{nullptr};
  Decoder decoder_{nullptr};
  TopLayer top_{nullptr};
  torch::Tensor pseudo_;  // vamp: the unconstrained pseudo-inputs [K, D] (clamped to [0, 1] when used)
  torch::Tensor codebook_;   // vq_vae: [K, code_dim], a parameter or (codebook_ema) a buffer
  torch::Tensor ema_count_;  // codebook_ema: the moving average of each vector's count [K]
  torch::Tensor ema_sum_;    // codebook_ema: ... and of the sum of its codes [K, code_dim]
  torch::Tensor steps_unused_;          // vq_vae: int64 [K], training steps since each vector was chosen
  torch::Tensor codebook_initialized_;  // vq_vae: int64 0-dim, 1 once init_codebook ran
  bool initialized_seen_ = false;       // codebook_initialized_ read as 1 (a read per step would sync a GPU)
};
TORCH_MODULE(VAE);

// The reparameterization trick: z = mu + exp(0.5 * log_var) * eps, with eps
// ~ N(0, I) of z's shape drawn by the caller; gradients reach mu and log_var.
// Every z of the library (training, evaluation, the IW bound) comes from here.
torch::Tensor reparameterize(const torch::Tensor& mu, const torch::Tensor& log_var, const torch::Tensor& eps);

// A dense layer of the model's activation (model.activation): relu(fc(h)),
// tanh(fc(h)), or fc(h) * sigmoid(gate(h)) (gate: null unless gated).
torch::Tensor dense_layer(Activation act, torch::nn::Linear& fc, torch::nn::Linear& gate, const torch::Tensor& h);

// A Gaussian head's log-variance: clamped to [-6, 2] for
// model.bounded_log_var, else as given.
torch::Tensor head_log_var(const ModelConfig& cfg, const torch::Tensor& raw);

// The condition a conditional model sees: int64 labels [B] -> one-hot float
// [B, cfg.classes]; float [B, cfg.classes] is taken as given. Throws
// std::invalid_argument when y is missing, has the wrong shape, or a label
// lies outside [0, classes).
torch::Tensor condition(const ModelConfig& cfg, const torch::Tensor& y, int64_t rows, torch::ScalarType dtype);

}  // namespace vae
