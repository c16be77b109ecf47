// test_audio.cpp — the audio path against transformers 5.23: log-mel features of the sample clip, every audio probe of
// the tiny E2B / E4B goldens (the tower fed the golden's own mel features), the processor's soft-token count, and
// load_audio on files written here with libsndfile (stereo mixing, resampling, errors, silence).
#include <doctest/doctest.h>
#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "audio.h"
#include "audio_tower.h"
#include "checkpoint.h"
#include "compare.h"
#include "error.h"
#include "npz.h"
#include "tolerances.h"
#include "trace.h"
#include "test_util.h"

using namespace gemma4;
namespace fs = std::filesystem;

namespace {

fs::path sample_wav() { return fs::path(assets_dir()) / "samples" / "sample.wav"; }
fs::path audio_golden(const std::string& model) { return fs::path(assets_dir()) / "goldens" / (model + "-audio.npz"); }

// Writes interleaved float frames as 16-bit PCM WAV.
void write_wav(const std::string& path, const std::vector<float>& interleaved, int rate, int channels) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = channels;
    info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
    SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
    REQUIRE(f != nullptr);
    REQUIRE(sf_writef_float(f, interleaved.data(), static_cast<sf_count_t>(interleaved.size() / channels)) ==
            static_cast<sf_count_t>(interleaved.size() / channels));
    sf_close(f);
}

std::vector<float> sine(double hz, double seconds, int rate, float amplitude) {
    std::vector<float> s(static_cast<size_t>(std::lround(seconds * rate)));
    for (size_t i = 0; i < s.size(); ++i) s[i] = amplitude * static_cast<float>(std::sin(2 * M_PI * hz * double(i) / rate));
    return s;
}

// |DFT| of x at frequency hz, normalised so a full-scale sine of amplitude a gives about a/2.
double tone_magnitude(const std::vector<float>& x, double hz, int rate) {
    double re = 0, im = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        re += x[i] * std::cos(2 * M_PI * hz * double(i) / rate);
        im -= x[i] * std::sin(2 * M_PI * hz * double(i) / rate);
    }
    return std::hypot(re, im) / double(x.size());
}

double rms(const std::vector<float>& x, size_t from, size_t to) {
    double s = 0;
    for (size_t i = from; i < to; ++i) s += double(x[i]) * x[i];
    return std::sqrt(s / double(to - from));
}

}  // namespace

TEST_CASE("audio: log-mel features of sample.wav match Gemma4AudioFeatureExtractor") {
    Waveform w = load_audio(sample_wav().string());
    CHECK(w.source_rate == 16000);
    CHECK(w.source_channels == 1);
    CHECK(w.samples.size() == 24000);
    MelFeatures mel = log_mel_features(w.samples);
    CHECK(mel.frames == 150);        // 24 000 samples padded to 24 064: one extra frame reaches the padding
    CHECK(mel.valid_frames() == 149);
    CHECK(mel.valid.back() == 0);
    for (const char* model : {"tiny-e2b", "tiny-e4b"}) {
        std::vector<NpyArray> golden = read_npz(audio_golden(model).string());
        const NpyArray* g = find_array(golden, "audio.mel");
        REQUIRE(g != nullptr);
        ProbeDiff d = compare_arrays("audio.mel", mel.mel, {mel.frames, kMelBins}, g->to_f32(), g->shape, tolerance::kNmseVsTransformers);
        CHECK_MESSAGE(!d.over, "audio.mel NMSE " << d.nmse << " max abs " << d.max_abs << " " << d.problem);
        MESSAGE(std::string(model) << " audio.mel: NMSE " << d.nmse << ", max abs error " << d.max_abs);
    }
}

