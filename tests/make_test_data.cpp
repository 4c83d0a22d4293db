// make_test_data DIR [N_TRAIN N_TEST]: writes a small synthetic MNIST-format
// data set (gzip IDX files) for the end-to-end tests.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "test_util.hpp"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::fprintf(stderr, "usage: make_test_data DIR [N_TRAIN N_TEST]\n");
    return 2;
  }
  try {
    const long long n_train = argc == 4 ? std::atoll(argv[2]) : 512;
    const long long n_test = argc == 4 ? std::atoll(argv[3]) : 128;
    vae::testing::write_synthetic_split(argv[1], n_train, n_test, /*gz=*/true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_test_data: %s\n", e.what());
    return 1;
  }
  return 0;
}
