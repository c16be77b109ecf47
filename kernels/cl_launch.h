// cl_launch.h — the small helpers every host wrapper of kernels/*.cl uses to set arguments and enqueue (internal to
// kernels/; not part of the public cl_ops.h API).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "cl_runtime.h"
#include "error.h"

namespace gemma4::cl::launch {

// A __local argument of `bytes` bytes (clSetKernelArg with a size and no value).
struct LocalBytes {
    size_t bytes;
};

inline void set_arg(cl_kernel k, cl_uint index, const Buffer& b) {
    const cl_mem mem = b.mem();
    CL_CHECK(clSetKernelArg(k, index, sizeof mem, &mem));
}
inline void set_arg(cl_kernel k, cl_uint index, cl_int v) { CL_CHECK(clSetKernelArg(k, index, sizeof v, &v)); }
inline void set_arg(cl_kernel k, cl_uint index, cl_long v) { CL_CHECK(clSetKernelArg(k, index, sizeof v, &v)); }
inline void set_arg(cl_kernel k, cl_uint index, cl_float v) { CL_CHECK(clSetKernelArg(k, index, sizeof v, &v)); }
inline void set_arg(cl_kernel k, cl_uint index, LocalBytes v) { CL_CHECK(clSetKernelArg(k, index, v.bytes, nullptr)); }

// Sets every argument in order: set_args(k, out, x, n) is arguments 0, 1, 2.
template <typename... Args>
inline void set_args(cl_kernel k, const Args&... args) {
    cl_uint index = 0;
    (set_arg(k, index++, args), ...);
}

inline void run(ClContext& cl, cl_kernel k, cl_uint dims, const size_t* global, const size_t* local) {
    CL_CHECK(clEnqueueNDRangeKernel(cl.queue(), k, dims, nullptr, global, local, 0, nullptr, nullptr));
}

inline size_t bytes_of(int64_t n) { return static_cast<size_t>(n) * sizeof(float); }

// The group size of row reductions: 64 lanes (enough to cover a 256-wide row in four strides) or the device's
// maximum if lower, rounded down to a power of two for the tree reduction.
inline size_t reduction_group(const ClContext& cl) {
    size_t group = std::min<size_t>(64, std::max<size_t>(1, cl.info().max_work_group));
    size_t pow2 = 1;
    while (pow2 * 2 <= group) pow2 *= 2;
    return pow2;
}

inline void check_int_range(int64_t v, const char* what) {
    if (v < 0 || v > 0x7fffffff) throw Error(std::string("OpenCL op: ") + what + " = " + std::to_string(v) + " does not fit the kernels' int");
}

// One element-wise launch over n items (the kernels check i < n).
inline void run_1d(ClContext& cl, cl_kernel k, int64_t n) {
    const size_t global = static_cast<size_t>(n);
    run(cl, k, 1, &global, nullptr);
}


}  // namespace gemma4::cl::launch
