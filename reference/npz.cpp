// npz.cpp — .npy encoding/decoding (numpy's NEP 1 "format.py" layout) inside a zip handled by libzip, with a
// small parser for the Python-literal header dict. Leaves out compression on write (np.savez stores too),
// structured/object dtypes, big-endian data and fortran_order arrays.
#include "npz.h"

#include <zip.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <utility>

#include "dtype.h"
#include "error.h"
#include "safe_write.h"

namespace gemma4 {

static_assert(std::endian::native == std::endian::little, "npy data is read and written as little-endian bytes");

namespace {

namespace fs = std::filesystem;

constexpr char kNpyMagic[] = "\x93NUMPY";  // 6 bytes, then major and minor version
constexpr size_t kNpyMagicLen = 6;
constexpr size_t kNpyAlign = 64;                    // numpy pads the header so data starts 64-byte aligned
constexpr uint64_t kMaxNpyHeaderBytes = 1u << 24;   // a real header is a few hundred bytes

// ---------------------------------------------------------------------------------------------------------------
// numpy dtype strings

struct DescrInfo {
    char kind = 0;        // 'b' bool, 'i' signed, 'u' unsigned, 'f' float, 'U' UTF-32 string, 'S' byte string
    uint64_t itemsize = 0;
};

// "<f4", "|u1", "<U12", ... -> kind and itemsize. Returns an explanation on failure, "" on success.
std::string parse_descr(std::string_view descr, DescrInfo* info) {
    if (descr.size() < 2) return "unknown descr '" + std::string(descr) + "'";
    const char order = descr[0];
    if (order == '>') return "big-endian descr '" + std::string(descr) + "' is not supported";
    if (order != '<' && order != '|' && order != '=')
        return "unknown descr '" + std::string(descr) + "' (expected a byte-order mark '<', '|' or '=')";
    const char kind = descr[1];
    std::string_view digits = descr.substr(2);
    uint64_t n = 0;
    if (digits.empty()) return "unknown descr '" + std::string(descr) + "' (no item size)";
    for (char c : digits) {
        if (c < '0' || c > '9') return "unknown descr '" + std::string(descr) + "'";
        if (__builtin_mul_overflow(n, 10u, &n) || __builtin_add_overflow(n, static_cast<uint64_t>(c - '0'), &n))
            return "descr '" + std::string(descr) + "' has an item size that overflows";
    }
    switch (kind) {
        case 'b':
            if (n == 1) break;
            return "unknown descr '" + std::string(descr) + "'";
        case 'i':
        case 'u':
            if (n == 1 || n == 2 || n == 4 || n == 8) break;
            return "unknown descr '" + std::string(descr) + "'";
        case 'f':
            if (n == 2 || n == 4 || n == 8) break;
            return "unknown descr '" + std::string(descr) + "'";
        case 'U':  // n characters of UTF-32
            if (__builtin_mul_overflow(n, 4u, &n)) return "descr '" + std::string(descr) + "' overflows";
            break;
        case 'S': break;
        default: return "unknown descr '" + std::string(descr) + "'";
    }
    info->kind = kind;
    info->itemsize = n;
    return "";
}

// ---------------------------------------------------------------------------------------------------------------
// The header: a Python dict literal such as {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }

struct PyValue {
    enum class Kind { Str, Int, Bool, None, Seq } kind = Kind::None;
    std::string str;
    int64_t integer = 0;
    bool flag = false;
    std::vector<PyValue> items;
};

const char* kind_name(PyValue::Kind k) {
    switch (k) {
        case PyValue::Kind::Str: return "a string";
        case PyValue::Kind::Int: return "an integer";
        case PyValue::Kind::Bool: return "a bool";
        case PyValue::Kind::None: return "None";
        case PyValue::Kind::Seq: return "a tuple";
    }
    return "?";
}

// Recursive descent over the literal subset numpy writes (and a little more: both quote styles, lists as well as
// tuples, Python 2 "3L" integers, any whitespace). Throws std::string with the problem; the caller adds context.
class HeaderParser {
public:
    explicit HeaderParser(std::string_view text) : text_(text) {}

