// vae-bench: the measurements bench/cpu.sh needs that the tools do not make.
//
//   vae-bench floor  --hidden 400 --latent 20   # the GEMMs of one epoch, alone
//   vae-bench phases --hidden 400 --latent 20   # where a training step's time goes
//
// Both print one JSON object per line. Every size is the training recipe's:
// batch 128 over 60,000 images of 784 pixels, unless flags say otherwise.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/optim/adam.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli.hpp"
#include "vae/config.hpp"
#include "vae/data.hpp"
#include "vae/fused_step.hpp"
#include "vae/loss.hpp"
#include "vae/model.hpp"
#include "vae/optim.hpp"
#include "vae/runtime.hpp"
#include "vae/trainer.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The layer widths of the MLP VAE, input to output: {D, h..., Z} for the
// encoder (two heads of Z counted as one layer of 2Z) and {Z, h reversed..., D}.
struct Gemm {
  int64_t in, out;
  bool grad_input;  // the backward pass also needs dL/dx of this layer
};

std::vector<Gemm> gemms(int64_t d, const std::vector<int64_t>& hidden, int64_t z) {
  std::vector<Gemm> g;
  int64_t in = d;
  for (int64_t h : hidden) {
    g.push_back({in, h, in != d});
    in = h;
  }
  g.push_back({in, 2 * z, in != d});  // fc_mean and fc_sd
  in = z;
  for (auto it = hidden.rbegin(); it != hidden.rend(); ++it) {
    g.push_back({in, *it, true});
    in = *it;
  }
  g.push_back({in, d, true});
  return g;
}

// One epoch of the same matrix products as training (forward x W^T + b,
// backward dL/dW and dL/dx), into preallocated outputs: no autograd, no
// allocation, no elementwise work.
double floor_epoch(const std::vector<Gemm>& layers, int64_t batch, int64_t images) {
  struct Buffers { at::Tensor x, w, b, y, gy, gw, gx; };
  std::vector<Buffers> bufs;
  for (const Gemm& l : layers) {
    Buffers b;
    b.x = at::rand({batch, l.in});
    b.w = at::rand({l.out, l.in});
    b.b = at::rand({l.out});
    b.y = at::empty({batch, l.out});
    b.gy = at::rand({batch, l.out});
    b.gw = at::empty({l.out, l.in});
    b.gx = at::empty({batch, l.in});
    bufs.push_back(b);
  }
  const int64_t steps = images / batch, last = images % batch;
  const auto t0 = Clock::now();
  for (int64_t s = 0; s <= steps; ++s) {
    if (s == steps && last == 0) break;
    const int64_t rows = s == steps ? last : batch;
    for (auto& b : bufs) {
      at::Tensor x = b.x.narrow(0, 0, rows), y = b.y.narrow(0, 0, rows);
      at::addmm_out(y, b.b, x, b.w.t());
    }
    for (size_t i = bufs.size(); i-- > 0;) {
      auto& b = bufs[i];
      at::Tensor gy = b.gy.narrow(0, 0, rows);
      at::mm_out(b.gw, gy.t(), b.x.narrow(0, 0, rows));
      if (layers[i].grad_input) {
        at::Tensor gx = b.gx.narrow(0, 0, rows);
        at::mm_out(gx, gy, b.w);
      }
    }
  }
  return since(t0);
}

