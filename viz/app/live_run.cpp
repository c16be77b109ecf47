// live_run.cpp — live runs of the inspector (live_run.h): the same steps as `gemma4 trace` (tools/cmd_trace.cpp and
// tools/media_input.cpp, which the inspector cannot link), with a RecordingSink("*") and the result as a Recording.
#include "live_run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "audio.h"
#include "audio_tower.h"
#include "chat.h"
#include "error.h"
#include "image.h"
#include "kv_cache.h"
#include "multimodal.h"
#include "npz.h"
#include "trace.h"
#include "vision.h"
#ifdef GEMMA4_HAVE_OPENCL
#include "cl_backend.h"
#endif

namespace gemma4::viz {

namespace {
// Listens only to the end of each decoder layer (and the embeddings before layer 0) and notes the time of each, so a
// forward pass gives the wall time of every layer. Wanting the probe also makes a device backend finish the layer.
class LayerTimer : public ProbeSink {
public:
    explicit LayerTimer(int layers) : seconds(static_cast<size_t>(layers), 0.0) {}
    bool wants(Probe probe, int) const override { return probe == Probe::text_embed || probe == Probe::text_layer_out; }
    void record(Probe probe, int layer, const TensorView&) override {
        const auto now = std::chrono::steady_clock::now();
        if (probe == Probe::text_layer_out && layer >= 0 && layer < static_cast<int>(seconds.size()))
            seconds[layer] = std::chrono::duration<double>(now - last_).count();
        last_ = now;
    }
    std::vector<double> seconds;

private:
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};
}  // namespace

std::vector<float> softmax_copy(const float* logits, int n) {
    std::vector<float> p(logits, logits + n);
    if (p.empty()) return p;
    const float mx = *std::max_element(p.begin(), p.end());
    double sum = 0;
    for (float& v : p) {
        v = std::exp(v - mx);
        sum += v;
    }
    for (float& v : p) v = static_cast<float>(v / sum);
    return p;
}

std::vector<float> last_token_probs(const Recording& r) {
    const Tensor* logits = r.probe(Probe::text_logits);
    if (logits == nullptr || logits->shape.empty()) return {};
    const int V = static_cast<int>(logits->shape.back());
    const int64_t rows = static_cast<int64_t>(logits->data.size()) / std::max(1, V);
    if (rows < 1) return {};
    return softmax_copy(logits->data.data() + (rows - 1) * V, V);
}

std::vector<std::string> token_labels_for(const ModelConfig& cfg, const Tokenizer* tok, const std::vector<int64_t>& ids) {
    std::vector<std::string> labels;
    labels.reserve(ids.size());
    for (int64_t id : ids) {
        if (id == cfg.image_token_id) {
            labels.push_back("<img>");
            continue;
        }
        if (id == cfg.audio_token_id) {
            labels.push_back("<aud>");
            continue;
        }
        std::string label;
        if (tok != nullptr && id >= 0 && id < tok->vocab_size()) {
            // The SentencePiece space marker "▁" (3 bytes) is outside the inspector font's glyphs: shown as '_',
            // and a newline as a space.
            const std::string_view text = tok->token_text(static_cast<int32_t>(id));
            for (size_t i = 0; i < text.size();) {
                if (text.substr(i, 3) == "\xE2\x96\x81") {
                    label += '_';
                    i += 3;
                } else {
                    label += text[i] == '\n' ? ' ' : text[i];
                    ++i;
                }
            }
        } else {
            label = std::to_string(id);
        }
        labels.push_back(label);
    }
    return labels;
}

LiveRunner::~LiveRunner() {
    if (worker_.joinable()) worker_.join();
}

bool LiveRunner::start(const RunRequest& request) {
    if (busy_.exchange(true)) return false;
    if (worker_.joinable()) worker_.join();
    worker_ = std::thread([this, request] {
        auto result = std::make_unique<RunResult>(execute(request));
        {
            std::lock_guard<std::mutex> lock(mutex_);
            result_ = std::move(result);
        }
        busy_.store(false);
    });
    return true;
}

std::unique_ptr<RunResult> LiveRunner::take_result() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::move(result_);
}

