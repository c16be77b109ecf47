// compare.cpp — probe-by-probe trace comparison (compare.h).
#include "compare.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "probes.h"

namespace gemma4 {

std::tuple<int, int, int, int, std::string> probe_order_key(const std::string& name) {
    Probe p;
    int layer = -1;
    if (!parse_probe_name(name, &p, &layer)) return {9, 0, 0, 0, name};
    const ProbeInfo& info = probe_info(p);
    // The towers run before the text decoder, which consumes their soft tokens.
    const int tower = info.tower == "vision" ? 0 : info.tower == "audio" ? 1 : 2;
    // Within a tower: points before the layers, the layers, points after (by position in the table).
    int phase = 1;
    if (!info.per_layer) {
        phase = 0;
        for (const ProbeInfo& q : kProbeTable)
            if (q.tower == info.tower && q.per_layer && static_cast<int>(q.id) < static_cast<int>(p)) phase = 2;
    }
    return {tower, phase, layer, static_cast<int>(p), name};
}

ProbeDiff compare_arrays(const std::string& name, const std::vector<float>& a, const std::vector<int64_t>& a_shape,
                         const std::vector<float>& b, const std::vector<int64_t>& b_shape, double tol) {
    auto shape_str = [](const std::vector<int64_t>& s) {
        std::string out = "(";
        for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
        return out + (s.size() == 1 ? ",)" : ")");
    };
    ProbeDiff d;
    d.name = name;
    d.shape = b_shape;
    if (a_shape != b_shape) {
        d.over = true;
        d.problem = "shape " + shape_str(a_shape) + " vs reference " + shape_str(b_shape);
        return d;
    }
    double err = 0, ref = 0, dot = 0, na = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = a[i], y = b[i];
        if (!std::isfinite(x) && d.problem.empty()) d.problem = std::string(std::isnan(x) ? "NaN" : "Inf") + " in candidate at index " + std::to_string(i);
        if (!std::isfinite(y) && d.problem.empty()) d.problem = std::string(std::isnan(y) ? "NaN" : "Inf") + " in reference at index " + std::to_string(i);
        err += (x - y) * (x - y);
        ref += y * y;
        dot += x * y;
        na += x * x;
        d.max_abs = std::max(d.max_abs, std::fabs(x - y));
    }
    d.nmse = ref > 0 ? err / ref : err;
    d.cosine = (na > 0 && ref > 0) ? dot / std::sqrt(na * ref) : (na == 0 && ref == 0 ? 1.0 : 0.0);
    d.over = !d.problem.empty() || !(d.nmse <= tol);
    return d;
}

TraceDiff compare_traces(const std::vector<NpyArray>& candidate, const std::vector<NpyArray>& reference, double tol) {
    TraceDiff out;
    auto is_meta = [](const std::string& n) { return n.rfind("meta.", 0) == 0; };
    std::map<std::string, const NpyArray*> cand;
    for (const NpyArray& a : candidate)
        if (!is_meta(a.name)) cand[a.name] = &a;
    std::vector<const NpyArray*> refs;
    for (const NpyArray& b : reference) {
        if (is_meta(b.name)) continue;
        if (cand.count(b.name)) refs.push_back(&b);
        else out.only_in_reference.push_back(b.name);
    }
    std::set<std::string> ref_names;
    for (const NpyArray& b : reference) ref_names.insert(b.name);
    for (const auto& [name, arr] : cand)
        if (!ref_names.count(name)) out.only_in_candidate.push_back(name);
    std::sort(refs.begin(), refs.end(), [](const NpyArray* x, const NpyArray* y) { return probe_order_key(x->name) < probe_order_key(y->name); });
    for (const NpyArray* b : refs) {
        const NpyArray* a = cand[b->name];
        out.probes.push_back(compare_arrays(b->name, a->to_f32(), a->shape, b->to_f32(), b->shape, tol));
        if (out.probes.back().over && out.first_over < 0) out.first_over = static_cast<int>(out.probes.size()) - 1;
    }
    return out;
}

}  // namespace gemma4
