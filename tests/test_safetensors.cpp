// test_safetensors.cpp — dtype conversions (exhaustive for f16/bf16), safetensors round trips (single file and
// sharded), and malformed files: each must throw gemma4::Error naming the file and the rule it breaks.
// Files are built in a fresh temp directory; no fixture from assets/ is needed.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dtype.h"
#include "error.h"
#include "test_util.h"
#include "safetensors.h"

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

struct TempDir : test::TempDir {
    TempDir() : test::TempDir("gemma4_st") {}
};

template <typename T>
std::vector<std::byte> bytes_of(const std::vector<T>& values) {
    std::vector<std::byte> out(values.size() * sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), values.data(), out.size());
    return out;
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string u64_le(uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
}

// A raw safetensors file: correct length prefix, the header text as given, then data_size zero bytes.
void write_raw(const std::string& path, const std::string& header, size_t data_size) {
    write_bytes(path, u64_le(header.size()) + header + std::string(data_size, '\0'));
}

// The message of the gemma4::Error that opening `path` throws; "" if it opens (or throws something else).
std::string open_error(const std::string& path) {
    try {
        SafetensorsFile file(path);
    } catch (const Error& e) {
        return e.what();
    } catch (...) {
        return "<not a gemma4::Error>";
    }
    return "";
}

std::string open_dir_error(const std::string& dir) {
    try {
        WeightStore store = WeightStore::open_dir(dir);
    } catch (const Error& e) {
        return e.what();
    } catch (...) {
        return "<not a gemma4::Error>";
    }
    return "";
}

using test::contains;

// Reference f16 decoding by arithmetic, independent of the bit manipulation in dtype.h.
double f16_reference(uint16_t h) {
    const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    double magnitude;
    if (exponent == 0x1f) magnitude = mantissa == 0 ? std::numeric_limits<double>::infinity() : std::nan("");
    else if (exponent == 0) magnitude = std::ldexp(mantissa, -24);
    else magnitude = std::ldexp(1024 + mantissa, exponent - 25);
    return sign ? -magnitude : magnitude;
}

uint32_t bits(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return b;
}

float from_bits(uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

TensorToWrite make_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                          std::vector<std::byte> bytes) {
    return TensorToWrite{name, dtype, std::move(shape), std::move(bytes)};
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// dtype.h

TEST_CASE("dtype names, sizes and parsing round trip") {
    for (DType t : kAllDTypes) {
        DType parsed = DType::BOOL;
        CHECK(parse_dtype(dtype_name(t), &parsed));
        CHECK(parsed == t);
        CHECK(dtype_size(t) >= 1);
    }
    CHECK(dtype_size(DType::BF16) == 2);
    CHECK(dtype_size(DType::F64) == 8);
    CHECK(dtype_size(DType::F8_E4M3) == 1);
    CHECK(std::string(dtype_name(DType::F8_E5M2)) == "F8_E5M2");
    DType ignored;
    CHECK_FALSE(parse_dtype("f32", &ignored));
    CHECK_FALSE(parse_dtype("", &ignored));
    CHECK_FALSE(parse_dtype("F32 ", &ignored));
}

TEST_CASE("f16_to_f32 is exact for all 65536 values, with subnormals, inf, nan and -0") {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float got = f16_to_f32(static_cast<uint16_t>(h));
        const double want = f16_reference(static_cast<uint16_t>(h));
        if (std::isnan(want)) {
            CHECK(std::isnan(got));
        } else {
            CHECK(static_cast<double>(got) == want);
            CHECK(std::signbit(got) == ((h & 0x8000) != 0));
        }
    }
    CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
    CHECK(f16_to_f32(0x03ff) == std::ldexp(1023.0f, -24));  // largest subnormal
    CHECK(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));  // smallest normal
    CHECK(f16_to_f32(0x7bff) == 65504.0f);
    CHECK(f16_to_f32(0x3c00) == 1.0f);
    CHECK(f16_to_f32(0xc000) == -2.0f);
    CHECK(std::isinf(f16_to_f32(0x7c00)));
    CHECK(f16_to_f32(0xfc00) < 0);
    CHECK(std::isnan(f16_to_f32(0x7c01)));  // signalling NaN stays NaN
    CHECK(std::isnan(f16_to_f32(0xfe00)));
    CHECK(std::signbit(f16_to_f32(0x8000)));
    CHECK(f16_to_f32(0x8000) == 0.0f);
}

