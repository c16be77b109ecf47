// compare.h — comparing two traces probe by probe: NMSE, max abs error, cosine, and the first probe (in execution
// order) over tolerance. NaN / Inf and shape mismatches are failures with a message. Used by `gemma4 check`, the
// golden tests and the inspector.
#pragma once

#include <string>
#include <tuple>
#include <vector>

#include "npz.h"

namespace gemma4 {

struct ProbeDiff {
    std::string name;
    std::vector<int64_t> shape;   // the reference's shape
    double nmse = 0;              // Σ(a−b)² / Σb²  (b = reference; Σ(a−b)² alone when b is all zero)
    double max_abs = 0;
    double cosine = 1;
    bool over = false;            // over tolerance, or a shape / NaN problem
    std::string problem;          // "", "shape (2, 3) vs (3, 2)", "NaN in candidate", ...
};

struct TraceDiff {
    std::vector<ProbeDiff> probes;        // probes present in both, in execution order
    std::vector<std::string> only_in_candidate, only_in_reference;
    int first_over = -1;                  // index into probes, -1 if none
    bool any_over() const { return first_over >= 0; }
};

// Compares every probe array present in both (meta.* entries are skipped). Execution order comes from the probe
// table (towers before the decoder, layer by layer, points in the order the forward pass reaches them), not from the
// order in the files.
TraceDiff compare_traces(const std::vector<NpyArray>& candidate, const std::vector<NpyArray>& reference, double nmse_tolerance);

// Sort key giving the execution order of a probe name; names outside the table sort last, alphabetically.
std::tuple<int, int, int, int, std::string> probe_order_key(const std::string& name);

ProbeDiff compare_arrays(const std::string& name, const std::vector<float>& a, const std::vector<int64_t>& a_shape,
                         const std::vector<float>& b, const std::vector<int64_t>& b_shape, double nmse_tolerance);

}  // namespace gemma4
