// generate.cpp — sampling and the generation loop (generate.h).
#include "generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

namespace gemma4 {

int32_t sample_token(const float* logits, int V, const SamplingOptions& opts, std::mt19937_64& rng) {
    if (opts.temperature <= 0.0f) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
    // Candidates sorted by logit, cut by top-k, softmax at the temperature, cut by top-p, then one draw.
    std::vector<int32_t> ids(static_cast<size_t>(V));
    std::iota(ids.begin(), ids.end(), 0);
    const int k = opts.top_k > 0 ? std::min(opts.top_k, V) : V;
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    ids.resize(k);
    std::vector<double> p(static_cast<size_t>(k));
    const double top = logits[ids[0]];
    double sum = 0;
    for (int i = 0; i < k; ++i) sum += p[i] = std::exp((logits[ids[i]] - top) / opts.temperature);
    int keep = k;
    if (opts.top_p < 1.0f) {
        double acc = 0;
        for (int i = 0; i < k; ++i) {
            acc += p[i] / sum;
            if (acc >= opts.top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    std::discrete_distribution<int> pick(p.begin(), p.begin() + keep);
    return ids[pick(rng)];
}

GenerateStats generate(TextModel& model, KvCache& cache, const TextInput& prompt, int max_new_tokens,
                       const std::vector<int32_t>& stop_ids, const SamplingOptions& sampling, const ForwardOptions& forward,
                       const std::function<bool(int32_t)>& on_token) {
    using clock = std::chrono::steady_clock;
    GenerateStats stats;
    stats.prompt_tokens = static_cast<int>(prompt.tokens.size());
    std::mt19937_64 rng(sampling.seed);
    ForwardOptions last_only = forward;
    last_only.all_logits = false;
    const int V = model.config().vocab_size;
    std::vector<float> logits;

    auto t0 = clock::now();
    model.forward(prompt, cache, logits, last_only);
    stats.prefill_seconds = std::chrono::duration<double>(clock::now() - t0).count();

    auto t1 = clock::now();
    for (int i = 0; i < max_new_tokens; ++i) {
        const int32_t next = sample_token(logits.data(), V, sampling, rng);
        ++stats.generated_tokens;
        const bool keep_going = on_token(next);
        if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) {
            stats.stopped_at_eos = true;
            break;
        }
        if (!keep_going || i + 1 == max_new_tokens) break;
        TextInput step;
        step.tokens = {next};
        model.forward(step, cache, logits, last_only);
    }
    stats.decode_seconds = std::chrono::duration<double>(clock::now() - t1).count();
    return stats;
}

}  // namespace gemma4