    std::vector<std::pair<std::string, PyValue>> parse_dict() {
        std::vector<std::pair<std::string, PyValue>> out;
        skip_space();
        expect('{');
        skip_space();
        while (peek() != '}') {
            if (peek() != '\'' && peek() != '"') problem("expected a quoted key");
            std::string key = parse_string();
            skip_space();
            expect(':');
            PyValue value = parse_value(0);
            out.emplace_back(std::move(key), std::move(value));
            skip_space();
            if (peek() == ',') {
                ++pos_;
                skip_space();
            } else if (peek() != '}') {
                problem("expected ',' or '}'");
            }
        }
        ++pos_;
        skip_space();
        if (pos_ != text_.size()) problem("unexpected text after the closing '}'");
        return out;
    }

private:
    [[noreturn]] void problem(const std::string& what) const {
        throw what + " at offset " + std::to_string(pos_);
    }
    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                       text_[pos_] == '\r'))
            ++pos_;
    }
    void expect(char c) {
        if (peek() != c) problem(std::string("expected '") + c + "'");
        ++pos_;
    }

    std::string parse_string() {
        const char quote = text_[pos_++];
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) problem("unterminated string");
            char c = text_[pos_++];
            if (c == quote) return out;
            if (c == '\\') {
                if (pos_ >= text_.size()) problem("unterminated string");
                c = text_[pos_++];
                switch (c) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case '0': out += '\0'; break;
                    default: out += c; break;  // \\ \' \" and anything else: the character itself
                }
            } else {
                out += c;
            }
        }
    }

    PyValue parse_value(int depth) {
        if (depth > 16) problem("nesting too deep");
        skip_space();
        PyValue v;
        const char c = peek();
        if (c == '\'' || c == '"') {
            v.kind = PyValue::Kind::Str;
            v.str = parse_string();
        } else if (c == '(' || c == '[') {
            const char close = c == '(' ? ')' : ']';
            ++pos_;
            v.kind = PyValue::Kind::Seq;
            skip_space();
            while (peek() != close) {
                v.items.push_back(parse_value(depth + 1));
                skip_space();
                if (peek() == ',') {
                    ++pos_;
                    skip_space();
                } else if (peek() != close) {
                    problem(std::string("expected ',' or '") + close + "'");
                }
            }
            ++pos_;
        } else if (c == '-' || c == '+' || (c >= '0' && c <= '9')) {
            v.kind = PyValue::Kind::Int;
            v.integer = parse_int();
        } else if (text_.substr(pos_, 4) == "True") {
            v.kind = PyValue::Kind::Bool;
            v.flag = true;
            pos_ += 4;
        } else if (text_.substr(pos_, 5) == "False") {
            v.kind = PyValue::Kind::Bool;
            pos_ += 5;
        } else if (text_.substr(pos_, 4) == "None") {
            pos_ += 4;
        } else {
            problem("expected a string, number, tuple, True, False or None");
        }
        return v;
    }

    int64_t parse_int() {
        bool negative = false;
        if (peek() == '-' || peek() == '+') negative = text_[pos_++] == '-';
        if (!(peek() >= '0' && peek() <= '9')) problem("expected digits");
        int64_t value = 0;
        while (peek() >= '0' && peek() <= '9') {
            const int digit = text_[pos_++] - '0';
            if (__builtin_mul_overflow(value, int64_t{10}, &value) ||
                __builtin_add_overflow(value, int64_t{digit}, &value))
                problem("integer overflows 64 bits");
        }
        if (peek() == 'L' || peek() == 'l') ++pos_;  // Python 2 long, in files written by old numpy
        if (peek() == '.' || peek() == 'e' || peek() == 'E') problem("expected an integer, got a float");
        return negative ? -value : value;
    }

    std::string_view text_;
    size_t pos_ = 0;
};

struct NpyHeader {
    std::string descr;
    DescrInfo info;
    std::vector<int64_t> shape;
    uint64_t data_bytes = 0;  // numel × itemsize
};

