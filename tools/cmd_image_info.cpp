// cmd_image_info.cpp — `gemma4 image-info --image F`: what the vision path makes of an image file at a soft-token
// budget (original size, resized size, patch grid, soft tokens) and, with -m MODEL --time, how long the model's vision
// tower takes to encode it. Loading and preprocessing are reference/image.*, the encoder reference/vision.*.
#include <chrono>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "cli.h"
#include "error.h"
#include "image.h"
#include "model_args.h"
#include "vision.h"

namespace gemma4::cli {

int cmd_image_info(int argc, char** argv) {
    std::vector<Option> options = {
        {"--image", "", "FILE", "image file (PNG, JPEG, BMP, GIF, ... anything stb_image reads)"},
        {"--image-tokens", "", "B", "soft-token budget: 70, 140, 280, 560 or 1120 (default: the model's, else 280)"},
        {"--model", "-m", "MODEL", "take the vision config and default budget from this checkpoint (needed for --time)"},
        {"--json", "", "", "print JSON instead of text"},
        {"--help", "-h", "", "show this help"},
    };
    const std::vector<Option> timing_options = tower_timing_options();
    options.insert(options.end() - 2, timing_options.begin(), timing_options.end());  // before --json and --help
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 image-info --image FILE [--image-tokens B] [-m MODEL [--time [--repeat N] [--backend ref|blas|opencl]]] [--json]",
                                "Loads an image as the vision path does and prints its original size, the size it is resized to\n"
                                "for the soft-token budget (aspect ratio kept, sides multiples of 48), the 16-pixel patch grid and\n"
                                "the number of <|image|> soft tokens (one per 3x3 block of patches). Without -m the released vision\n"
                                "config is used (patch 16, pooling 3). With -m MODEL --time it also runs the vision tower and times it.",
                                options)
                              .c_str());
        return 0;
    }
    if (!args.has("--image")) throw Error("--image FILE is required (see --help)");
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional()[0] + "'");
    const TowerTiming tower_timing = parse_tower_timing(args, "a vision tower");
    const bool timing = tower_timing.enabled;
    const long long repeat = tower_timing.repeat;

    // The vision config and default budget: the model's when given, else the released defaults.
    std::string model_dir;
    VisionConfig vcfg;
    if (args.has("--model")) {
        model_dir = resolve_model_dir(args.get("--model"));
        const ModelConfig cfg = load_config(model_dir + "/config.json");
        if (!cfg.vision) throw Error(model_dir + ": this model has no vision tower (config.json has no vision_config)");
        vcfg = *cfg.vision;
    }
    const long long budget_arg = args.get_int("--image-tokens", model_dir.empty() ? kDefaultImageBudget : default_image_budget(model_dir));
    const int budget = static_cast<int>(budget_arg);
    if (budget != budget_arg) throw Error("--image-tokens must be one of 70, 140, 280, 560, 1120, got " + args.get("--image-tokens"));

    const std::string path = args.get("--image");
    auto t0 = std::chrono::steady_clock::now();
    const Image img = load_image(path);
    const double load_s = seconds_since(t0);
    const ImagePlan plan = plan_image(img.height, img.width, budget, vcfg);
    t0 = std::chrono::steady_clock::now();
    const PatchedImage patched = preprocess_image(img, budget, vcfg);
    const double preprocess_s = seconds_since(t0);
    const int k = vcfg.pooling_kernel_size;

    nlohmann::json j;
    j["file"] = path;
    j["original_height"] = img.height;
    j["original_width"] = img.width;
    j["budget"] = budget;
    j["resized_height"] = plan.resized_height;
    j["resized_width"] = plan.resized_width;
    j["resized"] = plan.resized_height != img.height || plan.resized_width != img.width;
    j["patch_size"] = vcfg.patch_size;
    j["patch_rows"] = plan.patch_rows;
    j["patch_cols"] = plan.patch_cols;
    j["patches"] = plan.patch_rows * plan.patch_cols;
    j["pooled_rows"] = plan.patch_rows / k;
    j["pooled_cols"] = plan.patch_cols / k;
    j["soft_tokens"] = plan.soft_tokens;
    j["load_s"] = load_s;
    j["preprocess_s"] = preprocess_s;

    if (timing) {
        Checkpoint ck = Checkpoint::open(model_dir);
        VisionTower tower(ck);
        double best = 0;
        size_t rows = 0;
        for (long long r = 0; r < repeat; ++r) {
            t0 = std::chrono::steady_clock::now();
            std::vector<float> soft = tower.encode(patched, nullptr, *tower_timing.backend);
            const double s = seconds_since(t0);
            if (r == 0 || s < best) best = s;
            rows = soft.size() / static_cast<size_t>(tower.text_hidden());
        }
        j["model"] = ck.dir;
        j["backend"] = tower_timing.backend->name();
        j["vision_layers"] = vcfg.num_hidden_layers;
        j["vision_width"] = vcfg.hidden_size;
        j["encoded_soft_tokens"] = rows;
        j["encode_s"] = best;
        j["repeat"] = repeat;
    }

    if (args.has("--json")) {
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("%s\n", path.c_str());
    std::printf("  original        %d x %d (width x height)\n", img.width, img.height);
    std::printf("  budget          %d soft tokens%s\n", budget, args.has("--image-tokens") ? "" : (model_dir.empty() ? " (default)" : " (the model's default)"));
    std::printf("  resized         %d x %d%s\n", plan.resized_width, plan.resized_height, j["resized"].get<bool>() ? "" : " (unchanged)");
    std::printf("  patch grid      %d rows x %d cols = %d patches of %dx%d pixels\n", plan.patch_rows, plan.patch_cols,
                plan.patch_rows * plan.patch_cols, vcfg.patch_size, vcfg.patch_size);
    std::printf("  soft tokens     %d  (%d x %d pooled cells of %dx%d patches)\n", plan.soft_tokens, plan.patch_rows / k, plan.patch_cols / k, k, k);
    std::printf("  load %.3f s, resize + patchify %.3f s\n", load_s, preprocess_s);
    if (timing)
        std::printf("  encode          %.3f s on %s (%d layers, width %d, backend %s, best of %lld)\n", j["encode_s"].get<double>(),
                    j["model"].get<std::string>().c_str(), vcfg.num_hidden_layers, vcfg.hidden_size, j["backend"].get<std::string>().c_str(), repeat);
    return 0;
}

}  // namespace gemma4::cli
