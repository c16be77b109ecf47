// cmd_bench.cpp — `gemma4 bench --ops`: how close the matmul backends come to what the machine can do. One run
// measures the read-only memory bandwidth (an OpenMP streaming sum over a buffer far larger than the caches), the
// OpenBLAS sgemm peak, and matvec (T = 1, decode) and matmul (T = 128, prefill) of bf16 weights of E2B's shapes with
// the reference loops (matmul_ref), the BLAS path (matmul_blas), the same with bf16 activations (the bf16 backend:
// vdpbf16ps on AVX512-BF16 CPUs, ops_bf16.cpp) and OpenCL (kernels/matmul.cl, weight and input
// resident on the device; the kernel and the read of the output are timed). Every figure is the median of several
// repetitions, run alternating (one repetition of each backend in turn) so that machine noise hits them alike. The
// CPU matvecs read a run of distinct copies larger than the caches, and each repetition is paired with a bandwidth
// sample taken just before it.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cblas.h>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench.h"
#include "cli.h"
#include "dtype.h"
#include "error.h"
#include "ops.h"

#if GEMMA4_HAVE_OPENCL
#include "cl_devices.h"
#include "cl_ops.h"
#endif

namespace gemma4::cli {

namespace {

using json = nlohmann::json;
using bench::Lcg;
using bench::median;
using bench::seconds_of;
using bench::g_sink;

struct Case {
    std::string op;     // "matvec" or "matmul"
    std::string name;   // "q_proj", "mlp"
    int64_t rows, cols; // out, in
    int T;
};

struct Row {
    std::string op, backend, shape, name;
    double seconds = 0, gb_s = 0, gflop_s = 0, fraction = 0;
    std::string skipped;  // non-empty: not measured, and why
};

}  // namespace

int cmd_bench(int argc, char** argv) {
    const std::vector<Option> options = {
        {"--ops", "", "", "benchmark the matmul backends against memory bandwidth and sgemm peak"},
        {"--model", "-m", "MODEL", "benchmark prefill and decode of this checkpoint (directory or bundled name)"},
        {"--prefill", "", "T,T,...", "with -m: prompt lengths to prefill (default 128,512,2048; 32 with --quick)"},
        {"--decode", "", "N", "with -m: tokens to decode after a 16-token prompt (default 64; 8 with --quick)"},
        {"--passes", "", "", "with -m: time every matmul pass of the decodes instead, by the shape of the weights it reads, against the bandwidth around each token (default backend blas)"},
        {"--backend", "", "NAME", "ref, blas, bf16, opencl, all, or a list such as blas,bf16 (default all; bf16 = blas with matmul inputs rounded to bf16, as llama.cpp computes bf16 weights)"},
        {"--cl-device", "", "N", "OpenCL device by the index `gemma4 info --cl` prints (default 0)"},
        {"--reps", "", "N", "repetitions per figure, the median is reported (default 5; 3 with --quick); with --passes, decodes"},
        {"--quick", "", "", "smaller buffer, sgemm and shapes (a few seconds; for tests)"},
        {"--json", "", "", "print JSON instead of a table"},
        {"--help", "-h", "", "show this help"},
    };
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 bench (--ops | -m MODEL [--prefill T,T,...] [--decode N] [--passes]) [--backend NAME[,NAME...]]\n"
                                "                    [--cl-device N] [--reps N] [--quick] [--json]",
                                "Measures memory bandwidth and OpenBLAS sgemm peak, alternating with the benchmark itself.\n"
                                "--ops: matvec (T = 1) and matmul (T = 128) of bf16 weights of E2B's shapes per backend, as GB/s\n"
                                "of weight read, GFLOP/s and the fraction of bandwidth (matvec) or sgemm peak (matmul).\n"
                                "-m MODEL: prefill at each T and decode per backend, as tok/s, decode against the roofline\n"
                                "(weight bytes read per token / bandwidth) and prefill against sgemm peak, peak RSS, and the\n"
                                "cost of probes (nobody listening vs recording every probe). Medians of the repetitions.\n"
                                "-m MODEL --passes: where a decoded token's time goes: every matmul pass (one weight, a group\n"
                                "sharing an input, a layer's MoE experts) timed and grouped by the weights it reads, with its\n"
                                "read rate against the bandwidth measured around the same token.",
                                options)
                              .c_str());
        return 0;
    }
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional()[0] + "'");
    if (args.has("--ops") == args.has("--model")) throw Error("give either --ops or -m MODEL (see --help)");
    if (args.has("--ops") && (args.has("--prefill") || args.has("--decode") || args.has("--passes")))
        throw Error("--prefill, --decode and --passes apply with -m MODEL");
    const bool quick = args.has("--quick");
    const bool as_json = args.has("--json");
    // --backend: one name, a comma-separated list of them, or all; run in the order ref, blas, bf16, opencl.
    // (--passes: blas unless named; it times the CPU backends only.)
    const std::string backend = args.get("--backend", args.has("--passes") ? "blas" : "all");
    std::vector<std::string> asked;
    for (size_t start = 0; start <= backend.size();) {
        const size_t end = std::min(backend.find(',', start), backend.size());
        const std::string name = backend.substr(start, end - start);
        if (name != "ref" && name != "blas" && name != "bf16" && name != "opencl" && name != "all")
            throw Error("--backend must be ref, blas, bf16, opencl, all or a comma-separated list of them, got '" + backend + "'");
        asked.push_back(name);
        start = end + 1;
    }
    const long long reps_arg = args.get_int("--reps", quick ? 3 : 5);
    if (reps_arg < 1 || reps_arg > 1000) throw Error("--reps must be 1..1000, got " + args.get("--reps"));
    const int reps = static_cast<int>(reps_arg);
    const long long cl_device = args.get_int("--cl-device", 0);
    if (cl_device < 0) throw Error("--cl-device must be >= 0, got " + args.get("--cl-device"));

    std::vector<std::string> backends;
    for (const char* b : {"ref", "blas", "bf16", "opencl"})
        if (std::find(asked.begin(), asked.end(), "all") != asked.end() || std::find(asked.begin(), asked.end(), b) != asked.end())
            backends.push_back(b);
    if (args.has("--passes")) return bench_passes(args, backends, reps, quick, as_json);
    if (args.has("--model")) return bench_model(args, backends, reps, quick, as_json);

    // ---- OpenCL device (optional)
    std::string cl_skip;
    std::string cl_name;
