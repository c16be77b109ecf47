// safetensors.cpp — the .safetensors format (huggingface/safetensors, docs "Format"), read through mmap and
// checked rule by rule; sharded checkpoints through model.safetensors.index.json; and the matching writer.
// Leaves out: dtype conversion beyond F32/F16/BF16 -> float32, and any caching of converted weights.
#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "error.h"
#include "safe_write.h"

namespace gemma4 {

namespace {

using ojson = nlohmann::ordered_json;  // keeps header order, so tensors() lists tensors as the file does
namespace fs = std::filesystem;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // same bound as the huggingface reader (100 MB)
constexpr const char* kIndexName = "model.safetensors.index.json";
constexpr const char* kSingleName = "model.safetensors";

// Asks for [addr, addr + bytes) on 2 MiB pages (transparent huge pages), or, with huge = false, for the kernel's
// own small pages; a hint, so a kernel or file system that cannot do it changes nothing. Linux only.
void advise_pages(const void* addr, size_t bytes, bool huge) {
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(addr) + page - 1) / page * page;  // whole pages inside
    const uintptr_t end = (reinterpret_cast<uintptr_t>(addr) + bytes) / page * page;
    if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#else
    (void)addr, (void)bytes, (void)huge;
#endif
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
    throw Error("safetensors file '" + path + "': " + what);
}

[[noreturn]] void fail_tensor(const std::string& path, const std::string& tensor, const std::string& what) {
    throw Error("safetensors file '" + path + "': tensor '" + tensor + "': " + what);
}

std::string json_type(const ojson& v) { return v.type_name(); }

// A JSON document whose objects have been checked for repeated keys (nlohmann keeps one silently). The
// parser callback sees every key with the object it belongs to on top of `open_objects`.
struct DuplicateKey {
    bool found = false;
    size_t depth = 0;       // 1 = a key of the top-level object
    std::string top_level;  // the top-level key it sits under (the tensor name), when depth > 1
    std::string key;
};

// Thrown by parse_checking_duplicates for text that is not JSON; the caller names the file.
struct JsonSyntaxError {
    std::string what;
};

ojson parse_checking_duplicates(std::string_view text, DuplicateKey* dup) {
    // nlohmann stops at a NUL byte as if the input ended there; JSON allows none outside escapes.
    if (const size_t nul = text.find('\0'); nul != std::string_view::npos)
        throw JsonSyntaxError{"NUL byte at offset " + std::to_string(nul)};
    std::vector<std::set<std::string>> open_objects;
    std::string current_top_level;
    auto callback = [&](int /*depth*/, ojson::parse_event_t event, ojson& parsed) {
        switch (event) {
            case ojson::parse_event_t::object_start: open_objects.emplace_back(); break;
            case ojson::parse_event_t::object_end:
                if (!open_objects.empty()) open_objects.pop_back();
                break;
            case ojson::parse_event_t::key: {
                const std::string& key = parsed.get_ref<const std::string&>();
                if (open_objects.size() == 1) current_top_level = key;
                if (!open_objects.empty() && !open_objects.back().insert(key).second && !dup->found) {
                    dup->found = true;
                    dup->depth = open_objects.size();
                    dup->top_level = current_top_level;
                    dup->key = key;
                }
                break;
            }
            default: break;
        }
        return true;
    };
    try {
        return ojson::parse(text.begin(), text.end(), callback);
    } catch (const ojson::exception& e) {
        throw JsonSyntaxError{e.what()};
    }
}

enum class IntCheck { Ok, NotInteger, Negative, TooLarge };

// A JSON number that is an integer in [0, 2^63). nlohmann parses "2.0" and anything beyond u64 as float.
IntCheck as_nonnegative_int(const ojson& v, uint64_t* out) {
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX)) return IntCheck::TooLarge;
        *out = u;
        return IntCheck::Ok;
    }
    if (v.is_number_integer()) {
        const int64_t s = v.get<int64_t>();
        if (s < 0) return IntCheck::Negative;
        *out = static_cast<uint64_t>(s);
        return IntCheck::Ok;
    }
    return IntCheck::NotInteger;
}

