// fuzz_image.cpp — libFuzzer target for image files and their preprocessing: load_image (stb_image's decoders for
// PNG / JPEG / BMP / GIF / TGA / PSD / PNM, the pixel limit, alpha onto white), then preprocess_image (the
// aspect-preserving plan, the antialiased bicubic resize, patchify), and plan_image at every budget on the two 32-bit
// numbers the file starts with taken as height and width (arithmetic on hostile sizes).
// Speed: preprocessing uses the two smallest budgets (70 or 140 by input size; the larger ones run the same code on
// more pixels), and images above 4 megapixels are decoded but not preprocessed — their resize is legitimately slower
// under the sanitizers than the fuzzer's timeout, and it is the same code as for a small image.
// Input: the file. Seeds: tests/fuzz/corpus/image/ (small PNG, JPEG, BMP, GIF, PNM). Run with tools/fuzz.sh image.
#include <cstring>

#include "fuzz_util.h"
#include "image.h"

using namespace gemma4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const VisionConfig vision{};
    const int budget = kImageBudgets[size % 2];
    for (int plan_budget : kImageBudgets) {
        if (size < 8) break;
        int32_t hw[2];
        std::memcpy(hw, data, sizeof hw);
        try {
            const ImagePlan plan = plan_image(hw[0], hw[1], plan_budget, vision);
            if (plan.soft_tokens > plan_budget || plan.resized_height <= 0 || plan.resized_width <= 0)
                fuzz::violated("plan_image(" + std::to_string(hw[0]) + ", " + std::to_string(hw[1]) + ", " +
                               std::to_string(plan_budget) + ") gave " + std::to_string(plan.resized_height) + "x" +
                               std::to_string(plan.resized_width) + ", " + std::to_string(plan.soft_tokens) + " tokens");
        } catch (const Error& e) {
            fuzz::check_message(e);
        }
    }
    const std::string path = fuzz::write_input("image", data, size);
    try {
        const Image img = load_image(path);
        if (img.width <= 0 || img.height <= 0 || img.rgb.size() != size_t(img.width) * size_t(img.height) * 3)
            fuzz::violated("load_image returned a " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                           " image with " + std::to_string(img.rgb.size()) + " bytes");
        if (int64_t(img.width) * img.height > 4'000'000) return 0;
        const PatchedImage patched = preprocess_image(img, budget, vision);
        if (patched.plan.soft_tokens > budget) fuzz::violated("more soft tokens than the budget");
        if (patched.patches.size() != size_t(patched.num_patches()) * size_t(vision.patch_dim()))
            fuzz::violated("patch buffer size does not match the patch count");
        if (img.width % 48 == 0 && img.height % 48 == 0) (void)patchify_image(img, vision);
    } catch (const Error& e) {
        fuzz::check_message(e);
    }
    return 0;
}
