// test_vision.cpp — the vision tower against transformers 5.23: every vision probe of every image golden of the four
// tiny models, the tower fed the golden's own pixel values (so resizing is out of the picture; test_image.cpp checks
// it), with positions rebuilt from vision.patch_grid; plus the photo / wide / tall goldens (pooled and soft tokens of
// all four models on the processor's patches stored in the tiny-e2b files) and the errors of VisionTower.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>

#include "checkpoint.h"
#include "compare.h"
#include "error.h"
#include "image.h"
#include "npz.h"
#include "tolerances.h"
#include "trace.h"
#include "vision.h"
#include "test_util.h"

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

const char* const kModels[] = {"tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"};

fs::path golden_path(const std::string& stem) { return fs::path(assets_dir()) / "goldens" / (stem + ".npz"); }

// A PatchedImage from a golden's vision.patches and vision.patch_grid (rows, cols; patches row-major over the grid).
PatchedImage patched_from_golden(const std::vector<NpyArray>& golden) {
    const NpyArray* pixels = find_array(golden, "vision.patches");
    const NpyArray* grid = find_array(golden, "vision.patch_grid");
    REQUIRE(pixels != nullptr);
    REQUIRE(grid != nullptr);
    const std::vector<int64_t> rc = grid->to_i64();
    REQUIRE(rc.size() == 2);
    PatchedImage img;
    img.patches = pixels->to_f32();
    for (int64_t r = 0; r < rc[0]; ++r)
        for (int64_t c = 0; c < rc[1]; ++c) {
            img.pos_x.push_back(static_cast<int32_t>(c));
            img.pos_y.push_back(static_cast<int32_t>(r));
        }
    REQUIRE(pixels->shape.size() == 2);
    REQUIRE(pixels->shape[0] == int64_t(img.pos_x.size()));
    img.plan.patch_rows = static_cast<int>(rc[0]);
    img.plan.patch_cols = static_cast<int>(rc[1]);
    img.plan.soft_tokens = static_cast<int>(rc[0] / 3 * (rc[1] / 3));
    return img;
}

struct GoldenResult {
    size_t probes = 0;
    double worst = 0;
    std::string worst_name;
};

// Runs the tower on `img`, records exactly the vision probes the golden holds, and compares them.
GoldenResult check_against(const VisionTower& tower, const PatchedImage& img, const std::vector<NpyArray>& golden, const std::string& label) {
    std::vector<NpyArray> reference;
    std::vector<std::string> names;
    for (const NpyArray& a : golden)
        if (a.name.rfind("vision.", 0) == 0) {
            reference.push_back(a);
            names.push_back(a.name);
        }
    RecordingSink sink(names);
    std::vector<float> soft = tower.encode(img, &sink);
    CHECK(soft.size() == size_t(img.plan.soft_tokens) * tower.text_hidden());
    TraceDiff diff = compare_traces(to_arrays(sink.entries()), reference, tolerance::kNmseVsTransformers);
    CHECK_MESSAGE(diff.only_in_reference.empty(), label << ": not recorded: " << (diff.only_in_reference.empty() ? "" : diff.only_in_reference[0]));
    CHECK(diff.probes.size() == reference.size());
    GoldenResult r;
    r.probes = diff.probes.size();
    for (const ProbeDiff& d : diff.probes)
        if (d.nmse >= r.worst) r.worst = d.nmse, r.worst_name = d.name;
    if (diff.any_over()) {
        const ProbeDiff& d = diff.probes[diff.first_over];
        FAIL_CHECK(label << ": first probe over tolerance: " << d.name << " NMSE " << d.nmse << " max abs " << d.max_abs << " " << d.problem);
    }
    return r;
}

}  // namespace

