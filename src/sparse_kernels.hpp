// The arithmetic of a dense layer whose input is mostly zeros (see
// src/sparse_input.hpp), torch-free so it can be compiled for vector units:
// see src/sparse_kernels.cpp. Shapes: B rows (images), D columns (pixels),
// O outputs; every matrix is row-major and contiguous.
#pragma once

#include <cstdint>

namespace vae::detail {

// A sparse matrix by lines (rows for CSR, columns for CSC): line l's entries
// are at [ptr[l], ptr[l + 1]), each an index along the other side and a value.
struct SparseLines {
  const int32_t* ptr;
  const int32_t* idx;
  const float* val;
};

// The nonzero entries of x [B, D] (a NaN counts as nonzero).
int64_t count_nonzero(const float* x, int64_t n);

// Writes x's rows (CSR): rptr [B + 1], and ridx, rval with count_nonzero(x)
// entries each, ascending along each row.
void sparse_rows(const float* x, int64_t b, int64_t d, int32_t* rptr, int32_t* ridx, float* rval);

// Writes the same entries by columns (CSC): cptr [D + 1], cidx (rows), cval,
// ascending along each column.
void sparse_columns(const SparseLines& rows, int64_t b, int64_t d, int32_t* cptr, int32_t* cidx, float* cval);

// out [cols, rows] = in [rows, cols] transposed; in's rows are ldi floats
// apart, out's ldo.
void transpose(const float* in, int64_t rows, int64_t cols, int64_t ldi, float* out, int64_t ldo);

// Outputs [o0, o1) of out [L, O] = init + s m: line l of out is init (or
// zeros where init is null) plus the sum, in ascending index order, of line
// l's values times the rows of m [*, O] they index, m's rows ldm floats
// apart (ldm >= O). With s = x's rows and m = the weight transposed [D, O],
// this is the layer's output (init = bias); with s = x's columns and m =
// the output gradient [B, O], the weight's gradient, transposed [D, O].
void sparse_times(const SparseLines& s, int64_t lines, const float* m, int64_t ldm, int64_t o, const float* init,
                  float* out, int64_t o0, int64_t o1);

// A row stride for an [*, o] matrix whose rows the loops above gather: o
// rounded up to 16 floats, and 16 more where that is a multiple of 128
// floats. Rows a power of two apart share the same cache sets, and
// gathering them thrashed the cache (measured: a 784 x 512 weight's
// products 1.3-1.5x slower than at 528).
int64_t gather_stride(int64_t o);

}  // namespace vae::detail
