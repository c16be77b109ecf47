// fuzz_audio.cpp — libFuzzer target for sound files and their features: load_audio (every container libsndfile
// reads — WAV, AIFF, AU, FLAC, OGG, ... — channel mixing, resampling to 16 kHz), then log_mel_features and
// audio_soft_tokens on the result. The features of an accepted file must be finite.
// Input: the file. Seeds: tests/fuzz/corpus/audio/ (short WAV / AIFF / AU / FLAC clips at several rates and sample
// formats). Run with tools/fuzz.sh audio.
#include <cmath>

#include "audio.h"
#include "fuzz_util.h"

using namespace gemma4;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = fuzz::write_input("audio", data, size);
    try {
        const Waveform w = load_audio(path);
        if (w.samples.empty() || w.sample_rate != kAudioSampleRate) fuzz::violated("load_audio returned no 16 kHz samples");
        const MelFeatures mel = log_mel_features(w.samples);
        if (mel.mel.size() != size_t(mel.frames) * kMelBins || mel.valid.size() != size_t(mel.frames))
            fuzz::violated("mel feature buffers do not match the frame count");
        for (float v : mel.mel)
            if (!std::isfinite(v)) fuzz::violated("a mel feature is not finite");
        const int tokens = audio_soft_tokens(static_cast<int64_t>(w.samples.size()));
        if (tokens < 0 || tokens > kAudioMaxSoftTokens) fuzz::violated("audio_soft_tokens out of range");
    } catch (const Error& e) {
        fuzz::check_message(e);
    }
    return 0;
}
