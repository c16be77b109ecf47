// test_image.cpp — the image path against transformers 5.23 / torchvision: the resize rule (spec §1.4 worked examples,
// every committed sample at every budget from assets/goldens/image_plans.json, odd and extreme sizes computed with
// get_aspect_ratio_preserving_size), our antialiased bicubic resize + rescale + patchify against the processor's pixel
// values stored in the goldens, patchify without resize, RGB conversion of transparent pixels (PIL alpha_composite
// values), the model's default budget, and load_image's errors on broken files.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "error.h"
#include "image.h"
#include "npz.h"
#include "test_util.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

fs::path sample(const std::string& name) { return fs::path(assets_dir()) / "samples" / name; }
fs::path golden_path(const std::string& stem) { return fs::path(assets_dir()) / "goldens" / (stem + ".npz"); }

std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void check_plan(int h, int w, int budget, int rh, int rw) {
    CAPTURE(h);
    CAPTURE(w);
    CAPTURE(budget);
    const ImagePlan p = plan_image(h, w, budget, VisionConfig{});
    CHECK(p.budget == budget);
    CHECK(p.resized_height == rh);
    CHECK(p.resized_width == rw);
    CHECK(p.patch_rows == rh / 16);
    CHECK(p.patch_cols == rw / 16);
    CHECK(p.soft_tokens == (rh / 48) * (rw / 48));
    CHECK(p.soft_tokens <= budget);
}

}  // namespace

TEST_CASE("image: plan_image reproduces the spec's worked examples (vision-audio spec §1.4)") {
    // budget 280, original W×H → resized H×W
    check_plan(480, 640, 280, 672, 912);      // 266 tokens
    check_plan(1080, 1920, 280, 576, 1056);   // 264
    check_plan(2000, 300, 280, 2064, 288);    // 258
    check_plan(300, 2000, 280, 288, 2064);    // 258
    check_plan(224, 224, 280, 768, 768);      // 256
    const VisionConfig v;
    const int tok_640x480[] = {63, 130, 266, 540, 1064};
    const int tok_1920x1080[] = {66, 120, 264, 527, 1100};
    for (int i = 0; i < 5; ++i) {
        CHECK(plan_image(480, 640, kImageBudgets[i], v).soft_tokens == tok_640x480[i]);
        CHECK(plan_image(1080, 1920, kImageBudgets[i], v).soft_tokens == tok_1920x1080[i]);
    }
    check_plan(480, 640, 70, 336, 432);
    check_plan(480, 640, 140, 480, 624);
    check_plan(480, 640, 560, 960, 1296);
    check_plan(480, 640, 1120, 1344, 1824);
    check_plan(4000, 20, 70, 3360, 48);  // degenerate: width rounds to 0 cells → 48, height min(200·48, 70·48)
    CHECK(plan_image(4000, 20, 70, v).soft_tokens == 70);
}

TEST_CASE("image: plan_image on odd and extreme sizes, every budget (values from get_aspect_ratio_preserving_size)") {
    struct Case {
        int h, w;
        int out[5][2];  // resized (h, w) at 70, 140, 280, 560, 1120
    };
    const Case cases[] = {
        {1, 1, {{384, 384}, {528, 528}, {768, 768}, {1104, 1104}, {1584, 1584}}},
        {3, 3, {{384, 384}, {528, 528}, {768, 768}, {1104, 1104}, {1584, 1584}}},
        {48, 48, {{384, 384}, {528, 528}, {768, 768}, {1104, 1104}, {1584, 1584}}},
        {20, 3000, {{48, 3360}, {48, 6720}, {48, 9792}, {48, 13872}, {96, 19632}}},
        {3000, 20, {{3360, 48}, {6720, 48}, {9792, 48}, {13872, 48}, {19632, 96}}},
        {96, 144, {{288, 480}, {432, 672}, {624, 960}, {912, 1344}, {1296, 1920}}},
        {1080, 1920, {{288, 528}, {384, 720}, {576, 1056}, {816, 1488}, {1200, 2112}}},
        {2000, 300, {{1008, 144}, {1440, 192}, {2064, 288}, {2928, 432}, {4128, 576}}},
        {20, 4000, {{48, 3360}, {48, 6720}, {48, 11328}, {48, 16032}, {96, 22704}}},
        {1, 10000, {{48, 3360}, {48, 6720}, {48, 13440}, {48, 26880}, {48, 53760}}},
        {10000, 1, {{3360, 48}, {6720, 48}, {13440, 48}, {26880, 48}, {53760, 48}}},
        {1, 200, {{48, 3360}, {48, 6720}, {48, 11328}, {48, 16032}, {96, 22704}}},
        {2, 9999, {{48, 3360}, {48, 6720}, {48, 13440}, {48, 26880}, {48, 53760}}},
        {7, 4000, {{48, 3360}, {48, 6720}, {48, 13440}, {48, 26880}, {48, 38400}}},
        // exact multiples of 48: an image already at its budget's size is kept as is, others still scale
        {336, 432, {{336, 432}, {480, 624}, {672, 864}, {960, 1248}, {1392, 1776}}},
        {672, 912, {{336, 432}, {480, 624}, {672, 912}, {960, 1296}, {1344, 1824}}},
    };
    for (const Case& c : cases)
        for (int i = 0; i < 5; ++i) check_plan(c.h, c.w, kImageBudgets[i], c.out[i][0], c.out[i][1]);
}

