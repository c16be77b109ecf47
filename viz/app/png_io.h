// png_io.h — the inspector's screenshots: writing the framebuffer as a PNG (stb_image_write) and the check the
// screenshot tests run on it (is it real content: not blank, not one colour, drawn over enough of the window).
// Reading uses reference/image.h's load_image (stb_image); no image comparison against stored pictures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gemma4::viz {

// rgb: [height, width, 3], top row first. Written to a temporary name and renamed; Error naming the file when it
// cannot be written (an existing file is then left as it was).
void write_png_rgb(const std::string& path, const std::vector<uint8_t>& rgb, int width, int height);

struct PngStats {
    int width = 0, height = 0;
    int distinct_colors = 0;
    double dominant_fraction = 0;  // share of pixels of the most common colour (the background)
    double content_rows = 0;       // share of rows with at least 1 % of their pixels off the background
};
PngStats png_stats(const std::string& path);

// Prints the stats and returns 0 when the picture shows content (at least min_colors colours, the background under
// 97 % of the pixels, content on at least 20 % of the rows), 1 otherwise.
int check_png(const std::string& path, int min_colors);

}  // namespace gemma4::viz