TEST_CASE("bf16 conversions: exact widening, round-to-nearest-even narrowing, NaN preserved") {
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(bf16_to_f32(0xc040) == -3.0f);
    CHECK(std::signbit(bf16_to_f32(0x8000)));
    CHECK(bf16_to_f32(0x8000) == 0.0f);
    CHECK(std::isinf(bf16_to_f32(0x7f80)));
    CHECK(bf16_to_f32(0xff80) == -std::numeric_limits<float>::infinity());
    CHECK(std::isnan(bf16_to_f32(0x7fc0)));
    CHECK(std::isnan(bf16_to_f32(0x7f81)));
    CHECK(bits(bf16_to_f32(0x0001)) == 0x00010000u);  // bf16 subnormal -> float32 subnormal, exactly
    CHECK(bf16_to_f32(0x0001) > 0.0f);

    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(f32_to_bf16(-0.0f) == 0x8000);
    CHECK(f32_to_bf16(from_bits(0x3f808000)) == 0x3f80);  // tie -> even (down)
    CHECK(f32_to_bf16(from_bits(0x3f818000)) == 0x3f82);  // tie -> even (up)
    CHECK(f32_to_bf16(from_bits(0x3f808001)) == 0x3f81);  // above the tie -> up
    CHECK(f32_to_bf16(from_bits(0x3f807fff)) == 0x3f80);  // below the tie -> down
    CHECK(f32_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);  // overflows to inf
    CHECK(f32_to_bf16(std::numeric_limits<float>::infinity()) == 0x7f80);
    CHECK(f32_to_bf16(-std::numeric_limits<float>::infinity()) == 0xff80);
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(from_bits(0x7f800001)))));  // payload only in the low bits
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
    CHECK(std::signbit(bf16_to_f32(f32_to_bf16(from_bits(0xff800001)))));
    CHECK(f32_to_bf16(from_bits(0x00008000)) == 0x0000);  // subnormal tie -> even
    CHECK(f32_to_bf16(from_bits(0x00018000)) == 0x0002);

    // Every non-NaN bf16 survives bf16 -> f32 -> bf16 unchanged.
    for (uint32_t b = 0; b < 65536; ++b) {
        const float f = bf16_to_f32(static_cast<uint16_t>(b));
        if (!std::isnan(f)) CHECK(f32_to_bf16(f) == b);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips

TEST_CASE("safetensors round trip: F32, F16, BF16, I64, empty and scalar tensors, metadata") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");

    const std::vector<float> f32_values = {0.5f, -1.25f, 3.0e-38f, 1.0e30f, -0.0f, 7.0f};
    const std::vector<uint16_t> f16_bits = {0x3c00, 0x0001, 0x7bff, 0x8000, 0xfc00};
    const std::vector<float> bf16_source = {1.0f, -2.5f, 3.140625f, std::ldexp(1.0f, -133)};  // exact in bf16
    std::vector<uint16_t> bf16_bits;
    for (float f : bf16_source) bf16_bits.push_back(f32_to_bf16(f));
    const std::vector<int64_t> ids = {1, -2, 1LL << 40};
    const std::vector<float> scalar = {42.5f};
    const std::vector<uint8_t> odd = {1, 2, 3};  // 3 bytes: the next tensor starts unaligned

    write_safetensors(path,
                      {make_tensor("w.f32", DType::F32, {2, 3}, bytes_of(f32_values)),
                       make_tensor("w.odd", DType::U8, {3}, bytes_of(odd)),
                       make_tensor("w.f16", DType::F16, {5}, bytes_of(f16_bits)),
                       make_tensor("w.bf16", DType::BF16, {2, 2}, bytes_of(bf16_bits)),
                       make_tensor("ids", DType::I64, {3}, bytes_of(ids)),
                       make_tensor("empty", DType::F32, {0, 5}, {}),
                       make_tensor("scalar", DType::F32, {}, bytes_of(scalar))},
                      {{"format", "pt"}, {"note", "héllo"}});
    CHECK_FALSE(fs::exists(path + ".tmp"));

    // The header is padded so the data section starts at a multiple of 8.
    {
        std::ifstream in(path, std::ios::binary);
        unsigned char len[8];
        in.read(reinterpret_cast<char*>(len), 8);
        uint64_t n = 0;
        for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
        CHECK((8 + n) % 8 == 0);
    }

    SafetensorsFile file(path);
    CHECK(file.path() == path);
    REQUIRE(file.tensors().size() == 7);
    const std::vector<std::string> order = {"w.f32", "w.odd", "w.f16", "w.bf16", "ids", "empty", "scalar"};
    for (size_t i = 0; i < order.size(); ++i) CHECK(file.tensors()[i].name == order[i]);  // header order kept
    CHECK(file.metadata().at("format") == "pt");
    CHECK(file.metadata().at("note") == "héllo");
    CHECK(file.find("missing") == nullptr);

    const TensorRef* w = file.find("w.f32");
    REQUIRE(w != nullptr);
    CHECK(w->dtype == DType::F32);
    CHECK(w->shape == std::vector<int64_t>{2, 3});
    CHECK(w->numel() == 6);
    CHECK(w->nbytes == 24);
    CHECK(w->file == path);
    const std::vector<float> w_back = load_f32(*w);
    for (size_t i = 0; i < f32_values.size(); ++i) CHECK(bits(w_back[i]) == bits(f32_values[i]));

    const TensorRef* h = file.find("w.f16");
    REQUIRE(h != nullptr);
    const std::vector<float> h_back = load_f32(*h);  // unaligned source: converted through memcpy
    REQUIRE(h_back.size() == 5);
    CHECK(h_back[0] == 1.0f);
    CHECK(h_back[1] == std::ldexp(1.0f, -24));
    CHECK(h_back[2] == 65504.0f);
    CHECK(std::signbit(h_back[3]));
    CHECK(h_back[4] == -std::numeric_limits<float>::infinity());

    const TensorRef* b = file.find("w.bf16");
    REQUIRE(b != nullptr);
    CHECK(b->shape == std::vector<int64_t>{2, 2});
    const std::vector<float> b_back = load_f32(*b);
    for (size_t i = 0; i < bf16_source.size(); ++i) CHECK(b_back[i] == bf16_source[i]);

    const TensorRef* id = file.find("ids");
    REQUIRE(id != nullptr);
    std::vector<int64_t> ids_back(3);
    std::memcpy(ids_back.data(), id->data, id->nbytes);
    CHECK(ids_back == ids);
    // Only floating types convert; the error names file, tensor and dtype.
    try {
        (void)load_f32(*id);
        FAIL("load_f32 on I64 did not throw");
    } catch (const Error& e) {
        CHECK(contains(e.what(), path));
        CHECK(contains(e.what(), "ids"));
        CHECK(contains(e.what(), "I64"));
    }

    const TensorRef* empty = file.find("empty");
    REQUIRE(empty != nullptr);
    CHECK(empty->numel() == 0);
    CHECK(empty->nbytes == 0);
    CHECK(load_f32(*empty).empty());

    const TensorRef* s = file.find("scalar");
    REQUIRE(s != nullptr);
    CHECK(s->shape.empty());
    CHECK(s->numel() == 1);
    CHECK(load_f32(*s) == std::vector<float>{42.5f});

    // Moving keeps the mapping and the TensorRefs valid.
    SafetensorsFile moved(std::move(file));
    CHECK(load_f32(*moved.find("scalar")) == std::vector<float>{42.5f});
    SafetensorsFile assigned(path);
    assigned = std::move(moved);
    CHECK(load_f32(*assigned.find("w.bf16"))[1] == -2.5f);

    // WeightStore over the same directory: sorted by name.
    WeightStore store = WeightStore::open_dir(dir.path.string());
    CHECK(store.files() == std::vector<std::string>{(dir.path / "model.safetensors").string()});
    std::vector<std::string> names;
    for (const TensorRef* t : store.tensors()) names.push_back(t->name);
    CHECK(names == std::vector<std::string>{"empty", "ids", "scalar", "w.bf16", "w.f16", "w.f32", "w.odd"});
    WeightStore moved_store = std::move(store);
    REQUIRE(moved_store.find("w.f32") != nullptr);
    CHECK(load_f32(*moved_store.find("w.f32"))[1] == -1.25f);
}

