// A cgroup's memory limit (containers, Slurm, systemd) as an allocation that
// fails instead of the kernel's OOM killer.
//
//   vae::limit_data_to_cgroup(false);   // at start-up (cli::setup_logging)
//   vae::limit_data_to_cgroup(true);    // once OpenBLAS has mapped its
//                                       // buffers (reserve_blas_buffers)
//
// Past a cgroup's limit the kernel kills the process with SIGKILL: no
// message, no clean-up, exit 137. RLIMIT_DATA, set to what the cgroup has
// left, makes the allocation that would cross it fail first (std::bad_alloc,
// which the tools report in one line and leave). RLIMIT_DATA counts mapped
// private memory, touched or not, so it errs on the safe side.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace vae {

struct CgroupMemory {
  std::string file;     // the limit's file, e.g. /sys/fs/cgroup/a/memory.max
  uint64_t limit = 0;   // bytes
  uint64_t used = 0;    // bytes charged now, less the inactive page cache (the working set)
  uint64_t room() const { return used < limit ? limit - used : 0; }
};

// The tightest memory limit on the cgroup of /proc/self/cgroup's text
// `proc_self_cgroup`, under the cgroup file systems mounted at `root`
// (v2: ROOT/PATH/memory.max; v1: ROOT/memory/PATH/memory.limit_in_bytes),
// over the cgroup and its ancestors; none when no finite limit is set.
// Unreadable or unparsable files count as no limit.
std::optional<CgroupMemory> cgroup_memory(const std::string& proc_self_cgroup, const std::string& root);

// Caps this process's RLIMIT_DATA at its data size now (VmData) plus the
// room its cgroup has left (shared among LOCAL_WORLD_SIZE processes under
// torchrun) less 64 MiB for LibTorch's code and the kernel's own use, plus, until
// `blas_mapped`, the address space OpenBLAS will map but mostly never touch
// (128 MB per thread). Never raises a limit it did not set. Returns what it
// set, for the log and for the out-of-memory error; none when no cgroup
// limit applies. Throws MemoryLimitError when the room is already less
// than that 64 MiB: the kernel would kill the process before any allocation
// failed.
std::optional<std::string> limit_data_to_cgroup(bool blas_mapped);

// The limit set by the last limit_data_to_cgroup, described for an error
// ("the cgroup memory limit of 200 MiB (FILE)"); empty when none was set.
std::string data_limit_note();

}  // namespace vae
