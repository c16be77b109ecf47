// test_cli_model.cpp — gemma4 run / trace / check as a user runs them: generation equal to transformers' greedy
// tokens, a trace that `check` accepts against the golden, the first divergent probe named in execution order, and
// the errors for bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "checkpoint.h"
#include "npz.h"
#include "test_util.h"

using namespace gemma4;
using gemma4::test::CliResult;
using gemma4::test::contains;
using gemma4::test::run_cli;

namespace {

std::string golden(const std::string& name) { return (std::filesystem::path(assets_dir()) / "goldens" / name).string(); }

}  // namespace

TEST_CASE("gemma4 run: greedy tokens equal transformers' generate()") {
    std::ifstream in(golden("tiny-e2b-generate.json"));
    REQUIRE(in);
    nlohmann::json g = nlohmann::json::parse(in);
    std::string prompt;
    for (int id : g["prompt_ids"]) {
        if (!prompt.empty()) prompt += ',';
        prompt += std::to_string(id);
    }
    const std::string n = std::to_string(g["max_new_tokens"].get<int>());
    CliResult r = run_cli("run -m tiny-e2b --tokens " + prompt + " -n " + n + " --ids");
    REQUIRE(r.exit_code == 0);
    std::string expected = "ids:";
    for (int id : g["generated_ids"]) {
        expected += ' ';
        expected += std::to_string(id);
    }
    CHECK(contains(r.out, expected));
    CHECK(contains(r.out, "tok/s"));
    // --backend ref gives the same tokens.
    CHECK(contains(run_cli("run -m tiny-e2b --tokens " + prompt + " -n " + n + " --ids --backend ref").out, expected));
    // -p goes through the chat format unless --raw; both run.
    CHECK(run_cli("run -m tiny-e2b -p 'Hello world!' -n 4").exit_code == 0);
    CHECK(run_cli("run -m tiny-e2b -p 'Hello world!' -n 4 --raw").exit_code == 0);
}

TEST_CASE("gemma4 trace writes what gemma4 check accepts against the golden") {
    G4_SKIP_WITHOUT_PROBES();
    test::TempDir dir("gemma4_cli_trace");
    std::vector<NpyArray> g = read_npz(golden("tiny-26b-a4b-t20.npz"));
    std::string tokens;
    for (int64_t id : find_array(g, "meta.tokens")->to_i64()) {
        if (!tokens.empty()) tokens += ',';
        tokens += std::to_string(id);
    }
    const std::string out = dir.file("run.npz");
    CliResult r = run_cli("trace -m tiny-26b-a4b --tokens " + tokens + " --probes 'text.*' -o " + out);
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, "wrote " + out));
    std::vector<NpyArray> ours = read_npz(out);
    REQUIRE(find_array(ours, "text.logits") != nullptr);
    CHECK(find_array(ours, "text.logits")->shape == std::vector<int64_t>{20, 512});
    CHECK(find_array(ours, "meta.model")->to_string() == "tiny-26b-a4b");
    CHECK(find_array(ours, "meta.backend")->to_string() == "ref");
    r = run_cli("check " + out + " " + golden("tiny-26b-a4b-t20.npz") + " --quiet");
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, " 0 over tolerance"));
    // Only the requested probes are kept.
    r = run_cli("trace -m tiny-26b-a4b --tokens " + tokens + " --probes 'text.*.attn_weights,text.logits' -o " + out);
    REQUIRE(r.exit_code == 0);
    CHECK(read_npz(out).size() == 12 + 1 + 6);  // 12 layers' attention maps, the logits, 6 meta entries
}

TEST_CASE("gemma4 check -m runs the model on the golden's tokens") {
    G4_SKIP_WITHOUT_PROBES();
    CliResult r = run_cli("check -m tiny-e4b --golden " + golden("tiny-e4b-t9.npz"));
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "text.11.layer_out"));
    r = run_cli("check -m tiny-31b --golden " + golden("tiny-31b-text.npz") + " --backend blas -q");
    CHECK(r.exit_code == 0);
}

