// image.cpp — image files to vision-tower input (image.h): stb_image decoding, transformers' RGB conversion, the
// Gemma4ImageProcessor size rule, torchvision's antialiased bicubic resize of uint8 images, rescale and patchify.
// Plain loops throughout: an image is resized once per prompt, so this is not on any hot path.
#include "image.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "error.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR
#define STBI_NO_LINEAR
#define STBI_FAILURE_USERMSG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace gemma4 {

namespace {

// PIL Image.alpha_composite(opaque white, src) for one channel value (libImaging/AlphaComposite.c, PRECISION_BITS 7,
// destination alpha 255): what transformers' convert_to_rgb does to an image with transparency.
uint8_t composite_on_white(uint32_t c, uint32_t a) {
    constexpr uint32_t kPrecisionBits = 7;
    const uint32_t blend = 255u * (255u - a);
    const uint32_t outa255 = a * 255u + blend;
    const uint32_t coef1 = a * 255u * 255u * (1u << kPrecisionBits) / outa255;
    const uint32_t coef2 = 255u * (1u << kPrecisionBits) - coef1;
    const uint32_t tmp = c * coef1 + 255u * coef2 + (0x80u << kPrecisionBits);
    return static_cast<uint8_t>((((tmp >> 8) + tmp) >> 8) >> kPrecisionBits);  // SHIFTFORDIV255, then drop precision
}

// Keys' cubic convolution kernel with a = −0.5, as PyTorch's antialiased bicubic (HelperInterpCubic::aa_filter).
double cubic_aa_filter(double x) {
    constexpr double a = -0.5;
    x = std::abs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a;
    return 0.0;
}

// The taps of one axis: for output i, input xmin[i] … xmin[i] + xsize[i] − 1 with int16 weights w[i·max_taps + j] in
// fixed point with `precision` fractional bits. PyTorch UpSampleKernel.cpp: _compute_indices_min_size_weights_aa (in
// double) then compute_index_ranges_int16_weights; Pillow's ImagingResample computes the same.
struct AxisTaps {
    int max_taps = 0;
    int precision = 0;
    std::vector<int> xmin, xsize;
    std::vector<int16_t> w;
};

AxisTaps bicubic_aa_taps(int in_size, int out_size) {
    AxisTaps t;
    const double scale = double(in_size) / double(out_size);           // area_pixel_compute_scale, align_corners=False
    const double support = scale >= 1.0 ? 2.0 * scale : 2.0;            // interp_size 4 · 0.5, widened when shrinking
    const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
    t.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
    t.xmin.resize(out_size);
    t.xsize.resize(out_size);
    std::vector<double> wf(static_cast<size_t>(out_size) * t.max_taps, 0.0);
    double wt_max = 0.0;
    for (int i = 0; i < out_size; ++i) {
        const double center = scale * (i + 0.5);
        const int64_t xmin = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
        const int64_t xsize = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size) - xmin;
        double* w = &wf[static_cast<size_t>(i) * t.max_taps];
        double total = 0.0;
        for (int64_t j = 0; j < xsize; ++j) {
            w[j] = cubic_aa_filter((double(j + xmin) - center + 0.5) * invscale);
            total += w[j];
        }
        if (total != 0.0)
            for (int64_t j = 0; j < xsize; ++j) {
                w[j] /= total;
                wt_max = std::max(wt_max, w[j]);
            }
        t.xmin[i] = static_cast<int>(xmin);
        t.xsize[i] = static_cast<int>(xsize);
    }
    // The largest precision at which the biggest weight still fits an int16 (two bits of headroom as in Pillow).
    for (t.precision = 0; t.precision < 22; ++t.precision) {
        const int next_value = static_cast<int>(0.5 + wt_max * double(1 << (t.precision + 1)));
        if (next_value >= (1 << 15)) break;
    }
    t.w.resize(wf.size());
    for (size_t k = 0; k < wf.size(); ++k) {
        const double v = wf[k] * double(1 << t.precision);
        t.w[k] = static_cast<int16_t>(v < 0 ? static_cast<int>(-0.5 + v) : static_cast<int>(0.5 + v));
    }
    return t;
}