TEST_CASE("audio: every audio probe of the tiny E2B / E4B goldens matches transformers") {
    G4_SKIP_WITHOUT_PROBES();
    const MelFeatures sample = log_mel_features(load_audio(sample_wav().string()).samples);
    for (const std::string model : {"tiny-e2b", "tiny-e4b"}) {
        CAPTURE(model);
        std::vector<NpyArray> golden = read_npz(audio_golden(model).string());
        std::vector<NpyArray> reference;
        for (const NpyArray& a : golden)
            if (a.name.rfind("audio.", 0) == 0) reference.push_back(a);
        // The tower reads the golden's own features, so this isolates the encoder from the feature extractor.
        const NpyArray* g = find_array(golden, "audio.mel");
        REQUIRE(g != nullptr);
        MelFeatures mel;
        mel.frames = static_cast<int>(g->shape[0]);
        mel.mel = g->to_f32();
        mel.valid = sample.valid;
        REQUIRE(mel.frames == sample.frames);

        Checkpoint ck = Checkpoint::open(model);
        AudioTower tower(ck);
        RecordingSink sink({"audio.*"});
        std::vector<float> soft = tower.encode(mel, &sink);
        CHECK(soft.size() == size_t(38) * ck.config.text.hidden_size);
        CHECK(audio_soft_tokens(24000) == 38);

        TraceDiff diff = compare_traces(to_arrays(sink.entries()), reference, tolerance::kNmseVsTransformers);
        CHECK(diff.only_in_reference.empty());
        CHECK(diff.only_in_candidate.empty());
        CHECK(diff.probes.size() == reference.size());
        double worst = 0;
        std::string worst_name;
        for (const ProbeDiff& d : diff.probes)
            if (d.nmse >= worst) worst = d.nmse, worst_name = d.name;
        if (diff.any_over())
            FAIL_CHECK("first probe over: " << diff.probes[diff.first_over].name << " NMSE " << diff.probes[diff.first_over].nmse << " "
                                            << diff.probes[diff.first_over].problem);
        MESSAGE(model << ": " << diff.probes.size() << " audio probes, worst NMSE " << worst << " (" << worst_name << ")");

        // The Blas backend is the same formulas with sgemm's summation order.
        std::vector<float> soft_blas = tower.encode(mel, nullptr, blas_backend());
        ProbeDiff d = compare_arrays("soft_tokens", soft_blas, {int64_t(soft_blas.size())}, soft, {int64_t(soft.size())},
                                     tolerance::kNmseBlasVsRef);
        CHECK_MESSAGE(!d.over, "blas vs ref NMSE " << d.nmse);
    }
}

TEST_CASE("audio: a checkpoint without an audio tower is refused by name") {
    Checkpoint ck = Checkpoint::open("tiny-26b-a4b");
    CHECK_THROWS_WITH_AS(AudioTower{ck}, doctest::Contains("has no audio tower"), Error);
}

TEST_CASE("audio: soft-token counts of the spec's worked examples") {
    CHECK(audio_soft_tokens(16000) == 25);    // 1.0 s
    CHECK(audio_soft_tokens(59200) == 93);    // 3.7 s
    CHECK(audio_soft_tokens(8000) == 13);     // 0.5 s
    CHECK(audio_soft_tokens(160000) == 250);  // 10 s
    CHECK(audio_soft_tokens(480000) == 750);  // 30 s
    CHECK(audio_soft_tokens(960000) == 750);  // capped
    CHECK(audio_soft_tokens(100) == 0);
    // The frame counts of the same table (total frames include the one reaching into the ×128 padding).
    const std::pair<int, std::pair<int, int>> frames[] = {{16000, {99, 99}}, {59200, {370, 369}}, {8000, {50, 49}}};
    for (const auto& [n, expect] : frames) {
        MelFeatures m = log_mel_features(std::vector<float>(size_t(n), 0.0f));
        CHECK(m.frames == expect.first);
        CHECK(m.valid_frames() == expect.second);
    }
    // Longer than 30 s: cut to 480 000 samples, as the extractor does.
    MelFeatures m = log_mel_features(std::vector<float>(500000, 0.0f));
    CHECK(m.frames == 2999);
}

