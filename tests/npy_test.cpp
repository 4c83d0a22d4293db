// NumPy .npy arrays as a data source: the strict header parser, and
// NpySource against IdxSource on the same images.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/data.hpp"
#include "vae/io.hpp"
#include "vae/npy.hpp"

namespace vae {
namespace {

using testing::expect_error;

// A .npy file as NumPy writes it: magic, version, little-endian header
// length, the dict padded with spaces to a multiple of 64 and a newline.
std::string npy_raw(std::string dict, const std::string& payload, int version = 1) {
  const size_t pre = version == 1 ? 10 : 12;
  while ((pre + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(version);
  out += '\0';
  for (size_t i = 0; i < (version == 1 ? 2u : 4u); ++i) out += static_cast<char>((dict.size() >> (8 * i)) & 0xff);
  return out + dict + payload;
}

std::string npy(const std::string& descr, const std::string& shape, const std::string& payload,
                bool fortran = false, int version = 1) {
  return npy_raw("{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
                     ", 'shape': " + shape + ", }",
                 payload, version);
}

std::string raw(const torch::Tensor& t) {
  const torch::Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.data_ptr()), static_cast<size_t>(c.nbytes()));
}

TEST(Npy, ParsesWhatNumpyWrites) {
  const NpyArray a = parse_npy(npy("|u1", "(2, 3)", "abcdef"), "a.npy");
  EXPECT_EQ(a.dtype, NpyDtype::kUInt8);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a.data, "abcdef");
  const NpyArray b = parse_npy(npy("<f4", "(1,)", std::string(4, '\0'), false, 2), "b.npy");
  EXPECT_EQ(b.dtype, NpyDtype::kFloat32);
  EXPECT_EQ(b.shape, (std::vector<int64_t>{1}));
  EXPECT_EQ(parse_npy(npy("<i8", "(0, 5)", ""), "c.npy").shape, (std::vector<int64_t>{0, 5}));
  // Keys in another order, double quotes, no trailing comma: still a dict.
  EXPECT_EQ(parse_npy(npy_raw("{\"shape\": (1,), \"fortran_order\": False, \"descr\": \"|u1\"}", "z"), "d.npy").data,
            "z");
}

TEST(Npy, RefusesWhatItCannotReadNamingTheFile) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"GIF89a....", "not a .npy file"},
      {npy("|u1", "(2,)", "ab").replace(6, 1, "\x04"), "version 4 is not supported"},
      {npy("|u1", "(2,)", "ab").substr(0, 30), "truncated .npy header"},
      {npy("|u1", "(2,)", "ab", true), "Fortran order"},
      {npy(">f4", "(1,)", "abcd"), "big-endian"},
      {npy("<f8", "(1,)", "abcdefgh"), "dtype '<f8' is not supported"},
      {npy("|u1", "(-1,)", ""), "non-negative integers"},
      {npy("|u1", "(2, 3)", "abcde"), "(truncated)"},
      {npy("|u1", "(2, 3)", "abcdefg"), "(trailing bytes)"},
      {npy("|u1", "(4294967296, 4294967296, 4294967296)", ""), "too large"},
      {npy_raw("{'descr': '|u1', 'descr': '|u1', 'fortran_order': False, 'shape': (1,)}", "a"), "appears twice"},
      {npy_raw("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "a"), "unexpected key 'extra'"},
      {npy_raw("{'descr': '|u1', 'fortran_order': False}", ""), "no 'shape'"},
      {npy_raw("{'descr': '|u1', 'fortran_order': False, 'shape': (1,)} x", "a"), "text after the dict"},
  };
  for (const auto& [bytes, part] : bad) {
    SCOPED_TRACE(part);
    const std::string what =
        expect_error<DataError>([&] { parse_npy(bytes, "dir/x.npy"); }, part, "accepted a bad .npy");
    EXPECT_EQ(what.rfind("dir/x.npy: ", 0), 0u) << what;
  }
}