// Interprets the header dict text; returns "" or the problem.
std::string read_header_dict(std::string_view text, NpyHeader* out) {
    std::vector<std::pair<std::string, PyValue>> dict;
    try {
        dict = HeaderParser(text).parse_dict();
    } catch (const std::string& why) {
        return "header is not a Python dict literal: " + why;
    }
    const PyValue* descr = nullptr;
    const PyValue* fortran = nullptr;
    const PyValue* shape = nullptr;
    for (const auto& [key, value] : dict) {
        const PyValue** slot = key == "descr" ? &descr
                               : key == "fortran_order" ? &fortran
                               : key == "shape" ? &shape
                                                : nullptr;
        if (slot == nullptr)
            return "header has unexpected key '" + key + "' (numpy writes descr, fortran_order, shape)";
        if (*slot != nullptr) return "header has key '" + key + "' twice";
        *slot = &value;
    }
    if (descr == nullptr) return "header lacks key 'descr'";
    if (fortran == nullptr) return "header lacks key 'fortran_order'";
    if (shape == nullptr) return "header lacks key 'shape'";
    if (descr->kind != PyValue::Kind::Str)
        return std::string("header 'descr' is ") + kind_name(descr->kind) +
               ", not a dtype string (structured dtypes are not supported)";
    if (fortran->kind != PyValue::Kind::Bool) return "header 'fortran_order' is not True or False";
    if (fortran->flag) return "fortran_order True is not supported (save a C-ordered array, np.ascontiguousarray)";
    if (shape->kind != PyValue::Kind::Seq)
        return std::string("header 'shape' is ") + kind_name(shape->kind) + ", not a tuple";

    out->descr = descr->str;
    const std::string descr_problem = parse_descr(out->descr, &out->info);
    if (!descr_problem.empty()) return descr_problem;
    uint64_t bytes = out->info.itemsize;
    for (const PyValue& dim : shape->items) {
        if (dim.kind != PyValue::Kind::Int) return "shape has a dimension that is not an integer";
        if (dim.integer < 0) return "shape has negative dimension " + std::to_string(dim.integer);
        out->shape.push_back(dim.integer);
        if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(dim.integer), &bytes))
            return "shape × itemsize overflows 64 bits";
    }
    out->data_bytes = bytes;
    return "";
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

// ---------------------------------------------------------------------------------------------------------------
// UTF-8 <-> code points

