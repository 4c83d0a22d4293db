#include "vae/run_dir.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "vae/checkpoint.hpp"
#include "vae/errors.hpp"
#include "vae/io.hpp"

namespace vae {

namespace fs = std::filesystem;

std::string RunDir::epoch_tag(int64_t epoch) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(epoch));
  return buf;
}

bool RunDir::has_checkpoints() const {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(checkpoints(), ec))
    if (entry.path().extension() == ".pt") return true;
  return false;
}

void RunDir::prepare_new(bool force) const {
  std::error_code ec;
  if (has_checkpoints()) {
    if (!force)
      throw IoError(root_ +
                    ": already holds a run (checkpoints/); resume it with --resume, choose "
                    "another --out-dir, or pass --force to start it over");
    // A new run must not leave the old run's checkpoints for a later resume,
    // nor its lists of test and skipped files beside its own.
    for (const std::string& p : outputs()) fs::remove_all(p, ec);
    spdlog::warn("--force: removed the previous run's checkpoints and outputs in {}", root_);
  }
  make_dirs(checkpoints());
}

void RunDir::prepare_resumed() const { make_dirs(checkpoints()); }

std::vector<std::string> RunDir::clean_up_after_crash() const {
  std::vector<std::string> done = finish_interrupted_saves(checkpoints());
  std::error_code ec;
  for (const std::string& dir : {root_, images()}) {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      const auto pos = name.rfind(".tmp.");  // write_file_atomic's NAME.tmp.PID
      if (pos == std::string::npos || name.find_first_not_of("0123456789", pos + 5) != std::string::npos) continue;
      fs::remove(e.path(), ec);
      done.push_back("removed " + e.path().string() + ", an unfinished write");
    }
  }
  return done;
}

std::string resume_run_dir(const std::string& what) {
  std::error_code ec;
  return fs::is_directory(what, ec) ? what : run_dir_of(what);
}

RunLock::RunLock(const std::string& run_dir) {
  make_dirs(run_dir);
  // The folder itself is locked: a lock file can be removed from under its
  // holder (rm RUN/.lock), after which a second process would lock a new
  // file of the same name; the folder cannot be, while it holds the run.
  fd_ = ::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) throw IoError(run_dir + ": cannot open the run folder to lock it: " + std::strerror(errno));
  const std::string path = RunDir(run_dir).lock_file();
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw IoError(run_dir + ": cannot lock the run folder: " + std::strerror(err));
    std::string holder;
    try {
      holder = read_file(path);
    } catch (const IoError&) {  // removed: the PID is unknown, the lock still held
    }
    holder.erase(holder.find_last_not_of(" \n") + 1);
    if (holder.size() > 20 || holder.find_first_not_of("0123456789") != std::string::npos) holder.clear();
    throw IoError(run_dir + ": in use by another vae-train (pid " + (holder.empty() ? "unknown" : holder) +
                  "); wait for it to finish or stop it, or choose another --out-dir");
  }
  // Ours now: record who holds it, for the message above.
  try {
    write_file_atomic(path, std::to_string(::getpid()) + "\n");
  } catch (const IoError& e) {
    spdlog::warn("{}: cannot record this process in the lock file: {}", path, e.what());
  }
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

std::string run_dir_of(const std::string& checkpoint_path) {
  const fs::path p = fs::absolute(checkpoint_path).lexically_normal();
  if (p.parent_path().filename() != "checkpoints")
    throw CheckpointError(checkpoint_path +
                          ": can only resume a checkpoint inside a run folder's checkpoints/ "
                          "(pass the run folder, or copy the whole run folder first)");
  return p.parent_path().parent_path().string();
}

}  // namespace vae
