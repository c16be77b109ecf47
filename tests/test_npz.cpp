// test_npz.cpp — the trace format: NpzWriter/read_npz round trips, the npy header parser's tolerance, malformed
// archives and arrays (each an Error naming the file), and both directions against numpy when python3 has it
// (tests/npz_numpy_check.py); without numpy that one test says it was skipped.
#include <doctest/doctest.h>

#include <unistd.h>
#include <zip.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "error.h"
#include "test_util.h"
#include "npz.h"

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("gemma4_npz") {}
};

using test::contains;

std::string read_error(const std::string& path) {
    try {
        (void)read_npz(path);
    } catch (const Error& e) {
        return e.what();
    } catch (...) {
        return "<not a gemma4::Error>";
    }
    return "";
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// An .npy file built by hand: magic, version major.0, header length (u16 for 1.x, u32 otherwise), header text
// exactly as given, then data.
std::string make_npy(const std::string& header, const std::string& data, int major = 1) {
    std::string out = "\x93NUMPY";
    out += static_cast<char>(major);
    out += '\0';
    const size_t len_bytes = major == 1 ? 2 : 4;
    for (size_t i = 0; i < len_bytes; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
    return out + header + data;
}

// A zip holding the given (name, bytes) entries, stored uncompressed, written with libzip.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& entries) {
    int code = 0;
    zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    REQUIRE(archive != nullptr);
    for (const auto& [name, bytes] : entries) {
        // freep=0: the strings outlive zip_close below.
        zip_source_t* source = zip_source_buffer(archive, bytes.data(), bytes.size(), 0);
        REQUIRE(source != nullptr);
        const zip_int64_t index = zip_file_add(archive, name.c_str(), source, 0);
        REQUIRE(index >= 0);
        zip_set_file_compression(archive, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
    }
    REQUIRE(zip_close(archive) == 0);
}

template <typename T>
std::string raw(const std::vector<T>& values) {
    return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

// Where a python3 that imports numpy lives ("" if none): CI installs python3-numpy for /usr/bin/python3,
// while a developer's PATH may put another python3 first.
std::string python_with_numpy() {
    for (const char* candidate : {"python3", "/usr/bin/python3"}) {
        const std::string command = std::string(candidate) + " -c 'import numpy' >/dev/null 2>&1";
        if (std::system(command.c_str()) == 0) return candidate;
    }
    return "";
}

}  // namespace

TEST_CASE("npz round trip of every add_* type, 0-d and empty shapes, entry order") {
    TempDir dir;
    const std::string path = dir.file("trace.npz");
    const std::vector<float> q = {0.5f, -1.0f, 1e-30f, 3.0e38f, -0.0f, 42.0f};
    const float scalar = 3.25f;
    const std::vector<int32_t> ids32 = {-2, 0, 7, 2147483647};
    const std::vector<int64_t> tokens = {2, 105, 9000000000LL};
    const std::string unicode = "h\xc3\xa9llo \xf0\x9f\x99\x82";  // "héllo 🙂"
    {
        NpzWriter writer(path);
        writer.add_f32("text.0.attn_q", q.data(), {2, 3});
        writer.add_f32("scalar", &scalar, {});
        writer.add_f32("empty", nullptr, {0, 4});
        writer.add_i32("ids32", ids32.data(), {4});
        writer.add_i64("meta.tokens", tokens.data(), {3});
        writer.add_string("meta.prompt", unicode);
        writer.add_string("meta.empty", "");
        CHECK_FALSE(fs::exists(path));  // nothing under the final name before close()
        writer.close();
        writer.close();  // a second close is harmless
        CHECK_THROWS_AS(writer.add_f32("late", &scalar, {}), Error);
    }
    CHECK(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".tmp"));

    const std::vector<NpyArray> arrays = read_npz(path);
    std::vector<std::string> names;
    for (const NpyArray& a : arrays) names.push_back(a.name);
    CHECK(names == std::vector<std::string>{"text.0.attn_q", "scalar", "empty", "ids32", "meta.tokens",
                                            "meta.prompt", "meta.empty"});

    const NpyArray* aq = find_array(arrays, "text.0.attn_q");
    REQUIRE(aq != nullptr);
    CHECK(aq->descr == "<f4");
    CHECK(aq->shape == std::vector<int64_t>{2, 3});
    CHECK(aq->numel() == 6);
    const std::vector<float> q_back = aq->to_f32();
    REQUIRE(q_back.size() == q.size());
    for (size_t i = 0; i < q.size(); ++i) CHECK(std::memcmp(&q_back[i], &q[i], 4) == 0);

    const NpyArray* as = find_array(arrays, "scalar");
    REQUIRE(as != nullptr);
    CHECK(as->shape.empty());
    CHECK(as->numel() == 1);
    CHECK(as->to_f32() == std::vector<float>{3.25f});

    const NpyArray* ae = find_array(arrays, "empty");
    REQUIRE(ae != nullptr);
    CHECK(ae->shape == std::vector<int64_t>{0, 4});
    CHECK(ae->numel() == 0);
    CHECK(ae->data.empty());
    CHECK(ae->to_f32().empty());

    const NpyArray* a32 = find_array(arrays, "ids32");
    REQUIRE(a32 != nullptr);
    CHECK(a32->descr == "<i4");
    CHECK(a32->to_i64() == std::vector<int64_t>{-2, 0, 7, 2147483647});
    CHECK(a32->to_f32() == std::vector<float>{-2.0f, 0.0f, 7.0f, 2147483647.0f});

    const NpyArray* at = find_array(arrays, "meta.tokens");
    REQUIRE(at != nullptr);
    CHECK(at->descr == "<i8");
    CHECK(at->to_i64() == tokens);
    CHECK_THROWS_AS((void)aq->to_i64(), Error);  // floats are not integers

    const NpyArray* ap = find_array(arrays, "meta.prompt");
    REQUIRE(ap != nullptr);
    CHECK(ap->descr == "<U7");  // code points, not bytes
    CHECK(ap->shape.empty());
    CHECK(ap->to_string() == unicode);
    CHECK_THROWS_AS((void)ap->to_f32(), Error);
    CHECK(find_array(arrays, "meta.empty")->to_string().empty());
    CHECK(find_array(arrays, "meta.missing") == nullptr);

    // The npy header is padded so the data starts 64-byte aligned within the entry, and ends with '\n'.
    const std::string bytes = read_bytes(path);
    const size_t magic = bytes.find("\x93NUMPY");
    REQUIRE(magic != std::string::npos);
    const size_t header_len = static_cast<unsigned char>(bytes[magic + 8]) |
                              static_cast<size_t>(static_cast<unsigned char>(bytes[magic + 9])) << 8;
    CHECK((10 + header_len) % 64 == 0);
    CHECK(bytes[magic + 10 + header_len - 1] == '\n');
}

TEST_CASE("NpzWriter: no file without close(), bad input refused") {
    TempDir dir;
    const std::string path = dir.file("abandoned.npz");
    const float one = 1.0f;
    {
        NpzWriter writer(path);
        writer.add_f32("x", &one, {1});
        CHECK_THROWS_AS(writer.add_f32("x", &one, {1}), Error);  // duplicate name
        CHECK_THROWS_AS(writer.add_f32("", &one, {1}), Error);
        CHECK_THROWS_AS(writer.add_f32("neg", &one, {-1}), Error);
        CHECK_THROWS_AS(writer.add_f32("null", nullptr, {2}), Error);
        CHECK_THROWS_AS(writer.add_string("bad", "\xff\xfe"), Error);      // not UTF-8
        CHECK_THROWS_AS(writer.add_string("bad", "\xed\xa0\x80"), Error);  // a UTF-16 surrogate
        CHECK_THROWS_AS(writer.add_string("bad", "\xc0\xaf"), Error);      // overlong
        CHECK_THROWS_AS(writer.add_string("bad", "\xe2\x82"), Error);      // truncated
    }  // destroyed without close(): an interrupted run
    CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".tmp"));

    try {
        NpzWriter writer(dir.file("no_such_dir/out.npz"));
        FAIL("NpzWriter accepted a missing directory");
    } catch (const Error& e) {
        CHECK(contains(e.what(), "no_such_dir"));
    }

    // An archive with no arrays is still a valid (empty) zip.
    const std::string empty_path = dir.file("empty.npz");
    NpzWriter empty(empty_path);
    empty.close();
    CHECK(read_npz(empty_path).empty());
}

