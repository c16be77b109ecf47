// generate.h — turning logits into tokens: greedy or temperature / top-k / top-p sampling, and the prefill-then-
// decode loop with the KV cache. Chat formatting is chat.h; printing and timing is the CLI's job.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "text_model.h"

namespace gemma4 {

struct SamplingOptions {
    float temperature = 0.0f;  // 0 = greedy (argmax; ties to the lower id)
    int top_k = 0;             // 0 = no limit
    float top_p = 1.0f;        // nucleus sampling; 1 = no limit
    uint64_t seed = 0;
};

// Picks the next token from one row of logits [V].
int32_t sample_token(const float* logits, int V, const SamplingOptions& opts, std::mt19937_64& rng);

struct GenerateStats {
    int prompt_tokens = 0;
    int generated_tokens = 0;
    double prefill_seconds = 0;
    double decode_seconds = 0;
    bool stopped_at_eos = false;
};

// Prefills `prompt` (one forward over all of it), then decodes one token at a time until max_new_tokens, a stop id,
// or on_token returning false. on_token receives each new id as soon as it is chosen (for streaming).
GenerateStats generate(TextModel& model, KvCache& cache, const TextInput& prompt, int max_new_tokens,
                       const std::vector<int32_t>& stop_ids, const SamplingOptions& sampling, const ForwardOptions& forward,
                       const std::function<bool(int32_t)>& on_token);

}  // namespace gemma4