TEST_CASE("audio: load_audio mixes stereo to mono and resamples 8 kHz to 16 kHz") {
    test::TempDir dir("gemma4_audio");
    SUBCASE("stereo at 16 kHz: the mean of the channels") {
        // Left: 440 Hz at 0.5; right: silence. The mean is a 440 Hz tone at 0.25.
        const std::vector<float> left = sine(440, 1.0, 16000, 0.5f);
        std::vector<float> inter(left.size() * 2, 0.0f);
        for (size_t i = 0; i < left.size(); ++i) inter[2 * i] = left[i];
        write_wav(dir.file("stereo.wav"), inter, 16000, 2);
        Waveform w = load_audio(dir.file("stereo.wav"));
        CHECK(w.source_channels == 2);
        CHECK(w.source_rate == 16000);
        CHECK(w.sample_rate == 16000);
        CHECK(w.samples.size() == 16000);
        CHECK(w.source_seconds == doctest::Approx(1.0));
        CHECK(rms(w.samples, 0, w.samples.size()) == doctest::Approx(0.25 / std::sqrt(2.0)).epsilon(0.01));
        CHECK(tone_magnitude(w.samples, 440, 16000) == doctest::Approx(0.125).epsilon(0.01));
    }
    SUBCASE("8 kHz mono: resampled, same duration, same tone") {
        write_wav(dir.file("low.wav"), sine(1000, 2.0, 8000, 0.5f), 8000, 1);
        Waveform w = load_audio(dir.file("low.wav"));
        CHECK(w.source_rate == 8000);
        CHECK(w.sample_rate == 16000);
        CHECK(w.source_seconds == doctest::Approx(2.0));
        CHECK(std::abs(static_cast<long>(w.samples.size()) - 32000) <= 2);
        // Away from the filter's edges the tone keeps its amplitude, and nothing appears at other frequencies.
        CHECK(rms(w.samples, 4000, 28000) == doctest::Approx(0.5 / std::sqrt(2.0)).epsilon(0.01));
        const std::vector<float> middle(w.samples.begin() + 4000, w.samples.begin() + 28000);
        CHECK(tone_magnitude(middle, 1000, 16000) == doctest::Approx(0.25).epsilon(0.01));
        CHECK(tone_magnitude(middle, 3000, 16000) < 1e-3);
        CHECK(tone_magnitude(middle, 500, 16000) < 1e-3);
        CHECK(audio_soft_tokens(static_cast<int64_t>(w.samples.size())) == 50);
    }
}

TEST_CASE("audio: load_audio errors name the file; silence works") {
    test::TempDir dir("gemma4_audio");
    SUBCASE("missing") {
        const std::string path = dir.file("nope.wav");
        CHECK_THROWS_WITH_AS(load_audio(path), doctest::Contains(path.c_str()), Error);
    }
    SUBCASE("not audio") {
        const std::string path = dir.file("notes.wav");
        std::ofstream(path) << "these are not samples\n";
        CHECK_THROWS_WITH_AS(load_audio(path), doctest::Contains(path.c_str()), Error);
    }
    SUBCASE("empty file") {
        const std::string path = dir.file("empty.wav");
        std::ofstream(path).close();
        CHECK_THROWS_WITH_AS(load_audio(path), doctest::Contains(path.c_str()), Error);
    }
    SUBCASE("a valid WAV with no samples") {
        const std::string path = dir.file("zero.wav");
        SF_INFO info{};
        info.samplerate = 16000;
        info.channels = 1;
        info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
        SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
        REQUIRE(f != nullptr);
        sf_close(f);
        CHECK_THROWS_WITH_AS(load_audio(path), doctest::Contains(path.c_str()), Error);
    }
    SUBCASE("silence: finite features, ln(0.001) everywhere, and the tower runs") {
        write_wav(dir.file("silence.wav"), std::vector<float>(8000, 0.0f), 16000, 1);
        Waveform w = load_audio(dir.file("silence.wav"));
        REQUIRE(w.samples.size() == 8000);
        MelFeatures m = log_mel_features(w.samples);
        CHECK(m.frames == 50);
        for (int t = 0; t < m.frames; ++t)
            for (int j = 0; j < kMelBins; ++j) {
                const float v = m.mel[size_t(t) * kMelBins + j];
                REQUIRE(std::isfinite(v));
                if (m.valid[t]) REQUIRE(v == doctest::Approx(std::log(1e-3)));
            }
        Checkpoint ck = Checkpoint::open("tiny-e2b");
        std::vector<float> soft = AudioTower(ck).encode(m, nullptr);
        CHECK(soft.size() == size_t(audio_soft_tokens(8000)) * ck.config.text.hidden_size);
        for (float v : soft) REQUIRE(std::isfinite(v));
    }
    CHECK_THROWS_AS(log_mel_features({}), Error);
}