#if GEMMA4_HAVE_OPENCL
    std::unique_ptr<cl::ClContext> clctx;
    if (std::find(backends.begin(), backends.end(), "opencl") != backends.end()) {
        const std::vector<cl::DeviceInfo> devices = cl::list_devices();
        if (devices.empty()) {
            cl_skip = "no OpenCL device";
        } else {
            if (cl_device >= static_cast<long long>(devices.size()))
                throw Error("--cl-device " + std::to_string(cl_device) + ": only " + std::to_string(devices.size()) +
                            " OpenCL device(s) (see gemma4 info --cl)");
            clctx = std::make_unique<cl::ClContext>(static_cast<int>(cl_device));
            cl_name = clctx->info().name;
        }
    }
#else
    cl_skip = "no OpenCL device";
#endif

    // ---- bandwidth and sgemm peak, alternating
    bench::Limits limits((quick ? 256ll : 1024ll) << 20, quick ? 512 : 1024);
    const int64_t bw_bytes = limits.buffer_bytes();
    const int gemm_n = limits.gemm_n();
    Lcg rng{43};
    std::vector<double> bw_t, gemm_t;
    for (int r = 0; r < reps; ++r) {
        bw_t.push_back(limits.bandwidth_sample());
        gemm_t.push_back(limits.sgemm_sample());
    }
    const double sgemm_peak = limits.gflop_s(median(gemm_t));

    // ---- matvec / matmul per backend, alternating
    std::vector<Case> cases;
    const int prefill_T = 128;
    cases.push_back({"matvec", "q_proj", 2048, 1536, 1});
    if (!quick) cases.push_back({"matvec", "mlp", 6144, 1536, 1});
    cases.push_back({"matmul", "q_proj", 2048, 1536, prefill_T});
    if (!quick) cases.push_back({"matmul", "mlp", 6144, 1536, prefill_T});

    // A matvec reads each weight once, so a matrix that fits in the caches (E2B's are 6-18 MiB; the L3 may be 32 MiB)
    // would be timed from cache on every repetition after the first. The CPU backends therefore multiply a run of
    // distinct copies spanning kMatvecSpan, as a model's consecutive layers do, and the figure is bytes of all copies
    // over their time. OpenCL keeps one resident copy (its buffers live on the device).
    const int64_t kMatvecSpan = (quick ? 64ll : 256ll) << 20;
    std::vector<Row> rows;
    for (const Case& c : cases) {
        const int64_t matrix_values = c.rows * c.cols;
        const int64_t copies = c.op == "matvec" ? std::max<int64_t>(1, kMatvecSpan / (2 * matrix_values)) : 1;
        std::vector<uint16_t> w(static_cast<size_t>(matrix_values * copies));
        for (int64_t i = 0; i < matrix_values; ++i) w[size_t(i)] = f32_to_bf16(rng.next() * 0.05f);
        for (int64_t k = 1; k < copies; ++k) std::copy_n(w.begin(), matrix_values, w.begin() + k * matrix_values);
        std::vector<float> x(static_cast<size_t>(c.T * c.cols));
        for (float& v : x) v = rng.next();
        std::vector<float> out(static_cast<size_t>(c.T * c.rows));
        auto copy_view = [&](int64_t k) {
            return WeightView{reinterpret_cast<const std::byte*>(w.data() + k * matrix_values), DType::BF16, c.rows, c.cols};
        };
        const std::string shape = "T=" + std::to_string(c.T) + " W " + std::to_string(c.rows) + "x" + std::to_string(c.cols);

        std::vector<std::function<void()>> runs(backends.size());
        std::vector<int64_t> run_copies(backends.size(), copies);
#if GEMMA4_HAVE_OPENCL
        std::unique_ptr<cl::ClMatmulResident> resident;
#endif
        for (size_t b = 0; b < backends.size(); ++b) {
            if (backends[b] == "ref")
                runs[b] = [&] {
                    for (int64_t k = 0; k < copies; ++k) matmul_ref(out.data(), x.data(), copy_view(k), c.T);
                };
            else if (backends[b] == "blas")
                runs[b] = [&] {
                    for (int64_t k = 0; k < copies; ++k) matmul_blas(out.data(), x.data(), copy_view(k), c.T);
                };
            else if (backends[b] == "bf16")
                runs[b] = [&] {
                    for (int64_t k = 0; k < copies; ++k) matmul_blas(out.data(), x.data(), copy_view(k), c.T, Activations::BF16);
                };
#if GEMMA4_HAVE_OPENCL
            else if (clctx) {
                resident = std::make_unique<cl::ClMatmulResident>(*clctx, copy_view(0), c.T);
                resident->set_input(x.data());
                runs[b] = [&] { resident->run(out.data()); };
                run_copies[b] = 1;
            }
#endif
        }
        for (auto& f : runs)
            if (f) f();  // warm-up (and the OpenCL program build)
        // A matvec repetition is paired with a bandwidth sample taken just before it (the machine's bandwidth drifts
        // by tens of percent over seconds here); its fraction is the median of the per-repetition ratios.
        std::vector<std::vector<double>> times(backends.size()), ratios(backends.size());
        for (int r = 0; r < reps; ++r) {
            const double bw_s = c.op == "matvec" ? limits.bandwidth_sample() : 0;
            if (bw_s > 0) bw_t.push_back(bw_s);
            for (size_t b = 0; b < backends.size(); ++b)
                if (runs[b]) {
                    times[b].push_back(seconds_of(runs[b]));
                    const double matvec_gb_s = 2.0 * double(matrix_values) * double(run_copies[b]) / times[b].back() / 1e9;
                    if (bw_s > 0) ratios[b].push_back(matvec_gb_s / limits.gb_s(bw_s));
                }
        }

        for (size_t b = 0; b < backends.size(); ++b) {
            Row row;
            row.op = c.op;
            row.backend = backends[b];
            row.shape = shape;
            row.name = c.name;
            if (!runs[b]) {
                row.skipped = cl_skip.empty() ? "not run" : cl_skip;
            } else {
                row.seconds = median(times[b]) / double(run_copies[b]);  // per matrix
                row.gb_s = double(matrix_values) * 2.0 / row.seconds / 1e9;
                row.gflop_s = 2.0 * c.T * double(matrix_values) / row.seconds / 1e9;
                row.fraction = c.op == "matvec" ? median(ratios[b]) : row.gflop_s / sgemm_peak;
            }
            rows.push_back(row);
        }
    }

    limits.release();
    const double bandwidth = limits.gb_s(median(bw_t));

    if (as_json) {
        json j;
        j["repetitions"] = reps;
        j["quick"] = quick;
        j["threads"] = omp_get_max_threads();
        j["bandwidth_gb_s"] = bandwidth;
        j["bandwidth_buffer_bytes"] = bw_bytes;
        j["sgemm_gflop_s"] = sgemm_peak;
        j["sgemm_n"] = gemm_n;
        if (!cl_name.empty()) j["opencl_device"] = cl_name;
        json list = json::array();
        for (const Row& r : rows) {
            json e;
            e["op"] = r.op;
            e["backend"] = r.backend;
            e["weight"] = r.name;
            e["shape"] = r.shape;
            e["dtype"] = "bf16";
            if (!r.skipped.empty()) {
                e["skipped"] = r.skipped;
            } else {
                e["seconds"] = r.seconds;
                e["gb_s"] = r.gb_s;
                e["gflop_s"] = r.gflop_s;
                e[r.op == "matvec" ? "fraction_of_bandwidth" : "fraction_of_sgemm"] = r.fraction;
            }
            list.push_back(e);
        }
        j["results"] = list;
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }

    std::printf("gemma4 bench --ops%s: medians of %d alternating repetitions, %d OpenMP threads\n", quick ? " --quick" : "", reps,
                omp_get_max_threads());
    std::printf("  memory bandwidth (read, %lld MiB sum) %8.2f GB/s\n", static_cast<long long>(bw_bytes >> 20), bandwidth);
    std::printf("  OpenBLAS sgemm %d³                   %8.2f GFLOP/s\n", gemm_n, sgemm_peak);
    if (!cl_name.empty()) std::printf("  OpenCL device %lld: %s\n", cl_device, cl_name.c_str());
    std::printf("\n%-7s %-7s %-20s %-7s %10s %8s %9s %s\n", "op", "backend", "shape (bf16 weight)", "weight", "ms", "GB/s", "GFLOP/s",
                "fraction");
    for (const Row& r : rows) {
        if (!r.skipped.empty()) {
            std::printf("%-7s %-7s %-20s %-7s skipped: %s\n", r.op.c_str(), r.backend.c_str(), r.shape.c_str(), r.name.c_str(),
                        r.skipped.c_str());
            continue;
        }
        std::printf("%-7s %-7s %-20s %-7s %10.3f %8.2f %9.2f %5.1f%% of %s\n", r.op.c_str(), r.backend.c_str(), r.shape.c_str(),
                    r.name.c_str(), r.seconds * 1e3, r.gb_s, r.gflop_s, 100.0 * r.fraction,
                    r.op == "matvec" ? "bandwidth" : "sgemm");
    }
    return 0;
}

}  // namespace gemma4::cli