TEST_CASE("image: plan_image agrees with the processor on every committed sample (image_plans.json)") {
    const nlohmann::json j = nlohmann::json::parse(read_bytes(fs::path(assets_dir()) / "goldens" / "image_plans.json"));
    int n = 0;
    for (const auto& p : j.at("plans")) {
        CAPTURE(p.dump());
        const ImagePlan plan = plan_image(p.at("original_height"), p.at("original_width"), p.at("budget"), VisionConfig{});
        CHECK(plan.resized_height == p.at("resized_height").get<int>());
        CHECK(plan.resized_width == p.at("resized_width").get<int>());
        CHECK(plan.patch_rows == p.at("patch_grid")[0].get<int>());
        CHECK(plan.patch_cols == p.at("patch_grid")[1].get<int>());
        CHECK(plan.soft_tokens == p.at("soft_tokens").get<int>());
        // and the file really has that size
        const Image img = load_image((fs::path(assets_dir()) / p.at("file").get<std::string>()).string());
        CHECK(img.height == p.at("original_height").get<int>());
        CHECK(img.width == p.at("original_width").get<int>());
        ++n;
    }
    CHECK(n == 25);
}

TEST_CASE("image: budgets other than 70/140/280/560/1120 and empty sizes are errors") {
    const VisionConfig v;
    for (int bad : {0, 69, 71, 100, 256, 281, 2240, -280}) CHECK_THROWS_AS(plan_image(480, 640, bad, v), Error);
    try {
        plan_image(480, 640, 300, v);
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(test::contains(e.what(), "70, 140, 280, 560, 1120"));
        CHECK(test::contains(e.what(), "300"));
    }
    CHECK_THROWS_AS(plan_image(0, 640, 280, v), Error);
    CHECK_THROWS_AS(plan_image(480, 0, 280, v), Error);
    CHECK_THROWS_AS(plan_image(-1, 5, 280, v), Error);
}

TEST_CASE("image: resize + rescale + patchify matches Gemma4ImageProcessor's pixel values within 1/255") {
    // sample.png (160×120) at 70 / 140 / 280 and photo / wide / tall at 70 / 280: every golden that stores the
    // processor's vision.patches (tiny-e2b holds them all).
    struct Item {
        std::string file, golden;
        int budget;
    };
    const Item items[] = {{"sample.png", "tiny-e2b-image70", 70},   {"sample.png", "tiny-e2b-image140", 140}, {"sample.png", "tiny-e2b-image280", 280},
                          {"photo.png", "tiny-e2b-photo70", 70},    {"photo.png", "tiny-e2b-photo280", 280},  {"wide.png", "tiny-e2b-wide70", 70},
                          {"wide.png", "tiny-e2b-wide280", 280},    {"tall.png", "tiny-e2b-tall70", 70},      {"tall.png", "tiny-e2b-tall280", 280}};
    const VisionConfig v;
    for (const Item& it : items) {
        CAPTURE(it.golden);
        const Image img = load_image(sample(it.file).string());
        const PatchedImage ours = preprocess_image(img, it.budget, v);
        const std::vector<NpyArray> golden = read_npz(golden_path(it.golden).string());
        const NpyArray* pixels = find_array(golden, "vision.patches");
        const NpyArray* grid = find_array(golden, "vision.patch_grid");
        REQUIRE(pixels != nullptr);
        REQUIRE(grid != nullptr);
        const std::vector<int64_t> rc = grid->to_i64();
        CHECK(ours.plan.patch_rows == rc[0]);
        CHECK(ours.plan.patch_cols == rc[1]);
        const std::vector<float> theirs = pixels->to_f32();
        REQUIRE(theirs.size() == ours.patches.size());
        double max_levels = 0;
        size_t differing = 0, exact = 0;
        for (size_t i = 0; i < theirs.size(); ++i) {
            const double levels = std::abs(double(ours.patches[i]) - double(theirs[i])) * 255.0;
            max_levels = std::max(max_levels, levels);
            if (levels > 0.5) ++differing;
            if (ours.patches[i] == theirs[i]) ++exact;
        }
        CHECK_MESSAGE(max_levels <= 1.0 + 1e-4, it.golden << ": max difference " << max_levels << " / 255");
        MESSAGE(it.golden << " (" << it.file << " at " << it.budget << " -> " << ours.plan.resized_width << "x" << ours.plan.resized_height
                          << "): max difference " << max_levels << "/255, " << differing << " of " << theirs.size() << " values differ ("
                          << 100.0 * double(differing) / double(theirs.size()) << "%), " << exact << " bit-identical");
        // the positions are the grid's, row-major
        for (int n = 0; n < ours.num_patches(); n += 97) {
            CHECK(ours.pos_x[n] == n % ours.plan.patch_cols);
            CHECK(ours.pos_y[n] == n / ours.plan.patch_cols);
        }
    }
}