TEST_CASE("safetensors reader accepts gaps, empty tensors anywhere, unknown entry keys and header padding") {
    TempDir dir;
    const std::string path = dir.file("gaps.safetensors");
    // 'a' at [0,4), gap, 'b' at [8,16); 'e' (empty) sits inside 'b'; header ends in spaces.
    const std::string header =
        R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "extra": 1},)"
        R"( "b": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [8, 16]},)"
        R"( "e": {"dtype": "F32", "shape": [3, 0], "data_offsets": [10, 10]}}     )";
    write_raw(path, header, 16);
    SafetensorsFile file(path);
    CHECK(file.tensors().size() == 3);
    CHECK(file.find("e")->numel() == 0);
    CHECK(load_f32(*file.find("b")) == std::vector<float>(4, 0.0f));
    CHECK(file.metadata().empty());
}

TEST_CASE("writer rejects inconsistent tensors") {
    TempDir dir;
    const std::string path = dir.file("bad.safetensors");
    CHECK_THROWS_AS(write_safetensors(path, {make_tensor("a", DType::F32, {2}, std::vector<std::byte>(4))}), Error);
    CHECK_THROWS_AS(write_safetensors(path, {make_tensor("a", DType::F32, {1}, std::vector<std::byte>(4)),
                                             make_tensor("a", DType::F32, {1}, std::vector<std::byte>(4))}),
                    Error);
    CHECK_THROWS_AS(write_safetensors(path, {make_tensor("__metadata__", DType::U8, {1}, std::vector<std::byte>(1))}),
                    Error);
    CHECK_THROWS_AS(write_safetensors(path, {make_tensor("bad\xff", DType::U8, {1}, std::vector<std::byte>(1))}),
                    Error);
    CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(path + ".tmp"));
}

