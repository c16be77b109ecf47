// live_run.h — the inspector's live runs: a prompt (plus an optional image / audio clip) through the towers and the
// text decoder with every probe recorded, turned into a Recording; and the PLE ablation rerun. It runs on a worker
// thread (LiveRunner) so the UI stays responsive. Only one forward pass of the prompt: no generation loop (the CLI's
// `gemma4 run` generates); the OpenCL backend is kernels/cl_backend.h, chosen by name.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "checkpoint.h"
#include "recording.h"
#include "text_model.h"
#include "tokenizer.h"

namespace gemma4::viz {

// What the user asked for.
struct RunRequest {
    std::string model = "tiny-e2b";  // directory or bundled name
    std::string prompt;              // "" with golden_tokens_from: the golden's own input
    std::string image_path, audio_path;
    std::string backend = "ref";     // ref | blas | opencl
    // When set (and prompt is empty), the decoder input is this golden's meta.tokens with its soft tokens, so the run
    // is comparable with the golden probe by probe.
    std::string golden_tokens_from;
    std::vector<int> ple_ablated_layers;  // PLE contributions switched off (the ablation rerun)
    bool ablation_only = false;            // rerun the previous input and return only the last-token probabilities
    bool as_reference = false;             // the result becomes the comparison run (carried through to RunResult)
};

struct RunResult {
    std::shared_ptr<Recording> recording;  // nullptr for ablation_only runs and on errors
    std::vector<uint8_t> image_rgb;        // the input image (RGB8), when the run had one
    int image_width = 0, image_height = 0;
    std::vector<float> last_probs;         // softmax of the last token's logits
    std::string error;                     // "" on success
    double seconds = 0;
    bool ablation_only = false;
    bool as_reference = false;
};

// softmax of the last row of text.logits [T, V] of a recording (empty without logits).
std::vector<float> last_token_probs(const Recording& r);
std::vector<float> softmax_copy(const float* logits, int n);

// Labels for token ids: tokenizer pieces ("▁" shown as "_"), "<img>" / "<aud>" for soft-token placeholders.
std::vector<std::string> token_labels_for(const ModelConfig& cfg, const Tokenizer* tok, const std::vector<int64_t>& ids);

// Runs requests one at a time on a worker thread; keeps the last checkpoint and decoder input (for the ablation rerun).
class LiveRunner {
public:
    ~LiveRunner();
    // Starts a run; false when one is already running.
    bool start(const RunRequest& request);
    bool busy() const { return busy_.load(); }
    // The finished result, once (then nullptr until the next run finishes).
    std::unique_ptr<RunResult> take_result();
    std::string stage() const;  // what the running job is doing, for the progress text
    // Runs a request on the calling thread (screenshot mode, benchmarks).
    RunResult run_now(const RunRequest& request);

private:
    RunResult execute(const RunRequest& request);
    void set_stage(const std::string& s);

    std::thread worker_;
    std::atomic<bool> busy_{false};
    mutable std::mutex mutex_;
    std::unique_ptr<RunResult> result_;
    std::string stage_;
    // state kept between runs (touched only by the running job)
    std::string model_key_;
    std::unique_ptr<Checkpoint> checkpoint_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<Backend> cl_backend_;  // created on first use
    TextInput last_input_;
    std::string last_backend_;
};

}  // namespace gemma4::viz
