#include "vae/distributed.hpp"

// The imported Torch CMake target defines it; without it ProcessGroupGloo.hpp
// declares nothing.
#ifndef USE_C10D_GLOO
#error "USE_C10D_GLOO is not defined: this LibTorch has no Gloo backend (or its CMake target was not used)"
#endif

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "vae/errors.hpp"
#include "vae/text.hpp"

namespace vae {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string env_text(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// An integer variable in [lo, hi]; `fallback` when unset and not required.
int64_t env_int(const char* name, int64_t lo, int64_t hi, bool required, int64_t fallback) {
  const std::string v = env_text(name);
  if (v.empty()) {
    if (required) throw ConfigError(std::string(name) + " is not set (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT together)");
    return fallback;
  }
  int64_t x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || x < lo || x > hi)
    throw ConfigError("environment variable " + std::string(name) + "=" + v + ": expected an integer in [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::vector<uint8_t> to_bytes(const std::string& s) { return {s.begin(), s.end()}; }
std::string to_text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

std::string first_line(const std::exception& e) {
  std::string m = e.what();
  if (const auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  return m;
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

// The ranks named in a message: the first ten, then how many more, so a
// message about 100,000 missing ranks stays one readable line.
std::string list(const std::vector<int64_t>& ranks) {
  constexpr size_t kShown = 10;
  std::vector<std::string> items;
  for (size_t i = 0; i < ranks.size() && i < kShown; ++i) items.push_back(std::to_string(ranks[i]));
  std::string s = join(items, ", ");
  if (ranks.size() > kShown) s += " and " + std::to_string(ranks.size() - kShown) + " more";
  return s;
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  const bool rank = std::getenv("RANK") != nullptr, world = std::getenv("WORLD_SIZE") != nullptr;
  if (!rank && !world) return e;
  if (!rank || !world)
    throw ConfigError(std::string(rank ? "RANK" : "WORLD_SIZE") + " is set but " + (rank ? "WORLD_SIZE" : "RANK") +
                      " is not: a launcher (torchrun, srun) sets both");
  e.launched = true;
  e.world_size = env_int("WORLD_SIZE", 1, 1 << 20, true, 1);
  e.rank = env_int("RANK", 0, e.world_size - 1, true, 0);
  e.local_rank = env_int("LOCAL_RANK", 0, 1 << 20, false, 0);
  const bool several = e.world_size > 1;
  e.master_addr = env_text("MASTER_ADDR");
  if (e.master_addr.empty()) {
    if (several) throw ConfigError("MASTER_ADDR is not set (the host of rank 0, e.g. 127.0.0.1 on one machine)");
    e.master_addr = "127.0.0.1";
  }
  e.master_port = static_cast<int>(env_int("MASTER_PORT", 1, 65535, several, 29500));
  e.restart_count = env_int("TORCHELASTIC_RESTART_COUNT", 0, std::numeric_limits<int32_t>::max(), false, 0);
  e.agent_store = env_text("TORCHELASTIC_USE_AGENT_STORE") == "True";
  return e;
}

struct ProcessGroup::Impl {
  DistEnv env;
  milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int64_t exchanges = 0;
  int64_t failures = 0;

  std::string where() const { return env.master_addr + ":" + std::to_string(env.master_port); }
  std::string key(const std::string& name, int64_t rank) const { return name + "/" + std::to_string(rank); }

  // Waits until `name`/<rank> is set for each of `ranks`, at most `limit`;
  // returns the ranks whose key was not.
  std::vector<int64_t> wait_for(const std::string& name, std::vector<int64_t> ranks, milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    for (;;) {
      ranks.erase(std::remove_if(ranks.begin(), ranks.end(), [&](int64_t r) { return store->check({key(name, r)}); }),
                  ranks.end());
      if (ranks.empty() || Clock::now() >= deadline) return ranks;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  std::vector<int64_t> wait_for_all(const std::string& name, milliseconds limit) {
    std::vector<int64_t> ranks;
    for (int64_t r = 0; r < env.world_size; ++r) ranks.push_back(r);
    return wait_for(name, std::move(ranks), limit);
  }

  // After a failed collective: every survivor reports in; those that do
  // not within a few seconds are named as lost.
  [[noreturn]] void lost(const std::string& during, const std::exception& cause) {
    const std::string name = "alive/" + std::to_string(++failures);
    std::vector<int64_t> missing;
    try {
      store->set(key(name, env.rank), to_bytes("1"));
      missing = wait_for_all(name, std::min(timeout, milliseconds(5000)));
    } catch (const std::exception&) {
      throw DistError(env.agent_store
                          ? "lost torchrun's rendezvous store at " + where() + " while " + during + ": " + first_line(cause)
                          : "lost rank 0 (it hosted the rendezvous store at " + where() + ") while " + during + ": " +
                                first_line(cause));
    }
    if (!missing.empty())
      throw DistError("lost rank " + list(missing) + " of " + std::to_string(env.world_size) + " while " + during +
                      " (it stopped answering): " + first_line(cause));
    throw DistError("rank " + std::to_string(env.rank) + ": " + during + " failed: " + first_line(cause));
  }
};

ProcessGroup::ProcessGroup(const DistEnv& env, DistBackend backend, double timeout_seconds)
    : impl_(std::make_unique<Impl>()) {
  if (backend == DistBackend::kNccl) {
#ifdef USE_C10D_NCCL
    throw ConfigError("--dist-backend nccl: vae sums gradients with gloo only so far (NCCL awaits a run on a GPU); "
                      "use --dist-backend gloo or auto");
#else
    throw ConfigError("--dist-backend nccl: this LibTorch was built without NCCL (gloo is the backend it has); "
                      "use --dist-backend gloo or auto");
#endif
  }
  Impl& m = *impl_;
  m.env = env;
  m.timeout = milliseconds(static_cast<int64_t>(timeout_seconds * 1000));
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<uint16_t>(env.master_port);
  opts.isServer = !env.agent_store && env.rank == 0;
  opts.waitWorkers = false;
  opts.timeout = m.timeout;
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  } catch (const std::exception& e) {
    if (opts.isServer)
      throw DistError("rank 0 cannot host the rendezvous at " + m.where() + " (is the port in use? pick another "
                      "--master_port): " + first_line(e));
    throw DistError("rank " + std::to_string(env.rank) + " cannot reach the rendezvous at " + m.where() + " within " +
                    seconds(timeout_seconds) + " (is MASTER_ADDR right, and rank 0 started?): " + first_line(e));
  }
  // torchrun's agent keeps one store across restarts: each attempt has its own keys.
  m.store = c10::make_intrusive<c10d::PrefixStore>("vae/attempt_" + std::to_string(env.restart_count), tcp);
  try {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    m.store->set(m.key("joined", env.rank), to_bytes(std::string(host) + ":" + std::to_string(::getpid())));
  } catch (const std::exception& e) {
    throw DistError("rank " + std::to_string(env.rank) + ": the rendezvous at " + m.where() + " failed: " + first_line(e));
  }
  const std::vector<int64_t> missing = m.wait_for_all("joined", m.timeout);
  if (!missing.empty())
    throw DistError("rendezvous at " + m.where() + ": rank " + list(missing) + " of " +
                    std::to_string(env.world_size) + " did not join within " + seconds(timeout_seconds));
  auto options = c10d::ProcessGroupGloo::Options::create(m.timeout);
  const std::string iface = env_text("GLOO_SOCKET_IFNAME");
  options->devices.push_back(!iface.empty()                ? c10d::ProcessGroupGloo::createDeviceForInterface(iface)
                             : is_loopback(env.master_addr) ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                                            : c10d::ProcessGroupGloo::createDefaultDevice());
  try {
    m.pg = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", m.store),
                                                       static_cast<int>(env.rank), static_cast<int>(env.world_size),
                                                       options);
  } catch (const std::exception& e) {
    m.lost("connecting the gloo group", e);
  }
}

ProcessGroup::~ProcessGroup() = default;

int64_t ProcessGroup::rank() const { return impl_->env.rank; }
int64_t ProcessGroup::size() const { return impl_->env.world_size; }

std::string ProcessGroup::describe() const {
  return "gloo, " + std::to_string(size()) + " processes, rendezvous " + impl_->where() +
         (impl_->env.agent_store ? " (torchrun's store)" : " (hosted by rank 0)") +
         (impl_->env.restart_count > 0 ? ", restart " + std::to_string(impl_->env.restart_count) : "");
}

void ProcessGroup::sum(torch::Tensor& t) { sum(std::vector<torch::Tensor>{t}); }

void ProcessGroup::sum(std::vector<torch::Tensor> tensors) {
  std::vector<std::vector<at::Tensor>> args;  // alive until every all-reduce is done
  for (const torch::Tensor& t : tensors) args.push_back({t});
  try {
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& a : args) works.push_back(impl_->pg->allreduce(a));
    for (auto& w : works) w->wait();
  } catch (const std::exception& e) {
    impl_->lost("summing across processes", e);
  }
}

std::vector<std::string> ProcessGroup::all_gather(const std::string& key, const std::string& value) {
  Impl& m = *impl_;
  const std::string name = std::to_string(++m.exchanges) + "/" + key;
  std::vector<std::string> out;
  try {
    m.store->set(m.key(name, m.env.rank), to_bytes(value));
    const std::vector<int64_t> missing = m.wait_for_all(name, m.timeout);
    if (!missing.empty())
      throw DistError("rank " + list(missing) + " did not send its " + key + " within " +
                      seconds(m.timeout.count() / 1000.0));
    for (int64_t r = 0; r < m.env.world_size; ++r) out.push_back(to_text(m.store->get(m.key(name, r))));
  } catch (const DistError&) {
    throw;
  } catch (const std::exception& e) {
    m.lost("exchanging " + key, e);
  }
  return out;
}

std::string ProcessGroup::broadcast(const std::string& key, const std::string& value) {
  Impl& m = *impl_;
  const std::string name = std::to_string(++m.exchanges) + "/" + key;
  try {
    if (m.env.rank == 0) {
      m.store->set(m.key(name, 0), to_bytes(value));
      return value;
    }
    if (!m.wait_for(name, {0}, m.timeout).empty())
      throw DistError("rank 0 did not send its " + key + " within " + seconds(m.timeout.count() / 1000.0));
    return to_text(m.store->get(m.key(name, 0)));
  } catch (const DistError&) {
    throw;
  } catch (const std::exception& e) {
    m.lost("receiving " + key, e);
  }
}

}  // namespace vae
