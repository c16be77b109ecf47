// audio.h — from a sound file to what the audio tower reads: loading (libsndfile), mixing to mono, resampling to
// 16 kHz (libsamplerate), and the log-mel features of transformers' Gemma4AudioFeatureExtractor
// (feature_extraction_gemma4.py, spec gemma4-vision-audio.md §4). Leaves out batching (one clip at a time), dither,
// pre-emphasis and per-bin normalisation (all off in the released preprocessor). The encoder is audio_tower.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gemma4 {

inline constexpr int kAudioSampleRate = 16000;          // the feature extractor accepts nothing else
inline constexpr int kAudioMaxSamples = 480000;         // 30 s: the extractor's max_length (longer clips are cut)
inline constexpr int kAudioMaxFileSeconds = 600;        // load_audio refuses longer (or empty) files before decoding
inline constexpr int kMelBins = 128;
inline constexpr int kMelFrameLength = 320;             // 20 ms window
inline constexpr int kMelHop = 160;                     // 10 ms hop
inline constexpr int kMelFftLength = 512;               // next power of two of the window
inline constexpr int kAudioMaxSoftTokens = 750;         // the processor's audio_seq_length

struct Waveform {
    int sample_rate = kAudioSampleRate;
    std::vector<float> samples;  // mono, in [-1, 1] for integer PCM sources (libsndfile's normalisation: int16 / 32768)
    double source_seconds = 0;   // duration of the file as stored
    int source_rate = 0, source_channels = 0;
};

// Reads any format libsndfile knows (WAV, FLAC, OGG/Vorbis, AIFF, ...). Channels are mixed to mono by their mean;
// a rate other than target_rate is converted with libsamplerate (SRC_SINC_BEST_QUALITY). Samples are otherwise
// untouched: no normalisation, no trimming — digital silence is valid input and gives the constant feature
// ln(0.001) ≈ −6.91 in every mel bin. Error naming the file when it is missing, is not audio libsndfile can read,
// holds no samples, is longer than 10 minutes (the model hears 30 s; decoding stops there), or holds a sample that is
// NaN, infinite or beyond ±10^6 (corrupt float data).
Waveform load_audio(const std::string& path, int target_rate = kAudioSampleRate);

// Error naming `path` when the clip is longer than the 30 s (kAudioMaxSamples at 16 kHz) the model takes.
// transformers' feature extractor silently keeps the first 30 s; a run that hears a third of a clip should not look
// like one that heard it all, so `gemma4 run`, `trace` and the inspector's live run refuse instead (the message says
// how to cut the clip). log_mel_features itself keeps the extractor's cut, for parity.
void require_audio_fits(const Waveform& wave, const std::string& path);

// Log-mel features of one 16 kHz clip, exactly as Gemma4AudioFeatureExtractor computes them for a batch of one:
// cut to the first 480 000 samples (30 s; the extractor truncates, so do we — audio_soft_tokens() tells the caller),
// zero-pad to a multiple of 128 samples, prepend 160 zeros ("semicausal"), frames of 321 samples every 160 with the
// last sample dropped, periodic Hann(320), |rfft(512)|, HTK mel filterbank (128 bins, 0–8000 Hz, peak 1, built in
// double), ln(x + 0.001). A frame is valid when the last sample of its 321-sample window is real audio; invalid
// frames are zeroed. Fewer than 161 samples give no valid frame. Error for an empty input.
struct MelFeatures {
    int frames = 0;
    std::vector<float> mel;       // [frames, 128]
    std::vector<uint8_t> valid;   // [frames] 1 = real audio
    int valid_frames() const;
};
MelFeatures log_mel_features(const std::vector<float>& samples_16k);

// The HF mel filterbank, [257, 128] row-major (FFT bin k, mel bin j), in double as transformers builds it.
std::vector<double> mel_filter_bank();

// The number of <|audio|> soft tokens the processor writes for a clip of n samples at 16 kHz
// (Gemma4Processor._compute_audio_num_tokens): mel frames F = ⌊(n + 160 − 321) / 160⌋ + 1, then two stride-2
// convolutions t → ⌊(t − 1) / 2⌋ + 1, capped at 750. ≈ 25 per second. Equals the number of valid steps the tower
// returns for an unpadded clip.
int audio_soft_tokens(int64_t num_samples_16k);

}  // namespace gemma4