namespace {

// A mono 16 kHz IEEE-float WAV holding `samples`, byte by byte (libsndfile would not write NaN for us).
std::string float_wav(const std::vector<float>& samples) {
    std::string out;
    auto u32 = [&](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
    auto u16 = [&](uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); };
    const uint32_t data_bytes = static_cast<uint32_t>(samples.size() * 4);
    out += "RIFF";
    u32(36 + data_bytes);
    out += "WAVEfmt ";
    u32(16);
    u16(3);  // WAVE_FORMAT_IEEE_FLOAT
    u16(1);  // channels
    u32(16000);
    u32(16000 * 4);
    u16(4);
    u16(32);
    out += "data";
    u32(data_bytes);
    out.append(reinterpret_cast<const char*>(samples.data()), data_bytes);
    return out;
}

}  // namespace

TEST_CASE("audio: a float file with NaN, infinite or absurd samples is refused (fuzz finding)") {
    // fuzz_audio: a float WAV whose data held NaN gave NaN mel features, which the tower would have run on.
    test::TempDir dir("gemma4_audio");
    const std::string path = dir.file("corrupt.wav");
    struct Case {
        float bad;
        const char* shown;
    };
    for (const Case& c : {Case{std::nanf(""), "is NaN"}, Case{INFINITY, "is infinite"}, Case{-1e30f, "is -1e+30"}}) {
        CAPTURE(c.shown);
        std::ofstream(path, std::ios::binary) << float_wav({0.0f, 0.5f, c.bad, 0.0f});
        CHECK_THROWS_WITH_AS(load_audio(path), doctest::Contains(("'" + path + "': sample 2 " + c.shown).c_str()), Error);
    }
    std::ofstream(path, std::ios::binary) << float_wav({0.0f, 0.5f, -1.5f, 0.0f});  // clipped, but audio
    CHECK(load_audio(path).samples.size() == 4);
}