// One axis of the separable resize on uint8 HWC data: out[o] = clip((½ + Σ in[xmin + j]·w[j]) >> precision).
// `along_width` picks the axis; the other one keeps its size.
Image resample_axis(const Image& src, int out_len, bool along_width) {
    const int in_len = along_width ? src.width : src.height;
    const AxisTaps t = bicubic_aa_taps(in_len, out_len);
    Image dst;
    dst.width = along_width ? out_len : src.width;
    dst.height = along_width ? src.height : out_len;
    dst.rgb.resize(static_cast<size_t>(dst.width) * dst.height * 3);
    const int64_t step = along_width ? 3 : int64_t(src.width) * 3;  // distance between neighbouring taps in src
    const int32_t half = 1 << (t.precision - 1);
#pragma omp parallel for
    for (int y = 0; y < dst.height; ++y)
        for (int x = 0; x < dst.width; ++x) {
            const int o = along_width ? x : y;
            const int16_t* w = &t.w[static_cast<size_t>(o) * t.max_taps];
            const int64_t base = along_width ? (int64_t(y) * src.width + t.xmin[o]) * 3 : (int64_t(t.xmin[o]) * src.width + x) * 3;
            for (int ch = 0; ch < 3; ++ch) {
                int32_t acc = half;
                for (int j = 0; j < t.xsize[o]; ++j) acc += int32_t(src.rgb[static_cast<size_t>(base + j * step + ch)]) * w[j];
                acc >>= t.precision;
                dst.rgb[(static_cast<size_t>(y) * dst.width + x) * 3 + ch] = static_cast<uint8_t>(std::clamp(acc, 0, 255));
            }
        }
    return dst;
}

bool is_supported_budget(int budget) {
    return std::find(std::begin(kImageBudgets), std::end(kImageBudgets), budget) != std::end(kImageBudgets);
}

std::string budget_list() { return "70, 140, 280, 560, 1120"; }

// The size a PNG's IHDR declares (big-endian width and height after the 8-byte signature and the chunk's length and
// type), for the message when stb_image refuses a size too large for its own int arithmetic. False if not a PNG.
bool png_declared_size(FILE* f, uint32_t* width, uint32_t* height) {
    unsigned char head[24];
    std::fseek(f, 0, SEEK_SET);
    if (std::fread(head, 1, sizeof head, f) != sizeof head) return false;
    if (std::memcmp(head, "\x89PNG\r\n\x1a\n", 8) != 0 || std::memcmp(head + 12, "IHDR", 4) != 0) return false;
    *width = (uint32_t(head[16]) << 24) | (uint32_t(head[17]) << 16) | (uint32_t(head[18]) << 8) | head[19];
    *height = (uint32_t(head[20]) << 24) | (uint32_t(head[21]) << 16) | (uint32_t(head[22]) << 8) | head[23];
    return true;
}

std::string megapixel_limit_text(uint64_t w, uint64_t h) {
    return std::to_string(w) + "x" + std::to_string(h) + " = " + std::to_string(w * h) + " pixels, more than the " +
           std::to_string(kMaxImagePixels / 1000000) + " megapixels accepted";
}

