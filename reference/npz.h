// npz.h — traces and goldens on disk (design §5): a .npz is a zip (via libzip) of .npy arrays that numpy opens
// with a plain np.load. Reads the numeric, bool and string dtypes numpy writes for us; leaves out object/pickled
// arrays, structured dtypes, big-endian data and fortran_order arrays (all rejected with an Error).
//
// Trace convention (shared by `gemma4 trace`, `gemma4 check`, tools/make_goldens.py, the inspector, notebooks):
//   <probe name>        one float32 array per probe, named exactly as `gemma4 probes` prints it
//                       ("text.7.attn_weights", "text.logits", ...)
//   meta.model          0-d '<U' string: model name (bundled name or checkpoint directory)
//   meta.config_hash    0-d '<U' string: hash of the ModelConfig the trace was made with
//   meta.prompt         0-d '<U' string: the prompt text
//   meta.backend        0-d '<U' string: "ref", "blas", "opencl" or "transformers" (goldens)
//   meta.tool_version   0-d '<U' string: version of the tool that wrote it
//   meta.tokens         int64 [T]: the token ids that were run
// In Python: `z = np.load("run.npz"); str(z["meta.prompt"]); z["text.7.attn_weights"]`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemma4 {

// One array of an .npz, as stored.
struct NpyArray {
    std::string name;             // entry name without ".npy"
    std::string descr;            // numpy dtype string: "<f4", "<i4", "<i8", "<f8", "|u1", "|b1", "<U12", "|S5" ...
    std::vector<int64_t> shape;   // () is 0-d: one element
    std::vector<std::byte> data;  // raw little-endian bytes as stored, C order

    int64_t numel() const;
    std::vector<float> to_f32() const;    // any numeric or bool descr; Error for strings
    std::vector<int64_t> to_i64() const;  // integer and bool arrays; Error for floats, strings, u8 values > 2^63-1
    std::string to_string() const;        // '<U' (UTF-32LE, returned as UTF-8) or '|S' arrays of 0 or 1 element;
                                          // trailing NULs dropped, as numpy does
};

// Builds an .npz. Entries keep insertion order. Nothing is written until close(), which writes a temporary file
// beside `path` (entries stored uncompressed, as np.savez does) and renames it to `path` (safe_write.h), so a failed
// or interrupted run leaves no half file and an existing file at `path` intact. Every add_* copies the data, so the
// caller's buffer may be reused at once.
class NpzWriter {
public:
    explicit NpzWriter(std::string path);
    ~NpzWriter();  // without close(), nothing was written
    NpzWriter(const NpzWriter&) = delete;
    NpzWriter& operator=(const NpzWriter&) = delete;

    void add_f32(const std::string& name, const float* data, const std::vector<int64_t>& shape);
    void add_i32(const std::string& name, const int32_t* data, const std::vector<int64_t>& shape);
    void add_i64(const std::string& name, const int64_t* data, const std::vector<int64_t>& shape);
    // A 0-d numpy '<U' array: np.load gives it back as a str-like array without allow_pickle.
    void add_string(const std::string& name, const std::string& utf8);
    void close();

    const std::string& path() const { return path_; }

private:
    void add_array(const std::string& name, const std::string& descr, const std::vector<int64_t>& shape,
                   const void* data, size_t itemsize);

    struct Entry {
        std::string name;            // without ".npy"
        std::vector<std::byte> npy;  // the whole .npy file: header + data
    };
    std::string path_;
    std::vector<Entry> entries_;
    bool closed_ = false;
};

// Every array of an .npz, in the zip's entry order. Error naming the file and entry for anything malformed:
// missing file, directory, not a zip, truncated zip, bad npy magic, unsupported npy version, header that is not
// a dict or lacks a key, fortran_order True, unknown or big-endian descr, shape × itemsize ≠ data length.
// Reads npy format versions 1.0, 2.0 and 3.0.
std::vector<NpyArray> read_npz(const std::string& path);

// The array named `name` (without ".npy"), or nullptr.
const NpyArray* find_array(const std::vector<NpyArray>& arrays, std::string_view name);

}  // namespace gemma4
