// A checkpoint file as untrusted input: the archive rebuilt in memory from
// checked records, and every tensor checked, before LibTorch's readers or
// ours use anything in it (fuzzed by tests/fuzz/checkpoint_fuzz.cpp).
#include <torch/serialize/input-archive.h>
#include <caffe2/serialize/inline_container.h>

#include <regex>
#include <set>
#include <sstream>

#include "checkpoint_internal.hpp"
#include "vae/text.hpp"

namespace vae {

[[noreturn]] void checkpoint_fail(const std::string& path, const std::string& what) {
  throw CheckpointError(path + ": " + what);
}

// First line of a LibTorch error, without its C++ backtrace.
std::string short_error(const c10::Error& e) {
  std::string msg = e.what_without_backtrace();
  const auto nl = msg.find('\n');
  return nl == std::string::npos ? msg : msg.substr(0, nl);
}

namespace {

// Every tensor of an archive and its sub-archives, by dotted name.
void collect_tensors(torch::serialize::InputArchive& archive, const std::string& prefix,
                     std::vector<std::pair<std::string, torch::Tensor>>& out) {
  for (const std::string& key : archive.keys()) {
    torch::Tensor t;
    torch::serialize::InputArchive sub;
    if (archive.try_read(key, t))
      out.emplace_back(prefix + key, t);
    else if (archive.try_read(key, sub))
      collect_tensors(sub, prefix + key + ".", out);
  }
}

// A tensor LibTorch built from the file may describe more memory than its
// storage holds (a forged size, stride or offset): check, before any use,
// that the whole view lies inside the storage.
void check_view(const std::string& path, const std::string& name, const torch::Tensor& t) {
  if (t.layout() != torch::kStrided || !t.has_storage()) checkpoint_fail(path, "tensor " + name + " is not a dense tensor");
  if (t.numel() == 0) return;
  bool ok = t.storage_offset() >= 0;
  uint64_t last = ok ? static_cast<uint64_t>(t.storage_offset()) : 0, span = 0, need = 0;
  for (int64_t d = 0; ok && d < t.dim(); ++d)
    ok = t.stride(d) >= 0 &&
         !__builtin_mul_overflow(static_cast<uint64_t>(t.size(d) - 1), static_cast<uint64_t>(t.stride(d)), &span) &&
         !__builtin_add_overflow(last, span, &last);
  ok = ok && !__builtin_add_overflow(last, 1, &need) &&
       !__builtin_mul_overflow(need, static_cast<uint64_t>(t.element_size()), &need);
  if (!ok || need > t.storage().nbytes())
    checkpoint_fail(path, "tensor " + name + " of shape " + c10::str(t.sizes()) + " reaches past its storage of " +
                   std::to_string(t.storage().nbytes()) + " bytes (a damaged or forged checkpoint)");
}

// Each storage LibTorch allocated must have a data record of its size in the
// zip, one record per storage: a record cut short (its tensor declared longer
// than the bytes that exist, which LibTorch would read past) leaves a storage
// without one.
void check_records(const std::string& path, const std::vector<uint64_t>& records,
                   const std::vector<std::pair<std::string, torch::Tensor>>& tensors) {
  std::vector<uint64_t> storages;
  std::set<const void*> seen;
  for (const auto& [name, t] : tensors)
    if (seen.insert(t.storage().unsafeGetStorageImpl()).second) storages.push_back(t.storage().nbytes());
  std::multiset<uint64_t> available(records.begin(), records.end());
  for (const uint64_t size : storages) {
    const auto it = available.find(size);
    if (it == available.end())
      checkpoint_fail(path, "a tensor of " + std::to_string(size) + " bytes has no data record of that size (a record cut "
                 "short or forged): a damaged or forged checkpoint");
    available.erase(it);
  }
}

// One line of the TorchScript source our archives hold: class headers and
// typed attributes only. LibTorch compiles this source when it loads an
// archive, and its type parser crashes on some malformed source (found by
// tests/fuzz/checkpoint_fuzz.cpp), so nothing else reaches it.
bool allowed_code_line(const std::string& line) {
  static const std::regex kLine(
      R"(|class Module\(Module\):|  __(parameters|buffers)__ = \[("[\w./]+", )*\]|  __annotations__ = \[\])"
      R"(|  (__annotations__\["[\w./]+"\] = |\w+ : )(Tensor|int|float|str|bool|Tuple\[float, float\]|)"
      R"(__torch__\.___torch_mangle_\d+\.Module))");
  return line.size() < 256 && std::regex_match(line, kLine);
}

// Walks a protocol-2 pickle as LibTorch's unpickler will, without building
// anything: only the opcodes LibTorch writes for a module, and every
// length-prefixed argument inside the bytes that exist (a forged length
// would otherwise make the unpickler allocate gigabytes).
bool plausible_pickle(const std::string& p) {
  const auto u32 = [&p](size_t at) {
    return static_cast<uint32_t>(static_cast<unsigned char>(p[at])) |
           static_cast<uint32_t>(static_cast<unsigned char>(p[at + 1])) << 8 |
           static_cast<uint32_t>(static_cast<unsigned char>(p[at + 2])) << 16 |
           static_cast<uint32_t>(static_cast<unsigned char>(p[at + 3])) << 24;
  };
  size_t i = 0;
  while (i < p.size()) {
    const unsigned char op = static_cast<unsigned char>(p[i++]);
    size_t fixed = 0;   // bytes of argument
    size_t len_of = 0;  // bytes of a length prefix before a variable argument
    switch (op) {
      case '(': case 't': case 0x85: case 0x86: case 0x87: case ')': case '}': case 'u': case 's': case ']':
      case 'e': case 'a': case 'R': case 'b': case 0x81: case 'Q': case 0x88: case 0x89: case 'N':
        break;
      case '.': return i == p.size();  // STOP ends the pickle
      case 0x80: case 'q': case 'h': case 'K': fixed = 1; break;
      case 'M': fixed = 2; break;
      case 'r': case 'j': case 'J': fixed = 4; break;
      case 'G': fixed = 8; break;
      case 0x8a: case 'U': len_of = 1; break;
      case 'X': case 'T': case 'B': len_of = 4; break;
      case 'c': {  // GLOBAL module\nname\n
        for (int line = 0; line < 2; ++line) {
          const size_t nl = p.find('\n', i);
          if (nl == std::string::npos || nl - i > 256) return false;
          i = nl + 1;
        }
        continue;
      }
      default: return false;
    }
    if (len_of > 0) {
      if (i + len_of > p.size()) return false;
      fixed = len_of == 1 ? static_cast<unsigned char>(p[i]) : u32(i);
      i += len_of;
    }
    if (fixed > p.size() - i) return false;
    i += fixed;
  }
  return false;  // no STOP
}

// The archive rebuilt in memory from the records a checkpoint of ours can
// hold, each checked as far as we can before LibTorch parses it: source
// lines from the allow-list above, the empty constants table, a small format
// version; debug records dropped; anything else refused. data.pkl (LibTorch's
// unpickler) and the tensor data records pass as they are; their sizes are
// appended to data_sizes, for check_records.
std::string sanitized_archive(const std::string& path, const std::string& bytes, std::vector<uint64_t>& data_sizes) {
  std::istringstream in(bytes);
  caffe2::serialize::PyTorchStreamReader reader(&in);
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&out](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
    return n;
  });
  const auto is_digits = [](const std::string& s, size_t from) {
    return s.size() > from && s.find_first_not_of("0123456789", from) == std::string::npos;
  };
  for (const std::string& name : reader.getAllRecords()) {
    if (name.size() > 10 && ends_with(name, ".debug_pkl")) continue;
    auto [ptr, size] = reader.getRecord(name);
    const char* data = static_cast<const char*>(ptr.get());
    if (name.compare(0, 5, "data/") == 0 && is_digits(name, 5)) {  // tensor bytes, passed on uncopied
      data_sizes.push_back(size);
      writer.writeRecord(name, data, size);
      continue;
    }
    const std::string body(data, size);  // the small records checked below
    if (name == "version") {
      if (size == 0 || size > 4 || !is_digits(body.substr(0, body.find('\n')), 0)) checkpoint_fail(path, "bad format version record");
      writer.setMinVersion(std::stoull(body));
      continue;
    }
    const bool code = name.compare(0, 5, "code/") == 0 && name.size() > 8 &&
                      ends_with(name, ".py") && name.find("..") == std::string::npos;
    if (code) {
      std::istringstream lines(body);
      for (std::string line; std::getline(lines, line);)
        if (!allowed_code_line(line)) checkpoint_fail(path, "record " + name + " holds source no checkpoint of ours has");
    } else if (name == "constants.pkl") {
      if (body != std::string("\x80\x02).", 4)) checkpoint_fail(path, "record constants.pkl is not the empty table ours hold");
    } else if (name == "data.pkl") {
      if (!plausible_pickle(body)) checkpoint_fail(path, "record data.pkl is not a pickle a checkpoint of ours holds");
    } else {
      checkpoint_fail(path, "record " + name + " is not part of a checkpoint of ours");
    }
    writer.writeRecord(name, body.data(), body.size());
  }
  writer.writeEndOfFile();
  return out;
}

