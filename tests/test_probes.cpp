// test_probes.cpp — the probe table (names unique, enum in sync), name formatting and parsing, glob matching, and the
// G4_PROBE hook: the tensor view is built only when a listener wants it.
#include <doctest/doctest.h>

#include <set>

#include "probes.h"

using namespace gemma4;

TEST_CASE("probe names are unique and round-trip through parse_probe_name") {
    std::set<std::string> seen;
    for (const ProbeInfo& p : kProbeTable) {
        const std::string name = probe_name(p.id, 3);
        CHECK(seen.insert(name).second);
        Probe parsed;
        int layer = -2;
        REQUIRE(parse_probe_name(name, &parsed, &layer));
        CHECK(parsed == p.id);
        CHECK(layer == (p.per_layer ? 3 : -1));
        CHECK_FALSE(p.shape.empty());
        CHECK_FALSE(p.meaning.empty());
    }
    CHECK(probe_name(Probe::text_attn_weights, 7) == "text.7.attn_weights");
    CHECK(probe_name(Probe::text_logits, 7) == "text.logits");
    CHECK(probe_name(Probe::vision_pooled, 0) == "vision.pooled");
    Probe p;
    int l;
    CHECK_FALSE(parse_probe_name("text.x.attn_q", &p, &l));
    CHECK_FALSE(parse_probe_name("text.attn_q", &p, &l));      // per-layer point without a layer
    CHECK_FALSE(parse_probe_name("text.3.logits", &p, &l));    // global point with a layer
    CHECK_FALSE(parse_probe_name("texture.3.attn_q", &p, &l));
    CHECK_FALSE(parse_probe_name("", &p, &l));
}

TEST_CASE("glob_match") {
    CHECK(glob_match("text.*.attn_weights", "text.12.attn_weights"));
    CHECK(glob_match("*", "anything.at.all"));
    CHECK(glob_match("text.?.attn_q", "text.7.attn_q"));
    CHECK_FALSE(glob_match("text.?.attn_q", "text.17.attn_q"));
    CHECK_FALSE(glob_match("text.*.attn_q", "text.7.attn_q_normed"));
    CHECK(glob_match("text.*.attn_q*", "text.7.attn_q_normed"));
    CHECK(glob_match("*logits", "text.logits"));
    CHECK_FALSE(glob_match("vision.*", "text.logits"));
    CHECK(glob_match("", ""));
    CHECK_FALSE(glob_match("", "x"));
}

TEST_CASE("G4_PROBE builds the view only for a listener that wants it") {
    RecordingSink sink({"text.*.attn_q"});
    float data[6] = {1, 2, 3, 4, 5, 6};
    int views_built = 0;
    auto view = [&] {
        ++views_built;
        return TensorView{data, {2, 3}};
    };
    G4_PROBE(&sink, Probe::text_attn_q, 4, view());
    G4_PROBE(&sink, Probe::text_attn_k, 4, view());  // not wanted
    ProbeSink* nobody = nullptr;
    G4_PROBE(nobody, Probe::text_attn_q, 4, view());  // no listener
#if GEMMA4_PROBES
    CHECK(views_built == 1);
    REQUIRE(sink.entries().size() == 1);
    CHECK(sink.entries()[0].name == "text.4.attn_q");
    CHECK(sink.entries()[0].shape == std::vector<int64_t>{2, 3});
    CHECK(sink.entries()[0].data[5] == 6.0f);
#else
    CHECK(views_built == 0);
    CHECK(sink.entries().empty());
#endif
}
