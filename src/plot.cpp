#include "vae/plot.hpp"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

#include "vae/io.hpp"

namespace vae::plot {
namespace {

struct Rgb {
  double r, g, b;
};

// Matplotlib's "tab10": distinct for up to ten classes, as users know them.
constexpr Rgb kPalette[] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
                            {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294},
                            {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498}, {0.737, 0.741, 0.133},
                            {0.090, 0.745, 0.812}};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

void set_colour(cairo_t* cr, size_t i, double alpha = 1.0) {
  const Rgb& c = kPalette[i % kPaletteSize];
  cairo_set_source_rgba(cr, c.r, c.g, c.b, alpha);
}

// Text anchored at (x, y): ax, ay in [0, 1] pick the anchor inside the text's
// box (0 = left / top, 0.5 = centre, 1 = right / bottom).
void text(cairo_t* cr, const std::string& s, double x, double y, double ax, double ay, double size,
          bool bold = false, double angle = 0) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -e.x_bearing - ax * e.width, -e.y_bearing - ay * e.height);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

double text_width(cairo_t* cr, const std::string& s, double size, bool bold = false) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// A straight line in a grey level (0 black, 1 white), at the current width.
void line(cairo_t* cr, double x0, double y0, double x1, double y1, double grey) {
  cairo_set_source_rgb(cr, grey, grey, grey);
  cairo_move_to(cr, x0, y0);
  cairo_line_to(cr, x1, y1);
  cairo_stroke(cr);
}

std::string tick_label(double v, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  if (std::fabs(v) < step * 1e-6) v = 0;  // no "-0"
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  // Ticks covering the range; an empty or single-valued range is widened.
  std::vector<double> ticks(bool integer) const {
    double a = lo, b = hi;
    if (!(a <= b)) a = 0, b = 1;
    if (a == b) {
      const double d = integer ? 1 : a == 0 ? 1 : std::fabs(a) * 0.1;
      a -= d;
      b += d;
    }
    return nice_ticks(a, b, 6, integer ? 1 : 0);
  }
};

// The frame of a plot: area, axes, grid, ticks, title and labels. Maps data
// to pixels.
class Frame {
 public:
  Frame(cairo_t* cr, const Axes& axes, const Range& xr, const Range& yr, double right_margin)
      : cr_(cr), xt_(xr.ticks(axes.integer_x)), yt_(yr.ticks(false)) {
    // Half-pixel positions keep 1-px lines crisp instead of two grey pixels.
    left_ = 84.5;
    top_ = 48.5;
    right_ = axes.width - right_margin + 0.5;
    bottom_ = axes.height - 62 + 0.5;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_set_line_width(cr, 1);
    for (double t : xt_) {  // grid and ticks
      const double px = std::round(x(t) - 0.5) + 0.5;
      line(cr, px, top_, px, bottom_, 0.9);      // grid
      line(cr, px, bottom_, px, bottom_ + 5, 0);  // tick
      text(cr, tick_label(t, xt_[1] - xt_[0]), px, bottom_ + 8, 0.5, 0, 12);
    }
    for (double t : yt_) {
      const double py = std::round(y(t) - 0.5) + 0.5;
      line(cr, left_, py, right_, py, 0.9);
      line(cr, left_ - 5, py, left_, py, 0);
      text(cr, tick_label(t, yt_[1] - yt_[0]), left_ - 8, py, 1, 0.5, 12);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, left_, top_, right_ - left_, bottom_ - top_);
    cairo_stroke(cr);
    double title_size = 16;  // shrunk until a long title fits the image
    while (title_size > 9 && text_width(cr, axes.title, title_size, true) > axes.width - 16) title_size -= 1;
    text(cr, axes.title, axes.width / 2.0, 16, 0.5, 0, title_size, /*bold=*/true);
    text(cr, axes.xlabel, (left_ + right_) / 2, axes.height - 10, 0.5, 1, 14);
    text(cr, axes.ylabel, 16, (top_ + bottom_) / 2, 0.5, 0, 14, false, -M_PI / 2);
  }
  // The tick range fills the frame less a 3% inset at each end, so markers
  // on the first and last ticks stay whole.
  double x(double v) const {
    const double inset = 0.03 * (right_ - left_);
    return left_ + inset + (v - xt_.front()) / (xt_.back() - xt_.front()) * (right_ - left_ - 2 * inset);
  }
  double y(double v) const {
    const double inset = 0.03 * (bottom_ - top_);
    return bottom_ - inset - (v - yt_.front()) / (yt_.back() - yt_.front()) * (bottom_ - top_ - 2 * inset);
  }
  void clip() const {
    cairo_rectangle(cr_, left_, top_, right_ - left_, bottom_ - top_);
    cairo_clip(cr_);
  }
  double left() const { return left_; }
  double right() const { return right_; }
  double top() const { return top_; }

 private:
  cairo_t* cr_;
  std::vector<double> xt_, yt_;
  double left_, top_, right_, bottom_;
};

cairo_status_t append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