std::string read_text(const std::filesystem::path& p) {
    std::error_code ec;
    if (std::filesystem::is_directory(p, ec)) throw Error(p.string() + ": is a directory, expected a file");
    std::ifstream in(p, std::ios::binary);
    if (!in) throw Error(p.string() + ": cannot open");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Debian's stb_image is 2.27 (packaged from git, 2022-09); 2.28 fixed bugs that a hostile file reaches. Until Debian
// ships it, the files that reach them are refused here, before stb sees them (each found by tests/fuzz/fuzz_image).
//
// A JPEG whose DHT segment declares more than 256 Huffman codes makes stb write past its 257-entry tables (2.28 refuses
// it: "bad size list"). Walks the marker segments the way stb_image reads them — by their lengths, and through the
// entropy-coded data of each scan to the next marker, so DHT segments between the scans of a progressive JPEG are
// seen too — and reads each table's 16 code counts (zeros past the end of the file, as stbi__get8 gives).
// Returns the problem, or "" (also for files that are not JPEGs).
std::string jpeg_huffman_problem(const std::string& bytes) {
    const auto at = [&](size_t i) -> unsigned { return i < bytes.size() ? static_cast<unsigned char>(bytes[i]) : 0u; };
    if (at(0) != 0xFF || at(1) != 0xD8) return "";
    for (size_t i = 2; i + 1 < bytes.size();) {
        const unsigned marker = at(i + 1);
        if (at(i) != 0xFF || marker == 0xFF) {  // entropy-coded data, or a fill byte before a marker
            ++i;
            continue;
        }
        if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {  // stuffed 0xFF, TEM, RSTn
            i += 2;
            continue;
        }
        if (marker == 0xD9) break;  // end of image
        const size_t length = (at(i + 2) << 8) | at(i + 3);
        if (marker == 0xC4) {  // DHT: [class/id][16 code counts][that many symbols], repeated
            size_t p = i + 4;
            for (int64_t left = int64_t(length) - 2; left > 0;) {
                unsigned codes = 0;
                for (size_t k = 1; k <= 16; ++k) codes += at(p + k);
                if (codes > 256)
                    return "corrupt JPEG: a Huffman table at byte " + std::to_string(p) + " declares " +
                           std::to_string(codes) + " codes, more than the 256 a JPEG may have";
                p += 17 + codes;
                left -= 17 + int64_t(codes);
            }
        }
        i += 2 + length;
    }
    return "";
}

// The header of a binary PNM (P5 / P6), read as stbi__pnm_info reads it: white space and '#' comments between the
// width, height and maximum value, whose digits stb accumulates in an int. The samples start one white-space character
// after the maximum value. nullopt for files that are not P5 / P6.
struct PnmHeader {
    int64_t width = 0, height = 0, max_value = 0;
    const char* too_large = nullptr;  // the first field beyond 32 bits (the fields after it are not read)
    int channels = 1;                 // P5 grey, P6 RGB
    int64_t data_start = 0;
};

std::optional<PnmHeader> read_pnm_header(const std::string& bytes) {
    if (bytes.size() < 2 || bytes[0] != 'P' || (bytes[1] != '5' && bytes[1] != '6')) return std::nullopt;
    const auto is_space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
    PnmHeader h;
    h.channels = bytes[1] == '5' ? 1 : 3;
    size_t i = 2;
    for (auto [field, value] : {std::pair{"width", &h.width}, {"height", &h.height}, {"maximum value", &h.max_value}}) {
        while (i < bytes.size() && (is_space(bytes[i]) || bytes[i] == '#')) {
            if (bytes[i] == '#')
                while (i < bytes.size() && bytes[i] != '\n' && bytes[i] != '\r') ++i;
            else
                ++i;
        }
        for (; i < bytes.size() && bytes[i] >= '0' && bytes[i] <= '9'; ++i) {
            *value = *value * 10 + (bytes[i] - '0');
            if (*value > INT32_MAX) {
                h.too_large = field;
                return h;
            }
        }
    }
    h.data_start = int64_t(i) + 1;
    return h;
}

// Two problems of binary PNM headers. A width, height or maximum value that does not fit an int: stb accumulates the
// digits in an int without an overflow check (2.28 refuses numbers above 2^31/10). And a maximum value above 255 (16
// bits a sample): stb converts the 16-bit samples to 4 channels with its 8-bit routine, so the next step reads past
// the buffer (heap overflow; 2.28 uses stbi__convert_format16). Returns the problem, or "" (also for files that are
// not P5 / P6).
std::string pnm_header_problem(const std::string& bytes) {
    const std::optional<PnmHeader> h = read_pnm_header(bytes);
    if (!h) return "";
    if (h->too_large) return std::string("corrupt PNM image: the ") + h->too_large + " does not fit 32 bits";
    if (h->max_value > 255) return "16-bit PNM images are not supported (maximum value " + std::to_string(h->max_value) + ")";
    return "";
}

// Truncated pixel data in the formats stb_image decodes leniently. stb fills what a BMP, binary PNM or GIF lacks with
// black (as a browser shows a partial download), so a cut file would look like a valid, darker image to the model;
// PNG and JPEG truncations are refused by stb itself. Each check compares the bytes the header promises with the
// file's size, and refuses only what cannot be decoded whole. Returns the problem, or "" (also for other formats).
uint32_t le16(const std::string& b, size_t i) { return uint32_t(uint8_t(b[i])) | uint32_t(uint8_t(b[i + 1])) << 8; }
uint32_t le32(const std::string& b, size_t i) { return le16(b, i) | le16(b, i + 2) << 16; }

std::string bmp_truncation_problem(const std::string& b) {
    if (b.size() < 30 || b[0] != 'B' || b[1] != 'M') return "";
    const uint32_t offset = le32(b, 10), header = le32(b, 14);
    int64_t w, h;
    uint32_t bpp, compression = 0;
    if (header == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
        w = le16(b, 18), h = le16(b, 20), bpp = le16(b, 24);
    } else {
        if (b.size() < 34) return "";
        w = int32_t(le32(b, 18)), h = int32_t(le32(b, 22)), bpp = le16(b, 28), compression = le32(b, 30);
    }
    h = h < 0 ? -h : h;  // negative: rows stored top-down
    if (w <= 0 || h <= 0 || (compression != 0 && compression != 3) ||
        (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32))
        return "";  // run-length coded, or a header stb refuses by itself
    const int64_t stride = (w * bpp + 31) / 32 * 4;        // rows are padded to 4 bytes
    const int64_t needed = stride * (h - 1) + (w * bpp + 7) / 8;  // the last row's padding may be missing
    if (int64_t(b.size()) >= int64_t(offset) + needed) return "";
    return "truncated BMP image: the header declares " + std::to_string(w) + "x" + std::to_string(h) + " at " +
           std::to_string(bpp) + " bits a pixel, " + std::to_string(needed) + " bytes of pixels from byte " +
           std::to_string(offset) + ", but the file ends at byte " + std::to_string(b.size());
}

// Binary PNM: one byte a sample (maximum values above 255 are refused by pnm_header_problem).
std::string pnm_truncation_problem(const std::string& bytes) {
    const std::optional<PnmHeader> h = read_pnm_header(bytes);
    if (!h || h->too_large || h->width <= 0 || h->height <= 0) return "";  // not PNM, or refused elsewhere
    const int64_t needed = h->width * h->height * h->channels;
    if (int64_t(bytes.size()) - h->data_start >= needed) return "";
    return "truncated PNM image: the header declares " + std::to_string(h->width) + "x" + std::to_string(h->height) +
           ", " + std::to_string(needed) + " bytes of samples from byte " + std::to_string(h->data_start) +
           ", but the file ends at byte " + std::to_string(bytes.size());
}

// TGA has no magic number (stb_image tries it after every other format), so this runs only on files that passed
// stbi_info and start with none of the other formats' signatures. Uncompressed data needs width x height pixels of
// ceil(bits / 8) bytes; run-length coded data at least one header byte and one pixel per 128 pixels. A 29-byte file
// declaring 6666x8202 run-length pixels made stb decode 55 megapixels of nothing (found by fuzz_image: 14 s per file).
std::string tga_truncation_problem(const std::string& b) {
    if (b.size() < 18) return "";
    for (const char* magic : {"\xFF\xD8", "\x89PNG", "GIF8", "BM", "8BPS", "\x53\x80\xF6\x34", "P5", "P6", "#?"})
        if (b.compare(0, std::strlen(magic), magic) == 0) return "";
    const uint32_t id_length = uint8_t(b[0]), colormap_type = uint8_t(b[1]), type = uint8_t(b[2]);
    const bool rle = type >= 9 && type <= 11;
    if (colormap_type > 1 || !((type >= 1 && type <= 3) || rle)) return "";
    const int64_t colormap_bytes = colormap_type ? int64_t(le16(b, 5)) * ((uint8_t(b[7]) + 7) / 8) : 0;
    const int64_t w = le16(b, 12), h = le16(b, 14), pixel_bytes = std::max(1, (uint8_t(b[16]) + 7) / 8);
    if (w <= 0 || h <= 0) return "";
    const int64_t start = 18 + id_length + colormap_bytes;
    const int64_t needed = rle ? (w * h + 127) / 128 * (1 + pixel_bytes) : w * h * pixel_bytes;
    if (int64_t(b.size()) - start >= needed) return "";
    return "truncated TGA image: the header declares " + std::to_string(w) + "x" + std::to_string(h) + " " +
           (rle ? "run-length coded pixels, at least " : "pixels, ") + std::to_string(needed) + " bytes from byte " +
           std::to_string(start) + ", but the file ends at byte " + std::to_string(b.size());
}

// GIF: walks the blocks to the end of the first image's LZW data (the frame stb_image loads): extensions and their
// sub-blocks, the image descriptor, its colour table, then data sub-blocks up to the zero-length terminator.
std::string gif_truncation_problem(const std::string& b) {
    if (b.size() < 6 || (b.compare(0, 6, "GIF87a") != 0 && b.compare(0, 6, "GIF89a") != 0)) return "";
    const auto truncated = [&](const char* where) {
        return std::string("truncated GIF image: the file (") + std::to_string(b.size()) + " bytes) ends inside " + where;
    };
    if (b.size() < 13) return truncated("the screen descriptor");
    size_t i = 13;
    if (uint8_t(b[10]) & 0x80) i += 3u << ((uint8_t(b[10]) & 7) + 1);  // global colour table
    const auto skip_sub_blocks = [&](size_t& p) {  // false when the file ends first
        while (p < b.size()) {
            const size_t n = uint8_t(b[p]);
            p += 1 + n;
            if (n == 0) return true;
        }
        return false;
    };
    while (true) {
        if (i >= b.size()) return truncated("the blocks before the first image");
        const uint8_t kind = uint8_t(b[i]);
        if (kind == 0x21) {  // extension: label, then sub-blocks
            i += 2;
            if (!skip_sub_blocks(i)) return truncated("an extension block");
        } else if (kind == 0x2C) {  // image descriptor: 9 bytes, local colour table, LZW code size, data sub-blocks
            if (i + 10 > b.size()) return truncated("the image descriptor");
            const uint8_t flags = uint8_t(b[i + 9]);
            i += 10;
            if (flags & 0x80) i += 3u << ((flags & 7) + 1);
            i += 1;  // LZW minimum code size
            if (i > b.size() || !skip_sub_blocks(i)) return truncated("the first image's pixel data");
            return "";
        } else {
            return "";  // the trailer, or something stb judges by itself
        }
    }
}

}  // namespace

