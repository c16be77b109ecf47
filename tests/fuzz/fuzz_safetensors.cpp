// fuzz_safetensors.cpp — libFuzzer target for one .safetensors file (SafetensorsFile: the u64 header length, the JSON
// header, dtypes, shapes, data_offsets, overlaps, "__metadata__"), then what loading does with an accepted file:
// float32 conversion of every F32/F16/BF16 tensor and the registry check against a tiny model's config.
// Input: the whole file. Seeds: tests/fuzz/corpus/safetensors/. Run with tools/fuzz.sh safetensors.
#include <cstring>
#include <vector>

#include "checkpoint.h"
#include "fuzz_util.h"
#include "safetensors.h"

using namespace gemma4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const ModelConfig tiny = config_tiny_e2b();
    const std::string path = fuzz::write_input("model.safetensors", data, size);
    try {
        WeightStore store = WeightStore::open_file(path);
        uint64_t total_bytes = 0;
        for (const TensorRef* t : store.tensors()) {
            // Accepted tensors lie inside the file's data section and never overlap, so together they fit the file.
            total_bytes += t->nbytes;
            if (total_bytes > size) fuzz::violated("accepted tensors hold more bytes than the file has");
            if (t->nbytes != static_cast<uint64_t>(t->numel()) * dtype_size(t->dtype))
                fuzz::violated("tensor '" + t->name + "': nbytes is not numel x dtype size");
            if (t->dtype == DType::F32 || t->dtype == DType::F16 || t->dtype == DType::BF16) {
                const std::vector<float> values = load_f32(*t);  // reads every byte of the tensor
                (void)values;
            } else {
                try {
                    (void)load_f32(*t);
                    fuzz::violated("load_f32 accepted dtype " + std::string(dtype_name(t->dtype)));
                } catch (const Error& e) {
                    fuzz::check_message(e);
                }
            }
        }
        const WeightCheck check = check_weights(tiny, store);
        (void)check.describe_errors("fuzz");
    } catch (const Error& e) {
        fuzz::check_message(e);
    }
    return 0;
}
