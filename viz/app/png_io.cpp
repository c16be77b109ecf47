// png_io.cpp — screenshots as PNG and their content check (png_io.h).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#include "png_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "error.h"
#include "image.h"
#include "safe_write.h"

namespace gemma4::viz {

void write_png_rgb(const std::string& path, const std::vector<uint8_t>& rgb, int width, int height) {
    if (rgb.size() != static_cast<size_t>(width) * height * 3) throw Error(path + ": pixel buffer does not match " + std::to_string(width) + "x" + std::to_string(height));
    // To a temporary name, renamed when complete: an interrupted screenshot leaves no half PNG (safe_write.h).
    write_file_safely(path, [&](const std::string& tmp) {
        if (stbi_write_png(tmp.c_str(), width, height, 3, rgb.data(), width * 3) == 0)
            throw Error(path + ": could not write the PNG (" + tmp + ": " + std::strerror(errno) + ")");
    });
}

PngStats png_stats(const std::string& path) {
    const Image img = load_image(path);
    PngStats s;
    s.width = img.width;
    s.height = img.height;
    auto key = [&](size_t i) { return (uint32_t(img.rgb[3 * i]) << 16) | (uint32_t(img.rgb[3 * i + 1]) << 8) | img.rgb[3 * i + 2]; };
    std::unordered_map<uint32_t, size_t> counts;
    const size_t n = static_cast<size_t>(img.width) * img.height;
    for (size_t i = 0; i < n; ++i) ++counts[key(i)];
    uint32_t background = 0;
    size_t most = 0;
    for (const auto& [color, count] : counts)
        if (count > most) most = count, background = color;
    s.distinct_colors = static_cast<int>(counts.size());
    s.dominant_fraction = n ? double(most) / double(n) : 1.0;
    int rows = 0;
    for (int y = 0; y < img.height; ++y) {
        int off = 0;
        for (int x = 0; x < img.width; ++x) off += key(size_t(y) * img.width + x) != background;
        rows += off * 100 >= img.width;
    }
    s.content_rows = img.height ? double(rows) / img.height : 0.0;
    return s;
}

int check_png(const std::string& path, int min_colors) {
    const PngStats s = png_stats(path);
    const bool ok = s.distinct_colors >= min_colors && s.dominant_fraction < 0.97 && s.content_rows >= 0.20;
    std::printf("%s: %dx%d, %d colours, background %.1f %% of pixels, content on %.1f %% of rows: %s\n", path.c_str(), s.width,
                s.height, s.distinct_colors, 100 * s.dominant_fraction, 100 * s.content_rows, ok ? "ok" : "NO CONTENT");
    return ok ? 0 : 1;
}

}  // namespace gemma4::viz