// Strict UTF-8 decoding (no overlong forms, no surrogates, nothing above U+10FFFF). Returns false if invalid.
bool utf8_to_code_points(std::string_view s, std::vector<uint32_t>* out) {
    size_t i = 0;
    while (i < s.size()) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        int extra = 0;
        uint32_t cp = 0, min = 0;
        if (b0 < 0x80) {
            cp = b0;
        } else if ((b0 & 0xe0) == 0xc0) {
            extra = 1, cp = b0 & 0x1f, min = 0x80;
        } else if ((b0 & 0xf0) == 0xe0) {
            extra = 2, cp = b0 & 0x0f, min = 0x800;
        } else if ((b0 & 0xf8) == 0xf0) {
            extra = 3, cp = b0 & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + extra >= s.size()) return false;  // truncated sequence
        for (int k = 1; k <= extra; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (b & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        out->push_back(cp);
        i += 1 + extra;
    }
    return true;
}

void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
        *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        *out += static_cast<char>(0xc0 | (cp >> 6));
        *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *out += static_cast<char>(0xe0 | (cp >> 12));
        *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        *out += static_cast<char>(0xf0 | (cp >> 18));
        *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading entries through libzip

[[noreturn]] void fail_file(const std::string& path, const std::string& what) {
    throw Error("npz file '" + path + "': " + what);
}

[[noreturn]] void fail_entry(const std::string& path, const std::string& entry, const std::string& what) {
    throw Error("npz file '" + path + "': entry '" + entry + "': " + what);
}

std::string zip_code_text(int code) {
    zip_error_t err;
    zip_error_init_with_code(&err, code);
    std::string text = zip_error_strerror(&err);
    zip_error_fini(&err);
    return text;
}

// An open zip entry; closes itself.
struct ZipEntryReader {
    zip_file_t* file = nullptr;
    std::string path, entry;
    ~ZipEntryReader() {
        if (file != nullptr) zip_fclose(file);
    }
    // Reads exactly n bytes or throws (a short read means the entry is shorter than it claims).
    void read_exact(void* dst, uint64_t n, const char* what) {
        auto* out = static_cast<char*>(dst);
        while (n > 0) {
            const zip_int64_t got = zip_fread(file, out, n);
            if (got < 0) fail_entry(path, entry, std::string("cannot read ") + what + ": " + zip_file_strerror(file));
            if (got == 0) fail_entry(path, entry, std::string("truncated while reading ") + what);
            out += got;
            n -= static_cast<uint64_t>(got);
        }
    }
    // Reading past the end makes libzip check the CRC; nothing may remain.
    void expect_end() {
        char extra;
        const zip_int64_t got = zip_fread(file, &extra, 1);
        if (got < 0) fail_entry(path, entry, std::string("corrupt data: ") + zip_file_strerror(file));
        if (got > 0) fail_entry(path, entry, "more data than its declared size");
    }
};

NpyArray read_entry(zip_t* archive, zip_uint64_t index, const zip_stat_t& st, const std::string& path) {
    const std::string entry = st.name;
    NpyArray array;
    array.name = entry.size() > 4 && entry.ends_with(".npy") ? entry.substr(0, entry.size() - 4) : entry;

    // A deflate stream expands at most ~1032:1; a larger claim is a corrupt directory, refused before allocating.
    if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size / 1100 > st.comp_size + 1024)
        fail_entry(path, entry, "declared size " + std::to_string(st.size) + " is impossible for " +
                                    std::to_string(st.comp_size) + " compressed bytes");

    ZipEntryReader reader;
    reader.path = path;
    reader.entry = entry;
    reader.file = zip_fopen_index(archive, index, 0);
    if (reader.file == nullptr) fail_entry(path, entry, std::string("cannot open: ") + zip_strerror(archive));

    // Preamble: magic, major, minor, then the header length (u16 in 1.0, u32 in 2.0 and 3.0).
    if (st.size < kNpyMagicLen + 2) fail_entry(path, entry, "too short to be an .npy array (bad magic)");
    unsigned char preamble[kNpyMagicLen + 2];
    reader.read_exact(preamble, sizeof preamble, "the npy magic");
    if (std::memcmp(preamble, kNpyMagic, kNpyMagicLen) != 0)
        fail_entry(path, entry, "bad magic: not an .npy array (expected \\x93NUMPY)");
    const int major = preamble[6], minor = preamble[7];
    if (!((major == 1 || major == 2 || major == 3) && minor == 0))
        fail_entry(path, entry, "unsupported npy format version " + std::to_string(major) + "." +
                                    std::to_string(minor) + " (reads 1.0, 2.0, 3.0)");
    const size_t len_bytes = major == 1 ? 2 : 4;
    if (st.size < sizeof preamble + len_bytes) fail_entry(path, entry, "truncated npy header length");
    unsigned char len_field[4] = {0, 0, 0, 0};
    reader.read_exact(len_field, len_bytes, "the npy header length");
    uint64_t header_len = 0;
    for (size_t i = len_bytes; i-- > 0;) header_len = (header_len << 8) | len_field[i];
    const uint64_t header_end = sizeof preamble + len_bytes + header_len;
    if (header_len > kMaxNpyHeaderBytes || header_end > st.size)
        fail_entry(path, entry, "npy header length " + std::to_string(header_len) + " runs past the entry (" +
                                    std::to_string(st.size) + " bytes)");
    std::string header_text(header_len, '\0');
    reader.read_exact(header_text.data(), header_len, "the npy header");

    NpyHeader header;
    const std::string problem = read_header_dict(header_text, &header);
    if (!problem.empty()) fail_entry(path, entry, problem);
    const uint64_t data_len = st.size - header_end;
    if (data_len != header.data_bytes)
        fail_entry(path, entry, "data length mismatch: shape " + shape_text(header.shape) + " of '" + header.descr +
                                    "' needs " + std::to_string(header.data_bytes) + " bytes, the entry holds " +
                                    std::to_string(data_len));

    array.descr = header.descr;
    array.shape = header.shape;
    array.data.resize(static_cast<size_t>(data_len));
    reader.read_exact(array.data.data(), data_len, "the array data");
    reader.expect_end();
    return array;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

// The complete .npy file (format 1.0, or 2.0 if the header would not fit a u16) for C-ordered data.
std::vector<std::byte> encode_npy(const std::string& descr, const std::vector<int64_t>& shape, const void* data,
                                  size_t data_bytes) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
    size_t prefix = kNpyMagicLen + 2 + 2;
    if (dict.size() + 1 + kNpyAlign > 0xffff) prefix = kNpyMagicLen + 2 + 4;  // version 2.0: u32 length
    // Pad with spaces and end with '\n' so that magic + version + length + header is a multiple of 64.
    const size_t unpadded = prefix + dict.size() + 1;
    dict.append((kNpyAlign - unpadded % kNpyAlign) % kNpyAlign, ' ');
    dict += '\n';

    std::vector<std::byte> out(prefix + dict.size() + data_bytes);
    std::memcpy(out.data(), kNpyMagic, kNpyMagicLen);
    out[6] = std::byte{static_cast<unsigned char>(prefix == 10 ? 1 : 2)};
    out[7] = std::byte{0};
    uint64_t len = dict.size();
    for (size_t i = 8; i < prefix; ++i, len >>= 8) out[i] = std::byte{static_cast<unsigned char>(len & 0xff)};
    std::memcpy(out.data() + prefix, dict.data(), dict.size());
    if (data_bytes > 0) std::memcpy(out.data() + prefix + dict.size(), data, data_bytes);
    return out;
}

