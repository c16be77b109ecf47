// checkpoint.h — a model directory as the user points at it: resolves bundled names, reads config.json, maps the
// safetensors files and checks every tensor against the registry. The weights stay mapped and in their stored dtype;
// converting to float32 happens where a weight is used (safetensors.h).
#pragma once

#include <string>
#include <vector>

#include "config.h"
#include "registry.h"
#include "safetensors.h"

namespace gemma4 {

// "tiny-e2b" → <assets>/models/tiny-e2b (assets dir: $GEMMA4_ASSETS or the build-time GEMMA4_ASSETS_DIR); an existing
// directory is returned as given. Errors name what was looked for.
std::string resolve_model_dir(const std::string& name_or_dir);
std::vector<std::string> bundled_model_names();  // the directories present under <assets>/models
std::string assets_dir();
// The bundled model a command opens with no -m: the small trained demo (text only, King James Bible), so `gemma4 run`
// and the inspector show a model that writes words. With an image or audio input the default is kDefaultMediaModel,
// the tiny random model with both towers (the demo models have none).
inline constexpr const char* kDefaultModel = "demo-e2b-mini";
inline constexpr const char* kDefaultMediaModel = "tiny-e2b";

// The outcome of comparing a checkpoint with the registry. Missing and wrong-shape tensors make a model unusable;
// unexpected ones are only reported (transformers does the same), except the few it ignores on purpose.
struct WeightCheck {
    std::vector<std::string> missing;      // "name [shape]"
    std::vector<std::string> wrong_shape;  // "name: expected [..], file has [..] (file)"
    std::vector<std::string> bad_dtype;    // not F32 / F16 / BF16
    std::vector<std::string> unexpected;   // in the files, not in the registry
    std::vector<std::string> ignored;      // in the files, ignored as transformers does (KV-shared layers' k/v)
    int checked = 0;
    bool ok() const { return missing.empty() && wrong_shape.empty() && bad_dtype.empty(); }
    std::string describe_errors(const std::string& dir) const;  // every problem by name, one per line
};
WeightCheck check_weights(const ModelConfig& cfg, const WeightStore& store);

struct Checkpoint {
    std::string dir;
    ModelConfig config;
    WeightStore weights;
    WeightCheck check;

    // Reads config.json and the safetensors files of a directory (or bundled name) and validates every tensor.
    // Throws gemma4::Error listing *all* missing / wrong-shape / wrong-dtype tensors; unexpected tensors are printed
    // to stderr as a warning.
    static Checkpoint open(const std::string& name_or_dir);

    const TensorRef& tensor(const std::string& name) const;  // Error naming the tensor and directory if absent
};

}  // namespace gemma4