std::string int_problem(IntCheck c, const ojson& v) {
    switch (c) {
        case IntCheck::NotInteger: return "is not an integer (got " + v.dump() + ")";
        case IntCheck::Negative: return "is negative (" + v.dump() + ")";
        case IntCheck::TooLarge: return "is too large (" + v.dump() + " > 2^63-1)";
        case IntCheck::Ok: break;
    }
    return "";
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

// Parses and checks one header entry; `data_size` is the length of the data section.
TensorRef parse_entry(const std::string& path, const std::string& name, const ojson& entry, uint64_t data_size,
                      const std::byte* data_start) {
    if (!entry.is_object()) fail_tensor(path, name, "entry is not a JSON object (got " + json_type(entry) + ")");

    TensorRef t;
    t.name = name;
    t.file = path;

    auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) fail_tensor(path, name, "missing \"dtype\"");
    if (!dtype_it->is_string()) fail_tensor(path, name, "\"dtype\" is not a string (got " + json_type(*dtype_it) + ")");
    const std::string& dtype_text = dtype_it->get_ref<const std::string&>();
    if (!parse_dtype(dtype_text, &t.dtype)) fail_tensor(path, name, "unknown dtype \"" + dtype_text + "\"");

    auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) fail_tensor(path, name, "missing \"shape\"");
    if (!shape_it->is_array()) fail_tensor(path, name, "\"shape\" is not an array (got " + json_type(*shape_it) + ")");
    for (size_t i = 0; i < shape_it->size(); ++i) {
        uint64_t dim = 0;
        const IntCheck c = as_nonnegative_int((*shape_it)[i], &dim);
        if (c != IntCheck::Ok)
            fail_tensor(path, name, "shape dimension " + std::to_string(i) + " " + int_problem(c, (*shape_it)[i]));
        t.shape.push_back(static_cast<int64_t>(dim));
    }

    auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) fail_tensor(path, name, "missing \"data_offsets\"");
    if (!offsets_it->is_array() || offsets_it->size() != 2)
        fail_tensor(path, name, "\"data_offsets\" is not an array of two integers [begin, end] (got " +
                                    offsets_it->dump() + ")");
    uint64_t offsets[2] = {0, 0};
    for (size_t i = 0; i < 2; ++i) {
        const IntCheck c = as_nonnegative_int((*offsets_it)[i], &offsets[i]);
        if (c != IntCheck::Ok)
            fail_tensor(path, name,
                        std::string("data_offsets ") + (i == 0 ? "begin " : "end ") + int_problem(c, (*offsets_it)[i]));
    }
    const uint64_t begin = offsets[0], end = offsets[1];
    if (begin > end)
        fail_tensor(path, name,
                    "data_offsets begin " + std::to_string(begin) + " is after end " + std::to_string(end));
    if (end > data_size)
        fail_tensor(path, name,
                    "data_offsets end " + std::to_string(end) + " is beyond the data section (" +
                        std::to_string(data_size) + " bytes)");

    // numel × itemsize must fit in 64 bits and equal the byte range exactly.
    uint64_t nbytes = dtype_size(t.dtype);
    for (int64_t dim : t.shape)
        if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(dim), &nbytes))
            fail_tensor(path, name, "byte size of shape " + shape_text(t.shape) + " × " + dtype_name(t.dtype) +
                                        " overflows 64 bits");
    if (nbytes != end - begin)
        fail_tensor(path, name,
                    "size mismatch: shape " + shape_text(t.shape) + " of " + dtype_name(t.dtype) + " needs " +
                        std::to_string(nbytes) + " bytes but data_offsets [" + std::to_string(begin) + ", " +
                        std::to_string(end) + "] span " + std::to_string(end - begin));

    t.data = data_start + begin;
    t.nbytes = static_cast<size_t>(nbytes);
    return t;
}

std::string errno_text() { return std::strerror(errno); }

[[noreturn]] void fail_in_index(const std::string& index_file, const std::string& what) {
    throw Error("safetensors index '" + index_file + "': " + what);
}

[[noreturn]] void fail_writing(const std::string& path, const std::string& what) {
    throw Error("writing safetensors file '" + path + "': " + what);
}

// The whole file read into memory (for the small index JSON).
std::string read_text_file(const std::string& path, const std::string& what) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw Error(what + " '" + path + "' is a directory, expected a file");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot open " + what + " '" + path + "': " + errno_text());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

bool is_safe_shard_name(const std::string& name) {
    return !name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
           name.find("..") == std::string::npos && name != "." && name.find('\0') == std::string::npos;
}

}  // namespace

int64_t TensorRef::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