// Where libzip writes the archive: straight into our temporary file. (libzip's own file source would write a second,
// randomly named temporary beside it, which a signal arriving during zip_close could leave behind.) There is never an
// archive to read back: STAT says "no such file", so libzip starts a new one.
struct ZipOutput {
    std::string path;
    FILE* file = nullptr;
    zip_error_t error;
    explicit ZipOutput(std::string p) : path(std::move(p)) { zip_error_init(&error); }
    ~ZipOutput() {
        if (file != nullptr) std::fclose(file);
        zip_error_fini(&error);
    }
};

zip_int64_t zip_output_callback(void* state, void* data, zip_uint64_t length, zip_source_cmd_t command) {
    auto* out = static_cast<ZipOutput*>(state);
    const auto failed = [&](int zip_code) {
        zip_error_set(&out->error, zip_code, errno);
        return zip_int64_t{-1};
    };
    switch (command) {
        case ZIP_SOURCE_SUPPORTS: return ZIP_SOURCE_SUPPORTS_WRITABLE;
        case ZIP_SOURCE_STAT:  // no archive yet
            zip_error_set(&out->error, ZIP_ER_READ, ENOENT);
            return -1;
        case ZIP_SOURCE_BEGIN_WRITE:
            out->file = std::fopen(out->path.c_str(), "wb");
            return out->file != nullptr ? 0 : failed(ZIP_ER_OPEN);
        case ZIP_SOURCE_WRITE:
            return std::fwrite(data, 1, length, out->file) == length ? static_cast<zip_int64_t>(length) : failed(ZIP_ER_WRITE);
        case ZIP_SOURCE_SEEK_WRITE: {
            const auto* args = ZIP_SOURCE_GET_ARGS(zip_source_args_seek_t, data, length, &out->error);
            if (args == nullptr) return -1;
            return fseeko(out->file, args->offset, args->whence) == 0 ? 0 : failed(ZIP_ER_SEEK);
        }
        case ZIP_SOURCE_TELL_WRITE: {
            const off_t at = ftello(out->file);
            return at >= 0 ? static_cast<zip_int64_t>(at) : failed(ZIP_ER_TELL);
        }
        case ZIP_SOURCE_COMMIT_WRITE: {
            const int closed = std::fclose(out->file);  // flushes: a full disk shows here
            out->file = nullptr;
            return closed == 0 ? 0 : failed(ZIP_ER_WRITE);
        }
        case ZIP_SOURCE_ROLLBACK_WRITE:  // the TempFile removes what was written
            if (out->file != nullptr) std::fclose(out->file);
            out->file = nullptr;
            return 0;
        case ZIP_SOURCE_ERROR: return zip_error_to_data(&out->error, data, length);
        default: return 0;  // open, read, close, seek, tell, remove, free: nothing to read back or free here
    }
}

