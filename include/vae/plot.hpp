// Plots with axes, ticks, labels and a legend, drawn with cairo and written
// as PNG. Torch-free: the callers pass plain vectors.
//
//   vae::plot::Axes ax{"Loss per epoch", "epoch", "nats per image"};
//   vae::plot::line_plot("run/loss.png", ax, {{"train", xs, train}, {"test", xs, test}});
//   vae::plot::scatter_plot("latent.png", ax, x, y, labels, {"0", "1", ...});
//
// Files are written atomically (a reader never sees half a PNG); a write
// failure throws vae::IoError naming the file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace vae::plot {

struct Axes {
  std::string title;
  std::string xlabel;
  std::string ylabel;
  int width = 800;   // pixels
  int height = 560;
  bool integer_x = false;  // x ticks on whole numbers only (epochs)
};

struct Series {
  std::string name;  // legend entry
  std::vector<double> x;
  std::vector<double> y;
};

// Lines with a marker at each point, one colour per series, legend top right.
// Non-finite points are skipped. Throws std::invalid_argument when a series'
// x and y differ in length.
void line_plot(const std::string& path, const Axes& axes, const std::vector<Series>& series);

// One dot per point, coloured by cls[i] (0 <= cls < class_names.size()),
// legend of class names to the right of the plot. Throws
// std::invalid_argument on mismatched lengths or a class out of range.
void scatter_plot(const std::string& path, const Axes& axes, const std::vector<double>& x,
                  const std::vector<double>& y, const std::vector<int64_t>& cls,
                  const std::vector<std::string>& class_names);

// Tick positions: about `target` round numbers (1, 2 or 5 times a power of
// ten) covering [lo, hi]; the first is <= lo and the last >= hi.
// With min_step > 0 the step is at least min_step.
std::vector<double> nice_ticks(double lo, double hi, int target = 6, double min_step = 0);

}  // namespace vae::plot