std::string LiveRunner::stage() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stage_;
}

void LiveRunner::set_stage(const std::string& s) {
    std::lock_guard<std::mutex> lock(mutex_);
    stage_ = s;
}

RunResult LiveRunner::run_now(const RunRequest& request) {
    if (worker_.joinable()) worker_.join();
    return execute(request);
}

RunResult LiveRunner::execute(const RunRequest& request) {
    RunResult out;
    out.ablation_only = request.ablation_only;
    out.as_reference = request.as_reference;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        // The checkpoint and tokenizer stay open between runs of the same model.
        if (!checkpoint_ || model_key_ != request.model) {
            set_stage("opening " + request.model);
            checkpoint_.reset();
            tokenizer_.reset();
            checkpoint_ = std::make_unique<Checkpoint>(Checkpoint::open(request.model));
            if (std::filesystem::exists(std::filesystem::path(checkpoint_->dir) / "tokenizer.json"))
                tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(checkpoint_->dir));
            model_key_ = request.model;
            last_input_ = TextInput{};
        }
        const Checkpoint& ck = *checkpoint_;
        const ModelConfig& cfg = ck.config;

        Backend* backend = &ref_backend();
        if (request.backend == "blas") {
            backend = &blas_backend();
        } else if (request.backend == "bf16") {
            backend = &bf16_backend();
        } else if (request.backend == "opencl") {
#ifdef GEMMA4_HAVE_OPENCL
            if (!cl_backend_) {
                set_stage("starting OpenCL");
                cl_backend_ = std::make_unique<cl::ClBackend>();
            }
            backend = cl_backend_.get();
#else
            throw Error("backend opencl: this inspector was built without OpenCL (configure with -DGEMMA4_OPENCL=ON)");
#endif
        } else if (request.backend != "ref") {
            throw Error("backend must be ref, blas, bf16 or opencl, got '" + request.backend + "'");
        }

        ForwardOptions forward;
        forward.backend = backend;
        if (!request.ple_ablated_layers.empty()) {
            forward.ple_ablated.assign(cfg.text.num_hidden_layers, 0);
            for (int l : request.ple_ablated_layers)
                if (l >= 0 && l < cfg.text.num_hidden_layers) forward.ple_ablated[l] = 1;
        }

        if (request.ablation_only) {
            // A replayed trace has no live input yet: its own tokens (and soft tokens) are the input.
            if (last_input_.tokens.empty() && !request.golden_tokens_from.empty())
                last_input_ = golden_text_input(cfg, read_npz(request.golden_tokens_from), request.golden_tokens_from);
            if (last_input_.tokens.empty()) throw Error("no previous run to ablate: run a prompt first");
            set_stage("rerunning with PLE ablated");
            forward.all_logits = false;
            TextModel model(ck);
            KvCache cache(model.config());
            std::vector<float> logits;
            model.forward(last_input_, cache, logits, forward);
            const int V = cfg.text.vocab_size;
            out.last_probs = softmax_copy(logits.data() + (static_cast<int64_t>(logits.size()) / V - 1) * V, V);
            out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            return out;
        }

        RecordingSink sink({"*"});
        TraceMeta meta;
        TextInput input;
        if (request.prompt.empty() && !request.golden_tokens_from.empty()) {
            set_stage("reading " + request.golden_tokens_from);
            const std::vector<NpyArray> golden = read_npz(request.golden_tokens_from);
            input = golden_text_input(cfg, golden, request.golden_tokens_from);
            meta.prompt = trace_meta(golden, request.golden_tokens_from).prompt;
        } else {
            if (tokenizer_ == nullptr) throw Error(ck.dir + ": no tokenizer.json, so the prompt cannot be tokenized");
            std::vector<MediaSoftTokens> media;
            if (!request.image_path.empty()) {
                if (!cfg.vision) throw Error(ck.dir + ": this model has no vision tower; an image cannot be used");
                set_stage("vision tower: " + request.image_path);
                Image original = load_image(request.image_path);
                PatchedImage img = preprocess_image(original, default_image_budget(ck.dir), *cfg.vision);
                VisionTower tower(ck);
                media.push_back({MediaSoftTokens::Kind::Image, img.plan.soft_tokens, tower.encode(img, &sink, *backend)});
                out.image_rgb = std::move(original.rgb);
                out.image_width = original.width;
                out.image_height = original.height;
            }
            if (!request.audio_path.empty()) {
                if (!cfg.audio) throw Error(ck.dir + ": this model has no audio tower (only E2B and E4B hear); audio cannot be used");
                set_stage("audio tower: " + request.audio_path);
                Waveform wave = load_audio(request.audio_path);
                require_audio_fits(wave, request.audio_path);  // as gemma4 run does: no silent cut at 30 s
                MelFeatures mel = log_mel_features(wave.samples);
                AudioTower tower(ck);
                std::vector<float> soft = tower.encode(mel, &sink, *backend);
                const int count = static_cast<int>(soft.size() / cfg.text.hidden_size);
                media.push_back({MediaSoftTokens::Kind::Audio, count, std::move(soft)});
            }
            // One user turn of the chat format, media placeholders before the text (as `gemma4 run` does).
            ChatMessage user{"user", {}};
            for (const MediaSoftTokens& m : media)
                user.content.push_back(m.kind == MediaSoftTokens::Kind::Image ? ChatContent::image() : ChatContent::audio());
            user.content.push_back(ChatContent::from_text(request.prompt));
            const std::string formatted = format_chat({user}, true, ChatOptions::from_template(tokenizer_->chat_template()));
            input = expand_multimodal(cfg, tokenizer_->encode(formatted, false), media);
            meta.prompt = formatted;
        }
        if (static_cast<int64_t>(input.tokens.size()) > cfg.text.max_position_embeddings)
            throw Error("the prompt has " + std::to_string(input.tokens.size()) + " tokens, more than the model's context of " +
                        std::to_string(cfg.text.max_position_embeddings));

        set_stage("text decoder: " + std::to_string(input.tokens.size()) + " tokens on " + backend->name());
        forward.probes = &sink;
        TextModel model(ck);
        KvCache cache(model.config());
        std::vector<float> logits;
        model.forward(input, cache, logits, forward);

        // A second pass that listens only to the layer ends, for the map's "time" colouring.
        set_stage("timing the layers");
        LayerTimer timer(cfg.text.num_hidden_layers);
        {
            ForwardOptions timed = forward;
            timed.probes = &timer;
            KvCache timing_cache(model.config());
            std::vector<float> timing_logits;
            model.forward(input, timing_cache, timing_logits, timed);
        }

        set_stage("building the recording");
        meta.model = cfg.name;
        meta.config_hash = sha256_file_hex((std::filesystem::path(ck.dir) / "config.json").string());
        meta.tokens.assign(input.tokens.begin(), input.tokens.end());
        meta.backend = backend->name();
        meta.tool_version = kToolVersion;
        auto recording = std::make_shared<Recording>(Recording::from_probes(cfg, sink.entries(), meta));
        recording->token_labels = token_labels_for(cfg, tokenizer_.get(), meta.tokens);
        recording->layer_seconds = std::move(timer.seconds);
        out.last_probs = last_token_probs(*recording);
        out.recording = std::move(recording);
        last_input_ = std::move(input);
        last_backend_ = request.backend;
    } catch (const std::exception& e) {
        out.error = e.what();
        out.recording.reset();
    }
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    set_stage("");
    return out;
}

}  // namespace gemma4::viz
