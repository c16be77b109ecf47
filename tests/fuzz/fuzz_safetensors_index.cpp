// fuzz_safetensors_index.cpp — libFuzzer target for model.safetensors.index.json (WeightStore::open_dir on a sharded
// checkpoint): the JSON, "weight_map", shard names (no paths out of the directory), and the two-way agreement between
// the index and the shards. The directory holds two small valid shards, written once:
//   model-00001-of-00002.safetensors  with "a" (F32 [2]) and "b" (BF16 [3])
//   model-00002-of-00002.safetensors  with "c" (F16 [1, 2])
// so an index mapping exactly those tensors to those files opens. Input: the index file. Seeds:
// tests/fuzz/corpus/safetensors_index/. Run with tools/fuzz.sh safetensors_index.
#include <filesystem>

#include "fuzz_util.h"
#include "safetensors.h"

using namespace gemma4;

namespace {

TensorToWrite tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, size_t nbytes) {
    TensorToWrite t;
    t.name = name;
    t.dtype = dtype;
    t.shape = std::move(shape);
    t.bytes.assign(nbytes, std::byte{0x3f});
    return t;
}

// The checkpoint directory with its two shards (the index is written per input).
const std::string& checkpoint_dir() {
    static const std::string dir = [] {
        const std::filesystem::path d = fuzz::scratch_dir() / "checkpoint";
        std::filesystem::create_directories(d);
        write_safetensors((d / "model-00001-of-00002.safetensors").string(),
                          {tensor("a", DType::F32, {2}, 8), tensor("b", DType::BF16, {3}, 6)});
        write_safetensors((d / "model-00002-of-00002.safetensors").string(), {tensor("c", DType::F16, {1, 2}, 4)});
        return d.string();
    }();
    return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string& dir = checkpoint_dir();
    fuzz::write_input("checkpoint/model.safetensors.index.json", data, size);
    try {
        const WeightStore store = WeightStore::open_dir(dir);
        // An index that opens lists exactly the tensors of the shards it names: some of "a", "b", "c".
        for (const TensorRef* t : store.tensors()) {
            if (t->name != "a" && t->name != "b" && t->name != "c")
                fuzz::violated("an accepted index yields tensor '" + t->name + "', which no shard holds");
            (void)load_f32(*t);
        }
    } catch (const Error& e) {
        fuzz::check_message(e);
    }
    return 0;
}
