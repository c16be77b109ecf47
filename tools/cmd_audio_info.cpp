// cmd_audio_info.cpp — `gemma4 audio-info --audio F`: what the audio path makes of a sound file (duration, source rate
// and channels, mel frames, soft tokens) and, with -m MODEL --time, how long the model's audio tower takes to encode
// it. The loading and feature code is reference/audio.*, the encoder reference/audio_tower.*.
#include <chrono>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "audio.h"
#include "audio_tower.h"
#include "checkpoint.h"
#include "cli.h"
#include "error.h"
#include "model_args.h"

namespace gemma4::cli {

int cmd_audio_info(int argc, char** argv) {
    std::vector<Option> options = {
        {"--audio", "", "FILE", "sound file (WAV, FLAC, OGG, ... anything libsndfile reads)"},
        {"--model", "-m", "MODEL", "with --time: the checkpoint whose audio tower runs"},
        {"--json", "", "", "print JSON instead of text"},
        {"--help", "-h", "", "show this help"},
    };
    const std::vector<Option> timing_options = tower_timing_options();
    options.insert(options.end() - 2, timing_options.begin(), timing_options.end());  // before --json and --help
    Args args(argc, argv, 2, options);
    if (args.has("--help")) {
        std::printf("%s", usage("gemma4 audio-info --audio FILE [--json] [-m MODEL --time [--repeat N] [--backend ref|blas|opencl]]",
                                "Loads a sound file as the audio path does (mono, 16 kHz), and prints its duration, source rate and\n"
                                "channels, the number of log-mel frames and of <|audio|> soft tokens (about 25 per second, at most\n"
                                "750 = 30 s; longer clips are cut). With -m MODEL --time it also runs the audio tower and times it.",
                                options)
                              .c_str());
        return 0;
    }
    if (!args.has("--audio")) throw Error("--audio FILE is required (see --help)");
    if (!args.positional().empty()) throw Error("unexpected argument '" + args.positional()[0] + "'");
    if (!args.has("--time") && args.has("--model")) throw Error("-m only applies with --time");
    const TowerTiming tower_timing = parse_tower_timing(args, "an audio tower");
    const bool timing = tower_timing.enabled;
    const long long repeat = tower_timing.repeat;

    const std::string path = args.get("--audio");
    auto t0 = std::chrono::steady_clock::now();
    Waveform wave = load_audio(path);
    const double load_s = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    MelFeatures mel = log_mel_features(wave.samples);
    const double mel_s = seconds_since(t0);
    const int64_t n = static_cast<int64_t>(wave.samples.size());
    const double seconds_16k = double(n) / kAudioSampleRate;
    const bool truncated = n > kAudioMaxSamples;
    const int soft_tokens = audio_soft_tokens(n);

    nlohmann::json j;
    j["file"] = path;
    j["duration_s"] = wave.source_seconds;
    j["source_sample_rate"] = wave.source_rate;
    j["source_channels"] = wave.source_channels;
    j["sample_rate"] = wave.sample_rate;
    j["samples"] = n;
    j["truncated_to_30s"] = truncated;
    j["frames"] = mel.frames;
    j["valid_frames"] = mel.valid_frames();
    j["soft_tokens"] = soft_tokens;
    j["load_s"] = load_s;
    j["mel_s"] = mel_s;

    if (timing) {
        Checkpoint ck = Checkpoint::open(args.get("--model"));
        AudioTower tower(ck);
        const AudioConfig& a = tower.config();
        double best = 0;
        size_t rows = 0;
        for (long long r = 0; r < repeat; ++r) {
            t0 = std::chrono::steady_clock::now();
            std::vector<float> soft = tower.encode(mel, nullptr, *tower_timing.backend);
            const double s = seconds_since(t0);
            if (r == 0 || s < best) best = s;
            rows = soft.size() / static_cast<size_t>(tower.text_hidden());
        }
        const double audio_s = std::min(seconds_16k, double(kAudioMaxSamples) / kAudioSampleRate);
        j["model"] = ck.dir;
        j["backend"] = tower_timing.backend->name();
        j["audio_layers"] = a.num_hidden_layers;
        j["audio_width"] = a.hidden_size;
        j["encoded_soft_tokens"] = rows;
        j["encode_s"] = best;
        j["encode_s_per_audio_s"] = best / audio_s;
        j["repeat"] = repeat;
    }

    if (args.has("--json")) {
        std::printf("%s\n", j.dump(2).c_str());
        return 0;
    }
    std::printf("%s\n", path.c_str());
    std::printf("  duration        %.3f s  (%d Hz, %d channel%s as stored)\n", wave.source_seconds, wave.source_rate, wave.source_channels,
                wave.source_channels == 1 ? "" : "s");
    std::printf("  model input     %lld samples at %d Hz, mono%s\n", static_cast<long long>(n), wave.sample_rate,
                wave.source_rate != wave.sample_rate ? " (resampled)" : "");
    if (truncated) std::printf("  note            longer than 30 s: the features and soft tokens cover the first 30 s only\n");
    std::printf("  mel frames      %d (%d valid), 128 bins, 10 ms hop\n", mel.frames, mel.valid_frames());
    std::printf("  soft tokens     %d  (<|audio|> placeholders, 40 ms each)\n", soft_tokens);
    std::printf("  load %.3f s, features %.3f s\n", load_s, mel_s);
    if (timing)
        std::printf("  encode          %.3f s on %s (%d layers, width %d, backend %s, best of %lld) = %.3f s per second of audio\n",
                    j["encode_s"].get<double>(), j["model"].get<std::string>().c_str(), j["audio_layers"].get<int>(), j["audio_width"].get<int>(),
                    j["backend"].get<std::string>().c_str(), repeat, j["encode_s_per_audio_s"].get<double>());
    return 0;
}

}  // namespace gemma4::cli