TEST_CASE("sharded checkpoint round trip through model.safetensors.index.json") {
    TempDir dir;
    const std::vector<float> a = {1, 2, 3, 4}, b = {5, 6}, c = {7};
    write_safetensors(dir.file("model-00001-of-00002.safetensors"),
                      {make_tensor("layer.b", DType::F32, {2}, bytes_of(b)),
                       make_tensor("layer.a", DType::F32, {2, 2}, bytes_of(a))});
    write_safetensors(dir.file("model-00002-of-00002.safetensors"),
                      {make_tensor("head", DType::F32, {1}, bytes_of(c))});
    write_bytes(dir.file("model.safetensors.index.json"),
                R"({"metadata": {"total_size": 28}, "weight_map": {"layer.a": "model-00001-of-00002.safetensors",)"
                R"( "layer.b": "model-00001-of-00002.safetensors", "head": "model-00002-of-00002.safetensors"}})");

    WeightStore store = WeightStore::open_dir(dir.path.string());
    CHECK(store.files().size() == 2);
    std::vector<std::string> names;
    for (const TensorRef* t : store.tensors()) names.push_back(t->name);
    CHECK(names == std::vector<std::string>{"head", "layer.a", "layer.b"});
    REQUIRE(store.find("layer.a") != nullptr);
    CHECK(load_f32(*store.find("layer.a")) == a);
    CHECK(load_f32(*store.find("layer.b")) == b);
    CHECK(load_f32(*store.find("head")) == c);
    CHECK(fs::path(store.find("head")->file).filename() == "model-00002-of-00002.safetensors");
    CHECK(store.find("nope") == nullptr);

    WeightStore single = WeightStore::open_file(dir.file("model-00002-of-00002.safetensors"));
    CHECK(single.tensors().size() == 1);
}

