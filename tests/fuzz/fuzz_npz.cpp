// fuzz_npz.cpp — libFuzzer target for .npz traces and goldens (read_npz): the zip container through libzip (central
// directory, sizes, CRCs, deflate), then each .npy entry (magic, version, the Python-literal header dict, descr,
// shape, data length), then the conversions `gemma4 check` and the inspector use: to_f32, to_i64, to_string.
// Input: the file. Seeds: tests/fuzz/corpus/npz/ (small stored and deflated archives). Run with tools/fuzz.sh npz.
#include "fuzz_util.h"
#include "npz.h"

using namespace gemma4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("trace.npz", data, size);
    std::vector<NpyArray> arrays;
    try {
        arrays = read_npz(path);
    } catch (const Error& e) {
        fuzz::check_message(e);
        return 0;
    }
    for (const NpyArray& a : arrays) {
        // Each conversion may refuse the dtype (with an Error), never anything else.
        try {
            if (a.to_f32().size() != static_cast<size_t>(a.numel())) fuzz::violated("to_f32 size != numel");
        } catch (const Error& e) {
            fuzz::check_message(e);
        }
        try {
            if (a.to_i64().size() != static_cast<size_t>(a.numel())) fuzz::violated("to_i64 size != numel");
        } catch (const Error& e) {
            fuzz::check_message(e);
        }
        try {
            (void)a.to_string();
        } catch (const Error& e) {
            fuzz::check_message(e);
        }
        (void)find_array(arrays, a.name);
    }
    return 0;
}
