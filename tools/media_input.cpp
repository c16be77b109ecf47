// media_input.cpp — turning --image / --audio files and -p into one decoder input: each file through its
// preprocessing and tower, the prompt through the chat format (media items before the text) or, with --raw,
// placeholder ids after <bos>, then the placeholders widened to the soft-token runs (multimodal.h).
#include <chrono>
#include <cstdio>

#include "audio.h"
#include "audio_tower.h"
#include "chat.h"
#include "error.h"
#include "image.h"
#include "model_args.h"
#include "multimodal.h"
#include "vision.h"

namespace gemma4::cli {

std::vector<Option> media_options() {
    return {
        {"--image", "", "FILE", "an image (PNG, JPEG, BMP, ...) placed before the prompt text; repeat for several"},
        {"--image-tokens", "", "N", "soft-token budget per image: 70, 140, 280, 560 or 1120 (default: the processor config's)"},
        {"--audio", "", "FILE", "an audio clip of at most 30 s (WAV, FLAC, OGG, ...; any rate, mixed to mono, resampled to 16 kHz)"},
        {"--image-mask", "", "RULE", "26B/31B image attention: transformers (default), 0246b4f, c308a309, jax, causal"},
    };
}

TextInput prompt_input(const Args& args, const Checkpoint& ck, const Tokenizer* tokenizer, Backend& backend, ProbeSink* probes,
                       std::string* prompt_text) {
    const ModelConfig& cfg = ck.config;
    const std::vector<std::string> images = args.get_all("--image"), audios = args.get_all("--audio");
    if (images.empty() && audios.empty())
        return TextInput{prompt_ids(args, ck.dir, tokenizer, cfg.text.bos_token_id, cfg.text.vocab_size, prompt_text), {}, {}, {}};
    if (!args.has("--prompt")) throw Error("--image / --audio go with -p TEXT (the placeholders are placed in the prompt)");
    if (!images.empty() && !cfg.vision) throw Error(ck.dir + ": this model has no vision tower; --image cannot be used");
    if (!audios.empty() && !cfg.audio) throw Error(ck.dir + ": this model has no audio tower (only E2B and E4B hear); --audio cannot be used");

    std::vector<MediaSoftTokens> media;
    if (!images.empty()) {
        const int budget = static_cast<int>(args.get_int("--image-tokens", default_image_budget(ck.dir)));
        VisionTower tower(ck);
        for (const std::string& path : images) {
            const auto t0 = std::chrono::steady_clock::now();
            const Image original = load_image(path);
            PatchedImage img = preprocess_image(original, budget, *cfg.vision);
            MediaSoftTokens m{MediaSoftTokens::Kind::Image, img.plan.soft_tokens, tower.encode(img, probes, backend)};
            std::fprintf(stderr, "image %s: %dx%d -> %dx%d, %d patches, %d soft tokens (%.2f s)\n", path.c_str(), original.width,
                         original.height, img.plan.resized_width, img.plan.resized_height, img.plan.patch_rows * img.plan.patch_cols,
                         img.plan.soft_tokens, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            media.push_back(std::move(m));
        }
    }
    if (!audios.empty()) {
        AudioTower tower(ck);
        for (const std::string& path : audios) {
            const auto t0 = std::chrono::steady_clock::now();
            Waveform wave = load_audio(path);
            // transformers' feature extractor silently keeps the first 30 s; a run that hears a third of a clip
            // should not look like one that heard it all, so the reference refuses instead.
            if (static_cast<int64_t>(wave.samples.size()) > kAudioMaxSamples) {
                char seconds[32];
                std::snprintf(seconds, sizeof seconds, "%.2f", wave.samples.size() / double(kAudioSampleRate));
                throw Error("audio file '" + path + "' is " + seconds + " s long; the model takes at most 30 s of audio (" +
                            std::to_string(kAudioMaxSamples) + " samples at 16 kHz, the feature extractor's max_length): " +
                            "cut it first, e.g. sox IN.wav OUT.wav trim 0 30");
            }
            MelFeatures mel = log_mel_features(wave.samples);
            std::vector<float> soft = tower.encode(mel, probes, backend);
            const int count = static_cast<int>(soft.size() / cfg.text.hidden_size);
            std::fprintf(stderr, "audio %s: %.2f s, %d mel frames, %d soft tokens (%.2f s)\n", path.c_str(), wave.samples.size() / double(kAudioSampleRate),
                         mel.frames, count, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            media.push_back(MediaSoftTokens{MediaSoftTokens::Kind::Audio, count, std::move(soft)});
        }
    }

    // The prompt with one placeholder per item, images first, then audio, then the text.
    std::vector<int32_t> ids;
    const std::string text = prompt_arg(args);
    if (args.has("--raw")) {
        if (!args.has("--no-bos")) ids.push_back(cfg.text.bos_token_id);
        for (const MediaSoftTokens& m : media) ids.push_back(m.kind == MediaSoftTokens::Kind::Image ? cfg.image_token_id : cfg.audio_token_id);
        if (tokenizer == nullptr) throw Error(ck.dir + ": no tokenizer.json, so -p cannot be tokenized");
        const std::vector<int32_t> rest = tokenizer->encode(text, false);
        ids.insert(ids.end(), rest.begin(), rest.end());
        if (prompt_text) *prompt_text = text;
    } else {
        if (tokenizer == nullptr) throw Error(ck.dir + ": no tokenizer.json, so -p cannot be tokenized");
        require_chat_tokens(*tokenizer);
        ChatMessage user{"user", {}};
        for (const MediaSoftTokens& m : media)
            user.content.push_back(m.kind == MediaSoftTokens::Kind::Image ? ChatContent::image() : ChatContent::audio());
        user.content.push_back(ChatContent::from_text(text));
        const std::string formatted = format_chat({user}, true, ChatOptions::from_template(tokenizer->chat_template()));
        ids = tokenizer->encode(formatted, false);
        if (prompt_text) *prompt_text = formatted;
    }
    return expand_multimodal(cfg, ids, media);
}

}  // namespace gemma4::cli