// ---------------------------------------------------------------------------------------------------------------
// Malformed single files

namespace {

struct MalformedCase {
    const char* label;
    std::string header;
    size_t data_size;
    const char* expected;  // a word naming the rule broken
};

const std::string kOk4 = R"("dtype": "F32", "shape": [1], "data_offsets": [0, 4])";

std::vector<MalformedCase> malformed_cases() {
    return {
        {"header not JSON", R"({"a": )", 0, "not valid JSON"},
        {"trailing garbage after JSON", R"({} x)", 0, "not valid JSON"},
        {"header invalid UTF-8", "{\"a\xff\": {" + kOk4 + "}}", 4, "not valid JSON"},
        {"header NUL padded", std::string("{}") + std::string(6, '\0'), 0, "not valid JSON"},
        {"header is an array", R"([1, 2])", 0, "not a JSON object"},
        {"header is a string", R"("hello")", 0, "not a JSON object"},
        {"entry not an object", R"({"a": 5})", 0, "entry is not a JSON object"},
        {"entry is an array", R"({"a": ["F32", [1], [0, 4]]})", 4, "entry is not a JSON object"},
        {"missing dtype", R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", 4, "missing \"dtype\""},
        {"dtype not a string", R"({"a": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4,
         "\"dtype\" is not a string"},
        {"dtype null", R"({"a": {"dtype": null, "shape": [1], "data_offsets": [0, 4]}})", 4,
         "\"dtype\" is not a string"},
        {"unknown dtype", R"({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 4]}})", 4, "unknown dtype"},
        {"lowercase dtype", R"({"a": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", 4, "unknown dtype"},
        {"missing shape", R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", 4, "missing \"shape\""},
        {"shape not an array", R"({"a": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", 4,
         "\"shape\" is not an array"},
        {"shape null", R"({"a": {"dtype": "F32", "shape": null, "data_offsets": [0, 4]}})", 4,
         "\"shape\" is not an array"},
        {"negative dimension", R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4, "negative"},
        {"float dimension", R"({"a": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})", 4,
         "not an integer"},
        {"bool dimension", R"({"a": {"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}})", 4,
         "not an integer"},
        {"string dimension", R"({"a": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}})", 4,
         "not an integer"},
        {"dimension beyond int64", R"({"a": {"dtype": "U8", "shape": [18446744073709551615], "data_offsets": [0, 4]}})",
         4, "too large"},
        {"shape product overflows",
         R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})", 4, "overflows"},
        {"shape × dtype size overflows",
         R"({"a": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 4]}})", 4, "overflows"},
        {"missing data_offsets", R"({"a": {"dtype": "F32", "shape": [1]}})", 4, "missing \"data_offsets\""},
        {"data_offsets one element", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4]}})", 4,
         "not an array of two"},
        {"data_offsets three elements", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", 8,
         "not an array of two"},
        {"data_offsets an object", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": {"0": 4}}})", 4,
         "not an array of two"},
        {"negative offset", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", 4, "negative"},
        {"float offset", R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4.0]}})", 4, "not an integer"},
        {"begin after end", R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 4]}})", 8, "is after end"},
        {"offsets beyond the data section", R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4,
         "beyond the data section"},
        {"shape and offsets disagree", R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8,
         "size mismatch"},
        {"dtype size and offsets disagree", R"({"a": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 4]}})", 8,
         "size mismatch"},
        {"overlapping tensors",
         R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
         R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
         12, "overlap"},
        {"identical ranges",
         R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},)"
         R"( "b": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})",
         4, "overlap"},
        {"one tensor inside another (listed first)",
         R"({"small": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]},)"
         R"( "big": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
         8, "overlap"},
        {"duplicate tensor name", "{\"a\": {" + kOk4 + "}, \"a\": {" + kOk4 + "}}", 4, "duplicate tensor name"},
        {"duplicate key inside an entry",
         R"({"a": {"dtype": "F32", "dtype": "F16", "shape": [1], "data_offsets": [0, 4]}})", 4, "duplicate key"},
        {"__metadata__ not an object", R"({"__metadata__": ["format", "pt"]})", 0, "not an object of strings"},
        {"__metadata__ value not a string", R"({"__metadata__": {"format": 1}})", 0, "is not a string"},
        {"__metadata__ twice", R"({"__metadata__": {}, "__metadata__": {}})", 0, "duplicate \"__metadata__\""},
    };
}

}  // namespace