TEST_CASE("gemma4 check names the first probe over tolerance in execution order") {
    test::TempDir dir("gemma4_cli_check");
    std::vector<NpyArray> g = read_npz(golden("tiny-e2b-t8.npz"));
    // Perturb a late probe and an early one; the file order is alphabetical, the report must follow the forward pass.
    NpzWriter w(dir.file("bad.npz"));
    for (const NpyArray& a : g) {
        if (a.name.rfind("meta.", 0) == 0) continue;
        std::vector<float> v = a.to_f32();
        if (a.name == "text.7.mlp_out" || a.name == "text.2.attn_v") v[3] += 0.5f;
        w.add_f32(a.name, v.data(), a.shape);
    }
    w.close();
    CliResult r = run_cli("check " + dir.file("bad.npz") + " " + golden("tiny-e2b-t8.npz"));
    CHECK(r.exit_code == 1);
    CHECK(contains(r.out, "2 over tolerance"));
    CHECK(contains(r.out, "first probe over tolerance: text.2.attn_v"));
}

TEST_CASE("gemma4 run / trace / check refuse bad input with a named error") {
    CliResult r = run_cli("run -m tiny-e2b --tokens 2,999");
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "999"));
    CHECK(contains(r.out, "vocabulary"));
    r = run_cli("run -m tiny-e2b -p hi -n 200000");
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "context"));
    r = run_cli("run -m tiny-e2b --tokens 2,x");
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "'x'"));
    if (GEMMA4_PROBES) {
        r = run_cli("trace -m tiny-e2b --tokens 2,3 -o /nonexistent-dir/x.npz");
        CHECK(r.exit_code == 2);
        CHECK(contains(r.out, "/nonexistent-dir"));
        r = run_cli("trace -m tiny-e2b --tokens 2,3 --probes 'nothing.*' -o /tmp/never.npz");
        CHECK(r.exit_code == 2);
        CHECK(contains(r.out, "no probe matched"));
    } else {  // probes compiled out: trace and check -m say so by name
        r = run_cli("trace -m tiny-e2b --tokens 2,3 -o /tmp/never.npz");
        CHECK(r.exit_code == 2);
        CHECK(contains(r.out, "GEMMA4_PROBES=OFF"));
        r = run_cli("check -m tiny-e2b --golden " + golden("tiny-e2b-t8.npz"));
        CHECK(r.exit_code == 2);
        CHECK(contains(r.out, "GEMMA4_PROBES=OFF"));
    }
    r = run_cli("check /nonexistent.npz " + golden("tiny-e2b-t8.npz"));
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "/nonexistent.npz"));
}

TEST_CASE("gemma4 run / trace with --image and --audio") {
    const std::string samples = std::string(assets_dir()) + "/samples/";
    CliResult r = run_cli("run -m tiny-e2b --image " + samples + "photo.png --audio " + samples + "speech.wav -p Describe -n 4");
    REQUIRE(r.exit_code == 0);
    CHECK(contains(r.out, "266 soft tokens"));  // photo.png at the default budget 280, as transformers counts it
    CHECK(contains(r.out, "73 soft tokens"));   // speech.wav, 2.91 s
    r = run_cli("run -m tiny-26b-a4b --image " + samples + "photo.png --image-tokens 70 -p Describe -n 2 --image-mask jax");
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "63 soft tokens"));

    if (GEMMA4_PROBES) {  // (the trace needs the probes compiled in)
        test::TempDir dir("gemma4_cli_media");
        const std::string out = dir.file("mm.npz");
        r = run_cli("trace -m tiny-e4b --raw --audio " + samples + "short.wav -p hi --probes 'audio.*,text.logits' -o " + out);
        REQUIRE(r.exit_code == 0);
        std::vector<NpyArray> t = read_npz(out);
        REQUIRE(find_array(t, "audio.soft_tokens") != nullptr);
        CHECK(find_array(t, "audio.soft_tokens")->shape[0] == 5);  // 0.2 s → 5 soft tokens
        const std::vector<int64_t> tokens = find_array(t, "meta.tokens")->to_i64();
        CHECK(std::count(tokens.begin(), tokens.end(), 508) == 5);  // <|audio|> widened to 5 soft-token positions
    }

    r = run_cli("run -m tiny-31b --audio " + samples + "speech.wav -p x");
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "no audio tower"));
    r = run_cli("run -m tiny-e2b --image " + samples + "photo.png --image-tokens 100 -p x");
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "100"));
    r = run_cli("run -m tiny-e2b --image " + std::string(assets_dir()) + "/README.md -p x");
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "README.md"));
    r = run_cli("run -m tiny-e2b --image-mask sideways -p x");
    CHECK(r.exit_code == 2);
}