TEST_CASE("npy header parser: numpy's spellings, versions 2.0 and 3.0, other dtypes") {
    TempDir dir;
    const std::string path = dir.file("hand_made.npz");
    const std::vector<float> f = {1.5f, -2.0f};
    const std::vector<double> d = {0.25, -8.0};
    const std::vector<uint16_t> h = {0x3c00, 0xc000};  // 1, -2 in float16
    const std::vector<int16_t> i16 = {-300, 7};
    const std::vector<uint32_t> u32 = {4000000000u};
    const std::vector<uint64_t> u64_big = {~0ULL};
    write_zip(path, {
        {"double_quotes.npy", make_npy(R"({"shape": (2,), "fortran_order": False, "descr": "<f4"})" "\n", raw(f))},
        {"no_trailing_comma.npy", make_npy("{'descr':'<f8','fortran_order':False,'shape':(2,)}", raw(d))},
        {"list_shape_py2_long.npy", make_npy("{'descr': '<f2', 'fortran_order': False, 'shape': [1L, 2L], }", raw(h))},
        {"v2.npy", make_npy("{'descr': '<i2', 'fortran_order': False, 'shape': (1, 2), }\n", raw(i16), 2)},
        {"v3.npy", make_npy("{'descr': '<u4', 'fortran_order': False, 'shape': (), }\n", raw(u32), 3)},
        {"bools.npy", make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", std::string("\1\0\1", 3))},
        {"bytes.npy", make_npy("{'descr': '|S5', 'fortran_order': False, 'shape': (), }", std::string("abc\0\0", 5))},
        {"u8_big.npy", make_npy("{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }", raw(u64_big))},
        {"no_npy_suffix", make_npy("{'descr': '|u1', 'fortran_order': False, 'shape': (0,), }", "")},
    });
    const std::vector<NpyArray> arrays = read_npz(path);
    REQUIRE(arrays.size() == 9);
    CHECK(find_array(arrays, "double_quotes")->to_f32() == f);
    CHECK(find_array(arrays, "no_trailing_comma")->to_f32() == std::vector<float>{0.25f, -8.0f});
    CHECK(find_array(arrays, "list_shape_py2_long")->shape == std::vector<int64_t>{1, 2});
    CHECK(find_array(arrays, "list_shape_py2_long")->to_f32() == std::vector<float>{1.0f, -2.0f});
    CHECK(find_array(arrays, "v2")->to_i64() == std::vector<int64_t>{-300, 7});
    CHECK(find_array(arrays, "v3")->to_i64() == std::vector<int64_t>{4000000000LL});
    CHECK(find_array(arrays, "bools")->to_i64() == std::vector<int64_t>{1, 0, 1});
    CHECK(find_array(arrays, "bools")->to_f32() == std::vector<float>{1.0f, 0.0f, 1.0f});
    CHECK(find_array(arrays, "bytes")->to_string() == "abc");
    CHECK_THROWS_AS((void)find_array(arrays, "u8_big")->to_i64(), Error);  // does not fit int64
    CHECK(find_array(arrays, "no_npy_suffix")->numel() == 0);
    CHECK_THROWS_AS((void)find_array(arrays, "double_quotes")->to_string(), Error);
}

TEST_CASE("malformed npz files and npy entries throw an Error naming the file") {
    TempDir dir;
    const std::string f4x2 = raw(std::vector<float>{1, 2});
    struct EntryCase {
        const char* label;
        std::string npy;
        const char* expected;
    };
    const std::vector<EntryCase> entry_cases = {
        {"bad magic", std::string("\x93NUMPX\1\0", 8) + std::string(2, '\0'), "bad magic"},
        {"not npy at all", "hello, world", "bad magic"},
        {"too short for the magic", "\x93NU", "bad magic"},
        {"unsupported version", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2, 4),
         "unsupported npy format version 4.0"},
        {"lying shape (too few bytes)", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (10,), }", f4x2),
         "data length mismatch"},
        {"lying shape (too many bytes)", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", f4x2),
         "data length mismatch"},
        {"shape overflow",
         make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 16), }", f4x2),
         "overflows"},
        {"negative dimension", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f4x2),
         "negative"},
        {"fortran_order True", make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f4x2),
         "fortran_order"},
        {"unknown descr", make_npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", f4x2),
         "unknown descr"},
        {"object descr", make_npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", f4x2),
         "unknown descr"},
        {"big-endian descr", make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f4x2),
         "big-endian"},
        {"structured descr", make_npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4x2),
         "structured"},
        {"header not a dict", make_npy("['descr', '<f4']", f4x2), "not a Python dict"},
        {"header unterminated", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", f4x2),
         "not a Python dict"},
        {"header missing shape", make_npy("{'descr': '<f4', 'fortran_order': False}", f4x2), "lacks key 'shape'"},
        {"header extra key", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f4x2),
         "unexpected key"},
        {"header float dimension", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", f4x2),
         "not a Python dict"},
        {"header length past the entry", make_npy("{'descr': '<f4'}", "").substr(0, 10) + "{", "runs past"},
    };
    int index = 0;
    for (const EntryCase& c : entry_cases) {
        const std::string name = "entry_case" + std::to_string(index++) + ".npz";
        const std::string path = dir.file(name);
        write_zip(path, {{"ok.npy", make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2)},
                         {"broken.npy", c.npy}});
        const std::string message = read_error(path);
        INFO("case: ", std::string(c.label), " | message: ", message);
        CHECK(contains(message, name));
        CHECK(contains(message, "broken.npy"));
        CHECK(contains(message, c.expected));
    }

    auto check_file = [&](const std::string& name, const std::string& expected) {
        const std::string message = read_error(dir.file(name));
        INFO("case: ", name, " | message: ", message);
        CHECK(contains(message, name));
        CHECK(contains(message, expected));
    };
    write_bytes(dir.file("text.npz"), "this is not a zip archive, just some text that is long enough");
    check_file("text.npz", "not a zip");
    write_bytes(dir.file("zero.npz"), "");
    check_file("zero.npz", "empty");
    check_file("missing.npz", "no such file");
    fs::create_directory(dir.path / "folder.npz");
    check_file("folder.npz", "is a directory");

    // A valid trace cut in half loses its central directory.
    const std::string good = dir.file("good.npz");
    {
        NpzWriter writer(good);
        std::vector<float> values(256, 1.0f);
        writer.add_f32("a", values.data(), {256});
        writer.close();
    }
    const std::string whole = read_bytes(good);
    write_bytes(dir.file("truncated.npz"), whole.substr(0, whole.size() / 2));
    check_file("truncated.npz", "zip");
    write_bytes(dir.file("tail_cut.npz"), whole.substr(0, whole.size() - 5));
    check_file("tail_cut.npz", "zip");

    // One flipped data byte: the CRC check catches it.
    std::string flipped = whole;
    const size_t data_at = flipped.find("\x93NUMPY") + 128 + 10;
    flipped[data_at] = static_cast<char>(flipped[data_at] ^ 0x55);
    write_bytes(dir.file("bad_crc.npz"), flipped);
    check_file("bad_crc.npz", "a.npy");
}

