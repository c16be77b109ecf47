// test_bench.cpp — the limit samples of `gemma4 bench` (tools/bench.h). Timings are never pass/fail conditions here:
// only that each sample is a positive, finite time, that a mapped region is read only once one is named, and that
// the stream count the reads between tokens use is one of those the full samples try.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "bench.h"

using namespace gemma4::cli::bench;

TEST_CASE("bench: bandwidth samples of a fresh buffer and of a mapped region are positive, finite times") {
    std::vector<float> region((size_t(16) << 20) / sizeof(float), 1.0f);  // 16 MiB stands in for the mapped LM head
    Limits limits(int64_t(8) << 20, 64);
    CHECK_FALSE(limits.has_mapped());
    CHECK(limits.best_streams() == 1);  // no full sample yet
    const double fresh = limits.bandwidth_sample();
    CHECK(std::isfinite(fresh));
    CHECK(fresh > 0);
    limits.add_mapped(reinterpret_cast<const std::byte*>(region.data()), int64_t(region.size() * sizeof(float)));
    REQUIRE(limits.has_mapped());
    for (int i = 0; i < 3; ++i) {
        const double between = limits.mapped_sample();  // seconds for buffer_bytes() at the mapped region's rate
        CHECK(std::isfinite(between));
        CHECK(between > 0);
        CHECK(std::isfinite(limits.gb_s(between)));
    }
    const double both = limits.bandwidth_sample();  // the faster of the two
    CHECK(std::isfinite(both));
    CHECK(both > 0);
    // The reads between tokens use the stream count that won the full samples: one of the four, after three
    // fastest-of-four reads (one fresh, two with the mapped region beside it).
    const int streams = limits.best_streams();
    CHECK((streams == 1 || streams == 2 || streams == 4 || streams == 8));
    limits.release();
}
