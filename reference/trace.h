// trace.h — a run saved as a .npz (design §5): one float32 array per recorded probe, named by the probe table, plus
// meta entries (model, config hash, prompt, token ids, backend, tool version). numpy opens it with no extra package;
// the golden traces of tools/make_goldens.py have the same layout. The zip and .npy details are in npz.h.
#pragma once

#include <string>
#include <vector>

#include "npz.h"
#include "probes.h"
#include "text_model.h"

namespace gemma4 {

struct TraceMeta {
    std::string model;
    std::string config_hash;   // sha256 of config.json, hex
    std::string prompt;        // "" when ids were given directly
    std::vector<int64_t> tokens;
    std::string backend;       // "ref", "blas", "opencl", "transformers"
    std::string tool_version;  // "gemma4-ref 0.1.0"
};

// Writes probes (in arrival order) and meta to path (via a temporary file renamed at the end).
void write_trace(const std::string& path, const std::vector<RecordingSink::Entry>& probes, const TraceMeta& meta);

// Recorded probes as in-memory npz arrays (float32), to compare with a trace read from disk without writing one.
std::vector<NpyArray> to_arrays(const std::vector<RecordingSink::Entry>& probes);

// One forward pass of the text decoder over `input` with the probes matching `globs` recorded, as arrays.
std::vector<NpyArray> trace_forward(const Checkpoint& ck, const TextInput& input, const std::vector<std::string>& globs,
                                    ForwardOptions opts);

// The decoder input a golden was made with: its meta.tokens, with its own vision.soft_tokens / audio.soft_tokens (if
// any) at the image / audio placeholder positions, so the decoder can be compared without running the towers.
TextInput golden_text_input(const ModelConfig& cfg, const std::vector<NpyArray>& golden, const std::string& path_for_errors);

// Meta entries of a trace read with read_npz; absent entries stay empty. Errors name the file for malformed meta.
TraceMeta trace_meta(const std::vector<NpyArray>& arrays, const std::string& path_for_errors);

// Hex sha256 of a file's bytes (OpenSSL's libcrypto).
std::string sha256_file_hex(const std::string& path);

inline constexpr const char* kToolVersion = "gemma4-ref 0.1.0";

}  // namespace gemma4
