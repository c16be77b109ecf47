// checkpoint.cpp — opening a model directory and checking its tensors against the registry (checkpoint.h).
#include "checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "error.h"

namespace fs = std::filesystem;

namespace gemma4 {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

}  // namespace

std::string assets_dir() {
    if (const char* env = std::getenv("GEMMA4_ASSETS"); env != nullptr && *env != '\0') return env;
    return GEMMA4_ASSETS_DIR;
}

std::vector<std::string> bundled_model_names() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(fs::path(assets_dir()) / "models", ec))
        if (entry.is_directory() && fs::exists(entry.path() / "config.json")) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string resolve_model_dir(const std::string& name_or_dir) {
    if (name_or_dir.empty()) throw Error("no model given (use -m DIR or a bundled name such as demo-e2b-mini)");
    std::error_code ec;
    if (fs::is_directory(name_or_dir, ec)) return name_or_dir;
    if (fs::exists(name_or_dir, ec))
        throw Error(name_or_dir + ": is a file; a model is a directory holding config.json and *.safetensors");
    const bool looks_like_name = name_or_dir.find('/') == std::string::npos;
    if (looks_like_name) {
        fs::path bundled = fs::path(assets_dir()) / "models" / name_or_dir;
        if (fs::is_directory(bundled, ec)) return bundled.string();
    }
    std::string known;
    for (const std::string& n : bundled_model_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error(name_or_dir + ": no such directory" +
                (looks_like_name ? " and no bundled model of that name (bundled: " + (known.empty() ? "none found in " + assets_dir() + "/models" : known) + ")"
                                 : ""));
}

std::string WeightCheck::describe_errors(const std::string& dir) const {
    std::string s = dir + ": the checkpoint does not match its config.json (" + std::to_string(missing.size()) + " missing, " +
                    std::to_string(wrong_shape.size()) + " wrong shape, " + std::to_string(bad_dtype.size()) + " unsupported dtype)";
    auto list = [&](const char* what, const std::vector<std::string>& items) {
        for (const std::string& i : items) s += std::string("\n  ") + what + ": " + i;
    };
    list("missing", missing);
    list("wrong shape", wrong_shape);
    list("unsupported dtype", bad_dtype);
    return s;
}

WeightCheck check_weights(const ModelConfig& cfg, const WeightStore& store) {
    WeightCheck check;
    std::set<std::string> expected;
    for_each_tensor(cfg, [&](const TensorSpec& spec) {
        expected.insert(spec.name);
        ++check.checked;
        const TensorRef* t = store.find(spec.name);
        if (t == nullptr) {
            check.missing.push_back(spec.name + " " + shape_str(spec.shape));
            return;
        }
        if (t->shape != spec.shape)
            check.wrong_shape.push_back(spec.name + ": expected " + shape_str(spec.shape) + ", file has " + shape_str(t->shape) +
                                        " (" + t->file + ")");
        if (t->dtype != DType::F32 && t->dtype != DType::BF16 && t->dtype != DType::F16)
            check.bad_dtype.push_back(spec.name + ": " + dtype_name(t->dtype) + " (" + t->file + "); expected F32, BF16 or F16");
    });
    for (const TensorRef* t : store.tensors()) {
        if (expected.count(t->name)) continue;
        if (is_ignored_on_load(cfg, t->name)) check.ignored.push_back(t->name);
        else check.unexpected.push_back(t->name + " " + shape_str(t->shape) + " (" + t->file + ")");
    }
    return check;
}

Checkpoint Checkpoint::open(const std::string& name_or_dir) {
    const std::string dir = resolve_model_dir(name_or_dir);
    const fs::path config_path = fs::path(dir) / "config.json";
    std::error_code ec;
    if (!fs::exists(config_path, ec)) throw Error(dir + ": no config.json (is this a Hugging Face checkpoint directory?)");
    if (fs::is_directory(config_path, ec)) throw Error(config_path.string() + ": is a directory, expected a file");
    ModelConfig config = load_config(config_path.string());
    config.name = fs::path(dir).filename().string();
    if (config.name.empty()) config.name = fs::path(dir).parent_path().filename().string();
    WeightStore weights = WeightStore::open_dir(dir);
    WeightCheck check = check_weights(config, weights);
    if (!check.ok()) {
        std::string files;  // a missing tensor is in none of them: say which were read
        for (const std::string& f : weights.files()) files += (files.empty() ? "" : ", ") + fs::path(f).filename().string();
        throw Error(check.describe_errors(dir) + "\n  weights read from: " + files);
    }
    if (!check.unexpected.empty()) {
        std::fprintf(stderr, "warning: %s: %zu tensor(s) not used by this model (transformers ignores them too):\n", dir.c_str(),
                     check.unexpected.size());
        for (const std::string& u : check.unexpected) std::fprintf(stderr, "  %s\n", u.c_str());
    }
    return Checkpoint{dir, std::move(config), std::move(weights), std::move(check)};
}

const TensorRef& Checkpoint::tensor(const std::string& name) const {
    const TensorRef* t = weights.find(name);
    if (t == nullptr) throw Error(dir + ": tensor " + name + " not found");
    return *t;
}

}  // namespace gemma4
