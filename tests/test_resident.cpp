// test_resident.cpp — activations stay on the OpenCL device between ops (kernels/cl_backend.h, cl_resident.h): a decode
// step with no probe listener downloads only the logits (plus the MoE layers' top-k ids and weights), one wanted probe
// adds exactly its own bytes, and the logits still equal the reference's. Skipped without an OpenCL device.
#include <doctest/doctest.h>

#ifdef GEMMA4_HAVE_OPENCL

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "cl_backend.h"
#include "cl_devices.h"
#include "compare.h"
#include "error.h"
#include "test_util.h"
#include "text_model.h"
#include "tolerances.h"

using namespace gemma4;

namespace {

struct StepTraffic {
    uint64_t up = 0, down = 0;
    std::vector<float> logits;
};

// Prefill `prompt` on a fresh cache, then one decode step (only the last logits) with `sink` listening, counting the
// decode step's transfers.
StepTraffic decode_step(const Checkpoint& ck, Backend& be, cl::ClContext* cl, ProbeSink* sink) {
    TextModel text(ck);
    KvCache cache(text.config());
    ForwardOptions opts;
    opts.backend = &be;
    opts.all_logits = false;
    TextInput prompt;
    for (int t = 0; t < 12; ++t) prompt.tokens.push_back(static_cast<int32_t>((t * 37 + 5) % 200 + 3));
    std::vector<float> logits;
    text.forward(prompt, cache, logits, opts);
    TextInput next;
    next.tokens = {42};
    opts.probes = sink;
    if (cl) cl->reset_transfer_counts();
    text.forward(next, cache, logits, opts);
    StepTraffic s;
    if (cl) s.up = cl->bytes_uploaded(), s.down = cl->bytes_downloaded();
    s.logits = logits;
    return s;
}

}  // namespace

TEST_CASE("opencl residency: a decode step downloads the logits, MoE top-k and the wanted probes only") {
    G4_SKIP_WITHOUT_PROBES();
    if (cl::list_devices().empty()) {
        MESSAGE("skipped: no OpenCL device");
        return;
    }
    cl::ClBackend be(cl::ClBackendOptions{0, /*strict=*/true});
    for (const std::string model : {"tiny-e2b", "tiny-26b-a4b"}) {
        CAPTURE(model);
        Checkpoint ck = Checkpoint::open(model);
        const TextConfig& cfg = ck.config.text;
        uint64_t moe_bytes = 0;  // ids (int32) and weights (float32) of T = 1 token, K experts, per MoE layer
        for (int l = 0; l < cfg.num_hidden_layers; ++l)
            if (cfg.is_moe(l)) moe_bytes += uint64_t(cfg.top_k_experts) * 8;
        const uint64_t logits_bytes = uint64_t(cfg.vocab_size) * 4;

        decode_step(ck, be, &be.context(), nullptr);  // warm: weights go up once, on first use
        const StepTraffic quiet = decode_step(ck, be, &be.context(), nullptr);
        MESSAGE(model << ": decode step with no listener: " << quiet.down << " bytes down (logits " << logits_bytes << ", MoE top-k "
                      << moe_bytes << "), " << quiet.up << " bytes up");
        CHECK(quiet.down == logits_bytes + moe_bytes);

        // One probe wanted: exactly its bytes more (attn_q of layer 1 is [1, H, Dh]).
        RecordingSink one({"text.1.attn_q"});
        const StepTraffic probed = decode_step(ck, be, &be.context(), &one);
        REQUIRE(one.entries().size() == 1);
        const uint64_t probe_bytes = uint64_t(one.entries()[0].data.size()) * 4;
        CHECK(probe_bytes == uint64_t(cfg.num_attention_heads) * cfg.layer_head_dim(1) * 4);
        CHECK(probed.down == logits_bytes + moe_bytes + probe_bytes);
        CHECK(probed.up == quiet.up);

        // Uploads are control data and small parameters only: the token's embedding and PLE rows, positions, routing
        // lists, the norm weights of each op (a few [D] vectors per layer) — no activations.
        CHECK(quiet.up < uint64_t(cfg.num_hidden_layers) * cfg.hidden_size * 4 * 16);

        // And the device's logits are the reference's.
        const StepTraffic ref = decode_step(ck, ref_backend(), nullptr, nullptr);
        REQUIRE(ref.logits.size() == quiet.logits.size());
        const int64_t V = static_cast<int64_t>(ref.logits.size());
        const ProbeDiff d = compare_arrays("logits", quiet.logits, {V}, ref.logits, {V}, tolerance::kNmseOpenClVsRef);
        CHECK_MESSAGE(!d.over, "logits NMSE " << d.nmse << " " << d.problem);
        CHECK(probed.logits == quiet.logits);
    }
    CHECK(be.fallbacks().empty());
    MESSAGE("mirrors held: " << be.residency().mirror_count() << " (" << be.residency().mirror_bytes() << " bytes)");
}

#else

TEST_CASE("opencl residency: skipped (built without GEMMA4_OPENCL)") { MESSAGE("skipped: no OpenCL device (built without OpenCL)"); }

#endif