TEST_CASE("image: patchify without resize gives the processor's do_resize=False pixels bit for bit") {
    const Image img = load_image(sample("sample_small.png").string());
    CHECK(img.width == 240);
    CHECK(img.height == 96);
    const PatchedImage p = patchify_image(img, VisionConfig{});
    CHECK(p.plan.patch_rows == 6);
    CHECK(p.plan.patch_cols == 15);
    CHECK(p.plan.soft_tokens == 10);
    const std::vector<NpyArray> golden = read_npz(golden_path("tiny-e2b-image").string());
    const NpyArray* pixels = find_array(golden, "vision.patches");
    REQUIRE(pixels != nullptr);
    CHECK(pixels->to_f32() == p.patches);
    // sizes that are not multiples of 48 cannot be patchified as they are
    Image odd;
    odd.width = 50;
    odd.height = 48;
    odd.rgb.assign(size_t(50) * 48 * 3, 0);
    CHECK_THROWS_AS(patchify_image(odd, VisionConfig{}), Error);
}

TEST_CASE("image: resize keeps flat colours and skips an unchanged axis") {
    Image flat;
    flat.width = 37;
    flat.height = 23;
    flat.rgb.resize(size_t(37) * 23 * 3);
    for (size_t i = 0; i < flat.rgb.size(); ++i) flat.rgb[i] = static_cast<uint8_t>(i % 3 == 0 ? 200 : i % 3 == 1 ? 17 : 0);
    for (auto [h, w] : {std::pair{96, 144}, std::pair{11, 5}, std::pair{23, 300}, std::pair{400, 37}, std::pair{1, 1}}) {
        const Image r = resize_bicubic_aa(flat, h, w);
        REQUIRE(r.rgb.size() == size_t(h) * w * 3);
        bool same = true;
        for (size_t i = 0; i < r.rgb.size(); ++i) same = same && r.rgb[i] == flat.rgb[i % 3];
        CHECK_MESSAGE(same, "flat colour changed at " << h << "x" << w);
    }
    const Image same = resize_bicubic_aa(flat, 23, 37);
    CHECK(same.rgb == flat.rgb);
    CHECK_THROWS_AS(resize_bicubic_aa(flat, 0, 10), Error);
}

TEST_CASE("image: transparency is composited onto white as transformers' convert_to_rgb (PIL alpha_composite)") {
    test::TempDir dir("g4img");
    // (value, alpha) → what PIL gives for alpha_composite(white, RGBA(value, alpha)).convert("RGB")
    const int cases[][3] = {{200, 0, 255}, {200, 1, 255}, {200, 128, 227}, {200, 254, 200}, {0, 127, 128},
                            {255, 77, 255}, {13, 200, 65},  {100, 255, 100}};
    const int n = static_cast<int>(sizeof(cases) / sizeof(cases[0]));
    std::vector<uint8_t> rgba;
    for (const auto& c : cases) rgba.insert(rgba.end(), {uint8_t(c[0]), uint8_t(c[0]), uint8_t(c[0]), uint8_t(c[1])});
    const std::string path = dir.file("alpha.png");
    REQUIRE(stbi_write_png(path.c_str(), n, 1, 4, rgba.data(), n * 4) != 0);
    const Image img = load_image(path);
    REQUIRE(img.width == n);
    REQUIRE(img.height == 1);
    for (int i = 0; i < n; ++i) {
        CAPTURE(i);
        for (int ch = 0; ch < 3; ++ch) CHECK(int(img.rgb[size_t(i) * 3 + ch]) == cases[i][2]);
    }
    // grey is replicated to three channels
    const uint8_t grey[] = {0, 90, 255};
    const std::string gpath = dir.file("grey.png");
    REQUIRE(stbi_write_png(gpath.c_str(), 3, 1, 1, grey, 3) != 0);
    const Image g = load_image(gpath);
    CHECK(g.rgb == std::vector<uint8_t>{0, 0, 0, 90, 90, 90, 255, 255, 255});
}

