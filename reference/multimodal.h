// multimodal.h — putting images and audio into a text prompt (Gemma4Processor + Gemma4Model.forward): each
// placeholder id is widened to begin + N soft-token ids + end, the towers' outputs replace those rows of the
// embeddings (unscaled), PLE sees the pad id there, and on 26B / 31B each image's run of soft tokens is one
// bidirectional block. The towers themselves are vision.h and audio_tower.h.
#pragma once

#include <cstdint>
#include <vector>

#include "config.h"
#include "text_model.h"

namespace gemma4 {

struct MediaSoftTokens {
    enum class Kind { Image, Audio } kind = Kind::Image;
    int count = 0;                  // soft tokens
    std::vector<float> embeddings;  // [count, text hidden]
};

// ids hold one placeholder per media item (image_token_id / audio_token_id, as the chat format writes them), in the
// order of `media`. Each is replaced by boi + count × image_token_id + eoi (boa / audio_token_id / eoa for audio).
// Errors say how many placeholders and items there were when they do not match.
TextInput expand_multimodal(const ModelConfig& cfg, const std::vector<int32_t>& ids, const std::vector<MediaSoftTokens>& media);

// For ids already expanded (a golden's meta.tokens): every image_token_id row takes the next row of image_embeddings,
// every audio_token_id row the next row of audio_embeddings ([n, text hidden] each); image runs become blocks.
TextInput attach_soft_tokens(const ModelConfig& cfg, std::vector<int32_t> expanded_ids, const std::vector<float>& image_embeddings,
                             const std::vector<float>& audio_embeddings);

}  // namespace gemma4