// ---------------------------------------------------------------------------------------------------------------
// SafetensorsFile

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail(path, "cannot open: " + errno_text());
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const std::string why = errno_text();
        ::close(fd);
        fail(path, "cannot stat: " + why);
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        fail(path, "is a directory, expected a .safetensors file (use WeightStore::open_dir for a checkpoint)");
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        fail(path, "is not a regular file");
    }
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    if (file_size < 8) {
        ::close(fd);
        fail(path, "file is shorter than 8 bytes (" + std::to_string(file_size) +
                       " bytes), so it cannot hold the u64 header length");
    }
    void* addr = ::mmap(nullptr, static_cast<size_t>(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
    const std::string mmap_error = addr == MAP_FAILED ? errno_text() : "";
    ::close(fd);  // the mapping keeps the file alive
    if (addr == MAP_FAILED) fail(path, "cannot mmap: " + mmap_error);
    map_addr_ = addr;
    map_size_ = static_cast<size_t>(file_size);
    // Decoding streams every weight once a token. On 4 KiB pages that is a page-table walk every 4 KiB (26B-A4B's
    // 4-layer slice: ~2.3 GB, ~560 000 pages a token); on 2 MiB pages one every 2 MiB. Measured on this project's
    // machine (docs/performance.md, round 10): over the same memory, the decode pass kinds took 1.02-1.16x (26B-A4B
    // slice) and 1.03-1.51x (E2B) as long through 4 KiB pages as through 2 MiB ones. The kernel honours the hint where
    // it reads the file into the page cache (which then holds 2 MiB folios); pages it already holds in small folios
    // stay small until evicted.
    advise_pages(addr, map_size_, true);

    // From here on a throw must unmap: the destructor does not run for a half-built object.
    try {
        const auto* bytes = static_cast<const std::byte*>(map_addr_);
        uint64_t header_len = 0;
        for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | std::to_integer<uint64_t>(bytes[i]);
        if (header_len > kMaxHeaderBytes)
            fail(path, "header length " + std::to_string(header_len) + " is above the " +
                           std::to_string(kMaxHeaderBytes) + "-byte bound (corrupt or not a safetensors file)");
        if (header_len > file_size - 8)
            fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                           std::to_string(file_size) + " bytes)");
        const uint64_t data_size = file_size - 8 - header_len;
        const std::byte* data_start = bytes + 8 + header_len;

        std::string_view header_text(reinterpret_cast<const char*>(bytes + 8), static_cast<size_t>(header_len));
        ojson header;
        DuplicateKey dup;
        try {
            header = parse_checking_duplicates(header_text, &dup);
        } catch (const JsonSyntaxError& e) {
            fail(path, "header is not valid JSON: " + e.what);
        }
        if (!header.is_object()) fail(path, "header is not a JSON object (got " + json_type(header) + ")");
        if (dup.found) {
            if (dup.depth == 1) {
                if (dup.key == "__metadata__") fail(path, "duplicate \"__metadata__\" entry");
                fail_tensor(path, dup.key, "duplicate tensor name in the header");
            }
            if (dup.top_level == "__metadata__") fail(path, "duplicate key \"" + dup.key + "\" in \"__metadata__\"");
            fail_tensor(path, dup.top_level, "duplicate key \"" + dup.key + "\" in its entry");
        }

        for (auto it = header.begin(); it != header.end(); ++it) {
            if (it.key() == "__metadata__") {
                if (!it->is_object())
                    fail(path, "\"__metadata__\" is not an object of strings (got " + json_type(*it) + ")");
                for (auto m = it->begin(); m != it->end(); ++m) {
                    if (!m->is_string())
                        fail(path, "\"__metadata__\" value for \"" + m.key() + "\" is not a string (got " +
                                       json_type(*m) + ")");
                    metadata_[m.key()] = m->get<std::string>();
                }
                continue;
            }
            tensors_.push_back(parse_entry(path, it.key(), *it, data_size, data_start));
        }

        // No two tensors may share bytes. Empty tensors occupy none, so they cannot overlap anything.
        std::vector<const TensorRef*> by_offset;
        for (const TensorRef& t : tensors_)
            if (t.nbytes > 0) by_offset.push_back(&t);
        std::sort(by_offset.begin(), by_offset.end(),
                  [](const TensorRef* a, const TensorRef* b) { return a->data < b->data; });
        for (size_t i = 1; i < by_offset.size(); ++i) {
            const TensorRef* prev = by_offset[i - 1];
            const TensorRef* cur = by_offset[i];
            if (cur->data < prev->data + prev->nbytes) {
                auto range = [&](const TensorRef* t) {
                    const auto begin = static_cast<uint64_t>(t->data - data_start);
                    std::string text = "[";  // built with += : GCC 12 gives a false -Wrestrict on "[" + string
                    text += std::to_string(begin) + ", " + std::to_string(begin + t->nbytes) + ")";
                    return text;
                };
                fail(path, "tensors '" + prev->name + "' " + range(prev) + " and '" + cur->name + "' " +
                               range(cur) + " overlap in the data section");
            }
        }

        for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
    } catch (...) {
        release();
        throw;
    }
}