std::vector<int64_t> parse_hidden(const std::string& s) {
  std::vector<int64_t> v;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t comma = s.find(',', pos);
    v.push_back(std::stoll(s.substr(pos, comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Benchmark helpers: the GEMM floor of a training epoch, and a step's phases.", "vae-bench"};
  std::string mode, hidden_s = "400";
  int64_t latent = 20, batch = 128, images = 60000, reps = 3, threads = 1, blas_threads = 0;
  bool torch_adam = false, autograd = false;
  app.add_option("mode", mode, "floor or phases")->required()->check(CLI::IsMember({"floor", "phases"}));
  app.add_option("--hidden", hidden_s, "hidden widths, comma-separated")->capture_default_str();
  app.add_option("--latent", latent)->capture_default_str();
  app.add_option("--batch", batch)->capture_default_str();
  app.add_option("--images", images)->capture_default_str();
  app.add_option("--reps", reps, "repetitions; the median is reported")->capture_default_str();
  app.add_option("--threads", threads, "LibTorch intra-op threads")->capture_default_str();
  app.add_option("--blas-threads", blas_threads, "OpenBLAS threads (0: its default)")->capture_default_str();
  app.add_flag("--torch-adam", torch_adam, "phases: torch::optim::Adam and zero_grad() instead of the trainer's");
  app.add_flag("--autograd", autograd, "phases: the autograd step even where the fused step applies");
  CLI11_PARSE(app, argc, argv);
  vae::tune_allocator();
  vae::configure_threads(threads);
  blas_threads = vae::configure_blas_threads(blas_threads);
  const std::vector<int64_t> hidden = parse_hidden(hidden_s);
  std::string layers = "784";
  for (int64_t h : hidden) layers += "-" + std::to_string(h);
  layers += "-" + std::to_string(latent);

  if (mode == "floor") {
    c10::InferenceMode guard;
    const auto g = gemms(784, hidden, latent);
    floor_epoch(g, batch, batch * 20);  // warm-up
    std::vector<double> t;
    for (int64_t r = 0; r < reps; ++r) t.push_back(floor_epoch(g, batch, images));
    std::printf("{\"mode\": \"floor\", \"layers\": \"%s\", \"batch\": %lld, \"images\": %lld, "
                "\"blas_threads\": %lld, \"seconds\": %.4f}\n",
                layers.c_str(), static_cast<long long>(batch), static_cast<long long>(images),
                static_cast<long long>(blas_threads), median(t));
    return 0;
  }

  // phases: the trainer's own step, timed piece by piece over one epoch. The
  // fused step's forward, loss and backward are one call: timed as "backward".
  vae::Config cfg;
  cfg.model.hidden = hidden;
  cfg.model.latent = latent;
  cfg.train.fused_step = !autograd && !torch_adam;
  torch::manual_seed(1);
  vae::VAE model(cfg.model);
  std::unique_ptr<torch::optim::Optimizer> opt =
      torch_adam ? std::make_unique<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(cfg.train.lr))
                 : vae::make_optimizer(cfg.train, model);
  const at::Tensor data = at::randint(0, 256, {images, 784}, at::kByte);
  std::unique_ptr<vae::FusedStep> fused;
  if (vae::FusedStep::applies(cfg, torch::kCPU)) fused = std::make_unique<vae::FusedStep>(model, batch);
  std::vector<double> fwd, loss_t, bwd, step, zero, total;
  for (int64_t r = 0; r < reps; ++r) {
    double f = 0, l = 0, b = 0, s = 0, zg = 0;
    const auto t_all = Clock::now();
    const at::Tensor order = at::randperm(images);
    for (int64_t start = 0; start < images; start += batch) {
      const int64_t len = std::min(batch, images - start);
      auto t0 = Clock::now();
      const at::Tensor x = vae::to_unit_float(data.index_select(0, order.narrow(0, start, len)));
      if (fused) {
        fused->run(x, 1.0);
        b += since(t0);
        t0 = Clock::now();
        opt->step();
        s += since(t0);
        continue;
      }
      if (torch_adam)
        opt->zero_grad();
      else
        vae::clear_gradients(*opt);
      zg += since(t0);
      t0 = Clock::now();
      const vae::VAEOutput out = model->forward(x);
      f += since(t0);
      t0 = Clock::now();
      const vae::LossTerms terms = vae::model_loss(cfg, out.logits, x, out.mu, out.log_var);
      at::Tensor loss = terms.total();
      l += since(t0);
      t0 = Clock::now();
      loss.backward();
      b += since(t0);
      t0 = Clock::now();
      opt->step();
      s += since(t0);
    }
    total.push_back(since(t_all));
    fwd.push_back(f), loss_t.push_back(l), bwd.push_back(b), step.push_back(s), zero.push_back(zg);
  }
  std::printf("{\"mode\": \"phases\", \"step\": \"%s\", \"adam\": \"%s\", \"layers\": \"%s\", \"epoch\": %.4f, \"forward\": %.4f, \"loss\": %.4f, "
              "\"backward\": %.4f, \"optimizer\": %.4f, \"zero_grad\": %.4f}\n",
              fused ? "fused" : "autograd", torch_adam ? "torch" : "fused", layers.c_str(), median(total), median(fwd), median(loss_t), median(bwd), median(step), median(zero));
  return 0;
}
