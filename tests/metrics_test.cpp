#include "vae/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace vae {
namespace {

TEST(Metrics, JsonLinesRoundTripExactlyWithNullForNonFinite) {
  EpochMetrics m;
  m.epoch = 3;
  m.step = 210;
  m.train_loss = 0.1 + 0.2;  // not exactly representable in 10 digits
  m.skipped = 1;
  m.test = {184.97167330000001, 179.5, 5.4716733, 0.25};
  m.seconds = std::numeric_limits<double>::infinity();
  m.eval_seconds = std::numeric_limits<double>::quiet_NaN();
  const std::string line = to_json_line(m);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("\"epoch\": 3, \"step\": 210"), std::string::npos) << line;
  EXPECT_NE(line.find("\"seconds\": null, \"eval_seconds\": null"), std::string::npos) << line;
  const std::vector<EpochMetrics> back = parse_history(to_jsonl({m, m}), "x");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].epoch, 3);
  EXPECT_EQ(back[1].train_loss, m.train_loss);  // bit for bit
  EXPECT_EQ(back[1].test.loss, m.test.loss);
  EXPECT_EQ(back[1].test.kl, m.test.kl);
  EXPECT_TRUE(std::isnan(back[1].seconds));
  EXPECT_TRUE(std::isnan(back[1].eval_seconds));
}

TEST(Metrics, OldHistoriesParseAndBadOnesNameTheLine) {
  // A line as the format's first version wrote it (10 significant digits, no skipped).
  const auto old = parse_history("{\"epoch\": 1, \"step\": 70, \"train_loss\": 233.6522401, \"test_loss\": 195.3796716, "
                                 "\"test_recon\": 190.1, \"test_kl\": 5.27, \"seconds\": 2.1, \"eval_seconds\": 0.1}\n\n",
                                 "ckpt");
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].train_loss, 233.6522401);
  EXPECT_EQ(old[0].skipped, 0);
  EXPECT_TRUE(std::isnan(old[0].test.code_abs));
  try {
    parse_history("{\"epoch\": 1, \"step\": 2}\nnot json\n", "ckpt.pt");
    FAIL() << "accepted a line that is not JSON";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("ckpt.pt: line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_history("{\"step\": 2}\n", "x"), std::invalid_argument);  // no epoch
}

}  // namespace
}  // namespace vae
