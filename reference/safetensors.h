// safetensors.h — memory-mapped, fully validated reader for .safetensors files and Hugging Face checkpoint
// directories (one model.safetensors, or model.safetensors.index.json + shards), plus a small writer.
// Tensors stay as stored in the mapping (design §3); no dtype conversion beyond F32/F16/BF16 -> float32 here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dtype.h"

namespace gemma4 {

// One tensor of an open file. `data` points into the read-only mapping and lives as long as the
// SafetensorsFile / WeightStore that produced it. It is NOT necessarily aligned to the element size (the
// format only promises 8-byte alignment of the data section's start): read it with memcpy or through
// convert_to_f32 / load_f32.
struct TensorRef {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;       // [] is a scalar (one element); a 0 anywhere means an empty tensor
    const std::byte* data = nullptr;  // points into the mapping
    size_t nbytes = 0;
    std::string file;  // path of the .safetensors file holding it
    int64_t numel() const;
};

// One .safetensors file: [u64 little-endian header length N][N bytes of JSON header][data section].
// The constructor checks every rule of the format and throws gemma4::Error naming the file, the tensor and
// the rule broken. Move-only; the mapping is released in the destructor.
class SafetensorsFile {
public:
    explicit SafetensorsFile(const std::string& path);
    ~SafetensorsFile();
    SafetensorsFile(SafetensorsFile&& other) noexcept;
    SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
    SafetensorsFile(const SafetensorsFile&) = delete;
    SafetensorsFile& operator=(const SafetensorsFile&) = delete;

    const std::string& path() const { return path_; }
    const std::vector<TensorRef>& tensors() const { return tensors_; }  // in header order
    const TensorRef* find(std::string_view name) const;                 // nullptr if absent
    const std::map<std::string, std::string>& metadata() const { return metadata_; }  // "__metadata__"

private:
    void release() noexcept;

    std::string path_;
    void* map_addr_ = nullptr;
    size_t map_size_ = 0;
    std::vector<TensorRef> tensors_;
    std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
    std::map<std::string, std::string> metadata_;
};

// A checkpoint: every tensor of one file or of all shards, looked up by name. Move-only (it owns the mappings);
// TensorRef pointers it hands out stay valid while it lives, also across moves.
class WeightStore {
public:
    // `dir`/model.safetensors if present (transformers' order of preference), else `dir`/model.safetensors.index.json
    // and the shards its weight_map names. The index must agree with the shards exactly.
    static WeightStore open_dir(const std::string& dir);
    static WeightStore open_file(const std::string& path);

    const TensorRef* find(std::string_view name) const;  // nullptr if absent
    std::vector<const TensorRef*> tensors() const;       // all tensors, sorted by name
    const std::vector<std::string>& files() const { return file_paths_; }

private:
    void add_file(SafetensorsFile file);

    std::vector<SafetensorsFile> files_;
    std::vector<std::string> file_paths_;
    std::map<std::string, const TensorRef*, std::less<>> by_name_;
};

// The mappings ask for 2 MiB pages (transparent huge pages, where Linux and the file system can: see
// SafetensorsFile's constructor). A tensor read a few rows at a time (the PLE table: one row a token) is better on the
// kernel's small pages, where touching a row brings in its own few pages rather than 2 MiB of its neighbours:
// advise_sparse_reads asks for that (a hint; nothing changes where it is not supported).
void advise_sparse_reads(const TensorRef& t);

// How this process maps `file`, from Linux's /proc/self/smaps (empty where there is none, or the file is not mapped):
// per mapped range, the bytes resident, the bytes of those on 2 MiB pages, and whether the range asked for huge pages
// (VmFlags hg) or for small ones (nh). bench reports the share on 2 MiB pages: decode speed depends on it.
struct MappedRange {
    uint64_t begin = 0, end = 0;  // addresses
    int64_t resident = 0, on_huge_pages = 0;
    bool asks_huge = false, refuses_huge = false;
};
std::vector<MappedRange> mapped_ranges(const std::string& file);

// F32, F16 or BF16 -> float32, numel() values into `out`. Any other dtype: Error naming file, tensor and dtype.
void convert_to_f32(const TensorRef& t, float* out);
std::vector<float> load_f32(const TensorRef& t);

struct TensorToWrite {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<std::byte> bytes;  // numel × dtype_size bytes, little-endian
};

// Writes a .safetensors file readable by the huggingface library: tensors packed back to back in the given
// order, header padded with spaces so the data section starts at a multiple of 8. Written to a temporary
// file beside `path`, then renamed (safe_write.h), so an interrupted write never leaves a half file under `path`.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same file layout for tensors too large to hold in memory: the header comes from name / dtype / shape
// (TensorToWrite::bytes is ignored), and fill(index, byte_offset, dst, nbytes) writes each tensor's bytes a chunk at
// a time, in order. Used by `gemma4 synth` for full-size checkpoints.
using TensorFill = std::function<void(size_t tensor_index, uint64_t byte_offset, std::byte* dst, size_t nbytes)>;
void write_safetensors_streamed(const std::string& path, const std::vector<TensorToWrite>& tensors,
                                const std::map<std::string, std::string>& metadata, const TensorFill& fill);

}  // namespace gemma4
