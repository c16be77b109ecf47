// test_cli.cpp — the `gemma4` binary as a user runs it: info on variants and bundled models (JSON keys and values),
// probes, and the exit codes and messages for bad input.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "ops.h"
#include "safetensors.h"
#include "test_util.h"

using json = nlohmann::json;
using gemma4::test::CliResult;
using gemma4::test::contains;
using gemma4::test::run_cli;

namespace {

bool bundled_present() {
    return std::filesystem::exists(std::string(GEMMA4_ASSETS_DIR) + "/models/tiny-e2b/config.json");
}

}  // namespace

TEST_CASE("gemma4 info --variant --json has the documented keys and published totals") {
    struct Expect {
        const char* variant;
        double total_lo, total_hi;
        int layers;
    };
    for (Expect e : {Expect{"e2b", 5.05e9, 5.15e9, 35}, Expect{"e4b", 7.9e9, 8.1e9, 42}, Expect{"26b-a4b", 25e9, 26e9, 30},
                     Expect{"31b", 30.8e9, 31.5e9, 60}}) {
        const std::string variant = e.variant;
        CAPTURE(variant);
        CliResult r = run_cli(std::string("info --json --context 4096 --variant ") + e.variant);
        REQUIRE(r.exit_code == 0);
        json j = json::parse(r.out);
        CHECK(j["params_total"].get<double>() > e.total_lo);
        CHECK(j["params_total"].get<double>() < e.total_hi);
        CHECK(j["layers"].size() == static_cast<size_t>(e.layers));
        for (const char* key : {"type", "window", "head_dim", "q_heads", "kv_heads"}) CHECK(j["layers"][0].contains(key));
        CHECK(j["layers"].back()["type"] == "full_attention");
        CHECK(j["layers"].back()["head_dim"] == 512);
        CHECK(j.contains("params_ple"));
        CHECK(j.contains("params_active"));
        CHECK(j["memory"]["context"] == 4096);
    }
    json moe = json::parse(run_cli("info --json --variant 26b-a4b").out);
    CHECK(moe["params_active"].get<double>() > 3.7e9);
    CHECK(moe["params_active"].get<double>() < 3.9e9);
    json e2b = json::parse(run_cli("info --json --variant e2b --context 100000").out);
    // E2B: 15 non-shared layers cache K/V: 12 sliding (window 512) and 3 full; 1 KV head of 256 / 512 dims.
    CHECK(e2b["memory"]["kv_sliding_layers"] == 12);
    CHECK(e2b["memory"]["kv_full_layers"] == 3);
    CHECK(e2b["memory"]["kv_sliding_bytes_f32"] == 12LL * 512 * 2 * 256 * 4);
    CHECK(e2b["memory"]["kv_full_bytes_f32"] == 3LL * 100000 * 2 * 512 * 4);
    CHECK(e2b["params_ple"] == 262144LL * 35 * 256);
}

TEST_CASE("gemma4 info text table shows the layer rhythm") {
    CliResult r = run_cli("info --variant e2b");
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("35 layers (28 sliding, 7 full)") != std::string::npos);
    CHECK(r.out.find("PLE table") != std::string::npos);
    CHECK(r.out.find("layers 15..34 reuse the K/V") != std::string::npos);
}

TEST_CASE("gemma4 info -m validates a bundled checkpoint") {
    if (!bundled_present()) {
        MESSAGE("bundled models missing; skipped");
        return;
    }
    for (const char* m : {"tiny-e2b", "tiny-e4b", "tiny-26b-a4b", "tiny-31b"}) {
        const std::string model = m;
        CAPTURE(model);
        CliResult r = run_cli(std::string("info --json -m ") + m);
        REQUIRE(r.exit_code == 0);
        json j = json::parse(r.out);
        CHECK(j["tensors_checked"].get<int>() > 50);
        CHECK(j["tensors_unexpected"].empty());
    }
}

TEST_CASE("gemma4 errors are named and exit non-zero") {
    CliResult r = run_cli("info -m /nonexistent/model");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("/nonexistent/model") != std::string::npos);
    r = run_cli("info --variant 7b");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("unknown variant") != std::string::npos);
    r = run_cli("info --bogus");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("--bogus") != std::string::npos);
    r = run_cli("info --variant e2b --context -5");
    CHECK(r.exit_code == 2);
    r = run_cli("frobnicate");
    CHECK(r.exit_code == 2);
    r = run_cli("info --help");
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("--context") != std::string::npos);
}