// The 22-byte end-of-central-directory record alone: an empty zip. libzip deletes instead of writing an
// archive with no entries, but np.savez() with no arrays writes exactly this, and np.load reads it.
void write_empty_zip(const std::string& path) {
    const unsigned char eocd[22] = {'P', 'K', 5, 6};
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(eocd), sizeof eocd);
    out.close();
    if (!out) throw Error("npz file '" + path + "': cannot write: " + std::strerror(errno));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// NpyArray

int64_t NpyArray::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::vector<float> NpyArray::to_f32() const {
    DescrInfo info;
    const std::string problem = parse_descr(descr, &info);
    if (!problem.empty()) throw Error("array '" + name + "': " + problem);
    const size_t n = static_cast<size_t>(numel());
    if (data.size() != n * info.itemsize) throw Error("array '" + name + "': data length does not match its shape");
    std::vector<float> out(n);
    const std::byte* p = data.data();
    auto load = [&](auto zero, size_t i) {  // memcpy: the bytes have no alignment guarantee
        decltype(zero) v;
        std::memcpy(&v, p + i * sizeof v, sizeof v);
        return v;
    };
    for (size_t i = 0; i < n; ++i) {
        switch (info.kind) {
            case 'b': out[i] = load(uint8_t{}, i) != 0 ? 1.0f : 0.0f; break;
            case 'f':
                out[i] = info.itemsize == 2   ? f16_to_f32(load(uint16_t{}, i))
                         : info.itemsize == 4 ? load(float{}, i)
                                              : static_cast<float>(load(double{}, i));
                break;
            case 'i':
                out[i] = info.itemsize == 1   ? static_cast<float>(load(int8_t{}, i))
                         : info.itemsize == 2 ? static_cast<float>(load(int16_t{}, i))
                         : info.itemsize == 4 ? static_cast<float>(load(int32_t{}, i))
                                              : static_cast<float>(load(int64_t{}, i));
                break;
            case 'u':
                out[i] = info.itemsize == 1   ? static_cast<float>(load(uint8_t{}, i))
                         : info.itemsize == 2 ? static_cast<float>(load(uint16_t{}, i))
                         : info.itemsize == 4 ? static_cast<float>(load(uint32_t{}, i))
                                              : static_cast<float>(load(uint64_t{}, i));
                break;
            default: throw Error("array '" + name + "' holds strings ('" + descr + "'), not numbers");
        }
    }
    return out;
}

std::vector<int64_t> NpyArray::to_i64() const {
    DescrInfo info;
    const std::string problem = parse_descr(descr, &info);
    if (!problem.empty()) throw Error("array '" + name + "': " + problem);
    if (info.kind != 'b' && info.kind != 'i' && info.kind != 'u')
        throw Error("array '" + name + "' has dtype '" + descr + "'; to_i64 takes integer or bool arrays");
    const size_t n = static_cast<size_t>(numel());
    if (data.size() != n * info.itemsize) throw Error("array '" + name + "': data length does not match its shape");
    std::vector<int64_t> out(n);
    for (size_t i = 0; i < n; ++i) {
        // Little-endian bytes, sign-extended for 'i'.
        uint64_t bits = 0;
        std::memcpy(&bits, data.data() + i * info.itemsize, info.itemsize);
        const unsigned shift = static_cast<unsigned>(64 - 8 * info.itemsize);
        if (info.kind == 'i') {
            out[i] = static_cast<int64_t>(bits << shift) >> shift;
        } else {
            if (bits > static_cast<uint64_t>(INT64_MAX))
                throw Error("array '" + name + "': value " + std::to_string(bits) + " at " + std::to_string(i) +
                            " does not fit int64");
            out[i] = static_cast<int64_t>(bits);
        }
    }
    return out;
}

