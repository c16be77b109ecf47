// clippable.cpp — Gemma4ClippableLinear (clippable.h).
#include "clippable.h"

#include <algorithm>

#include "error.h"
#include "safetensors.h"

namespace gemma4 {

namespace {

float single_value(const Checkpoint& ck, const std::string& name) {
    const TensorRef& t = ck.tensor(name);
    if (t.numel() != 1) throw Error(t.file + ": " + name + " should hold one value (a 0-d clip bound), has " + std::to_string(t.numel()));
    return load_f32(t)[0];
}

}  // namespace

ClippableLinear bind_clippable_linear(const Checkpoint& ck, const std::string& base, bool clipped) {
    ClippableLinear cl;
    cl.w = weight_view(ck.tensor(base + ".linear.weight"));
    if (clipped) {
        cl.input_min = single_value(ck, base + ".input_min");
        cl.input_max = single_value(ck, base + ".input_max");
        cl.output_min = single_value(ck, base + ".output_min");
        cl.output_max = single_value(ck, base + ".output_max");
    }
    return cl;
}

void clippable_linear(float* out, const float* x, const ClippableLinear& cl, int T, std::vector<float>& linear_in, Backend& be) {
    const int64_t n_in = int64_t(T) * cl.w.cols;
    if (linear_in.size() != static_cast<size_t>(n_in)) {
        linear_in.resize(static_cast<size_t>(n_in));
        be.on_alloc(linear_in);
    }
    be.clamp(linear_in.data(), x, n_in, cl.input_min, cl.input_max);
    be.matmul(out, linear_in.data(), cl.w, T);
    be.clamp(out, out, int64_t(T) * cl.w.rows, cl.output_min, cl.output_max);
}

}  // namespace gemma4
