// cmd_check.cpp — `gemma4 check`: compare two traces probe by probe (NMSE, max abs, cosine) in execution order, name
// the first probe over tolerance, exit 1 if any is over. With -m MODEL --golden G.npz it first runs the model on the
// golden's own token ids, recording exactly the probes the golden holds.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "checkpoint.h"
#include "cli.h"
#include "compare.h"
#include "error.h"
#include "model_args.h"
#include "text_model.h"
#include "tolerances.h"
#include "trace.h"

namespace gemma4::cli {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) out += 'x';
        out += std::to_string(s[i]);
    }
    return out.empty() ? "scalar" : out;
}

// Runs the model on the golden's tokens, recording the probes the golden has; returns them as arrays.
std::vector<NpyArray> run_like_golden(const std::string& model, const std::vector<NpyArray>& golden, const std::string& golden_path,
                                      Backend& backend) {
    TraceMeta meta = trace_meta(golden, golden_path);
    if (meta.tokens.empty()) throw Error(golden_path + ": no meta.tokens entry; cannot rerun it (compare two traces instead)");
    std::vector<std::string> names;
    for (const NpyArray& a : golden)
        if (a.name.rfind("text.", 0) == 0) names.push_back(a.name);
    Checkpoint ck = Checkpoint::open(model);
    for (size_t i = 0; i < meta.tokens.size(); ++i)
        if (meta.tokens[i] < 0 || meta.tokens[i] >= ck.config.text.vocab_size)
            throw Error(golden_path + ": meta.tokens: token id " + std::to_string(meta.tokens[i]) + " at position " + std::to_string(i) +
                        " is outside the vocabulary of " + ck.config.name + " (" + std::to_string(ck.config.text.vocab_size) + " ids)");
    if (static_cast<int64_t>(meta.tokens.size()) > ck.config.text.max_position_embeddings)
        throw Error(golden_path + ": meta.tokens holds " + std::to_string(meta.tokens.size()) + " tokens, more than the context of " +
                    ck.config.name + " (" + std::to_string(ck.config.text.max_position_embeddings) + " tokens)");
    if (!meta.config_hash.empty()) {
        const std::string ours = sha256_file_hex((std::filesystem::path(ck.dir) / "config.json").string());
        if (ours != meta.config_hash)
            std::fprintf(stderr, "warning: %s was made with a different config.json than %s/config.json\n", golden_path.c_str(), ck.dir.c_str());
    }
    // The decoder runs on the golden's own soft tokens where it has images or audio (the towers are compared by their
    // own vision.* / audio.* probes against the golden's pixels / mel in the tests).
    ForwardOptions opts;
    opts.backend = &backend;
    return trace_forward(ck, golden_text_input(ck.config, golden, golden_path), names, opts);
}

}  // namespace

int cmd_check(int argc, char** argv) {
    std::vector<Option> options = {
        {"--model", "-m", "MODEL", "run this model on the golden's tokens and compare with it"},
        {"--golden", "", "G.npz", "the reference trace (with -m)"},
        {"--tol", "", "NMSE", "tolerance on the normalised mean squared error (default 1e-10)"},
        {"--quiet", "-q", "", "print only the summary and the first probe over tolerance"},
        {"--help", "-h", "", "show this help"},
    };
    for (const Option& o : backend_options("ref")) options.push_back(o);
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 check CANDIDATE.npz REFERENCE.npz [--tol NMSE]\n       gemma4 check -m MODEL --golden G.npz",
                                "Compares two traces probe by probe in execution order and names the first probe whose\n"
                                "NMSE = sum((a-b)^2)/sum(b^2) is over tolerance (or has NaN/Inf or a different shape).\n"
                                "Exit status: 0 all within tolerance, 1 some probe over, 2 bad input.",
                                options)
                              .c_str());
        return 0;
    }
    const double tol = std::stod(args.get("--tol", "1e-10"));
    if (!(tol >= 0)) throw Error("--tol must be a non-negative number");
    std::vector<NpyArray> candidate, reference;
    std::string cand_name, ref_name;
    if (args.has("--model")) {
        if (!args.has("--golden") || !args.positional().empty()) throw Error("with -m, give the reference as --golden G.npz and nothing else");
        if (!GEMMA4_PROBES) throw Error("check -m needs the probes, and this gemma4 was built with -DGEMMA4_PROBES=OFF (rebuild with ON)");
        ref_name = args.get("--golden");
        reference = read_npz(ref_name);
        cand_name = args.get("--model") + " (" + args.get("--backend", "ref") + ")";
        const std::unique_ptr<Backend> backend = make_backend(args, "ref");
        candidate = run_like_golden(args.get("--model"), reference, ref_name, *backend);
    } else {
        if (args.positional().size() != 2) throw Error("give two traces: gemma4 check CANDIDATE.npz REFERENCE.npz (see --help)");
        cand_name = args.positional()[0];
        ref_name = args.positional()[1];
        candidate = read_npz(cand_name);
        reference = read_npz(ref_name);
    }

    TraceDiff diff;
    try {
        diff = compare_traces(candidate, reference, tol);
    } catch (const Error& e) {  // an array that is not numbers: name the files (the message names the array)
        throw Error(cand_name + " vs " + ref_name + ": " + e.what());
    }
    if (diff.probes.empty()) throw Error("the traces have no probe in common (" + cand_name + " vs " + ref_name + ")");
    std::printf("candidate: %s\nreference: %s\ntolerance: NMSE <= %.1e\n\n", cand_name.c_str(), ref_name.c_str(), tol);
    if (!args.has("--quiet")) {
        std::printf("%4s  %-32s %-12s %11s %11s %12s  %s\n", "#", "probe", "shape", "NMSE", "max abs", "cosine", "");
        for (size_t i = 0; i < diff.probes.size(); ++i) {
            const ProbeDiff& d = diff.probes[i];
            std::printf("%4zu  %-32s %-12s %11.3e %11.3e %12.9f  %s  %s\n", i, d.name.c_str(), shape_str(d.shape).c_str(), d.nmse,
                        d.max_abs, d.cosine, d.over ? "OVER" : "ok", d.problem.c_str());
        }
        std::printf("\n");
    }
    if (!diff.only_in_reference.empty())
        std::printf("%zu probe(s) only in the reference (not compared), e.g. %s\n", diff.only_in_reference.size(), diff.only_in_reference[0].c_str());
    if (!diff.only_in_candidate.empty())
        std::printf("%zu probe(s) only in the candidate (not compared), e.g. %s\n", diff.only_in_candidate.size(), diff.only_in_candidate[0].c_str());
    int over = 0;
    double worst = 0;
    for (const ProbeDiff& d : diff.probes) {
        over += d.over;
        if (std::isfinite(d.nmse)) worst = std::max(worst, d.nmse);
    }
    std::printf("%zu probes compared, %d over tolerance, largest NMSE %.3e\n", diff.probes.size(), over, worst);
    if (diff.any_over()) {
        const ProbeDiff& first = diff.probes[diff.first_over];
        std::printf("first probe over tolerance: %s (NMSE %.3e, max abs %.3e)%s%s\n", first.name.c_str(), first.nmse, first.max_abs,
                    first.problem.empty() ? "" : ": ", first.problem.c_str());
        return 1;
    }
    return 0;
}

}  // namespace gemma4::cli