Image load_image(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error(path + ": no such image file");
    if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not an image file");
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw Error(path + ": cannot open the image file");
    if (std::filesystem::file_size(path, ec) == 0) throw Error(path + ": empty file (0 bytes), not an image");

    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        std::ostringstream all;
        all << in.rdbuf();
        bytes = all.str();
    }
    for (const std::string& problem : {jpeg_huffman_problem(bytes), pnm_header_problem(bytes)})
        if (!problem.empty()) throw Error(path + ": " + problem);

    // stbi_info reads only the header, so a crafted size is refused before any pixel memory is allocated.
    int w = 0, h = 0, channels = 0;
    if (!stbi_info_from_file(f.get(), &w, &h, &channels)) {
        const std::string reason = stbi_failure_reason();
        if (uint32_t pw = 0, ph = 0; png_declared_size(f.get(), &pw, &ph) && uint64_t(pw) * ph > uint64_t(kMaxImagePixels))
            throw Error(path + ": the PNG header declares " + megapixel_limit_text(pw, ph));
        throw Error(path + ": not a readable image (" + reason + "); PNG, JPEG, BMP, GIF, TGA, PSD and PNM are supported");
    }
    if (w <= 0 || h <= 0) throw Error(path + ": zero-size image (" + std::to_string(w) + "x" + std::to_string(h) + ")");
    if (int64_t(w) * h > kMaxImagePixels) throw Error(path + ": image is " + megapixel_limit_text(w, h));
    for (const std::string& problem : {bmp_truncation_problem(bytes), pnm_truncation_problem(bytes), gif_truncation_problem(bytes),
                                       tga_truncation_problem(bytes)})
        if (!problem.empty()) throw Error(path + ": " + problem);
    bytes = std::string();  // (stb reads the file itself)

    std::fseek(f.get(), 0, SEEK_SET);
    int n = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_file(f.get(), &w, &h, &n, 4), &stbi_image_free);
    if (!px) {
        // stb_image keeps the last message set, which may come from another format's probe ("Not a PNG" for a JPEG).
        std::string why = stbi_failure_reason();
        if (why.rfind("Not a", 0) == 0) why = "the data ends early or is damaged";
        throw Error(path + ": corrupt or truncated image (" + why + ")");
    }

    Image img;
    img.width = w;
    img.height = h;
    img.rgb.resize(static_cast<size_t>(w) * h * 3);
    const size_t count = static_cast<size_t>(w) * h;
    for (size_t i = 0; i < count; ++i) {
        const stbi_uc* p = px.get() + 4 * i;
        for (int ch = 0; ch < 3; ++ch)
            img.rgb[3 * i + ch] = p[3] == 255 ? p[ch] : composite_on_white(p[ch], p[3]);  // convert_to_rgb: alpha onto white
    }
    return img;
}