std::string NpyArray::to_string() const {
    DescrInfo info;
    const std::string problem = parse_descr(descr, &info);
    if (!problem.empty()) throw Error("array '" + name + "': " + problem);
    if (info.kind != 'U' && info.kind != 'S')
        throw Error("array '" + name + "' has dtype '" + descr + "', not a string ('<U' or '|S')");
    const int64_t n = numel();
    if (n > 1) throw Error("array '" + name + "' holds " + std::to_string(n) + " strings; to_string takes one");
    if (n == 0) return "";
    if (data.size() != info.itemsize) throw Error("array '" + name + "': data length does not match its shape");
    std::string out;
    if (info.kind == 'S') {
        out.assign(reinterpret_cast<const char*>(data.data()), data.size());
    } else {
        for (size_t i = 0; i < data.size(); i += 4) {
            uint32_t cp;
            std::memcpy(&cp, data.data() + i, 4);
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                throw Error("array '" + name + "': invalid code point " + std::to_string(cp));
            append_utf8(cp, &out);
        }
    }
    while (!out.empty() && out.back() == '\0') out.pop_back();  // numpy pads with NULs and strips them on read
    return out;
}

// ---------------------------------------------------------------------------------------------------------------
// NpzWriter

NpzWriter::NpzWriter(std::string path) : path_(std::move(path)) {
    // Fail now rather than at the end of a long run.
    const fs::path parent = fs::path(path_).parent_path();
    std::error_code ec;
    if (!parent.empty() && !fs::is_directory(parent, ec))
        throw Error("npz file '" + path_ + "': directory '" + parent.string() + "' does not exist");
    if (fs::is_directory(path_, ec)) throw Error("npz file '" + path_ + "' is a directory");
}

NpzWriter::~NpzWriter() = default;  // nothing is on disk before close(), which cleans up after itself

void NpzWriter::add_array(const std::string& name, const std::string& descr, const std::vector<int64_t>& shape,
                          const void* data, size_t itemsize) {
    if (closed_) throw Error("npz file '" + path_ + "': add '" + name + "' after close()");
    if (name.empty() || name.find('\0') != std::string::npos)
        throw Error("npz file '" + path_ + "': array name '" + name + "' is empty or contains NUL");
    for (const Entry& e : entries_)
        if (e.name == name) throw Error("npz file '" + path_ + "': array '" + name + "' added twice");
    uint64_t bytes = itemsize;
    for (int64_t d : shape) {
        if (d < 0)
            throw Error("npz file '" + path_ + "': array '" + name + "' has negative dimension " +
                        std::to_string(d));
        if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes))
            throw Error("npz file '" + path_ + "': array '" + name + "' is too large");
    }
    if (bytes > 0 && data == nullptr) throw Error("npz file '" + path_ + "': array '" + name + "' has no data");
    entries_.push_back({name, encode_npy(descr, shape, data, static_cast<size_t>(bytes))});
}

void NpzWriter::add_f32(const std::string& name, const float* data, const std::vector<int64_t>& shape) {
    add_array(name, "<f4", shape, data, sizeof(float));
}

void NpzWriter::add_i32(const std::string& name, const int32_t* data, const std::vector<int64_t>& shape) {
    add_array(name, "<i4", shape, data, sizeof(int32_t));
}

void NpzWriter::add_i64(const std::string& name, const int64_t* data, const std::vector<int64_t>& shape) {
    add_array(name, "<i8", shape, data, sizeof(int64_t));
}

void NpzWriter::add_string(const std::string& name, const std::string& utf8) {
    std::vector<uint32_t> code_points;
    if (!utf8_to_code_points(utf8, &code_points))
        throw Error("npz file '" + path_ + "': string for '" + name + "' is not valid UTF-8");
    if (code_points.empty()) code_points.push_back(0);  // numpy stores '' as '<U1' holding one NUL
    add_array(name, "<U" + std::to_string(code_points.size()), {}, code_points.data(),
              code_points.size() * sizeof(uint32_t));
}

