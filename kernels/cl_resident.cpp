// cl_resident.cpp — device mirrors of host activation ranges (cl_resident.h).
#include "cl_resident.h"

#include <algorithm>
#include <vector>

#include "error.h"

namespace gemma4::cl {

// ---- RangeSet ---------------------------------------------------------------------------------------------------

void RangeSet::add(size_t a, size_t b) {
    if (a >= b) return;
    auto it = r_.upper_bound(a);
    if (it != r_.begin() && std::prev(it)->second >= a) --it;
    while (it != r_.end() && it->first <= b) {
        a = std::min(a, it->first);
        b = std::max(b, it->second);
        it = r_.erase(it);
    }
    r_[a] = b;
}

void RangeSet::remove(size_t a, size_t b) {
    if (a >= b) return;
    auto it = r_.upper_bound(a);
    if (it != r_.begin() && std::prev(it)->second > a) --it;
    while (it != r_.end() && it->first < b) {
        const size_t s = it->first, e = it->second;
        it = r_.erase(it);
        if (s < a) r_[s] = a;
        if (e > b) {
            r_[b] = e;
            break;
        }
    }
}

size_t RangeSet::total() const {
    size_t t = 0;
    for (const auto& [a, b] : r_) t += b - a;
    return t;
}

void RangeSet::add_shifted(const RangeSet& other, size_t delta) {
    for (const auto& [a, b] : other.r_) add(a + delta, b + delta);
}

// ---- ClResidency ------------------------------------------------------------------------------------------------

namespace {

uintptr_t addr(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// A second handle on the same cl_mem (the Buffer a view returns releases only its own reference).
Buffer share(const Buffer& b, size_t bytes) {
    CL_CHECK(clRetainMemObject(b.mem()));
    return Buffer(b.mem(), bytes);
}

}  // namespace

ClResidency::~ClResidency() = default;

size_t ClResidency::mirror_bytes() const {
    size_t total = 0;
    for (const auto& [base, m] : mirrors_) total += m->bytes;
    return total;
}

ClResidency::Mirror* ClResidency::find(uintptr_t p, size_t n) {
    auto it = mirrors_.upper_bound(p);
    if (it == mirrors_.begin()) return nullptr;
    Mirror* m = std::prev(it)->second.get();
    return (p >= m->base && p + n <= m->base + m->bytes) ? m : nullptr;
}

ClResidency::Mirror& ClResidency::mirror(uintptr_t p, size_t n) {
    if (Mirror* m = find(p, n)) return *m;
    // Every mirror overlapping [p, p + n) joins one new mirror over the hull (their device contents copied over, their
    // states kept); the parts no mirror covered are host-newer.
    std::vector<Mirror*> overlapping;
    auto it = mirrors_.upper_bound(p);
    if (it != mirrors_.begin() && std::prev(it)->second->base + std::prev(it)->second->bytes > p) --it;
    for (; it != mirrors_.end() && it->first < p + n; ++it) overlapping.push_back(it->second.get());
    uintptr_t lo = p, hi = p + n;
    for (const Mirror* o : overlapping) {
        lo = std::min(lo, o->base);
        hi = std::max(hi, o->base + o->bytes);
    }
    auto fresh = std::make_unique<Mirror>();
    fresh->base = lo;
    fresh->bytes = hi - lo;
    fresh->buffer = cl_.alloc(fresh->bytes, "resident activation mirror");
    fresh->host_newer.add(0, fresh->bytes);
    for (const Mirror* o : overlapping) {
        const size_t delta = o->base - lo;
        cl_.copy(o->buffer, 0, fresh->buffer, delta, o->bytes);
        fresh->host_newer.remove(delta, delta + o->bytes);
        fresh->host_newer.add_shifted(o->host_newer, delta);
        fresh->device_newer.add_shifted(o->device_newer, delta);
    }
    for (const Mirror* o : overlapping) mirrors_.erase(o->base);
    Mirror& m = *fresh;
    mirrors_.emplace(lo, std::move(fresh));
    return m;
}

void ClResidency::sync_in(Mirror& m, size_t off, size_t n) {
    std::vector<std::pair<size_t, size_t>> parts;
    m.host_newer.each_in(off, off + n, [&](size_t a, size_t b) { parts.emplace_back(a, b); });
    for (const auto& [a, b] : parts) {
        cl_.write(m.buffer, a, reinterpret_cast<const void*>(m.base + a), b - a);
        m.host_newer.remove(a, b);
    }
}

Buffer ClResidency::view(Mirror& m, size_t off, size_t n) {
    if (off == 0 && n == m.bytes) return share(m.buffer, n);
    if (off % cl_.sub_buffer_align() != 0) return Buffer();
    const auto key = std::make_pair(off, n);
    auto it = m.subs.find(key);
    if (it == m.subs.end()) {
        if (m.subs.size() >= 16) m.subs.clear();  // the KV cache's growing views would otherwise pile up
        cl_buffer_region region{off, n};
        cl_int err = CL_SUCCESS;
        cl_mem sub = clCreateSubBuffer(m.buffer.mem(), CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &region, &err);
        CL_CHECK(err);
        it = m.subs.emplace(key, Buffer(sub, n)).first;
    }
    return share(it->second, n);
}

Buffer ClResidency::in(const void* host, size_t bytes, const std::string& what) {
    bool temp = false;
    return read_view(addr(host), bytes, what, &temp);
}

Buffer ClResidency::read_view(uintptr_t p, size_t bytes, const std::string& what, bool* temp) {
    Mirror& m = mirror(p, bytes);
    const size_t off = p - m.base;
    sync_in(m, off, bytes);
    *temp = false;
    if (Buffer v = view(m, off, bytes); v.mem()) return v;
    Buffer t = cl_.alloc(bytes, what + " (unaligned view)");
    cl_.copy(m.buffer, off, t, 0, bytes);
    *temp = true;
    return t;
}

Buffer ClResidency::out(void* host, size_t bytes, const std::string& what) {
    Mirror& m = mirror(addr(host), bytes);
    const size_t off = addr(host) - m.base;
    if (Buffer v = view(m, off, bytes); v.mem()) return v;
    Buffer temp = cl_.alloc(bytes, what + " (unaligned view)");
    pending_[temp.mem()] = Pending{addr(host), bytes};
    return temp;
}

Buffer ClResidency::inout(void* host, size_t bytes, const std::string& what) {
    bool temp = false;
    Buffer b = read_view(addr(host), bytes, what, &temp);
    if (temp) pending_[b.mem()] = Pending{addr(host), bytes};
    return b;
}

void ClResidency::done(const Buffer& buffer, void* host, size_t bytes) {
    if (auto it = pending_.find(buffer.mem()); it != pending_.end()) {
        pending_.erase(it);
        Mirror& m = mirror(addr(host), bytes);
        cl_.copy(buffer, 0, m.buffer, addr(host) - m.base, bytes);
    }
    mark_written(addr(host), bytes);
}

void ClResidency::mark_written(uintptr_t p, size_t n) {
    Mirror& m = mirror(p, n);
    const size_t off = p - m.base;
    m.host_newer.remove(off, off + n);
    m.device_newer.add(off, off + n);
}

void ClResidency::to_host(const void* host, size_t bytes) {
    const uintptr_t p = addr(host);
    auto it = mirrors_.upper_bound(p);
    if (it != mirrors_.begin()) --it;
    for (; it != mirrors_.end() && it->first < p + bytes; ++it) {
        Mirror& m = *it->second;
        if (m.base + m.bytes <= p) continue;
        const size_t a = std::max(p, m.base) - m.base, b = std::min(p + bytes, m.base + m.bytes) - m.base;
        std::vector<std::pair<size_t, size_t>> parts;
        m.device_newer.each_in(a, b, [&](size_t x, size_t y) { parts.emplace_back(x, y); });
        for (const auto& [x, y] : parts) cl_.read(m.buffer, x, reinterpret_cast<void*>(m.base + x), y - x);
        m.device_newer.remove(a, b);
    }
}

void ClResidency::from_host(const void* host, size_t bytes) {
    const uintptr_t p = addr(host);
    auto it = mirrors_.upper_bound(p);
    if (it != mirrors_.begin()) --it;
    for (; it != mirrors_.end() && it->first < p + bytes; ++it) {
        Mirror& m = *it->second;
        if (m.base + m.bytes <= p) continue;
        const size_t a = std::max(p, m.base) - m.base, b = std::min(p + bytes, m.base + m.bytes) - m.base;
        m.device_newer.remove(a, b);
        m.host_newer.add(a, b);
    }
}

void ClResidency::on_alloc(const void* host, size_t bytes) {
    if (bytes == 0) return;
    const uintptr_t p = addr(host);
    if (find(p, bytes)) return from_host(host, bytes);  // reused storage (assign without reallocation)
    on_free(host, bytes);                                // mirrors of memory freed before: gone or trimmed
    if (find(p, 1) || mirrors_.lower_bound(p) != mirrors_.lower_bound(p + bytes)) return;  // a straddling one: merged on use
    auto m = std::make_unique<Mirror>();
    m->base = p;
    m->bytes = bytes;
    m->buffer = cl_.alloc(bytes, "resident activation mirror");
    m->host_newer.add(0, bytes);
    mirrors_.emplace(p, std::move(m));
}

void ClResidency::on_free(const void* host, size_t bytes) {
    const uintptr_t p = addr(host);
    auto it = mirrors_.upper_bound(p);
    if (it != mirrors_.begin()) --it;
    while (it != mirrors_.end() && it->first < p + bytes) {
        Mirror& m = *it->second;
        if (m.base + m.bytes <= p) {
            ++it;
            continue;
        }
        if (m.base >= p && m.base + m.bytes <= p + bytes) {
            it = mirrors_.erase(it);
            continue;
        }
        const size_t a = std::max(p, m.base) - m.base, b = std::min(p + bytes, m.base + m.bytes) - m.base;
        m.device_newer.remove(a, b);
        m.host_newer.add(a, b);
        ++it;
    }
}

void ClResidency::copy(void* dst, const void* src, size_t bytes) {
    if (bytes == 0 || dst == src) return;
    // Resolve both ends; making the destination's mirror may merge the source's, so look both up again until stable.
    Mirror* s = nullptr;
    Mirror* d = nullptr;
    for (int tries = 0; tries < 3 && !(s && d); ++tries) {
        mirror(addr(src), bytes);
        mirror(addr(dst), bytes);
        s = find(addr(src), bytes);
        d = find(addr(dst), bytes);
    }
    if (!s || !d) throw Error("opencl: copy between host ranges whose device mirrors cannot be resolved");
    const size_t so = addr(src) - s->base, dof = addr(dst) - d->base;
    sync_in(*s, so, bytes);
    if (s == d && so < dof + bytes && dof < so + bytes) {  // overlapping within one buffer: through a temporary
        const Buffer temp = cl_.alloc(bytes, "copy temporary");
        cl_.copy(s->buffer, so, temp, 0, bytes);
        cl_.copy(temp, 0, d->buffer, dof, bytes);
    } else {
        cl_.copy(s->buffer, so, d->buffer, dof, bytes);
    }
    mark_written(addr(dst), bytes);
}

}  // namespace gemma4::cl
