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
#include "train_step.hpp"
#include "vae/gradients.hpp"
#include "vae/loss.hpp"
#include "vae/model.hpp"
#include "vae/optim.hpp"
#include "vae/runtime.hpp"
#include "vae/transforms.hpp"

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
  app.add_flag("--torch-adam", torch_adam, "phases: torch::optim::Adam instead of the trainer's FusedAdam");
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

  // phases: the trainer's own step over one epoch, its forward + loss +
  // backward (one call of the TrainStep) timed apart from the optimizer.
  vae::Config cfg;
  cfg.model.hidden = hidden;
  cfg.model.latent = latent;
  cfg.train.fused_step = !autograd;
  torch::manual_seed(1);
  vae::VAE model(cfg.model);
  std::unique_ptr<torch::optim::Optimizer> opt =
      torch_adam ? std::make_unique<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(cfg.train.lr))
                 : vae::make_optimizer(cfg.train, model);
  vae::FlatGradients grads(model->parameters());
  const auto step = vae::make_train_step(cfg, model, grads, torch::kCPU, batch);
  const at::Tensor data = at::randint(0, 256, {images, 784}, at::kByte);
  std::vector<double> fwd_bwd, opt_t, total;
  for (int64_t r = 0; r < reps; ++r) {
    double fb = 0, o = 0;
    const auto t_all = Clock::now();
    const at::Tensor order = at::randperm(images);
    for (int64_t start = 0; start < images; start += batch) {
      const int64_t len = std::min(batch, images - start);
      const at::Tensor x = vae::to_unit_float(data.index_select(0, order.narrow(0, start, len)));
      auto t0 = Clock::now();
      step->run(x, at::Tensor(), 1.0);
      fb += since(t0);
      t0 = Clock::now();
      opt->step();
      o += since(t0);
    }
    total.push_back(since(t_all));
    fwd_bwd.push_back(fb), opt_t.push_back(o);
  }
  std::printf("{\"mode\": \"phases\", \"step\": \"%s\", \"adam\": \"%s\", \"layers\": \"%s\", \"epoch\": %.4f, "
              "\"forward_backward\": %.4f, \"optimizer\": %.4f}\n",
              autograd ? "autograd" : "fused", torch_adam ? "torch" : "fused", layers.c_str(), median(total),
              median(fwd_bwd), median(opt_t));
  return 0;
}
