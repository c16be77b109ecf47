// image.h — an image file as the vision tower sees it: decode (stb_image), RGB conversion as transformers does it, the
// aspect-preserving resize to a soft-token budget (Gemma4ImageProcessor, torchvision backend), rescale to [0, 1] and
// patchify. The tower itself is vision.h. Source: transformers 5.23 image_processing_gemma4.py and
// image_processing_backends.py; torchvision's resize of uint8 images; spec gemma4-vision-audio.md §1.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace gemma4 {

// Decoded pixels, row-major HWC, 3 channels (R, G, B), 8 bits each.
struct Image {
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;
};

inline constexpr int64_t kMaxImagePixels = 100'000'000;  // refuse larger images before allocating (a hostile header)

// Reads PNG / JPEG / BMP / GIF (first frame) / TGA / PSD / PNM with stb_image. Transparency is composited onto white,
// exactly as transformers' convert_to_rgb does for a PIL image with alpha (PIL alpha_composite on an opaque white
// background, 7-bit fixed point); grey is replicated to R, G, B. Errors name the file and the problem: missing,
// unreadable, not an image, truncated / corrupt, zero-size, larger than kMaxImagePixels.
// JPEG note: stb_image's IDCT and chroma upsampling are not libjpeg's, so a JPEG decodes within a few levels of
// what PIL gives; PNG / BMP are bit-exact.
Image load_image(const std::string& path);

// The budgets Gemma4ImageProcessor accepts (_SUPPORTED_SOFT_TOKENS).
inline constexpr int kImageBudgets[] = {70, 140, 280, 560, 1120};
inline constexpr int kDefaultImageBudget = 280;

// What the processor does with an image of height × width at a soft-token budget.
struct ImagePlan {
    int budget = 0;                            // max_soft_tokens (0: patchified as is, no resize)
    int resized_height = 0, resized_width = 0; // multiples of pooling·patch (48)
    int patch_rows = 0, patch_cols = 0;        // resized / patch_size
    int soft_tokens = 0;                       // (patch_rows / k)·(patch_cols / k) ≤ budget
};

// get_aspect_ratio_preserving_size (image_processing_gemma4.py) exactly, including the branch where one side rounds
// down to 0 cells and the ValueError cases (both sides 0; more patches than the budget). Error for a budget that is
// not one of kImageBudgets, or a non-positive size.
ImagePlan plan_image(int height, int width, int budget, const VisionConfig& v);

// The image soft-token budget a checkpoint directory asks for: processor_config.json's image_processor.max_soft_tokens
// (Gemma4Processor reads it from there), else preprocessor_config.json's max_soft_tokens (an image processor saved on
// its own), else kDefaultImageBudget. Error if the file exists but the value is not a supported budget.
int default_image_budget(const std::string& model_dir);

// The model's input for one image: patches in [0, 1] and their grid positions. No padding rows (transformers pads to
// budget·k² patches and masks them; only the real patches matter).
struct PatchedImage {
    ImagePlan plan;
    std::vector<float> patches;          // [N, 3·p·p], row-major over the grid; element (py·p + px)·3 + ch
    std::vector<int32_t> pos_x, pos_y;   // [N] column and row of each patch
    int num_patches() const { return static_cast<int>(pos_x.size()); }
};

// Resize (when the plan's size differs from the image's) with resize_bicubic_aa, rescale by 1/255, patchify.
PatchedImage preprocess_image(const Image& img, int budget, const VisionConfig& v);

// Rescale and patchify without resizing (the processor with do_resize=False). Error unless both sides are multiples
// of pooling·patch. plan.budget is 0 and plan.soft_tokens the pooled cell count.
PatchedImage patchify_image(const Image& img, const VisionConfig& v);

// torchvision resize(uint8 image, [out_h, out_w], BICUBIC, antialias=True) on the CPU, which runs PyTorch's separable
// antialiased kernel (the same arithmetic as Pillow's ImagingResample): per axis, Keys cubic a = −0.5 with its support
// widened by the downscale factor, weights normalised, quantised to int16 fixed point; width pass first, rounded to
// uint8, then the height pass. An axis whose size does not change is skipped.
Image resize_bicubic_aa(const Image& img, int out_height, int out_width);

}  // namespace gemma4
