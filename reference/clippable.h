// clippable.h — Gemma4ClippableLinear, shared by the vision and audio towers: a bias-free linear whose input and output
// are clamped to bounds stored in the checkpoint as 0-d buffers (`<name>.input_min` ...; the weight sits at
// `<name>.linear.weight`). Without clipping the bounds stay ±inf and it is a plain linear.
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "backend.h"

namespace gemma4 {

struct ClippableLinear {
    WeightView w;
    float input_min = -INFINITY, input_max = INFINITY, output_min = -INFINITY, output_max = INFINITY;
};

// Binds <base>.linear.weight and, when clipped, the four bounds (Error if one is missing or not a single value).
ClippableLinear bind_clippable_linear(const Checkpoint& ck, const std::string& base, bool clipped);

// Gemma4ClippableLinear.forward: clamp the input, Linear (no bias), clamp the output. out[T, rows] = x[T, cols];
// linear_in is scratch for the clamped input.
void clippable_linear(float* out, const float* x, const ClippableLinear& cl, int T, std::vector<float>& linear_in, Backend& be);

}  // namespace gemma4