TEST_CASE("audio: a stream of unknown length is decoded to its end, and hours of audio are refused (fuzz finding)") {
    // fuzz_audio: an Ogg Vorbis file whose last page fails its CRC makes libsndfile report 2^63-1 frames (length
    // unknown); load_audio sized a vector by that and died of std::length_error.
    test::TempDir dir("gemma4_audio");
    const std::string ogg = dir.file("broken_end.ogg");
    {
        SF_INFO info{};
        info.samplerate = 16000;
        info.channels = 2;
        info.format = SF_FORMAT_OGG | SF_FORMAT_VORBIS;
        SNDFILE* f = sf_open(ogg.c_str(), SFM_WRITE, &info);
        REQUIRE(f != nullptr);
        const std::vector<float> frames(2 * 3200, 0.25f);
        sf_writef_float(f, frames.data(), 3200);
        sf_close(f);
    }
    std::string bytes;
    {
        std::ifstream in(ogg, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    const size_t last_page = bytes.rfind("OggS");
    REQUIRE(last_page != std::string::npos);
    const size_t payload = last_page + 27 + static_cast<unsigned char>(bytes[last_page + 26]);
    REQUIRE(payload + 2 < bytes.size());
    bytes[payload + 2] = static_cast<char>(bytes[payload + 2] ^ 0x5a);  // the page's CRC no longer matches
    std::ofstream(ogg, std::ios::binary) << bytes;
    SF_INFO info{};
    SNDFILE* probe = sf_open(ogg.c_str(), SFM_READ, &info);
    REQUIRE(probe != nullptr);
    sf_close(probe);
    CHECK(info.frames == SF_COUNT_MAX);  // what made the old code allocate 2^63 floats
    try {
        const Waveform w = load_audio(ogg);
        CHECK(w.samples.size() > 0);
        CHECK(w.samples.size() <= 3200);
    } catch (const Error& e) {  // refusing the broken page is fine too, with the file named
        CHECK(test::contains(e.what(), ogg));
    }

    // 601 s at 1 kHz (a 0.6 MB file): longer than load_audio decodes.
    const std::string long_wav = dir.file("long.wav");
    write_wav(long_wav, std::vector<float>(601000, 0.0f), 1000, 1);
    CHECK_THROWS_WITH_AS(load_audio(long_wav), doctest::Contains(("'" + long_wav + "' is too long").c_str()), Error);
}

TEST_CASE("audio: gemma4 audio-info") {
    test::CliResult r = test::run_cli("audio-info --audio " + sample_wav().string() + " --json");
    CHECK(r.exit_code == 0);
    CHECK(test::contains(r.out, "\"soft_tokens\": 38"));
    CHECK(test::contains(r.out, "\"frames\": 150"));
    CHECK(test::contains(r.out, "\"sample_rate\": 16000"));
    CHECK(test::contains(r.out, "\"duration_s\": 1.5"));
    test::CliResult t = test::run_cli("audio-info --audio " + sample_wav().string() + " -m tiny-e4b --time");
    CHECK(t.exit_code == 0);
    CHECK(test::contains(t.out, "encode"));
    test::CliResult missing = test::run_cli("audio-info --audio /nonexistent/clip.wav");
    CHECK(missing.exit_code == 2);
    CHECK(test::contains(missing.out, "/nonexistent/clip.wav"));
}

TEST_CASE("audio: frames and soft tokens of every committed clip equal the processor's (audio_plans.json)") {
    std::ifstream in(fs::path(assets_dir()) / "goldens" / "audio_plans.json");
    REQUIRE(in);
    const nlohmann::json j = nlohmann::json::parse(in);
    REQUIRE(j["clips"].size() >= 4);
    for (const nlohmann::json& clip : j["clips"]) {
        const std::string file = clip["file"].get<std::string>();
        CAPTURE(file);
        Waveform w = load_audio((fs::path(assets_dir()) / file).string());
        CHECK(static_cast<int64_t>(w.samples.size()) == clip["samples"].get<int64_t>());
        MelFeatures mel = log_mel_features(w.samples);
        CHECK(mel.frames == clip["frames"].get<int>());
        CHECK(mel.valid_frames() == clip["valid_frames"].get<int>());
        CHECK(audio_soft_tokens(static_cast<int64_t>(w.samples.size())) == clip["soft_tokens"].get<int>());
    }
}

TEST_CASE("audio: require_audio_fits refuses a clip over 30 s by name, and takes 30 s exactly") {
    Waveform w;
    w.samples.assign(kAudioMaxSamples, 0.0f);
    CHECK_NOTHROW(require_audio_fits(w, "thirty.wav"));
    w.samples.push_back(0.0f);
    CHECK_THROWS_WITH_AS(require_audio_fits(w, "long.wav"),
                         doctest::Contains("audio file 'long.wav' is 30.00 s long; the model takes at most 30 s"), Error);
    w.samples.resize(45 * kAudioSampleRate);
    CHECK_THROWS_WITH_AS(require_audio_fits(w, "long.wav"), doctest::Contains("45.00 s long"), Error);
}