c10::IValue read_attr(torch::serialize::InputArchive& archive, const std::string& path,
                      const std::string& key) {
  c10::IValue v;
  if (!archive.try_read(key, v)) checkpoint_fail(path, "not a vae checkpoint (no '" + key + "' entry)");
  return v;
}

}  // namespace

// Opens a verified archive held in memory, its tensors on the CPU, and checks
// every tensor in it before anything reads one.
void open_archive(const std::string& path, const std::string& bytes, torch::serialize::InputArchive& archive) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  try {
    std::vector<uint64_t> data_sizes;
    const std::string clean = sanitized_archive(path, bytes, data_sizes);
    std::istringstream in(clean);
    archive.load_from(in, torch::kCPU);
    collect_tensors(archive, "", tensors);
    check_records(path, data_sizes, tensors);
  } catch (const c10::Error& e) {
    checkpoint_fail(path, "damaged checkpoint: " + short_error(e));
  }
  for (const auto& [name, t] : tensors) check_view(path, name, t);
}

int64_t read_int(torch::serialize::InputArchive& a, const std::string& path, const std::string& key) {
  const c10::IValue v = read_attr(a, path, key);
  if (!v.isInt()) checkpoint_fail(path, "entry '" + key + "' is not an integer");
  return v.toInt();
}

double read_double(torch::serialize::InputArchive& a, const std::string& path, const std::string& key) {
  const c10::IValue v = read_attr(a, path, key);
  if (!v.isDouble()) checkpoint_fail(path, "entry '" + key + "' is not a number");
  return v.toDouble();
}

std::string read_string(torch::serialize::InputArchive& a, const std::string& path,
                        const std::string& key) {
  const c10::IValue v = read_attr(a, path, key);
  if (!v.isString()) checkpoint_fail(path, "entry '" + key + "' is not a string");
  return v.toStringRef();
}

}  // namespace vae