TEST_CASE("malformed safetensors headers are rejected with the file name and the rule") {
    TempDir dir;
    const std::vector<MalformedCase> cases = malformed_cases();
    CHECK(cases.size() >= 25);
    int index = 0;
    for (const MalformedCase& c : cases) {
        const std::string name = "case" + std::to_string(index++) + ".safetensors";
        const std::string path = dir.file(name);
        write_raw(path, c.header, c.data_size);
        const std::string message = open_error(path);
        INFO("case: ", std::string(c.label), " | message: ", message);
        CHECK_FALSE(message.empty());
        CHECK(contains(message, name));
        CHECK(contains(message, c.expected));
    }
}

TEST_CASE("malformed safetensors files at the byte level") {
    TempDir dir;
    auto check = [&](const std::string& name, const std::string& bytes, const std::vector<std::string>& words) {
        const std::string path = dir.file(name);
        write_bytes(path, bytes);
        const std::string message = open_error(path);
        INFO("case: ", name, " | message: ", message);
        CHECK(contains(message, name));
        for (const std::string& w : words) CHECK(contains(message, w));
    };
    check("zero_length.safetensors", "", {"shorter than 8 bytes"});
    check("three_bytes.safetensors", "abc", {"shorter than 8 bytes"});
    check("seven_bytes.safetensors", std::string(7, '\0'), {"shorter than 8 bytes"});
    check("past_eof.safetensors", u64_le(100) + "{}", {"header length", "past the end"});
    check("one_past_eof.safetensors", u64_le(3) + "{}", {"header length", "past the end"});
    check("huge_header_length.safetensors", u64_le(1ULL << 63) + "{}", {"header length", "bound"});
    check("max_header_length.safetensors", u64_le(~0ULL) + "{}", {"header length", "bound"});
    check("header_above_bound.safetensors", u64_le(100'000'001) + "{}", {"header length", "bound"});
    check("empty_header.safetensors", u64_le(0), {"not valid JSON"});
    {
        // A valid file cut short: the last tensor now runs past the data section.
        const std::string path = dir.file("truncated.safetensors");
        write_safetensors(path, {make_tensor("t", DType::F32, {4}, std::vector<std::byte>(16))});
        fs::resize_file(path, fs::file_size(path) - 3);
        const std::string message = open_error(path);
        CHECK(contains(message, "truncated.safetensors"));
        CHECK(contains(message, "'t'"));
        CHECK(contains(message, "beyond the data section"));
    }
    {
        const std::string message = open_error(dir.file("does_not_exist.safetensors"));
        CHECK(contains(message, "does_not_exist.safetensors"));
        CHECK(contains(message, "cannot open"));
    }
    {
        fs::create_directory(dir.path / "a_directory.safetensors");
        const std::string message = open_error(dir.file("a_directory.safetensors"));
        CHECK(contains(message, "a_directory.safetensors"));
        CHECK(contains(message, "is a directory"));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Malformed checkpoints (directories)

namespace {

// Two valid shards in `dir`: s1 holds a and b, s2 holds c.
void write_two_shards(const TempDir& dir) {
    const std::vector<float> one = {1};
    write_safetensors(dir.file("s1.safetensors"), {make_tensor("a", DType::F32, {1}, bytes_of(one)),
                                                   make_tensor("b", DType::F32, {1}, bytes_of(one))});
    write_safetensors(dir.file("s2.safetensors"), {make_tensor("c", DType::F32, {1}, bytes_of(one))});
}

void write_index(const TempDir& dir, const std::string& json) {
    write_bytes(dir.file("model.safetensors.index.json"), json);
}

}  // namespace

TEST_CASE("malformed sharded checkpoints are rejected with the index or shard named") {
    const std::string index_name = "model.safetensors.index.json";
    struct ShardCase {
        const char* label;
        std::string index;
        std::vector<std::string> expected;
    };
    const std::vector<ShardCase> cases = {
        {"missing shard",
         R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s3.safetensors"}})",
         {index_name, "s3.safetensors", "does not exist"}},
        {"tensor in the wrong shard",
         R"({"weight_map": {"a": "s2.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})",
         {index_name, "'a'", "s2.safetensors", "found only in", "s1.safetensors"}},
        {"tensor in no shard",
         R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors", "d": "s2.safetensors"}})",
         {index_name, "'d'", "does not contain it"}},
        {"tensor missing from the index",
         R"({"weight_map": {"a": "s1.safetensors", "c": "s2.safetensors"}})",
         {index_name, "'b'", "s1.safetensors", "not listed"}},
        {"shard name with ..",
         R"({"weight_map": {"a": "../s1.safetensors"}})",
         {index_name, "not a plain file name"}},
        {"shard name with /",
         R"({"weight_map": {"a": "sub/s1.safetensors"}})",
         {index_name, "not a plain file name"}},
        {"absolute shard name",
         R"({"weight_map": {"a": "/etc/passwd"}})",
         {index_name, "not a plain file name"}},
        {"index not JSON", R"({"weight_map": )", {index_name, "not valid JSON"}},
        {"index not an object", R"(["s1.safetensors"])", {index_name, "not a JSON object"}},
        {"no weight_map", R"({"metadata": {}})", {index_name, "missing \"weight_map\""}},
        {"weight_map not an object",
         R"({"weight_map": ["a"]})",
         {index_name, "\"weight_map\" is not an object"}},
        {"weight_map value not a string",
         R"({"weight_map": {"a": 1}})",
         {index_name, "not a file name string"}},
        {"tensor twice in weight_map",
         R"({"weight_map": {"a": "s1.safetensors", "a": "s2.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})",
         {index_name, "'a'", "appears twice"}},
    };
    for (const ShardCase& c : cases) {
        TempDir dir;
        write_two_shards(dir);
        write_index(dir, c.index);
        const std::string message = open_dir_error(dir.path.string());
        INFO("case: ", std::string(c.label), " | message: ", message);
        CHECK_FALSE(message.empty());
        for (const std::string& w : c.expected) CHECK(contains(message, w));
    }

    SUBCASE("a tensor present in two shards") {
        TempDir dir;
        write_two_shards(dir);
        const std::vector<float> one = {1};
        write_safetensors(dir.file("s2.safetensors"), {make_tensor("c", DType::F32, {1}, bytes_of(one)),
                                                       make_tensor("a", DType::F32, {1}, bytes_of(one))});
        write_index(dir, R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})");
        const std::string message = open_dir_error(dir.path.string());
        CHECK(contains(message, "'a'"));
        CHECK(contains(message, "two shards"));
        CHECK(contains(message, "s1.safetensors"));
        CHECK(contains(message, "s2.safetensors"));
    }
    SUBCASE("a malformed shard names the shard") {
        TempDir dir;
        write_two_shards(dir);
        write_bytes(dir.file("s2.safetensors"), "xyz");
        write_index(dir, R"({"weight_map": {"a": "s1.safetensors", "b": "s1.safetensors", "c": "s2.safetensors"}})");
        const std::string message = open_dir_error(dir.path.string());
        CHECK(contains(message, "s2.safetensors"));
        CHECK(contains(message, "shorter than 8 bytes"));
    }
    SUBCASE("a directory with neither file") {
        TempDir dir;
        write_two_shards(dir);
        const std::string message = open_dir_error(dir.path.string());
        CHECK(contains(message, dir.path.string()));
        CHECK(contains(message, "model.safetensors"));
        CHECK(contains(message, index_name));
    }
    SUBCASE("a missing directory, a file given as directory, a directory given as model.safetensors") {
        TempDir dir;
        CHECK(contains(open_dir_error(dir.file("nowhere")), "does not exist"));
        write_two_shards(dir);
        const std::string as_dir = open_dir_error(dir.file("s1.safetensors"));
        CHECK(contains(as_dir, "s1.safetensors"));
        CHECK(contains(as_dir, "not a directory"));
        fs::create_directory(dir.path / "model.safetensors");
        const std::string as_file = open_dir_error(dir.path.string());
        CHECK(contains(as_file, "model.safetensors"));
        CHECK(contains(as_file, "is a directory"));
    }
}

