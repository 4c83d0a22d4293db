// expect_error<E>(f, part, why): f must throw E whose what() contains
// `part`; returns what() for further checks, or "" after recording `why`
// as a failure when nothing was thrown. Another exception type escapes, and
// GoogleTest reports it.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace vae::testing {

template <typename E, typename F>
std::string expect_error(F&& f, const std::string& part, const std::string& why) {
  try {
    f();
  } catch (const E& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(part), std::string::npos) << what;
    return what;
  }
  ADD_FAILURE() << why;
  return "";
}

}  // namespace vae::testing