TEST_CASE("image: load_image errors name the file and the problem") {
    test::TempDir dir("g4img");
    auto expect_error = [](const std::string& path, const std::string& what) {
        try {
            load_image(path);
            FAIL("expected an error for " << path);
        } catch (const Error& e) {
            CHECK_MESSAGE(test::contains(e.what(), path), std::string(e.what()));
            CHECK_MESSAGE(test::contains(e.what(), what), std::string(e.what()));
        }
    };
    expect_error(dir.file("missing.png"), "no such image file");
    expect_error(dir.path.string(), "directory");

    const std::string png = read_bytes(sample("sample.png"));
    REQUIRE(png.size() > 1000);
    write_bytes(dir.file("truncated.png"), png.substr(0, png.size() / 2));
    expect_error(dir.file("truncated.png"), "corrupt or truncated");

    write_bytes(dir.file("text.png"), "this is not an image, just some text renamed to .png\n");
    expect_error(dir.file("text.png"), "not a readable image");

    write_bytes(dir.file("empty.png"), "");
    expect_error(dir.file("empty.png"), "empty file");

    // A PNG header claiming a size: 8-byte signature + IHDR chunk (CRCs are not checked by the decoder's header read).
    auto png_header = [](uint32_t w, uint32_t h) {
        std::string s("\x89PNG\r\n\x1a\n", 8);
        auto be32 = [&s](uint32_t v) {
            for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
        };
        be32(13);
        s += "IHDR";
        be32(w);
        be32(h);
        s += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, deflate, no filter, no interlace
        be32(0);                                       // CRC (ignored)
        return s;
    };
    write_bytes(dir.file("zero.png"), png_header(0, 100));
    expect_error(dir.file("zero.png"), "zero.png");
    write_bytes(dir.file("huge.png"), png_header(11000, 10000));  // 110 megapixels: refused before any allocation
    expect_error(dir.file("huge.png"), "megapixels");
    write_bytes(dir.file("huger.png"), png_header(20000, 20000));  // past stb_image's own 2^30-byte limit
    expect_error(dir.file("huger.png"), "huger.png");
}

TEST_CASE("image: a JPEG Huffman table with more than 256 codes is refused before stb_image reads it (fuzz finding)") {
    // fuzz_image: Debian's stb_image 2.27 wrote past its 257-entry size table for such a DHT segment (UBSan:
    // "index 257 out of bounds" in stbi__build_huffman), during stbi_info already.
    test::TempDir dir("g4img");
    std::string jpeg("\xFF\xD8\xFF\xC4\x00\x13\x00", 7);  // SOI, DHT of length 19: one DC table, id 0
    jpeg += std::string(16, '\x20');                          // 16 x 32 = 512 codes declared
    jpeg += std::string("\xFF\xD9", 2);                       // EOI
    write_bytes(dir.file("huffman.jpg"), jpeg);
    CHECK_THROWS_WITH_AS(load_image(dir.file("huffman.jpg")),
                         doctest::Contains((dir.file("huffman.jpg") + ": corrupt JPEG: a Huffman table at byte 6 declares 512 codes").c_str()),
                         Error);
    // The same table after the first scan of a progressive JPEG (entropy-coded bytes, a stuffed 0xFF00, an RST).
    std::string later("\xFF\xD8\xFF\xDA\x00\x02\x12\x34\xFF\x00\x56\xFF\xD0\x78", 14);
    later += jpeg.substr(2);
    write_bytes(dir.file("later.jpg"), later);
    CHECK_THROWS_WITH_AS(load_image(dir.file("later.jpg")), doctest::Contains("declares 512 codes"), Error);
}