ImagePlan plan_image(int height, int width, int budget, const VisionConfig& v) {
    if (!is_supported_budget(budget))
        throw Error("image budget (max_soft_tokens) must be one of " + budget_list() + ", got " + std::to_string(budget));
    if (height <= 0 || width <= 0)
        throw Error("cannot plan a resize of a " + std::to_string(width) + "x" + std::to_string(height) + " image (width x height)");
    const int p = v.patch_size, k = v.pooling_kernel_size;
    // get_aspect_ratio_preserving_size, line by line (Python floats are doubles, ints exact).
    const int64_t max_patches = int64_t(budget) * k * k;
    const int64_t total_px = int64_t(height) * width;
    const int64_t target_px = max_patches * p * p;
    const double factor = std::sqrt(double(target_px) / double(total_px));
    const double ideal_height = factor * height;
    const double ideal_width = factor * width;
    const int64_t side_mult = int64_t(k) * p;
    int64_t target_height = static_cast<int64_t>(std::floor(ideal_height / double(side_mult))) * side_mult;
    int64_t target_width = static_cast<int64_t>(std::floor(ideal_width / double(side_mult))) * side_mult;
    if (target_height == 0 && target_width == 0)
        throw Error("cannot resize a " + std::to_string(width) + "x" + std::to_string(height) +
                    " image (width x height) for the vision tower: both sides round down to 0 (transformers raises "
                    "'Attempting to resize to a 0 x 0 image')");
    const int64_t max_side_length = (max_patches / (int64_t(k) * k)) * side_mult;
    if (target_height == 0) {  // a very wide image: one row of cells, width from the aspect ratio, capped
        target_height = side_mult;
        target_width = std::min(static_cast<int64_t>(std::floor(double(width) / double(height))) * side_mult, max_side_length);
    } else if (target_width == 0) {  // a very tall one
        target_width = side_mult;
        target_height = std::min(static_cast<int64_t>(std::floor(double(height) / double(width))) * side_mult, max_side_length);
    }
    if (target_height * target_width > target_px)
        throw Error("resizing a " + std::to_string(width) + "x" + std::to_string(height) + " image to " + std::to_string(target_width) + "x" +
                    std::to_string(target_height) + " would exceed " + std::to_string(max_patches) + " patches (transformers raises)");
    ImagePlan plan;
    plan.budget = budget;
    plan.resized_height = static_cast<int>(target_height);
    plan.resized_width = static_cast<int>(target_width);
    plan.patch_rows = plan.resized_height / p;
    plan.patch_cols = plan.resized_width / p;
    plan.soft_tokens = (plan.patch_rows / k) * (plan.patch_cols / k);
    return plan;
}

