// multimodal.cpp — prompt expansion and soft-token placement (multimodal.h).
#include "multimodal.h"

#include <string>

#include "error.h"

namespace gemma4 {

TextInput expand_multimodal(const ModelConfig& cfg, const std::vector<int32_t>& ids, const std::vector<MediaSoftTokens>& media) {
    const int D = cfg.text.hidden_size;
    std::vector<int32_t> expanded;
    std::vector<float> image_rows, audio_rows;
    size_t next = 0;
    int placeholders = 0;
    for (int32_t id : ids) {
        const bool is_image = id == cfg.image_token_id, is_audio = id == cfg.audio_token_id;
        if (!is_image && !is_audio) {
            expanded.push_back(id);
            continue;
        }
        ++placeholders;
        if (next >= media.size()) continue;  // reported below with the counts
        const MediaSoftTokens& m = media[next++];
        if ((m.kind == MediaSoftTokens::Kind::Image) != is_image)
            throw Error("placeholder " + std::to_string(placeholders) + " of the prompt is " + (is_image ? "an image" : "an audio clip") +
                        " but media item " + std::to_string(next) + " is " + (is_image ? "audio" : "an image"));
        if (static_cast<int64_t>(m.embeddings.size()) != int64_t(m.count) * D)
            throw Error("media item " + std::to_string(next) + ": " + std::to_string(m.embeddings.size()) + " values for " +
                        std::to_string(m.count) + " soft tokens of width " + std::to_string(D));
        expanded.push_back(is_image ? cfg.boi_token_id : cfg.boa_token_id);
        for (int i = 0; i < m.count; ++i) expanded.push_back(id);
        expanded.push_back(is_image ? cfg.eoi_token_id : cfg.eoa_token_id);
        (is_image ? image_rows : audio_rows).insert((is_image ? image_rows : audio_rows).end(), m.embeddings.begin(), m.embeddings.end());
    }
    if (placeholders != static_cast<int>(media.size()))
        throw Error("the prompt has " + std::to_string(placeholders) + " image/audio placeholder(s) but " + std::to_string(media.size()) +
                    " image/audio input(s) were given");
    return attach_soft_tokens(cfg, std::move(expanded), image_rows, audio_rows);
}

TextInput attach_soft_tokens(const ModelConfig& cfg, std::vector<int32_t> ids, const std::vector<float>& image_embeddings,
                             const std::vector<float>& audio_embeddings) {
    const int64_t D = cfg.text.hidden_size;
    TextInput in;
    in.tokens = std::move(ids);
    const int T = static_cast<int>(in.tokens.size());
    int64_t image_used = 0, audio_used = 0;
    int32_t block = -1;
    bool has_image = false;
    in.image_blocks.assign(T, -1);
    for (int t = 0; t < T; ++t) {
        const int32_t id = in.tokens[t];
        const bool is_image = id == cfg.image_token_id, is_audio = id == cfg.audio_token_id;
        if (!is_image && !is_audio) continue;
        const std::vector<float>& src = is_image ? image_embeddings : audio_embeddings;
        int64_t& used = is_image ? image_used : audio_used;
        if ((used + 1) * D > static_cast<int64_t>(src.size()))
            throw Error(std::string("the prompt has more ") + (is_image ? "image" : "audio") + " soft-token positions than the " +
                        (is_image ? "vision" : "audio") + " tower produced (" + std::to_string(src.size() / D) + ")");
        in.soft_positions.push_back(t);
        in.soft_embeddings.insert(in.soft_embeddings.end(), src.begin() + used * D, src.begin() + (used + 1) * D);
        ++used;
        if (is_image) {  // a new block starts where a run of image tokens starts (get_block_sequence_ids_for_mask)
            if (t == 0 || in.tokens[t - 1] != cfg.image_token_id) ++block;
            in.image_blocks[t] = block;
            has_image = true;
        }
    }
    if (image_used * D != static_cast<int64_t>(image_embeddings.size()) || audio_used * D != static_cast<int64_t>(audio_embeddings.size()))
        throw Error("the towers produced " + std::to_string(image_embeddings.size() / D) + " image and " + std::to_string(audio_embeddings.size() / D) +
                    " audio soft tokens but the prompt has " + std::to_string(image_used) + " and " + std::to_string(audio_used) + " positions for them");
    if (!has_image) in.image_blocks.clear();
    return in;
}

}  // namespace gemma4
