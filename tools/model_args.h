// model_args.h — what the model-running subcommands (run, trace, check) share: the backend flag, token lists, and
// turning -p / --tokens / --raw into the ids the model sees.
#pragma once

#include <chrono>
#include <memory>
#include <cstdint>
#include <string>
#include <vector>

#include "backend.h"
#include "checkpoint.h"
#include "cli.h"
#include "ops.h"
#include "text_model.h"
#include "tokenizer.h"

namespace gemma4::cli {

// The backend options every model-running command takes: --backend ref|blas|opencl, --cl-device N,
// --strict-device. `default_name` is the command's default backend.
std::vector<Option> backend_options(const std::string& default_name);
// The backend they name (errors list the choices; opencl without an OpenCL build or device says so).
std::unique_ptr<Backend> make_backend(const Args& args, const std::string& default_name);

// "2,45, 7" → {2, 45, 7}; errors name the offending entry.
std::vector<int32_t> parse_token_list(const std::string& text);

// The prompt's ids: --tokens as given; or -p TEXT as one user turn of the Gemma 4 chat format ending with the model's
// turn (the template writes <bos>); or with --raw, -p as it is with <bos> (unless --no-bos). *prompt_text receives
// the text the tokenizer saw.
// --random-tokens N: bos_id then N-1 ids from a fixed sequence below vocab_size (for checkpoints without a tokenizer).
std::vector<int32_t> prompt_ids(const Args& args, const std::string& model_dir, const Tokenizer* tokenizer, int32_t bos_id,
                                int vocab_size, std::string* prompt_text);

// The options above, for each command's option table.
std::vector<Option> prompt_options();

// -p's text; Error if it is not valid UTF-8 (a terminal in another encoding, a broken file piped in).
std::string prompt_arg(const Args& args);
// Error naming tokenizer.json when it lacks the chat format's turn tokens (a tokenizer of another model).
void require_chat_tokens(const Tokenizer& tokenizer);

// Errors when the prompt, or the prompt and `new_tokens` generated after it, would not fit in the model's context
// (text_config.max_position_embeddings): positions beyond it were never trained. Call it before the model runs.
void check_context(const ModelConfig& cfg, int64_t prompt_tokens, int64_t new_tokens);

// The tower-timing options of image-info / audio-info: --time, --repeat N, and the backend options.
struct TowerTiming {
    bool enabled = false;
    long long repeat = 1;
    std::unique_ptr<Backend> backend;
};
std::vector<Option> tower_timing_options();
// Validates them together (--time needs -m MODEL; --repeat and --backend need --time); `tower` names it in errors.
TowerTiming parse_tower_timing(const Args& args, const std::string& tower);
double seconds_since(std::chrono::steady_clock::time_point start);

// --image FILE (repeatable), --image-tokens N, --audio FILE (repeatable), --image-mask RULE.
std::vector<Option> media_options();

// The decoder input for a run / trace: prompt_ids() when no media is given; otherwise each image and clip through its
// tower, the prompt with one placeholder per item (images, then audio, then the text; in the chat format unless
// --raw) and the placeholders widened to the soft-token runs (media_input.cpp).
// The towers report their probes to `probes` (nullptr: nobody listens). The prompt plus `new_tokens` must fit the
// model's context (check_context); with media that is checked from the soft-token counts before any tower runs.
TextInput prompt_input(const Args& args, const Checkpoint& ck, const Tokenizer* tokenizer, Backend& backend, ProbeSink* probes,
                       std::string* prompt_text, int64_t new_tokens);

}  // namespace gemma4::cli