int default_image_budget(const std::string& model_dir) {
    namespace fs = std::filesystem;
    // Gemma4Processor: max_soft_tokens = images_kwargs.get("max_soft_tokens") or self.image_processor.max_soft_tokens.
    struct Source {
        const char* file;
        const char* section;  // nullptr: the field is at the top level
    };
    for (const Source& s : {Source{"processor_config.json", "image_processor"}, Source{"preprocessor_config.json", nullptr}}) {
        const fs::path p = fs::path(model_dir) / s.file;
        if (!fs::exists(p)) continue;
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_text(p));
        } catch (const nlohmann::json::exception& e) {
            throw Error(p.string() + ": not valid JSON (" + e.what() + ")");
        }
        const nlohmann::json* sec = &j;
        if (s.section != nullptr) {
            if (!j.contains(s.section) || !j[s.section].is_object()) continue;
            sec = &j[s.section];
        }
        if (!sec->contains("max_soft_tokens")) continue;
        const nlohmann::json& value = (*sec)["max_soft_tokens"];
        if (!value.is_number_integer() || !is_supported_budget(value.get<int>()))
            throw Error(p.string() + ": max_soft_tokens must be one of " + budget_list() + ", got " + value.dump());
        return value.get<int>();
    }
    return kDefaultImageBudget;
}