TEST_CASE("gemma4 probes --json lists the probe table") {
    CliResult r = run_cli("probes --json");
    REQUIRE(r.exit_code == 0);
    json j = json::parse(r.out);
    REQUIRE(j.size() > 40);
    bool found = false;
    for (const json& p : j)
        if (p["name"] == "text.L.attn_weights") found = p["shape"] == "H,T,S";
    CHECK(found);
}

TEST_CASE("cli: bench --ops --quick --json reports positive, finite figures") {
    const gemma4::test::CliResult r = gemma4::test::run_cli("bench --ops --quick --json");
    REQUIRE(r.exit_code == 0);
    const nlohmann::json j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
    for (const char* key : {"bandwidth_gb_s", "sgemm_gflop_s"}) {
        REQUIRE(j.contains(key));
        const double v = j[key].get<double>();
        CHECK(std::isfinite(v));
        CHECK(v > 0);
    }
    REQUIRE(j["results"].is_array());
    int measured = 0;
    for (const auto& e : j["results"]) {
        for (const char* key : {"op", "backend", "shape", "dtype"}) CHECK(e.contains(key));
        if (e.contains("skipped")) {
            CHECK(e["backend"] == "opencl");
            continue;
        }
        ++measured;
        const char* fraction = e["op"] == "matvec" ? "fraction_of_bandwidth" : "fraction_of_sgemm";
        for (const char* key : {"seconds", "gb_s", "gflop_s", fraction}) {
            REQUIRE(e.contains(key));
            const double v = e[key].get<double>();
            CHECK(std::isfinite(v));
            CHECK(v > 0);
        }
    }
    CHECK(measured >= 4);  // matvec and matmul for ref and blas at least
}

TEST_CASE("cli: bench -m tiny-e2b --quick --json reports positive prefill, decode, limits and ratios") {
    if (!bundled_present()) return;
    const CliResult r = run_cli("bench -m tiny-e2b --quick --json --backend blas --reps 1");
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out.substr(r.out.find('{')));
    for (const char* key : {"bandwidth_gb_s", "sgemm_gflop_s", "weight_bytes_per_decoded_token", "roofline_decode_tok_s"}) {
        REQUIRE(j.contains(key));
        CHECK(std::isfinite(j[key].get<double>()));
        CHECK(j[key].get<double>() > 0);
    }
    REQUIRE(j["backends"].is_array());
    REQUIRE(j["backends"].size() == 1);
    const json& b = j["backends"][0];
    CHECK(b["backend"] == "blas");
    CHECK(j["decode_bandwidth_sampled"] == "before and after");  // tiny-e2b has no tensor far larger than the caches
    REQUIRE(j.contains("weights_resident_bytes"));
    REQUIRE(j.contains("weights_on_huge_pages_bytes"));
#ifdef __linux__
    CHECK(j["weights_resident_bytes"].get<int64_t>() > 0);  // the bundled checkpoint's pages, read by every decode
#endif
    CHECK(j["weights_on_huge_pages_bytes"].get<int64_t>() >= 0);
    CHECK(j["weights_on_huge_pages_bytes"].get<int64_t>() <= j["weights_resident_bytes"].get<int64_t>());
    for (const char* key : {"decode_tok_s", "decode_roofline_fraction", "decode_bandwidth_gb_s", "peak_rss_mib"}) {
        REQUIRE(b.contains(key));
        CHECK(std::isfinite(b[key].get<double>()));
        CHECK(b[key].get<double>() > 0);
    }
    for (const char* key : {"prefill_tok_s", "prefill_sgemm_fraction"}) {
        REQUIRE(b.contains(key));
        REQUIRE(b[key].contains("32"));
        CHECK(b[key]["32"].get<double>() > 0);
    }
    REQUIRE(b.contains("probes"));
    CHECK(b["probes"]["compiled_in"].get<bool>() == bool(GEMMA4_PROBES));
#if GEMMA4_PROBES
    CHECK(b["probes"]["decode_tok_s_recording_all"].get<double>() > 0);