TEST_CASE("vision: every vision probe of the image goldens matches transformers (tower on the golden's own pixels)") {
    G4_SKIP_WITHOUT_PROBES();
    for (const std::string model : kModels) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        VisionTower tower(ck);
        GoldenResult worst;
        std::string worst_file;
        int files = 0;
        for (const std::string suffix : {"-image", "-image70", "-image140", "-image280"}) {
            const fs::path path = golden_path(model + suffix);
            if (!fs::exists(path)) continue;
            std::vector<NpyArray> golden = read_npz(path.string());
            const GoldenResult r = check_against(tower, patched_from_golden(golden), golden, model + suffix);
            ++files;
            if (suffix == std::string("-image")) CHECK(r.probes == 5 + size_t(9) * tower.config().num_hidden_layers);  // every vision probe
            if (r.worst >= worst.worst) worst = r, worst_file = model + suffix;
        }
        CHECK(files >= 2);
        MESSAGE(model << ": " << files << " image goldens, worst NMSE " << worst.worst << " (" << worst.worst_name << " in " << worst_file << ")");
    }
}

TEST_CASE("vision: pooled and soft tokens of the photo / wide / tall goldens, all four models") {
    G4_SKIP_WITHOUT_PROBES();
    // The processor's patches are stored once, in the tiny-e2b files (identical processor configs).
    std::map<std::string, PatchedImage> inputs;
    for (const std::string stem : {"photo70", "photo280", "wide70", "wide280", "tall70", "tall280"}) {
        const fs::path path = golden_path("tiny-e2b-" + stem);
        REQUIRE(fs::exists(path));
        inputs[stem] = patched_from_golden(read_npz(path.string()));
    }
    for (const std::string model : kModels) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        VisionTower tower(ck);
        GoldenResult worst;
        std::string worst_file;
        for (const auto& [stem, img] : inputs) {
            std::vector<NpyArray> golden = read_npz(golden_path(model + "-" + stem).string());
            std::vector<NpyArray> kept;  // the pixels are the input, not a result; keep grid, pooled, soft tokens
            for (NpyArray& a : golden)
                if (a.name != "vision.patches") kept.push_back(std::move(a));
            const GoldenResult r = check_against(tower, img, kept, model + "-" + stem);
            CHECK(r.probes == 3);
            if (r.worst >= worst.worst) worst = r, worst_file = model + "-" + stem;
        }
        MESSAGE(model << ": photo / wide / tall at 70 and 280, worst NMSE " << worst.worst << " (" << worst.worst_name << " in " << worst_file << ")");
    }
}

TEST_CASE("vision: the soft-token count follows the patch grid; bad inputs are errors") {
    Checkpoint ck = Checkpoint::open("tiny-e2b");
    VisionTower tower(ck);
    std::vector<NpyArray> golden = read_npz(golden_path("tiny-e2b-image").string());
    PatchedImage img = patched_from_golden(golden);
    CHECK(tower.encode(img, nullptr).size() == size_t(10) * ck.config.text.hidden_size);
    // Blas gives the same soft tokens within the blas-vs-ref tolerance.
    const std::vector<float> ref = tower.encode(img, nullptr, ref_backend());
    const std::vector<float> blas = tower.encode(img, nullptr, blas_backend());
    ProbeDiff d = compare_arrays("vision.soft_tokens", blas, {10, ck.config.text.hidden_size}, ref, {10, ck.config.text.hidden_size},
                                 tolerance::kNmseBlasVsRef);
    CHECK_MESSAGE(!d.over, "blas vs ref NMSE " << d.nmse);

    PatchedImage ragged = img;  // drop the last patch: the grid is no longer full
    ragged.pos_x.pop_back();
    ragged.pos_y.pop_back();
    ragged.patches.resize(ragged.patches.size() - size_t(ck.config.vision->patch_dim()));
    CHECK_THROWS_AS(tower.encode(ragged, nullptr), Error);
    PatchedImage empty;
    CHECK_THROWS_AS(tower.encode(empty, nullptr), Error);
}

TEST_CASE("vision: a checkpoint without a vision tower is refused by name") {
    test::TempDir dir("g4vis");
    // tiny-e2b's config without vision_config, weights reused: the config parser gives no vision tower.
    Checkpoint ck = Checkpoint::open("tiny-e2b");
    ck.config.vision.reset();
    try {
        VisionTower tower(ck);
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(test::contains(e.what(), "no vision tower"));
    }
}