Image resize_bicubic_aa(const Image& img, int out_height, int out_width) {
    if (out_height <= 0 || out_width <= 0 || img.width <= 0 || img.height <= 0)
        throw Error("cannot resize a " + std::to_string(img.width) + "x" + std::to_string(img.height) + " image to " +
                    std::to_string(out_width) + "x" + std::to_string(out_height));
    // separable_upsample_generic_Nd_kernel_impl: the contiguous (width) axis first, then height, each only if it changes.
    Image out = img;
    if (out_width != img.width) out = resample_axis(out, out_width, true);
    if (out_height != img.height) out = resample_axis(out, out_height, false);
    return out;
}

PatchedImage patchify_image(const Image& img, const VisionConfig& v) {
    const int p = v.patch_size, k = v.pooling_kernel_size;
    if (img.width <= 0 || img.height <= 0 || img.width % (p * k) != 0 || img.height % (p * k) != 0)
        throw Error("cannot patchify a " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                    " image as is: both sides must be multiples of " + std::to_string(p * k) + " (patch size x pooling)");
    if (img.rgb.size() != static_cast<size_t>(img.width) * img.height * 3)
        throw Error("image buffer holds " + std::to_string(img.rgb.size()) + " bytes, expected width*height*3");
    PatchedImage out;
    out.plan.budget = 0;
    out.plan.resized_height = img.height;
    out.plan.resized_width = img.width;
    out.plan.patch_rows = img.height / p;
    out.plan.patch_cols = img.width / p;
    out.plan.soft_tokens = (out.plan.patch_rows / k) * (out.plan.patch_cols / k);
    const int rows = out.plan.patch_rows, cols = out.plan.patch_cols, dim = v.patch_dim();
    out.patches.resize(static_cast<size_t>(rows) * cols * dim);
    out.pos_x.resize(static_cast<size_t>(rows) * cols);
    out.pos_y.resize(out.pos_x.size());
    // rescale: image * rescale_factor on the uint8 tensor, a float32 product (TorchvisionBackend.rescale).
    const float rescale = static_cast<float>(1.0 / 255.0);
    // convert_image_to_patches: (C, H, W) → (rows, cols, py, px, C) flattened; positions (x = column, y = row).
    for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c) {
            const size_t n = static_cast<size_t>(r) * cols + c;
            out.pos_x[n] = c;
            out.pos_y[n] = r;
            float* patch = &out.patches[n * dim];
            for (int py = 0; py < p; ++py)
                for (int px = 0; px < p; ++px)
                    for (int ch = 0; ch < 3; ++ch) {
                        const size_t src = (static_cast<size_t>(r * p + py) * img.width + (c * p + px)) * 3 + ch;
                        patch[(py * p + px) * 3 + ch] = static_cast<float>(img.rgb[src]) * rescale;
                    }
        }
    return out;
}

PatchedImage preprocess_image(const Image& img, int budget, const VisionConfig& v) {
    const ImagePlan plan = plan_image(img.height, img.width, budget, v);
    // aspect_ratio_preserving_resize: no resize when the target equals the input size.
    PatchedImage out = (plan.resized_height == img.height && plan.resized_width == img.width)
                           ? patchify_image(img, v)
                           : patchify_image(resize_bicubic_aa(img, plan.resized_height, plan.resized_width), v);
    out.plan = plan;
    return out;
}

}  // namespace gemma4