TEST_CASE("image: PNM headers stb_image 2.27 misreads (numbers beyond 32 bits, 16-bit samples) are refused (fuzz findings)") {
    // fuzz_image: stb_image 2.27 accumulated "P5 555555555555..." in an int (UBSan: signed integer overflow).
    test::TempDir dir("g4img");
    write_bytes(dir.file("wide.pgm"), "P5 # a comment\n4 2 255\n" + std::string(8, '\x80'));
    CHECK(load_image(dir.file("wide.pgm")).width == 4);
    write_bytes(dir.file("huge.pgm"), "P5 # a comment\n4 5555555555 255\n" + std::string(8, '\x80'));
    CHECK_THROWS_WITH_AS(load_image(dir.file("huge.pgm")),
                         doctest::Contains((dir.file("huge.pgm") + ": corrupt PNM image: the height does not fit 32 bits").c_str()), Error);
    write_bytes(dir.file("maxval.ppm"), "P6\n1 1\n99999999999\n");
    CHECK_THROWS_WITH_AS(load_image(dir.file("maxval.ppm")), doctest::Contains("corrupt PNM image: the maximum value does not fit 32 bits"),
                         Error);
    // fuzz_image: a 16-bit PGM made stb_image 2.27 read past its buffer (ASan: heap-buffer-overflow in
    // stbi__convert_16_to_8): it converted the samples to 4 channels with the 8-bit routine.
    write_bytes(dir.file("deep.pgm"), "P5 2 2 550\n" + std::string(8, '\x01'));
    CHECK_THROWS_WITH_AS(load_image(dir.file("deep.pgm")),
                         doctest::Contains((dir.file("deep.pgm") + ": 16-bit PNM images are not supported (maximum value 550)").c_str()),
                         Error);
}

TEST_CASE("image: the default budget comes from processor_config.json") {
    CHECK(default_image_budget(resolve_model_dir("tiny-e2b")) == 280);
    test::TempDir dir("g4img");
    CHECK(default_image_budget(dir.path.string()) == 280);  // no file: transformers' default
    write_bytes(dir.file("processor_config.json"), R"({"image_processor": {"max_soft_tokens": 70}, "image_seq_length": 70})");
    CHECK(default_image_budget(dir.path.string()) == 70);
    write_bytes(dir.file("processor_config.json"), R"({"image_processor": {"max_soft_tokens": 100}})");
    CHECK_THROWS_AS(default_image_budget(dir.path.string()), Error);
    fs::remove(dir.file("processor_config.json"));
    write_bytes(dir.file("preprocessor_config.json"), R"({"max_soft_tokens": 1120, "patch_size": 16})");
    CHECK(default_image_budget(dir.path.string()) == 1120);
}

TEST_CASE("image: gemma4 image-info prints the plan, as text and JSON") {
    const std::string photo = sample("photo.png").string();
    test::CliResult r = test::run_cli("image-info --image '" + photo + "' --image-tokens 70 --json");
    REQUIRE(r.exit_code == 0);
    const nlohmann::json j = nlohmann::json::parse(r.out);
    CHECK(j.at("original_height") == 240);
    CHECK(j.at("original_width") == 320);
    CHECK(j.at("budget") == 70);
    CHECK(j.at("resized_height") == 336);
    CHECK(j.at("resized_width") == 432);
    CHECK(j.at("patch_rows") == 21);
    CHECK(j.at("patch_cols") == 27);
    CHECK(j.at("soft_tokens") == 63);
    r = test::run_cli("image-info --image '" + photo + "' -m tiny-e2b --time");
    CHECK(r.exit_code == 0);
    CHECK(test::contains(r.out, "soft tokens     266"));
    CHECK(test::contains(r.out, "encode"));
    r = test::run_cli("image-info --image '" + photo + "' --image-tokens 100");
    CHECK(r.exit_code == 2);
    CHECK(test::contains(r.out, "70, 140, 280, 560, 1120"));
    r = test::run_cli("image-info --image /nonexistent/x.png");
    CHECK(r.exit_code == 2);
    CHECK(test::contains(r.out, "no such image file"));
    r = test::run_cli("image-info --image '" + photo + "' --time");
    CHECK(r.exit_code == 2);
}