// Owns the surface and context; save() encodes the PNG in memory and writes
// it atomically.
class Canvas {
 public:
  explicit Canvas(const Axes& axes) {
    if (axes.width < 200 || axes.height < 150 || axes.width > 8000 || axes.height > 8000)
      throw std::invalid_argument("plot size must be 200x150 to 8000x8000 pixels");
    surface_ = cairo_image_surface_create(CAIRO_FORMAT_RGB24, axes.width, axes.height);
    cr_ = cairo_create(surface_);
  }
  ~Canvas() {
    cairo_destroy(cr_);
    cairo_surface_destroy(surface_);
  }
  Canvas(const Canvas&) = delete;
  Canvas& operator=(const Canvas&) = delete;
  cairo_t* cr() const { return cr_; }
  void save(const std::string& path) {
    cairo_surface_flush(surface_);
    std::string png;
    const cairo_status_t st = cairo_surface_write_to_png_stream(surface_, append, &png);
    if (st != CAIRO_STATUS_SUCCESS || cairo_status(cr_) != CAIRO_STATUS_SUCCESS)
      throw IoError(path + ": cannot draw the plot (" + cairo_status_to_string(st) + ")");
    write_file_atomic(path, png);
  }

 private:
  cairo_surface_t* surface_;
  cairo_t* cr_;
};

// A legend box: a colour swatch (line or dot) and a name per entry.
void legend(cairo_t* cr, double x_right, double y_top, const std::vector<std::string>& names, bool lines) {
  double w = 0;
  for (const auto& n : names) w = std::max(w, text_width(cr, n, 12));
  const double row = 18, box_w = w + 40, box_h = row * static_cast<double>(names.size()) + 8;
  const double x0 = x_right - box_w;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_rectangle(cr, x0, y_top, box_w, box_h);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  for (size_t i = 0; i < names.size(); ++i) {
    const double cy = y_top + 4 + row * (static_cast<double>(i) + 0.5);
    set_colour(cr, i);
    if (lines) {
      cairo_set_line_width(cr, 2);
      cairo_move_to(cr, x0 + 6, cy);
      cairo_line_to(cr, x0 + 28, cy);
      cairo_stroke(cr);
    }
    cairo_arc(cr, x0 + 17, cy, 3.5, 0, 2 * M_PI);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, names[i], x0 + 34, cy, 0, 0.5, 12);
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target, double min_step) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || !std::isfinite(hi - lo) || !(lo < hi) || target < 2)
    throw std::invalid_argument("nice_ticks needs finite lo < hi and target >= 2");
  const double raw = (hi - lo) / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  step = std::max(step, min_step);
  const double first = std::floor(lo / step + 1e-9) * step;
  const double last = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> t;
  for (int i = 0; first + i * step <= last + step * 1e-9; ++i) t.push_back(first + i * step);
  if (t.size() < 2) t.push_back(t.back() + step);
  return t;
}

void line_plot(const std::string& path, const Axes& axes, const std::vector<Series>& series) {
  Range xr, yr;
  for (const auto& s : series) {
    if (s.x.size() != s.y.size())
      throw std::invalid_argument("series '" + s.name + "': " + std::to_string(s.x.size()) + " x values but " +
                                  std::to_string(s.y.size()) + " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xr.add(s.x[i]);
      yr.add(s.y[i]);
    }
  }
  Canvas canvas(axes);
  cairo_t* cr = canvas.cr();
  const Frame f(cr, axes, xr, yr, 24);
  cairo_save(cr);
  f.clip();
  for (size_t k = 0; k < series.size(); ++k) {
    const Series& s = series[k];
    set_colour(cr, k);
    cairo_set_line_width(cr, 2);
    bool pen = false;
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        pen = false;
        continue;
      }
      if (pen) cairo_line_to(cr, f.x(s.x[i]), f.y(s.y[i]));
      else cairo_move_to(cr, f.x(s.x[i]), f.y(s.y[i]));
      pen = true;
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      cairo_arc(cr, f.x(s.x[i]), f.y(s.y[i]), 3.5, 0, 2 * M_PI);
      cairo_fill(cr);
    }
  }
  cairo_restore(cr);
  std::vector<std::string> names;
  for (const auto& s : series) names.push_back(s.name);
  if (!names.empty()) legend(cr, f.right() - 8, f.top() + 8, names, /*lines=*/true);
  canvas.save(path);
}

void scatter_plot(const std::string& path, const Axes& axes, const std::vector<double>& x,
                  const std::vector<double>& y, const std::vector<int64_t>& cls,
                  const std::vector<std::string>& class_names) {
  if (x.size() != y.size() || x.size() != cls.size())
    throw std::invalid_argument("scatter plot: " + std::to_string(x.size()) + " x, " + std::to_string(y.size()) +
                                " y and " + std::to_string(cls.size()) + " class values");
  Range xr, yr;
  for (size_t i = 0; i < x.size(); ++i) {
    if (cls[i] < 0 || cls[i] >= static_cast<int64_t>(class_names.size()))
      throw std::invalid_argument("scatter plot: class " + std::to_string(cls[i]) + " of point " +
                                  std::to_string(i) + " has no name (" + std::to_string(class_names.size()) +
                                  " classes)");
    if (std::isfinite(x[i]) && std::isfinite(y[i])) {
      xr.add(x[i]);
      yr.add(y[i]);
    }
  }
  Canvas canvas(axes);
  cairo_t* cr = canvas.cr();
  const Frame f(cr, axes, xr, yr, 120);
  cairo_save(cr);
  f.clip();
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
    set_colour(cr, static_cast<size_t>(cls[i]), 0.7);
    cairo_arc(cr, f.x(x[i]), f.y(y[i]), 2.5, 0, 2 * M_PI);
    cairo_fill(cr);
  }
  cairo_restore(cr);
  legend(cr, axes.width - 8, f.top(), class_names, /*lines=*/false);
  canvas.save(path);
}

}  // namespace vae::plot
