// cl_resident.h — device mirrors of the model's host activation buffers (the HostIo of the OpenCL Backend).
//
// The model names its activations as host buffers (std::vector<float> in TextActivations, the KV cache, the towers'
// scratch) and calls the Backend with host pointers. ClResidency gives each host range it meets a device buffer of
// the same size, a *mirror*, found by address: any sub-range (final_norm + (T−1)·D, the rows of one expert) resolves
// to (mirror, offset). Each mirror tracks, per byte range, which side is newer:
//   host-newer    the host wrote it (a fresh mirror, or from_host): uploaded the next time an op reads that range;
//   device-newer  an op wrote it: downloaded only by to_host, i.e. when the host is about to read it.
// Nothing else moves. Transfers never reach outside the range an op or a sync hook names, so a mirror left behind by
// a freed vector never writes into, or reads from, memory it no longer owns.
//
// The model's side of the contract (reference/backend.h): on_alloc after (re)allocating a buffer, from_host after the
// host writes one, to_host before the host reads one, on_free before freeing one it will not reuse. A range that
// straddles several mirrors merges them (device copies), and an op view whose offset is not a multiple of the
// device's sub-buffer alignment is served through a device-side temporary; both are rare when buffers are announced.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include "cl_runtime.h"

namespace gemma4::cl {

// A set of disjoint half-open byte ranges [a, b), merged when they touch.
class RangeSet {
public:
    void add(size_t a, size_t b);
    void remove(size_t a, size_t b);
    bool empty() const { return r_.empty(); }
    size_t total() const;
    // f(a, b) for each part of the set inside [a, b), in order.
    template <typename F>
    void each_in(size_t a, size_t b, F&& f) const {
        auto it = r_.upper_bound(a);
        if (it != r_.begin() && std::prev(it)->second > a) --it;
        for (; it != r_.end() && it->first < b; ++it) {
            const size_t lo = std::max(a, it->first), hi = std::min(b, it->second);
            if (lo < hi) f(lo, hi);
        }
    }
    // Every range of `other`, shifted by delta, added to this set.
    void add_shifted(const RangeSet& other, size_t delta);

private:
    std::map<size_t, size_t> r_;  // start → end
};

class ClResidency : public HostIo {
public:
    explicit ClResidency(ClContext& cl) : cl_(cl) {}
    ~ClResidency() override;

    Buffer in(const void* host, size_t bytes, const std::string& what) override;
    Buffer out(void* host, size_t bytes, const std::string& what) override;
    Buffer inout(void* host, size_t bytes, const std::string& what) override;
    void done(const Buffer& buffer, void* host, size_t bytes) override;

    void to_host(const void* host, size_t bytes);    // download the device-newer parts of the range
    void from_host(const void* host, size_t bytes);  // the host wrote the range: upload it when an op next reads it
    void on_alloc(const void* host, size_t bytes);   // a fresh host allocation: one mirror for all of it, host-newer
    void on_free(const void* host, size_t bytes);    // the host is freeing the range: forget its device copy
    void copy(void* dst, const void* src, size_t bytes);  // dst[0..bytes) = src[0..bytes) on the device (may overlap)

    size_t mirror_count() const { return mirrors_.size(); }
    size_t mirror_bytes() const;

private:
    struct Mirror {
        uintptr_t base = 0;
        size_t bytes = 0;
        Buffer buffer;
        RangeSet host_newer, device_newer;           // offsets relative to base
        std::map<std::pair<size_t, size_t>, Buffer> subs;  // sub-buffers by (offset, size), a few kept for reuse
    };
    // The mirror holding [p, p + n), made or merged as needed.
    Mirror& mirror(uintptr_t p, size_t n);
    // The mirror that contains [p, p + n), or nullptr.
    Mirror* find(uintptr_t p, size_t n);
    // Upload the host-newer parts of [off, off + n) of m.
    void sync_in(Mirror& m, size_t off, size_t n);
    // A buffer showing [off, off + n) of m directly (whole buffer or aligned sub-buffer), or an empty Buffer when the
    // offset is not aligned.
    Buffer view(Mirror& m, size_t off, size_t n);
    void mark_written(uintptr_t p, size_t n);
    // The range synced in and shown as one buffer; *temp tells whether it is a device-side copy.
    Buffer read_view(uintptr_t p, size_t bytes, const std::string& what, bool* temp);

    ClContext& cl_;
    std::map<uintptr_t, std::unique_ptr<Mirror>> mirrors_;  // by base address; ranges never overlap
    struct Pending {
        uintptr_t host;
        size_t bytes;
    };
    std::unordered_map<cl_mem, Pending> pending_;  // temporaries that out / inout handed out for an unaligned range
};

}  // namespace gemma4::cl