TEST_CASE("gemma4 run / trace: media beyond the context are refused before any tower runs") {
    // tiny-e2b with a context of 64: photo.png alone brings 266 soft tokens, speech.wav 73. The towers print one line
    // per item when they finish ("image ...: ... soft tokens"); the refusal must come before that line.
    const std::string samples = std::string(assets_dir()) + "/samples/";
    test::TempDir dir("gemma4_media_context");
    const std::filesystem::path model = dir.path / "tiny-e2b-ctx64";
    std::filesystem::create_directories(model);
    for (const auto& f : std::filesystem::directory_iterator(std::filesystem::path(assets_dir()) / "models" / "tiny-e2b"))
        if (f.path().filename() != "config.json") std::filesystem::create_symlink(f.path(), model / f.path().filename());
    nlohmann::json cfg = nlohmann::json::parse(std::ifstream(std::filesystem::path(assets_dir()) / "models/tiny-e2b/config.json"));
    cfg["text_config"]["max_position_embeddings"] = 64;
    std::ofstream(model / "config.json") << cfg.dump(2);

    for (const std::string& media : {"--image " + samples + "photo.png", "--audio " + samples + "speech.wav"}) {
        CAPTURE(media);
        CliResult r = run_cli("run -m " + model.string() + " " + media + " -p Describe -n 4");
        CHECK(r.exit_code == 2);
        CHECK(contains(r.out, "more than the model's context of 64 tokens"));
        CHECK_FALSE(contains(r.out, "soft tokens ("));  // no tower ran
    }
    // Fits without -n, not with it: the room left is named.
    CliResult r = run_cli("run -m " + model.string() + " --raw --audio " + samples + "short.wav -p hi -n 60");
    CHECK(r.exit_code == 2);
    CHECK(contains(r.out, "plus -n 60 exceeds the model's context of 64 tokens"));
    CHECK(contains(r.out, "at most -n"));
    CHECK_FALSE(contains(r.out, "soft tokens ("));
    r = run_cli("run -m " + model.string() + " --raw --audio " + samples + "short.wav -p hi -n 2");
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "5 soft tokens ("));
}

#ifdef GEMMA4_HAVE_OPENCL
#include "cl_devices.h"

TEST_CASE("gemma4 run / trace / check with --backend opencl --strict-device, as the README shows") {
    G4_SKIP_WITHOUT_PROBES();
    if (cl::list_devices().empty()) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    // Greedy tokens of the 26B-A4B structure with an image (MoE, image blocks, vision tower) equal the reference's.
    const std::string photo = (std::filesystem::path(assets_dir()) / "samples" / "photo.png").string();
    const std::string args = "run -m tiny-26b-a4b -p 'Describe' --image " + photo + " --image-tokens 70 -n 8 --ids";
    CliResult cl = run_cli(args + " --backend opencl --strict-device");
    CliResult ref = run_cli(args + " --backend ref");
    REQUIRE(cl.exit_code == 0);
    REQUIRE(ref.exit_code == 0);
    const auto ids_line = [](const std::string& out) { return out.substr(out.rfind("ids:")); };
    CHECK(ids_line(cl.out) == ids_line(ref.out));
    CHECK(contains(cl.out, "backend opencl"));
    CHECK(!contains(cl.out, "runs on the host"));

    // A trace of E2B with audio on each backend; check finds no probe over 1e-8.
    test::TempDir dir("gemma4_cli_opencl");
    const std::string speech = (std::filesystem::path(assets_dir()) / "samples" / "speech.wav").string();
    const std::string trace = "trace -m tiny-e2b -p 'Listen' --audio " + speech + " --probes 'text.*,audio.*' -o ";
    REQUIRE(run_cli(trace + dir.file("cl.npz") + " --backend opencl --strict-device").exit_code == 0);
    REQUIRE(run_cli(trace + dir.file("ref.npz")).exit_code == 0);
    CHECK(find_array(read_npz(dir.file("cl.npz")), "meta.backend")->to_string() == "opencl");
    CliResult r = run_cli("check " + dir.file("cl.npz") + " " + dir.file("ref.npz") + " --tol 1e-8 --quiet");
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, " 0 over tolerance"));

    // The options are refused where they do not apply.
    r = run_cli("run -m tiny-e2b -p hi --strict-device");
    CHECK(r.exit_code != 0);
    CHECK(contains(r.out, "only apply with --backend opencl"));
    r = run_cli("run -m tiny-e2b -p hi --backend cuda");
    CHECK(r.exit_code != 0);
    CHECK(contains(r.out, "ref, blas, bf16 or opencl"));
}
#endif