TEST_CASE("numpy reads what NpzWriter writes, and read_npz reads np.savez / np.savez_compressed") {
    const std::string python = python_with_numpy();
    if (python.empty()) {
        MESSAGE("skipped: no python3 with numpy found (CI installs python3-numpy)");
        return;
    }
    TempDir dir;
    const std::string written = dir.file("from_cpp.npz");
    {
        const std::vector<float> q = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
        const float scalar = 3.25f;
        const std::vector<int32_t> ids32 = {-2, 0, 7, 2147483647};
        const std::vector<int64_t> tokens = {2, 105, 9000000000LL};
        NpzWriter writer(written);
        writer.add_f32("text.0.attn_q", q.data(), {2, 3});
        writer.add_f32("scalar", &scalar, {});
        writer.add_f32("empty", nullptr, {0, 4});
        writer.add_i32("ids32", ids32.data(), {4});
        writer.add_i64("meta.tokens", tokens.data(), {3});
        writer.add_string("meta.prompt", "h\xc3\xa9llo \xf0\x9f\x99\x82");
        writer.add_string("meta.model", "tiny-e2b");
        writer.add_string("meta.empty", "");
        writer.close();
    }
    const std::string plain = dir.file("from_numpy.npz");
    const std::string compressed = dir.file("from_numpy_compressed.npz");
    auto quoted = [](const std::string& s) { return "'" + s + "'"; };
    const std::string command = python + " " + quoted(std::string(GEMMA4_TESTS_DIR) + "/npz_numpy_check.py") + " " +
                                quoted(written) + " " + quoted(plain) + " " + quoted(compressed);
    CHECK(std::system(command.c_str()) == 0);

    for (const std::string& path : {plain, compressed}) {
        INFO("reading ", path);
        REQUIRE(fs::exists(path));
        const std::vector<NpyArray> arrays = read_npz(path);
        CHECK(arrays.size() == 10);
        const NpyArray* probe = find_array(arrays, "probe");
        REQUIRE(probe != nullptr);
        CHECK(probe->descr == "<f4");
        CHECK(probe->shape == std::vector<int64_t>{2, 3});
        CHECK(probe->to_f32() == std::vector<float>{0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f});
        const NpyArray* tokens = find_array(arrays, "meta.tokens");
        REQUIRE(tokens != nullptr);
        CHECK(tokens->to_i64() == std::vector<int64_t>{1, -5, 1LL << 40});
        const NpyArray* prompt = find_array(arrays, "meta.prompt");
        REQUIRE(prompt != nullptr);
        CHECK(prompt->shape.empty());
        CHECK(prompt->to_string() == "na\xc3\xafve \xe2\x9c\x93 \xf0\x9f\x99\x82");  // "naïve ✓ 🙂"
        CHECK(find_array(arrays, "flags")->to_i64() == std::vector<int64_t>{1, 0, 1});
        CHECK(find_array(arrays, "f64")->to_f32() == std::vector<float>{0.1f, -2.5f});
        CHECK(find_array(arrays, "f16")->to_f32() == std::vector<float>{1.5f, -0.25f, 65504.0f});
        CHECK(find_array(arrays, "u8")->to_i64() == std::vector<int64_t>{0, 255});
        CHECK(find_array(arrays, "i16")->shape == std::vector<int64_t>{1, 2});
        CHECK(find_array(arrays, "i16")->to_i64() == std::vector<int64_t>{-300, 7});
        CHECK(find_array(arrays, "scalar")->to_f32() == std::vector<float>{1.5f});
        CHECK(find_array(arrays, "bytes")->to_string() == "abc");
    }
}