void NpzWriter::close() {
    if (closed_) return;
    TempFile temp(path_);  // removed on every way out but commit()
    const std::string& tmp = temp.path();
    if (entries_.empty()) {
        write_empty_zip(tmp);
    } else {
        ZipOutput output(tmp);
        zip_error_t error;
        zip_error_init(&error);
        zip_source_t* target = zip_source_function_create(zip_output_callback, &output, &error);
        zip_t* archive = target == nullptr ? nullptr : zip_open_from_source(target, ZIP_CREATE | ZIP_TRUNCATE, &error);
        if (archive == nullptr) {
            const std::string why = zip_error_strerror(&error);
            if (target != nullptr) zip_source_free(target);
            zip_error_fini(&error);
            fail_file(path_, "cannot create '" + tmp + "': " + why);
        }
        zip_error_fini(&error);
        for (const Entry& e : entries_) {
            // The buffers stay alive in entries_ until zip_close has written them.
            zip_source_t* source = zip_source_buffer(archive, e.npy.data(), e.npy.size(), 0);
            const zip_int64_t index =
                source == nullptr ? -1 : zip_file_add(archive, (e.name + ".npy").c_str(), source, ZIP_FL_ENC_UTF_8);
            if (index < 0 ||
                zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) != 0) {
                const std::string why = zip_strerror(archive);
                if (source != nullptr && index < 0) zip_source_free(source);
                zip_discard(archive);
                fail_file(path_, "cannot add '" + e.name + "': " + why);
            }
        }
        if (zip_close(archive) != 0) {
            const std::string why = zip_strerror(archive);
            zip_discard(archive);
            fail_file(path_, "cannot write '" + tmp + "': " + why);
        }
    }
    temp.commit();
    closed_ = true;
    entries_.clear();
    entries_.shrink_to_fit();
}

// ---------------------------------------------------------------------------------------------------------------
// Reading

std::vector<NpyArray> read_npz(const std::string& path) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (!fs::exists(status)) fail_file(path, "no such file");
    if (fs::is_directory(status)) fail_file(path, "is a directory, expected an .npz file");
    if (!fs::is_regular_file(status)) fail_file(path, "is not a regular file");
    const uint64_t file_size = fs::file_size(path, ec);
    if (file_size == 0) fail_file(path, "is empty (0 bytes), not a zip archive");

    int code = 0;
    zip_t* archive = zip_open(path.c_str(), ZIP_RDONLY, &code);
    if (archive == nullptr) {
        const std::string why = zip_code_text(code);
        if (code == ZIP_ER_NOZIP)
            fail_file(path, "not a zip archive, or a truncated one (no end-of-central-directory record found)");
        fail_file(path, "cannot open as a zip archive (truncated or corrupt?): " + why);
    }
    std::vector<NpyArray> arrays;
    try {
        const zip_int64_t count = zip_get_num_entries(archive, 0);
        for (zip_int64_t i = 0; i < count; ++i) {
            zip_stat_t st;
            zip_stat_init(&st);
            if (zip_stat_index(archive, static_cast<zip_uint64_t>(i), 0, &st) != 0)
                fail_file(path, "cannot read entry " + std::to_string(i) + ": " + zip_strerror(archive));
            if (!(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE))
                fail_file(path, "entry " + std::to_string(i) + " has no name or size");
            const std::string name = st.name;
            if (!name.empty() && name.back() == '/') continue;  // a directory entry holds no array
            // The central directory's sizes decide what is allocated: a compressed size beyond the file is a lie.
            if ((st.valid & ZIP_STAT_COMP_SIZE) && st.comp_size > file_size)
                fail_entry(path, name, "declared compressed size " + std::to_string(st.comp_size) + " is larger than the whole file (" +
                                           std::to_string(file_size) + " bytes)");
            arrays.push_back(read_entry(archive, static_cast<zip_uint64_t>(i), st, path));
        }
    } catch (...) {
        zip_discard(archive);
        throw;
    }
    zip_discard(archive);  // read-only: nothing to write back
    return arrays;
}

const NpyArray* find_array(const std::vector<NpyArray>& arrays, std::string_view name) {
    for (const NpyArray& a : arrays)
        if (a.name == name) return &a;
    return nullptr;
}

}  // namespace gemma4
