#include "vae/optim.hpp"

#include <c10/util/string_utils.h>
#include <torch/autograd.h>
#include <torch/optim/rmsprop.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>

#include "adam_kernel.hpp"

namespace vae {
namespace {

bool fusable(const torch::Tensor& t) {
  return t.defined() && t.layout() == torch::kStrided && t.device().is_cpu() &&
         t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

}  // namespace

torch::Tensor FusedAdam::step(LossClosure closure) {
  for (const auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    if (o.weight_decay() != 0 || o.amsgrad()) return torch::optim::Adam::step(std::move(closure));
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (!fusable(p) || !fusable(p.grad())) return torch::optim::Adam::step(std::move(closure));
      // A state loaded in another dtype or device: torch's step handles it.
      auto it = state_.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
      if (it != state_.end()) {
        const auto& st = static_cast<const torch::optim::AdamParamState&>(*it->second);
        for (const torch::Tensor& t : {st.exp_avg(), st.exp_avg_sq()})
          if (t.scalar_type() != torch::kFloat32 || !t.device().is_cpu() || t.layout() != torch::kStrided)
            return torch::optim::Adam::step(std::move(closure));
      }
    }
  }
  torch::NoGradGuard no_grad;
  torch::Tensor loss = {};
  if (closure != nullptr) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    // Last parameter first: the next forward pass starts with the first
    // layer, whose weights are then the ones still in cache.
    for (auto it_p = group.params().rbegin(); it_p != group.params().rend(); ++it_p) {
      auto& p = *it_p;
      if (!p.grad().defined()) continue;
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto it = state_.find(key);
      if (it == state_.end()) {  // as torch::optim::Adam initialises it
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(0);
        s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        it = state_.emplace(key, std::move(s)).first;
      }
      auto& st = static_cast<torch::optim::AdamParamState&>(*it->second);
      if (!fusable(st.exp_avg()) || !fusable(st.exp_avg_sq())) {  // a state loaded in another memory layout
        st.exp_avg(st.exp_avg().contiguous());
        st.exp_avg_sq(st.exp_avg_sq().contiguous());
      }
      st.step(st.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(st.step()));
      const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(st.step()));
      const double step_size = o.lr() / bias_correction1;
      detail::adam_update(p.data_ptr<float>(), p.grad().data_ptr<float>(), st.exp_avg().data_ptr<float>(),
                  st.exp_avg_sq().data_ptr<float>(), p.numel(), static_cast<float>(beta1),
                  static_cast<float>(beta2), static_cast<float>(1 - beta1), static_cast<float>(1 - beta2),
                  static_cast<float>(1 / std::sqrt(bias_correction2)),
                  static_cast<float>(o.eps()), static_cast<float>(-step_size));
    }
  }
  return loss;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& cfg, VAE& model) {
  switch (cfg.optimizer) {
    case OptimizerKind::kAdam:
      return std::make_unique<FusedAdam>(model->parameters(),
                                         torch::optim::AdamOptions(cfg.lr).weight_decay(cfg.weight_decay));
    case OptimizerKind::kRmsprop:
      return std::make_unique<torch::optim::RMSprop>(
          model->parameters(), torch::optim::RMSpropOptions(cfg.lr).weight_decay(cfg.weight_decay));
  }
  throw ConfigError("train.optimizer: unknown choice");
}

double scheduled_lr(const TrainConfig& cfg, int64_t epoch, const std::vector<EpochMetrics>& history) {
  switch (cfg.lr_schedule) {
    case LrSchedule::kConstant: return cfg.lr;
    case LrSchedule::kMultistep: {
      double lr = cfg.lr;
      for (int64_t m : cfg.lr_milestones)
        if (m < epoch) lr *= cfg.lr_gamma;
      return lr;
    }
    case LrSchedule::kCosine: {
      const double t = static_cast<double>(epoch - 1) / static_cast<double>(std::max<int64_t>(1, cfg.epochs));
      return cfg.lr_min + (cfg.lr - cfg.lr_min) * 0.5 * (1 + std::cos(M_PI * std::min(1.0, t)));
    }
    case LrSchedule::kPlateau: {
      // ReduceLROnPlateau (mode min, threshold 0, cooldown 0) replayed over
      // the history: more than lr_patience epochs without a new best
      // multiply the rate by lr_gamma and start the count again.
      double lr = cfg.lr, best = std::numeric_limits<double>::infinity();
      int64_t bad = 0;
      for (const EpochMetrics& m : history) {
        if (m.epoch >= epoch) break;
        if (m.selection_loss() < best) {
          best = m.selection_loss();
          bad = 0;
        } else if (++bad > cfg.lr_patience) {
          lr = std::max(lr * cfg.lr_gamma, cfg.lr_min);
          bad = 0;
        }
      }
      return lr;
    }
  }
  return cfg.lr;
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    auto& options = group.options();
    if (auto* adam = dynamic_cast<torch::optim::AdamOptions*>(&options)) adam->lr(lr);
    else if (auto* rms = dynamic_cast<torch::optim::RMSpropOptions*>(&options)) rms->lr(lr);
    else throw std::logic_error("set_lr: an optimizer other than Adam or RMSprop");
  }
}

}  // namespace vae
