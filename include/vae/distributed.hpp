// Training across processes and machines on torch's own c10d: the launch
// environment that torchrun (or srun, or any launcher) sets, and a process
// group that sums tensors across the processes.
//
//   vae::DistEnv env = vae::dist_env_from_environment();   // RANK, WORLD_SIZE, ...
//   if (env.launched) {
//     vae::ProcessGroup group(env, cfg.train.dist_backend, cfg.train.dist_timeout);
//     group.sum(grads);   // every process now holds the sum
//   }
//
// The c10d headers stay in src/distributed.cpp.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vae/config.hpp"

namespace vae {

struct DistEnv {
  bool launched = false;  // RANK and WORLD_SIZE were set (WORLD_SIZE=1 too)
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr;
  int master_port = 0;
  int64_t restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: torchrun's restarts so far
  // TORCHELASTIC_USE_AGENT_STORE=True: torchrun's agent hosts the store at
  // MASTER_ADDR:MASTER_PORT, and every process is its client.
  bool agent_store = false;
};

// Reads the launch variables. Without RANK and WORLD_SIZE: not launched (a
// single process). Throws ConfigError naming the variable when one is
// malformed or missing (e.g. RANK without MASTER_ADDR).
DistEnv dist_env_from_environment();

// A c10d process group: a TCPStore rendezvous at MASTER_ADDR:MASTER_PORT
// (hosted by rank 0, or by torchrun's agent), then a Gloo group over it.
// Every wait is bounded by the timeout; a lost process makes the others
// throw DistError naming it, never hang.
class ProcessGroup {
 public:
  // Joins the group. Throws DistError (a port in use, an unreachable master,
  // a rank that never comes) or ConfigError (nccl where the build has none).
  ProcessGroup(const DistEnv& env, DistBackend backend, double timeout_seconds);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const;
  int64_t size() const;
  std::string describe() const;  // "gloo, 2 processes, rendezvous 127.0.0.1:29500"

  // Sums a contiguous tensor across the processes, in place.
  void sum(torch::Tensor& t);
  // Sums several, their all-reduces in flight together (each call to Gloo
  // costs a round trip of latency; the group's worker threads overlap them).
  void sum(std::vector<torch::Tensor> tensors);
  // Every process's `value`, in rank order, through the store. `key` names
  // the exchange; each call uses a fresh one.
  std::vector<std::string> all_gather(const std::string& key, const std::string& value);
  // Rank 0's `value` (ignored on the other ranks).
  std::string broadcast(const std::string& key, const std::string& value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The checks before training, across processes (src/agreement.cpp): every
// rank sends `text` under `key` (a collective). A rank that called
// agree_failed instead makes every other rank throw DistError("rank R
// <failed>: its message"); otherwise the first rank R whose text differs
// from rank 0's makes every rank call differs(R, its text, rank 0's text),
// which throws. Returns when all agree.
void agree(ProcessGroup& group, const std::string& key, const std::string& text, const std::string& failed,
           const std::function<void(int64_t rank, const std::string& theirs, const std::string& rank0)>& differs);
// This rank's side of agree(key) when it cannot go on: the others throw
// naming it and `message`; the caller then throws its own error.
void agree_failed(ProcessGroup& group, const std::string& key, const std::string& message);

}  // namespace vae