TEST_CASE("the mapping asks for 2 MiB pages, a tensor read a row at a time for small ones; smaps reports both") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    const int64_t n = int64_t(3) << 20;  // 12 MiB of F32 per tensor: whole 2 MiB pages inside each
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) a[size_t(i)] = float(i % 977), b[size_t(i)] = -float(i % 991);
    write_safetensors(path, {make_tensor("streamed", DType::F32, {n}, bytes_of(a)), make_tensor("sparse", DType::F32, {n}, bytes_of(b))});
    WeightStore store = WeightStore::open_file(path);
    const TensorRef& sa = *store.find("streamed");
    const TensorRef& sb = *store.find("sparse");
    advise_sparse_reads(sb);
    // The advice changes no value.
    CHECK(load_f32(sa) == a);
    CHECK(load_f32(sb) == b);

    const std::vector<MappedRange> ranges = mapped_ranges(path);
#ifdef __linux__
    REQUIRE_FALSE(ranges.empty());
    auto range_at = [&](const std::byte* p) -> const MappedRange* {
        for (const MappedRange& r : ranges)
            if (reinterpret_cast<uint64_t>(p) >= r.begin && reinterpret_cast<uint64_t>(p) < r.end) return &r;
        return nullptr;
    };
    const MappedRange* ra = range_at(sa.data + sa.nbytes / 2);
    const MappedRange* rb = range_at(sb.data + sb.nbytes / 2);
    REQUIRE(ra != nullptr);
    REQUIRE(rb != nullptr);
    int64_t resident = 0, huge = 0;
    for (const MappedRange& r : ranges) resident += r.resident, huge += r.on_huge_pages;
    CHECK(resident >= int64_t(sa.nbytes + sb.nbytes));  // both tensors were just read whole
    CHECK(huge <= resident);
    if (fs::exists("/sys/kernel/mm/transparent_hugepage")) {  // a kernel built with huge pages honours the advice
        CHECK(ra != rb);  // the small-page advice split the mapping
        CHECK(ra->asks_huge);
        CHECK_FALSE(ra->refuses_huge);
        CHECK(rb->refuses_huge);
        CHECK_FALSE(rb->asks_huge);
    }
#else
    CHECK(ranges.empty());
#endif
    CHECK(mapped_ranges(dir.file("not-mapped.safetensors")).empty());
}