SafetensorsFile::~SafetensorsFile() { release(); }

void SafetensorsFile::release() noexcept {
    if (map_addr_ != nullptr) ::munmap(map_addr_, map_size_);
    map_addr_ = nullptr;
    map_size_ = 0;
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      map_addr_(std::exchange(other.map_addr_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      tensors_(std::move(other.tensors_)),
      index_(std::move(other.index_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
    if (this != &other) {
        release();
        path_ = std::move(other.path_);
        map_addr_ = std::exchange(other.map_addr_, nullptr);
        map_size_ = std::exchange(other.map_size_, 0);
        tensors_ = std::move(other.tensors_);
        index_ = std::move(other.index_);
        metadata_ = std::move(other.metadata_);
    }
    return *this;
}

const TensorRef* SafetensorsFile::find(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

// ---------------------------------------------------------------------------------------------------------------
// WeightStore

void WeightStore::add_file(SafetensorsFile file) {
    file_paths_.push_back(file.path());
    files_.push_back(std::move(file));
    // The TensorRefs live in the file's own vector, whose buffer does not move when files_ grows.
    for (const TensorRef& t : files_.back().tensors()) {
        auto [it, inserted] = by_name_.emplace(t.name, &t);
        if (!inserted)
            throw Error("checkpoint: tensor '" + t.name + "' is present in two shards, '" + it->second->file +
                        "' and '" + t.file + "'");
    }
}

WeightStore WeightStore::open_file(const std::string& path) {
    WeightStore store;
    store.add_file(SafetensorsFile(path));
    return store;
}

WeightStore WeightStore::open_dir(const std::string& dir) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw Error("checkpoint directory '" + dir + "' does not exist");
    if (!fs::is_directory(dir, ec))
        throw Error("checkpoint directory '" + dir + "' is not a directory (use WeightStore::open_file for one file)");

    const fs::path single = fs::path(dir) / kSingleName;
    if (fs::exists(single, ec)) return open_file(single.string());

    const fs::path index_path = fs::path(dir) / kIndexName;
    if (!fs::exists(index_path, ec))
        throw Error("checkpoint directory '" + dir + "' has neither " + kSingleName + " nor " + kIndexName);

    const std::string index_file = index_path.string();
    const std::string text = read_text_file(index_file, "safetensors index");
    ojson index;
    DuplicateKey dup;
    try {
        index = parse_checking_duplicates(text, &dup);
    } catch (const JsonSyntaxError& e) {
        fail_in_index(index_file, "not valid JSON: " + e.what);
    }
    if (!index.is_object()) fail_in_index(index_file, "not a JSON object (got " + json_type(index) + ")");
    auto map_it = index.find("weight_map");
    if (map_it == index.end()) fail_in_index(index_file, "missing \"weight_map\"");
    if (!map_it->is_object())
        fail_in_index(index_file, "\"weight_map\" is not an object (got " + json_type(*map_it) + ")");
    if (dup.found && dup.depth == 2 && dup.top_level == "weight_map")
        fail_in_index(index_file, "tensor '" + dup.key + "' appears twice in \"weight_map\"");

    // weight_map: tensor name -> shard file name (a plain name inside `dir`).
    std::map<std::string, std::string> shard_of;
    std::set<std::string> shard_names;
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
        if (!it->is_string())
            fail_in_index(index_file, "\"weight_map\" entry for tensor '" + it.key() +
                                          "' is not a file name string (got " + json_type(*it) + ")");
        const std::string shard = it->get<std::string>();
        if (!is_safe_shard_name(shard))
            fail_in_index(index_file, "tensor '" + it.key() + "' maps to shard name \"" + shard +
                                          "\", which is not a plain file name in the checkpoint directory" +
                                          " (no '/', '\\' or '..')");
        shard_of[it.key()] = shard;
        shard_names.insert(shard);
    }
    for (const std::string& shard : shard_names) {
        const fs::path shard_path = fs::path(dir) / shard;
        if (!fs::exists(shard_path, ec))
            fail_in_index(index_file,
                          "shard '" + shard + "' does not exist (looked for '" + shard_path.string() + "')");
    }

    WeightStore store;
    for (const std::string& shard : shard_names) store.add_file(SafetensorsFile((fs::path(dir) / shard).string()));

    // The index and the shards must agree both ways.
    for (const auto& [name, shard] : shard_of) {
        const TensorRef* t = store.find(name);
        if (t == nullptr)
            fail_in_index(index_file, "tensor '" + name + "' is mapped to shard '" + shard +
                                          "', which does not contain it");
        if (fs::path(t->file).filename() != shard)
            fail_in_index(index_file, "tensor '" + name + "' is mapped to shard '" + shard +
                                          "' but is found only in '" + t->file + "'");
    }
    for (const auto& [name, t] : store.by_name_)
        if (!shard_of.count(name))
            fail_in_index(index_file,
                          "tensor '" + name + "' in shard '" + t->file + "' is not listed in \"weight_map\"");
    return store;
}

const TensorRef* WeightStore::find(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

std::vector<const TensorRef*> WeightStore::tensors() const {
    std::vector<const TensorRef*> out;
    out.reserve(by_name_.size());
    for (const auto& entry : by_name_) out.push_back(entry.second);
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Conversion

void advise_sparse_reads(const TensorRef& t) { advise_pages(t.data, t.nbytes, false); }

std::vector<MappedRange> mapped_ranges(const std::string& file) {
    std::vector<MappedRange> out;
    std::error_code ec;
    const fs::path want = fs::weakly_canonical(fs::absolute(file, ec), ec);
    if (ec) return out;
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    MappedRange* cur = nullptr;  // the range of `file` whose fields follow, if any
    auto kib = [&](const std::string& l) { return int64_t(std::strtoll(l.c_str() + l.find(':') + 1, nullptr, 10)) * 1024; };
    while (std::getline(smaps, line)) {
        // A range's header: "begin-end perms offset dev inode   path" (the path, if any, after five fields).
        const size_t dash = line.find('-');
        auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
        if (dash != std::string::npos && dash > 0 && std::all_of(line.begin(), line.begin() + std::ptrdiff_t(dash), hex)) {
            std::istringstream head(line);
            std::string range, perms, offset, dev, inode;
            head >> range >> perms >> offset >> dev >> inode;
            std::string path;
            std::getline(head >> std::ws, path);
            cur = nullptr;
            if (!path.empty() && fs::path(path) == want) {
                MappedRange r;
                r.begin = std::strtoull(range.c_str(), nullptr, 16);
                r.end = std::strtoull(range.c_str() + dash + 1, nullptr, 16);
                out.push_back(r);
                cur = &out.back();
            }
            continue;
        }
        if (cur == nullptr) continue;
        if (line.rfind("Rss:", 0) == 0) cur->resident = kib(line);
        else if (line.rfind("FilePmdMapped:", 0) == 0) cur->on_huge_pages = kib(line);
        else if (line.rfind("VmFlags:", 0) == 0) {
            std::istringstream flags(line.substr(8));
            for (std::string f; flags >> f;) {
                if (f == "hg") cur->asks_huge = true;
                if (f == "nh") cur->refuses_huge = true;
            }
        }
    }
    return out;
}

void convert_to_f32(const TensorRef& t, float* out) {
    const size_t n = static_cast<size_t>(t.numel());
    switch (t.dtype) {
        case DType::F32:
            if (n > 0) std::memcpy(out, t.data, n * sizeof(float));
            return;
        case DType::F16:
        case DType::BF16: {
            const bool is_bf16 = t.dtype == DType::BF16;
            for (size_t i = 0; i < n; ++i) {
                uint16_t bits;  // memcpy: the mapping gives no alignment guarantee
                std::memcpy(&bits, t.data + 2 * i, sizeof bits);
                out[i] = is_bf16 ? bf16_to_f32(bits) : f16_to_f32(bits);
            }
            return;
        }
        default:
            throw Error("safetensors file '" + t.file + "': tensor '" + t.name + "' has dtype " +
                        dtype_name(t.dtype) + "; only F32, F16 and BF16 convert to float32");
    }
}

std::vector<float> load_f32(const TensorRef& t) {
    std::vector<float> out(static_cast<size_t>(t.numel()));
    convert_to_f32(t, out.data());
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Writer

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    for (const TensorToWrite& t : tensors) {
        uint64_t nbytes = dtype_size(t.dtype);
        for (int64_t dim : t.shape)
            if (dim < 0 || __builtin_mul_overflow(nbytes, static_cast<uint64_t>(dim), &nbytes)) nbytes = UINT64_MAX;
        if (nbytes != UINT64_MAX && nbytes != t.bytes.size())
            fail_writing(path, "tensor '" + t.name + "': shape " + shape_text(t.shape) + " of " + dtype_name(t.dtype) +
                                   " needs " + std::to_string(nbytes) + " bytes, got " + std::to_string(t.bytes.size()));
    }
    write_safetensors_streamed(path, tensors, metadata, [&](size_t i, uint64_t offset, std::byte* dst, size_t n) {
        std::memcpy(dst, tensors[i].bytes.data() + offset, n);
    });
}

void write_safetensors_streamed(const std::string& path, const std::vector<TensorToWrite>& tensors,
                                const std::map<std::string, std::string>& metadata, const TensorFill& fill) {
    ojson header = ojson::object();
    if (!metadata.empty()) {
        ojson meta = ojson::object();
        for (const auto& [key, value] : metadata) meta[key] = value;
        header["__metadata__"] = std::move(meta);
    }
    uint64_t offset = 0;
    for (const TensorToWrite& t : tensors) {
        if (t.name == "__metadata__") fail_writing(path, "\"__metadata__\" is reserved and cannot name a tensor");
        if (header.contains(t.name)) fail_writing(path, "tensor '" + t.name + "' is given twice");
        uint64_t nbytes = dtype_size(t.dtype);
        for (int64_t dim : t.shape) {
            if (dim < 0) fail_writing(path, "tensor '" + t.name + "' has negative dimension " + std::to_string(dim));
            if (__builtin_mul_overflow(nbytes, static_cast<uint64_t>(dim), &nbytes))
                fail_writing(path, "tensor '" + t.name + "': byte size overflows 64 bits");
        }
        header[t.name] = {{"dtype", dtype_name(t.dtype)},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + nbytes}}};
        offset += nbytes;
    }

    std::string header_text;
    try {
        header_text = header.dump(-1, ' ', false, ojson::error_handler_t::strict);
    } catch (const ojson::exception& e) {
        fail_writing(path, std::string("a tensor name or metadata string is not valid UTF-8: ") + e.what());
    }
    // Pad with spaces (valid JSON whitespace) so the data section starts 8-byte aligned.
    header_text.append((8 - header_text.size() % 8) % 8, ' ');

    TempFile temp(path);  // removed on every way out but commit(): an interrupted write leaves no half file
    const std::string& tmp = temp.path();
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) fail_writing(path, "cannot create '" + tmp + "': " + errno_text());
        unsigned char len_bytes[8];
        uint64_t n = header_text.size();
        for (unsigned char& b : len_bytes) {
            b = static_cast<unsigned char>(n & 0xff);
            n >>= 8;
        }
        out.write(reinterpret_cast<const char*>(len_bytes), 8);
        out.write(header_text.data(), static_cast<std::streamsize>(header_text.size()));
        // Each tensor's bytes in chunks of at most 64 MiB, so a multi-GB tensor never sits in memory whole.
        std::vector<std::byte> chunk;
        try {
            for (size_t i = 0; i < tensors.size(); ++i) {
                uint64_t nbytes = dtype_size(tensors[i].dtype);
                for (int64_t dim : tensors[i].shape) nbytes *= static_cast<uint64_t>(dim);
                for (uint64_t done = 0; done < nbytes && out;) {
                    const size_t n = static_cast<size_t>(std::min<uint64_t>(nbytes - done, uint64_t(64) << 20));
                    chunk.resize(n);
                    fill(i, done, chunk.data(), n);
                    out.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(n));
                    done += n;
                }
            }
        } catch (...) {  // the producer failed (or was interrupted): the TempFile goes with it
            out.close();
            throw;
        }
        out.close();
        if (!out) fail_writing(path, "write to '" + tmp + "' failed (disk full?)");
    }
    temp.commit();
}

}  // namespace gemma4
