// vae-data: fetch the official MNIST-format data sets, or check a data folder.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"
#include "vae/config.hpp"
#include "vae/fetch.hpp"
#include "vae/image_folder.hpp"
#include "vae/text.hpp"

namespace {

// SIGINT/SIGTERM/SIGHUP: the transfer stops, its partial file is removed,
// and the tool exits 128 + signal.
volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

// "1.23 MB", "45.6 kB": bytes in a unit a person reads at a glance.
std::string human(double bytes) {
  char buf[32];
  if (bytes >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2f MB", bytes / 1e6);
  else
    std::snprintf(buf, sizeof buf, "%.1f kB", bytes / 1e3);
  return buf;
}

// A line redrawn in place on a terminal; one log line per finished file otherwise.
void show_progress(const vae::FetchProgress& p) {
  static const bool tty = ::isatty(STDERR_FILENO);
  const bool done = p.total > 0 && p.bytes == p.total;
  const std::string rate = human(p.bytes_per_second) + "/s";
  if (tty) {
    const double pct = p.total > 0 ? 100.0 * static_cast<double>(p.bytes) / static_cast<double>(p.total) : 0.0;
    std::fprintf(stderr, "\r%-28s %10s / %-10s %5.1f%%  %s\033[K", p.file.c_str(),
                 human(static_cast<double>(p.bytes)).c_str(),
                 p.total > 0 ? human(static_cast<double>(p.total)).c_str() : "?", pct, rate.c_str());
    if (done) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  } else if (done) {
    spdlog::info("{}: {} at {}", p.file, human(static_cast<double>(p.bytes)), rate);
  }
}

// The flags of each subcommand.
struct FetchFlags {
  std::string name, dir, md5_list;
  std::vector<std::string> base_urls;
  vae::FetchOptions options;
  double max_mb = static_cast<double>(options.max_bytes >> 20);
};

struct CheckFlags {
  std::string dir, name;
};

struct CacheFlags {
  std::string dir, config, image_size, on_bad_image;
  int64_t channels = -1;
};

CLI::App* add_fetch_command(CLI::App& app, FetchFlags& f) {
  auto* fetch = app.add_subcommand("fetch", "download a data set (mnist, fashion-mnist, kmnist, binarized-mnist, custom)");
  fetch->add_option("name", f.name, "mnist, fashion-mnist, kmnist, binarized-mnist, or custom (with --md5-list)")->required();
  fetch->add_option("--dir", f.dir, "folder to write the files into")->required();
  fetch->add_option("--base-url", f.base_urls, "mirror to use instead of the built-in ones (repeatable, tried in order)");
  fetch->add_option("--md5-list", f.md5_list, "md5sum-style list of files for 'custom' (needs --base-url)");
  fetch->add_option("--max-mb", f.max_mb, "refuse a file larger than this many MiB")->capture_default_str()
      ->check(CLI::Range(0.001, 1e6));
  fetch->add_option("--timeout", f.options.timeout_seconds,
                    "seconds one file may take (default: 60 plus its announced size at 10 kB/s)")
      ->check(CLI::Range(1L, 1000000L));
  return fetch;
}

CLI::App* add_check_command(CLI::App& app, CheckFlags& f) {
  auto* check = app.add_subcommand("check", "verify a data folder: files, IDX headers, counts, MD5 where known");
  check->add_option("--dir", f.dir, "the data folder")->required();
  check->add_option("--name", f.name, "compare MD5s with this data set's official files");
  return check;
}

CLI::App* add_cache_command(CLI::App& app, CacheFlags& f) {
  auto* cache = app.add_subcommand(
      "cache", "decode an image folder into the image cache as vae-train would (its options from --config, then the "
               "flags), and report what it found");
  cache->add_option("--dir", f.dir, "the image folder (default: the config's data.dir)");
  cache->add_option("--config", f.config, "a config whose [data] options to use");
  cache->add_option("--image-size", f.image_size, "H,W: resize and centre-crop (data.image_size)");
  cache->add_option("--channels", f.channels, "1, 3, or 0 as the first image (data.channels)");
  cache->add_option("--on-bad-image", f.on_bad_image, "error or skip (data.on_bad_image)");
  return cache;
}

// vae-data fetch: downloads the set into --dir; a stop signal exits 128 + signal.
int run_fetch(FetchFlags& f) {
  vae::DatasetSpec spec;
  if (f.name == "custom") {
    if (f.md5_list.empty() || f.base_urls.empty())
      throw vae::FetchError("fetch custom needs --md5-list FILE and --base-url URL");
    spec = {"custom", {}, vae::read_md5_list(f.md5_list)};
  } else {
    spec = vae::find_dataset(f.name);
    if (!f.md5_list.empty()) spec.files = vae::read_md5_list(f.md5_list);
  }
  vae::FetchOptions& options = f.options;
  options.base_urls = f.base_urls;
  options.max_bytes = static_cast<uint64_t>(f.max_mb * 1048576.0);
  options.stop_requested = [] { return g_stop_signal != 0; };
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_stop_signal);
  options.on_progress = show_progress;
  options.on_retry = [](const std::string& why) { spdlog::warn("{}; trying the next mirror", why); };
  try {
    vae::fetch_dataset(spec, f.dir, options);
  } catch (const vae::FetchError& e) {
    if (g_stop_signal == 0) throw;
    spdlog::error("{}", e.what());
    return 128 + static_cast<int>(g_stop_signal);
  }
  spdlog::info("{}: {} files verified; train with --data-dir {}", f.dir, spec.files.size(), f.dir);
  return 0;
}

// vae-data check: one line per file, then the folder's verdict.
int run_check(const CheckFlags& f) {
  const vae::DatasetSpec* spec = f.name.empty() ? nullptr : &vae::find_dataset(f.name);
  const vae::CheckReport report = vae::check_folder(f.dir, spec);
  for (const auto& line : report.lines) std::printf("%s: %s\n", line.file.c_str(), line.what.c_str());
  std::printf("%s: %s\n", f.dir.c_str(), report.ok() ? "ok" : "problems found");
  return report.ok() ? 0 : 1;
}

// vae-data cache: decodes (or finds) the folder's cache; prints its path.
int run_cache(const CacheFlags& f) {
  vae::Config cfg = f.config.empty() ? vae::Config() : vae::load_config_file(f.config);
  if (!f.dir.empty()) vae::set_key(cfg, "data.dir", f.dir);
  if (!f.image_size.empty()) vae::set_key(cfg, "data.image_size", f.image_size);
  if (f.channels >= 0) vae::set_key(cfg, "data.channels", std::to_string(f.channels));
  if (!f.on_bad_image.empty()) vae::set_key(cfg, "data.on_bad_image", f.on_bad_image);
  vae::validate(cfg, /*shape_known=*/false);
  const vae::DecodedImages d = vae::load_image_folder(vae::image_folder_options(cfg.data));
  if (!d.cache_note.empty()) spdlog::warn("{}", d.cache_note);
  spdlog::info("{}: {} images of {} (channels x height x width), {} classes, {} converted, {} skipped; {} in "
               "{:.2f} s",
               cfg.data.dir, d.count, vae::shape_text(d.channels, d.height, d.width), d.class_names.size(),
               d.converted, d.skipped.size(), d.from_cache ? "loaded from the cache" : "decoded", d.seconds);
  for (const std::string& s : d.skipped) spdlog::warn("skipped {}", s);
  std::printf("%s\n", d.cache_path.c_str());
  return d.cache_path.empty() ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  vae::cli::setup_logging();
  CLI::App app{"Fetch MNIST-format data sets with checksums, check a data folder, or decode an image folder into "
               "the cache.",
               "vae-data"};
  vae::cli::add_version_flag(app);
  app.require_subcommand(1);
  FetchFlags fetch_flags;
  CheckFlags check_flags;
  CacheFlags cache_flags;
  const CLI::App* fetch = add_fetch_command(app, fetch_flags);
  add_check_command(app, check_flags);
  const CLI::App* cache = add_cache_command(app, cache_flags);
  CLI11_PARSE(app, argc, argv);

  return vae::cli::run_guarded([&] {
    if (*cache) return run_cache(cache_flags);
    if (*fetch) return run_fetch(fetch_flags);
    return run_check(check_flags);
  });
}