TEST_CASE("image: truncated BMP, PNM, GIF and TGA pixel data is refused by name (stb_image would fill it with black)") {
    test::TempDir dir("g4trunc");
    // A 21x3 24-bit BMP: rows of 63 bytes padded to 64, pixels from byte 54.
    const auto bmp = [](int w, int h, size_t pixel_bytes) {
        std::string b = "BM" + std::string(52, '\0');
        const auto put32 = [&](size_t at, uint32_t v) { for (int k = 0; k < 4; ++k) b[at + k] = char(v >> (8 * k)); };
        put32(2, uint32_t(54 + pixel_bytes));
        put32(10, 54);
        put32(14, 40);
        put32(18, uint32_t(w));
        put32(22, uint32_t(h));
        b[26] = 1;
        b[28] = 24;
        return b + std::string(pixel_bytes, '\x40');
    };
    write_bytes(dir.file("whole.bmp"), bmp(21, 3, 3 * 64));
    CHECK(load_image(dir.file("whole.bmp")).width == 21);
    write_bytes(dir.file("no_last_pad.bmp"), bmp(21, 3, 2 * 64 + 63));  // the last row's padding may be missing
    CHECK(load_image(dir.file("no_last_pad.bmp")).height == 3);
    write_bytes(dir.file("cut.bmp"), bmp(21, 3, 2 * 64 + 62));
    CHECK_THROWS_WITH_AS(load_image(dir.file("cut.bmp")),
                         doctest::Contains((dir.file("cut.bmp") + ": truncated BMP image: the header declares 21x3 at 24 bits a pixel, "
                                                                    "191 bytes of pixels from byte 54, but the file ends at byte 244").c_str()),
                         Error);

    write_bytes(dir.file("whole.ppm"), "P6\n# c\n4 4\n255\n" + std::string(48, '\x10'));
    CHECK(load_image(dir.file("whole.ppm")).height == 4);
    write_bytes(dir.file("cut.ppm"), "P6\n# c\n4 4\n255\n" + std::string(47, '\x10'));
    CHECK_THROWS_WITH_AS(load_image(dir.file("cut.ppm")), doctest::Contains("truncated PNM image: the header declares 4x4, 48 bytes"), Error);
    write_bytes(dir.file("cut.pgm"), "P5 4 4 255\n" + std::string(15, '\x10'));
    CHECK_THROWS_WITH_AS(load_image(dir.file("cut.pgm")), doctest::Contains("4x4, 16 bytes of samples from byte 11"), Error);

    // The classic 1x1 GIF89a: colour table, graphic control extension, one image, trailer.
    const std::string gif("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
                          ",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00;", 43);
    write_bytes(dir.file("whole.gif"), gif);
    CHECK(load_image(dir.file("whole.gif")).width == 1);
    write_bytes(dir.file("no_trailer.gif"), gif.substr(0, gif.size() - 1));  // the trailer alone may be missing
    CHECK(load_image(dir.file("no_trailer.gif")).width == 1);
    for (size_t keep : {gif.size() - 2, gif.size() - 4, size_t(30), size_t(20), size_t(10)}) {
        CAPTURE(keep);
        write_bytes(dir.file("cut.gif"), gif.substr(0, keep));
        CHECK_THROWS_WITH_AS(load_image(dir.file("cut.gif")), doctest::Contains("truncated GIF image"), Error);
    }

    // TGA: an uncompressed 3x2 24-bit image (18-byte header, 18 bytes of pixels), then cut; and fuzz_image's 29-byte
    // run-length TGA declaring 6666x8202 pixels (stb decoded 55 megapixels of nothing for 14 s under ASan).
    std::string tga(18, '\0');
    tga[2] = 2;
    tga[12] = 3, tga[14] = 2, tga[16] = 24;
    write_bytes(dir.file("whole.tga"), tga + std::string(18, '\x70'));
    CHECK(load_image(dir.file("whole.tga")).width == 3);
    write_bytes(dir.file("cut.tga"), tga + std::string(17, '\x70'));
    CHECK_THROWS_WITH_AS(load_image(dir.file("cut.tga")),
                         doctest::Contains("truncated TGA image: the header declares 3x2 pixels, 18 bytes from byte 18, but the file ends at byte 35"),
                         Error);
    const std::string slow("\x02\x00\x0a\x00\x00\x00\xc2\x89\x50\x4e\x4f\x0d\x0a\x1a\x0a\x20\x08\x03\x25\xd5\x38\x42\x50\x53\x5b\x0b\xbf\x6f\x5f", 29);
    write_bytes(dir.file("fuzz_slow.tga"), slow);
    CHECK_THROWS_WITH_AS(load_image(dir.file("fuzz_slow.tga")), doctest::Contains("truncated TGA image: the header declares 6666x8202 run-length"), Error);
}