#endif
    // Named errors: a model that is not there, a bad --prefill list, -m together with --ops.
    CliResult bad = run_cli("bench -m /nonexistent/model --quick");
    CHECK(bad.exit_code != 0);
    CHECK(bad.out.find("/nonexistent/model") != std::string::npos);
    bad = run_cli("bench -m tiny-e2b --prefill 128,x");
    CHECK(bad.exit_code != 0);
    CHECK(bad.out.find("'x'") != std::string::npos);
    bad = run_cli("bench -m tiny-e2b --ops");
    CHECK(bad.exit_code != 0);
    bad = run_cli("bench -m tiny-e2b --quick --backend blas,cuda");
    CHECK(bad.exit_code != 0);
    CHECK(bad.out.find("'blas,cuda'") != std::string::npos);
}

TEST_CASE("cli: bench --backend blas,bf16 runs both, in that order, on a bf16 model") {
    if (!bundled_present()) return;
    const CliResult r = run_cli("bench -m demo-e2b-mini --quick --json --backend bf16,blas --reps 1");
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out.substr(r.out.find('{')));
    REQUIRE(j["backends"].size() == 2);
    CHECK(j["backends"][0]["backend"] == "blas");
    CHECK(j["backends"][1]["backend"] == "bf16");
    CHECK(j["bf16_vdpbf16ps"].get<bool>() == gemma4::have_bf16_dot());
    for (const json& b : j["backends"]) {
        CHECK(b["decode_tok_s"].get<double>() > 0);
        CHECK(b["prefill_tok_s"]["32"].get<double>() > 0);
    }
}

TEST_CASE("cli: bench --passes accounts for every matmul weight a decoded token reads, once") {
    if (!bundled_present()) return;
    const CliResult r = run_cli("bench -m demo-e2b-mini --passes --quick --json --reps 1 --decode 4");
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out.substr(r.out.find('{')));
    REQUIRE(j["backends"].size() == 1);
    const json& b = j["backends"][0];
    CHECK(b["backend"] == "blas");
    // What one decoded token must read through matmuls: every 2-D tensor of the text model except the PLE table,
    // which is looked up (one row per layer), not multiplied. The KV-shared layers have no k/v projections in the
    // checkpoint, so they drop out by themselves; the tied LM head is embed_tokens.
    const gemma4::WeightStore store =
        gemma4::WeightStore::open_dir(std::string(GEMMA4_ASSETS_DIR) + "/models/demo-e2b-mini");
    double expected = 0;
    for (const gemma4::TensorRef* t : store.tensors())
        if (t->shape.size() == 2 && contains(t->name, "language_model.") &&
            !contains(t->name, "embed_tokens_per_layer"))
            expected += double(t->nbytes);
    REQUIRE(expected > 0);
    CHECK(b["matmul_bytes_per_token"].get<double>() == doctest::Approx(expected));
    double summed = 0, ms = 0;
    for (const json& k : b["passes"]) {
        CHECK(k["shape"].get<std::string>().find("BF16") != std::string::npos);
        for (const char* key : {"bytes_per_pass", "passes_per_token", "ms_per_token", "gb_s", "bandwidth_fraction"}) {
            REQUIRE(k.contains(key));
            CHECK(std::isfinite(k[key].get<double>()));
            CHECK(k[key].get<double>() > 0);
        }
        summed += k["bytes_per_pass"].get<double>() * k["passes_per_token"].get<double>();
        ms += k["ms_per_token"].get<double>();
    }
    CHECK(summed == doctest::Approx(expected));
    CHECK(ms == doctest::Approx(b["matmul_ms"].get<double>()).epsilon(1e-6));
    CHECK(b["matmul_ms"].get<double>() < b["token_ms"].get<double>());
    // Named errors: the OpenCL backend, a prefill list, --ops.
    CliResult bad = run_cli("bench -m demo-e2b-mini --passes --quick --backend opencl");
    CHECK(bad.exit_code != 0);
    CHECK(contains(bad.out, "--passes"));
    bad = run_cli("bench -m demo-e2b-mini --passes --prefill 16");
    CHECK(bad.exit_code != 0);
    CHECK(contains(bad.out, "--prefill"));
    bad = run_cli("bench --ops --passes");
    CHECK(bad.exit_code != 0);
}
