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
                       std::string* prompt_text, int64_t new_tokens) {
    const ModelConfig& cfg = ck.config;
    const std::vector<std::string> images = args.get_all("--image"), audios = args.get_all("--audio");
    if (images.empty() && audios.empty()) {
        TextInput input{prompt_ids(args, ck.dir, tokenizer, cfg.text.bos_token_id, cfg.text.vocab_size, prompt_text), {}, {}, {}};
        check_context(cfg, static_cast<int64_t>(input.tokens.size()), new_tokens);
        return input;
    }
    if (!args.has("--prompt")) throw Error("--image / --audio go with -p TEXT (the placeholders are placed in the prompt)");
    if (!images.empty() && !cfg.vision) throw Error(ck.dir + ": this model has no vision tower; --image cannot be used");
    if (!audios.empty() && !cfg.audio) throw Error(ck.dir + ": this model has no audio tower (only E2B and E4B hear); --audio cannot be used");
    if (tokenizer == nullptr) throw Error(ck.dir + ": no tokenizer.json, so -p cannot be tokenized");

    // 1. Every file read and checked, and its soft-token count known, before any tower runs: a bad file or a prompt
    //    beyond the context is refused in a fraction of a second, not after minutes of encoding.
    const int budget = images.empty() ? 0 : static_cast<int>(args.get_int("--image-tokens", default_image_budget(ck.dir)));
    std::vector<std::pair<Image, PatchedImage>> pictures;  // original (for the log line), preprocessed
    for (const std::string& path : images) {
        Image original = load_image(path);
        PatchedImage img = preprocess_image(original, budget, *cfg.vision);
        pictures.emplace_back(std::move(original), std::move(img));
    }
    std::vector<Waveform> clips;
    for (const std::string& path : audios) {
        Waveform wave = load_audio(path);
        require_audio_fits(wave, path);  // transformers would cut it silently at 30 s
        clips.push_back(std::move(wave));
    }

    // 2. The prompt with one placeholder per item, images first, then audio, then the text.
    std::vector<int32_t> ids;
    const std::string text = prompt_arg(args);
    if (args.has("--raw")) {
        if (!args.has("--no-bos")) ids.push_back(cfg.text.bos_token_id);
        ids.insert(ids.end(), images.size(), cfg.image_token_id);
        ids.insert(ids.end(), audios.size(), cfg.audio_token_id);
        const std::vector<int32_t> rest = tokenizer->encode(text, false);
        ids.insert(ids.end(), rest.begin(), rest.end());
        if (prompt_text) *prompt_text = text;
    } else {
        require_chat_tokens(*tokenizer);
        ChatMessage user{"user", {}};
        for (size_t i = 0; i < images.size(); ++i) user.content.push_back(ChatContent::image());
        for (size_t i = 0; i < audios.size(); ++i) user.content.push_back(ChatContent::audio());
        user.content.push_back(ChatContent::from_text(text));
        const std::string formatted = format_chat({user}, true, ChatOptions::from_template(tokenizer->chat_template()));
        ids = tokenizer->encode(formatted, false);
        if (prompt_text) *prompt_text = formatted;
    }

    // 3. The length after expand_multimodal: each placeholder becomes begin + its soft tokens + end.
    int64_t length = static_cast<int64_t>(ids.size());
    for (const auto& picture : pictures) length += picture.second.plan.soft_tokens + 1;
    for (const Waveform& wave : clips) length += audio_soft_tokens(static_cast<int64_t>(wave.samples.size())) + 1;
    check_context(cfg, length, new_tokens);

    // 4. The towers.
    std::vector<MediaSoftTokens> media;
    if (!pictures.empty()) {
        VisionTower tower(ck);
        for (size_t i = 0; i < pictures.size(); ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            const auto& [original, img] = pictures[i];
            media.push_back(MediaSoftTokens{MediaSoftTokens::Kind::Image, img.plan.soft_tokens, tower.encode(img, probes, backend)});
            std::fprintf(stderr, "image %s: %dx%d -> %dx%d, %d patches, %d soft tokens (%.2f s)\n", images[i].c_str(), original.width,
                         original.height, img.plan.resized_width, img.plan.resized_height, img.plan.patch_rows * img.plan.patch_cols,
                         img.plan.soft_tokens, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
    }
    if (!clips.empty()) {
        AudioTower tower(ck);
        for (size_t i = 0; i < clips.size(); ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            MelFeatures mel = log_mel_features(clips[i].samples);
            std::vector<float> soft = tower.encode(mel, probes, backend);
            const int count = static_cast<int>(soft.size() / cfg.text.hidden_size);
            std::fprintf(stderr, "audio %s: %.2f s, %d mel frames, %d soft tokens (%.2f s)\n", audios[i].c_str(),
                         clips[i].samples.size() / double(kAudioSampleRate), mel.frames, count,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            media.push_back(MediaSoftTokens{MediaSoftTokens::Kind::Audio, count, std::move(soft)});
        }
    }
    TextInput input = expand_multimodal(cfg, ids, media);
    check_context(cfg, static_cast<int64_t>(input.tokens.size()), new_tokens);  // the projection above, confirmed
    return input;
}

}  // namespace gemma4::cli