TEST(NpySource, LoadsTheSameImagesAsIdx) {
  testing::TempDir idx, arrays, floats;
  testing::write_synthetic_split(idx.path(), 40, 12, /*gz=*/false);
  const IdxSource from_idx(idx.path());
  for (Split split : {Split::kTrain, Split::kTest}) {
    const Dataset d = from_idx.load(split);
    const std::string shape = "(" + std::to_string(d.size()) + ", 28, 28)";
    const std::string name = split == Split::kTrain ? "train" : "test";
    write_file_atomic(arrays.file(name + "_images.npy"), npy("|u1", shape, raw(d.images)));
    write_file_atomic(arrays.file(name + "_labels.npy"), npy("<i8", "(" + std::to_string(d.size()) + ",)", raw(d.labels)));
    // float32 in [0, 1] with a channel axis: stored back as the same bytes.
    const torch::Tensor f = d.images.to(torch::kFloat32).div(255.0f);
    write_file_atomic(floats.file(name + "_images.npy"),
                      npy("<f4", "(" + std::to_string(d.size()) + ", 28, 28, 1)", raw(f)));
  }
  DataConfig cfg;
  cfg.dir = arrays.path();
  EXPECT_EQ(detect_data_format(cfg), DataFormat::kNpy);
  cfg.dir = idx.path();
  EXPECT_EQ(detect_data_format(cfg), DataFormat::kIdx);
  for (Split split : {Split::kTrain, Split::kTest}) {
    const Dataset want = from_idx.load(split);
    const Dataset got = NpySource(arrays.path()).load(split);
    EXPECT_TRUE(torch::equal(got.images, want.images));
    EXPECT_TRUE(torch::equal(got.labels, want.labels));
    EXPECT_TRUE(got.has_labels);
    const Dataset unlabelled = NpySource(floats.path()).load(split);
    EXPECT_TRUE(torch::equal(unlabelled.images, want.images));
    EXPECT_FALSE(unlabelled.has_labels);
    ModelConfig conditional;
    conditional.conditional = true;
    expect_error<DataError>([&] { check_labels(conditional, unlabelled); }, "_labels.npy (missing): a conditional",
                            "a conditional model took images without labels");
  }
}

TEST(NpySource, ColourArraysBecomeChannelsFirst) {
  testing::TempDir dir;
  // (N=1, H=1, W=2, C=3): pixel 0 is (1, 2, 3), pixel 1 is (4, 5, 6).
  write_file_atomic(dir.file("train_images.npy"), npy("|u1", "(1, 1, 2, 3)", std::string("\1\2\3\4\5\6")));
  const Dataset ds = NpySource(dir.path()).load(Split::kTrain);
  ASSERT_EQ(ds.images.sizes(), (std::vector<int64_t>{1, 3, 1, 2}));
  EXPECT_EQ(ds.channels(), 3);
  EXPECT_TRUE(torch::equal(ds.images.flatten(), torch::tensor({1, 4, 2, 5, 3, 6}, torch::kUInt8)));
}

TEST(NpySource, RefusesBadArraysNamingTheFile) {
  testing::TempDir dir;
  const auto load = [&] { NpySource(dir.path()).load(Split::kTrain); };
  expect_error<DataError>(load, "missing train_images.npy", "loaded nothing");
  write_file_atomic(dir.file("train_images.npy"), npy("|u1", "(2, 2, 2, 2)", std::string(16, 'a')));
  expect_error<DataError>(load, "is not (N, H, W), (N, H, W, 1) or (N, H, W, 3)", "took 2 channels");
  write_file_atomic(dir.file("train_images.npy"), npy("|u1", "(2, 4)", std::string(8, 'a')));
  expect_error<DataError>(load, "is not (N, H, W)", "took a 2-D array");
  const torch::Tensor f = torch::tensor({0.0f, 0.5f, 1.5f, 0.25f});
  write_file_atomic(dir.file("train_images.npy"), npy("<f4", "(1, 2, 2)", raw(f)));
  expect_error<DataError>(load, "must lie in [0, 1]; element 2 is 1.5", "took a float above 1");
  write_file_atomic(dir.file("train_images.npy"), npy("|u1", "(2, 1, 1)", "ab"));
  write_file_atomic(dir.file("train_labels.npy"), npy("|u1", "(3,)", "abc"));
  expect_error<DataError>(load, "train_labels.npy: holds 3 labels but", "took a label count mismatch");
  write_file_atomic(dir.file("train_labels.npy"), npy("<f4", "(2,)", std::string(8, '\0')));
  expect_error<DataError>(load, "labels must be integers", "took float labels");
  write_file_atomic(dir.file("train_labels.npy"), npy("<i4", "(2,)", raw(torch::tensor({1, -1}, torch::kInt32))));
  expect_error<DataError>(load, "labels must lie in [0, 2^31)", "took a negative label");
}

}  // namespace
}  // namespace vae
