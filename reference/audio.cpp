// audio.cpp — sound file → 16 kHz mono samples → log-mel features (audio.h). The feature math mirrors
// transformers 5.23 feature_extraction_gemma4.py (Gemma4AudioFeatureExtractor._extract_spectrogram) and
// audio_utils.mel_filter_bank step by step; the FFT is fftw3f (numpy uses float64 — the difference is ~1e-7 relative,
// far inside the golden tolerance), the filterbank product and the log are done in double like numpy.
#include "audio.h"

#include <fftw3.h>
#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "error.h"

namespace gemma4 {

namespace {

// Owns an SNDFILE*; closes it on every path out of load_audio.
struct SndFile {
    SNDFILE* handle = nullptr;
    ~SndFile() {
        if (handle) sf_close(handle);
    }
};

// A fftwf buffer, freed with fftwf_free.
template <typename T>
struct FftwBuffer {
    T* data;
    explicit FftwBuffer(size_t n) : data(static_cast<T*>(fftwf_malloc(sizeof(T) * n))) {
        if (!data) throw Error("log_mel_features: out of memory for the FFT buffer");
    }
    ~FftwBuffer() { fftwf_free(data); }
    FftwBuffer(const FftwBuffer&) = delete;
    FftwBuffer& operator=(const FftwBuffer&) = delete;
};

// FFTW's planner is not thread-safe; executing a finished plan is.
std::mutex& fftw_planner_mutex() {
    static std::mutex m;
    return m;
}

// np.linspace(start, stop, num): start + i·step, the last value set to stop exactly.
std::vector<double> linspace(double start, double stop, int num) {
    std::vector<double> y(num);
    const double step = (stop - start) / (num - 1);
    for (int i = 0; i < num; ++i) y[i] = i * step + start;
    y[num - 1] = stop;
    return y;
}

double hertz_to_mel_htk(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
double mel_to_hertz_htk(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

// Far beyond any recording (full scale is 1), and far below where float32 mel features overflow.
constexpr float kMaxSampleMagnitude = 1e6f;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

Waveform load_audio(const std::string& path, int target_rate) {
    if (target_rate <= 0) throw Error("load_audio: target sample rate must be positive, got " + std::to_string(target_rate));
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throw Error("audio file '" + path + "' not found");
    if (std::filesystem::is_directory(path, ec)) throw Error("audio file '" + path + "' is a directory");
    if (std::filesystem::file_size(path, ec) == 0 && !ec) throw Error("audio file '" + path + "' is empty (0 bytes)");

    SF_INFO info{};
    SndFile f;
    f.handle = sf_open(path.c_str(), SFM_READ, &info);
    if (!f.handle) throw Error("'" + path + "' is not an audio file libsndfile can read (" + sf_strerror(nullptr) + ")");
    if (info.frames <= 0 || info.channels <= 0 || info.samplerate <= 0)
        throw Error("audio file '" + path + "' holds no samples (" + std::to_string(info.frames) + " frames, " +
                    std::to_string(info.channels) + " channels, " + std::to_string(info.samplerate) + " Hz)");
    // The header's length decides the memory the samples (and their resampling) take: refuse a long one before
    // decoding, whether it is a real hour of sound or a lying header (1 Hz). A stream of unknown length claims
    // SF_COUNT_MAX frames; it is not judged here but stopped while decoding, at the same kAudioMaxFileSeconds (a few
    // hundred kilobytes of FLAC or Vorbis can hold hours).
    if (const double seconds = static_cast<double>(info.frames) / info.samplerate;
        info.frames != SF_COUNT_MAX && seconds > kAudioMaxFileSeconds) {
        char text[64];
        std::snprintf(text, sizeof text, "%.0f s (%lld frames at %d Hz)", seconds, static_cast<long long>(info.frames), info.samplerate);
        throw Error("audio file '" + path + "' is too long: " + text + "; the longest file read is " +
                    std::to_string(kAudioMaxFileSeconds) + " s, and the model hears at most " +
                    std::to_string(kAudioMaxSamples / kAudioSampleRate) + " s");
    }

    // Decoding goes a block at a time until the stream ends: info.frames is only what the header claims (a stream of unknown
    // length claims 2^63-1), so it sizes nothing. Each block is mixed to mono as it arrives: the mean of the channels
    // (the processor's force_mono does the same). libsndfile scales integer PCM to [-1, 1) (int16 / 32768), as the
    // goldens' reader does.
    const int C = info.channels;
    const int64_t max_frames = static_cast<int64_t>(kAudioMaxFileSeconds) * info.samplerate;
    const sf_count_t block_frames = std::max(1, 65536 / C);
    std::vector<float> block(static_cast<size_t>(block_frames) * C);
    std::vector<float> mono;
    for (sf_count_t got; (got = sf_readf_float(f.handle, block.data(), block_frames)) > 0;) {
        if (static_cast<int64_t>(mono.size()) + got > max_frames)
            throw Error("audio file '" + path + "' is too long: more than " + std::to_string(kAudioMaxFileSeconds) +
                        " s decoded; the longest file read is " + std::to_string(kAudioMaxFileSeconds) +
                        " s, and the model hears at most " + std::to_string(kAudioMaxSamples / kAudioSampleRate) + " s");
        for (size_t i = 0; i < static_cast<size_t>(got) * C; ++i) {
            // A float file can hold anything: NaN, infinities, or values so large that the float32 FFT overflows.
            // Recorded audio lies in [-1, 1] (a little beyond when clipped); refuse what no recording holds.
            const float v = block[i];
            if (std::isfinite(v) && std::abs(v) <= kMaxSampleMagnitude) continue;
            char value[32];
            std::snprintf(value, sizeof value, "%g", static_cast<double>(v));
            throw Error("audio file '" + path + "': sample " + std::to_string(mono.size() + i / C) +
                        (C > 1 ? " of channel " + std::to_string(i % C) : "") + " is " +
                        (std::isnan(v) ? "NaN" : std::isinf(v) ? "infinite" : value) +
                        "; audio samples lie in [-1, 1] (corrupt float data?)");
        }
        for (sf_count_t i = 0; i < got; ++i) {
            double sum = 0;
            for (int c = 0; c < C; ++c) sum += block[static_cast<size_t>(i) * C + c];
            mono.push_back(static_cast<float>(sum / C));
        }
    }
    if (mono.empty()) throw Error("audio file '" + path + "': no samples could be decoded (" + sf_strerror(f.handle) + ")");
    const sf_count_t got = static_cast<sf_count_t>(mono.size());

    Waveform w;
    w.source_rate = info.samplerate;
    w.source_channels = C;
    w.source_seconds = static_cast<double>(got) / info.samplerate;
    w.sample_rate = target_rate;
    if (info.samplerate == target_rate) {
        w.samples = std::move(mono);
        return w;
    }
    // Resample. The feature extractor rejects other rates, so this is the caller's job in HF; we do it here once.
    const double ratio = static_cast<double>(target_rate) / info.samplerate;
    const auto out_len = static_cast<long>(std::ceil(static_cast<double>(got) * ratio)) + 16;
    w.samples.assign(static_cast<size_t>(out_len), 0.0f);
    SRC_DATA src{};
    src.data_in = mono.data();
    src.input_frames = static_cast<long>(got);
    src.data_out = w.samples.data();
    src.output_frames = out_len;
    src.src_ratio = ratio;
    src.end_of_input = 1;
    if (int err = src_simple(&src, SRC_SINC_BEST_QUALITY, 1); err != 0)
        throw Error("audio file '" + path + "': resampling " + std::to_string(info.samplerate) + " Hz to " + std::to_string(target_rate) +
                    " Hz failed: " + src_strerror(err));
    w.samples.resize(static_cast<size_t>(src.output_frames_gen));
    if (w.samples.empty()) throw Error("audio file '" + path + "' is too short to resample to " + std::to_string(target_rate) + " Hz");
    return w;
}

int MelFeatures::valid_frames() const {
    int n = 0;
    for (uint8_t v : valid) n += v != 0;
    return n;
}

std::vector<double> mel_filter_bank() {
    // audio_utils.mel_filter_bank(num_frequency_bins=257, num_mel_filters=128, min 0, max 8000, sr 16000, norm=None,
    // mel_scale="htk"): triangles between consecutive points of 130 mel-spaced frequencies, evaluated at the FFT bins.
    constexpr int kBins = kMelFftLength / 2 + 1;
    const std::vector<double> mel_points = linspace(hertz_to_mel_htk(0.0), hertz_to_mel_htk(8000.0), kMelBins + 2);
    std::vector<double> filter_freqs(kMelBins + 2);
    for (int j = 0; j < kMelBins + 2; ++j) filter_freqs[j] = mel_to_hertz_htk(mel_points[j]);
    const std::vector<double> fft_freqs = linspace(0.0, kAudioSampleRate / 2, kBins);
    std::vector<double> fb(static_cast<size_t>(kBins) * kMelBins);
    for (int k = 0; k < kBins; ++k) {
        for (int j = 0; j < kMelBins; ++j) {
            // _create_triangular_filter_bank: max(0, min(down, up))
            const double down = -(filter_freqs[j] - fft_freqs[k]) / (filter_freqs[j + 1] - filter_freqs[j]);
            const double up = (filter_freqs[j + 2] - fft_freqs[k]) / (filter_freqs[j + 2] - filter_freqs[j + 1]);
            fb[static_cast<size_t>(k) * kMelBins + j] = std::max(0.0, std::min(down, up));
        }
    }
    return fb;
}

void require_audio_fits(const Waveform& wave, const std::string& path) {
    if (static_cast<int64_t>(wave.samples.size()) <= kAudioMaxSamples) return;
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.2f", wave.samples.size() / double(wave.sample_rate));
    throw Error("audio file '" + path + "' is " + seconds + " s long; the model takes at most " +
                std::to_string(kAudioMaxSamples / kAudioSampleRate) + " s of audio (" + std::to_string(kAudioMaxSamples) +
                " samples at 16 kHz, the feature extractor's max_length): cut it first, e.g. sox IN.wav OUT.wav trim 0 30");
}

MelFeatures log_mel_features(const std::vector<float>& samples_16k) {
    if (samples_16k.empty()) throw Error("log_mel_features: no samples");
    constexpr int kBins = kMelFftLength / 2 + 1;
    constexpr int kPadLeft = kMelFrameLength / 2;      // 160 zeros in front: "semicausal" framing
    constexpr int kUnfold = kMelFrameLength + 1;        // 321: room for HTK pre-emphasis, whose last sample is dropped
    constexpr double kMelFloor = 1e-3;

    // SequenceFeatureExtractor.pad: truncate to max_length, then zero-pad to a multiple of 128 (mask marks real samples).
    const int64_t n = std::min<int64_t>(static_cast<int64_t>(samples_16k.size()), kAudioMaxSamples);
    const int64_t n_padded = (n + 127) / 128 * 128;
    std::vector<float> x(static_cast<size_t>(kPadLeft + n_padded), 0.0f);
    std::copy_n(samples_16k.begin(), n, x.begin() + kPadLeft);
    const int64_t L = static_cast<int64_t>(x.size());

    MelFeatures out;
    out.frames = L >= kUnfold ? static_cast<int>((L - kUnfold) / kMelHop + 1) : 0;
    out.mel.assign(static_cast<size_t>(out.frames) * kMelBins, 0.0f);
    out.valid.assign(static_cast<size_t>(out.frames), 0);
    if (out.frames == 0) return out;

    // Periodic Hann: np.hanning(321)[:-1] = 0.5 − 0.5·cos(2πn/320), made in double and cast to float32 as HF does.
    std::vector<float> window(kMelFrameLength);
    for (int i = 0; i < kMelFrameLength; ++i)
        window[i] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * M_PI * i / kMelFrameLength));
    const std::vector<double> filters = mel_filter_bank();

    FftwBuffer<float> frame(kMelFftLength);
    FftwBuffer<fftwf_complex> spectrum(kBins);
    fftwf_plan plan;
    {
        std::lock_guard<std::mutex> lock(fftw_planner_mutex());
        plan = fftwf_plan_dft_r2c_1d(kMelFftLength, frame.data, spectrum.data, FFTW_ESTIMATE);
    }
    if (!plan) throw Error("log_mel_features: FFTW could not plan a real FFT of size 512");

    std::vector<double> magnitude(kBins);
    for (int t = 0; t < out.frames; ++t) {
        // Frame t = padded samples [160t, 160t + 320) (the 321st is dropped), windowed (float32 product), zero-padded to 512.
        const float* src = x.data() + static_cast<int64_t>(t) * kMelHop;
        for (int i = 0; i < kMelFrameLength; ++i) frame.data[i] = src[i] * window[i];
        std::fill(frame.data + kMelFrameLength, frame.data + kMelFftLength, 0.0f);
        fftwf_execute(plan);
        for (int k = 0; k < kBins; ++k) magnitude[k] = std::hypot(double(spectrum.data[k][0]), double(spectrum.data[k][1]));

        // Valid iff the last sample of the 321-sample window (padded index 160t + 320) is real audio.
        const int64_t last = static_cast<int64_t>(t) * kMelHop + kUnfold - 1;
        const bool valid = last >= kPadLeft && last < kPadLeft + n;
        out.valid[t] = valid ? 1 : 0;
        if (!valid) continue;  // invalid frames are multiplied by 0 in __call__
        float* row = out.mel.data() + static_cast<size_t>(t) * kMelBins;
        for (int j = 0; j < kMelBins; ++j) {
            double mel = 0;
            for (int k = 0; k < kBins; ++k) mel += magnitude[k] * filters[static_cast<size_t>(k) * kMelBins + j];
            row[j] = static_cast<float>(std::log(mel + kMelFloor));
        }
    }
    {
        std::lock_guard<std::mutex> lock(fftw_planner_mutex());
        fftwf_destroy_plan(plan);
    }
    return out;
}

int audio_soft_tokens(int64_t num_samples_16k) {
    // Gemma4Processor._compute_audio_num_tokens (Python floor division throughout).
    const int64_t frames = floor_div(num_samples_16k + kMelFrameLength / 2 - (kMelFrameLength + 1), kMelHop) + 1;
    if (frames <= 0) return 0;
    int64_t t = frames;
    for (int stage = 0; stage < 2; ++stage) t = floor_div(t + 2 * 1 - 3, 2) + 1;  // Conv2d kernel 3, stride 2, padding 1
    return static_cast<int>(std::min<int64_t>(t, kAudioMaxSoftTokens));
}

}  // namespace gemma4
