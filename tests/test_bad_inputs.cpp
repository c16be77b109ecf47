// test_bad_inputs.cpp — the malformed-input corpus: tools/make_bad_inputs.py writes a few hundred broken checkpoints,
// tokenizers, images, sounds and traces into the build (tests/CMakeLists.txt runs it at build time), and every one is
// run through the gemma4 CLI here. Each must end with its expected exit status (2: refused as bad input; never 3, an
// internal error, nor a signal), within 30 s, with a message holding the file's name and a word for the problem, and
// with nothing left behind in the directory it was told to write to. Leaves out: random mutation (tests/fuzz/).
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr double kCaseSeconds = 30;  // a refusal is immediate; anything slower is a hang or a parse gone quadratic

// The formats make_bad_inputs.py writes, one TEST_CASE each (a new format needs a line here, or the count test fails).
const char* const kFormats[] = {"safetensors", "shard-index", "config", "tokenizer", "tokenizer-config", "chat",
                                "image",       "audio",       "npz",    "limits",    "missing"};

struct BadInput {
    std::string name, format;
    std::vector<std::string> args;    // with {corpus} and {tmp} still in them
    int exit_code = 2;
    std::vector<std::string> expect;  // substrings of the output, compared ignoring case
    bool needs_probes = false;
};

std::string corpus_dir() {
#ifdef GEMMA4_BAD_INPUTS_DIR
    return GEMMA4_BAD_INPUTS_DIR;
#else
    return "";
#endif
}

std::vector<BadInput> load_manifest() {
    const fs::path path = fs::path(corpus_dir()) / "manifest.jsonl";
    std::ifstream in(path);
    REQUIRE_MESSAGE(in, path.string() << ": missing (the build runs tools/make_bad_inputs.py to write it)");
    std::vector<BadInput> cases;
    std::string line;
    while (std::getline(in, line)) {
        const nlohmann::json j = nlohmann::json::parse(line);
        BadInput c;
        c.name = j.at("name");
        c.format = j.at("format");
        c.exit_code = j.at("exit");
        c.needs_probes = j.value("probes", false);
        for (const auto& e : j.at("expect")) c.expect.push_back(e);
        for (const auto& a : j.at("args")) {
            if (a.is_string()) {
                c.args.push_back(a);
                continue;
            }
            // {"hex": "..."}: raw bytes (bad UTF-8 cannot be written in a JSON string).
            const std::string hex = a.at("hex");
            std::string bytes;
            for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
            c.args.push_back(bytes);
        }
        cases.push_back(std::move(c));
    }
    return cases;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
    return s;
}

std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

struct Run {
    int exit_code = -1;  // -1 when it did not exit normally
    int signal = 0;      // the signal that ended it, if any
    bool timed_out = false;
    double seconds = 0;
    std::string out;  // stdout and stderr together
};

// Runs the gemma4 CLI with exactly these arguments (no shell), killing it after `timeout_s`.
Run run_argv(const std::vector<std::string>& args, double timeout_s) {
    std::vector<std::string> all = {GEMMA4_CLI_PATH};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);

    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // the child: only async-signal-safe calls from here to exec
        ::dup2(fds[1], 1);
        ::dup2(fds[1], 2);
        if (!kSanitized) {  // a runaway allocation fails fast instead of swapping (ASan reserves terabytes: no cap there)
            const rlimit cap{rlim_t(16) << 30, rlim_t(16) << 30};
            ::setrlimit(RLIMIT_AS, &cap);
        }
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    Run r;
    char buf[4096];
    for (;;) {
        const double left = timeout_s - std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (left <= 0) {
            r.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) continue;
        const ssize_t n = ::read(fds[0], buf, sizeof buf);
        if (n <= 0) break;  // the child closed its end: it has exited (or is about to)
        r.out.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

std::string show_args(const std::vector<std::string>& args) {
    std::string s = "gemma4";
    for (const std::string& a : args) {
        bool plain = !a.empty();
        for (char ch : a) plain = plain && (std::isalnum(static_cast<unsigned char>(ch)) || std::string("-_./,:{}=").find(ch) != std::string::npos);
        s += plain ? " " + a : " '" + a + "'";
    }
    return s;
}

// Runs every case of one format through the CLI and checks each.
void run_format(const std::string& format) {
    if (corpus_dir().empty()) {
        MESSAGE("skipped: python3 was not found at configure time, so the corpus (tools/make_bad_inputs.py) was not written");
        return;
    }
    int ran = 0, skipped = 0;
    double slowest = 0;
    for (const BadInput& c : load_manifest()) {
        if (c.format != format) continue;
        if (c.needs_probes && !GEMMA4_PROBES) {
            ++skipped;
            continue;
        }
        gemma4::test::TempDir tmp("gemma4_bad_input");
        auto fill = [&](const std::string& s) { return replace_all(replace_all(s, "{corpus}", corpus_dir()), "{tmp}", tmp.path.string()); };
        std::vector<std::string> args;
        for (const std::string& a : c.args) args.push_back(fill(a));
        const Run r = run_argv(args, kCaseSeconds);
        ++ran;
        slowest = std::max(slowest, r.seconds);

        INFO("case ", c.name, ": ", show_args(args), "\n--- output ---\n", r.out, "--------------");
        CHECK_MESSAGE(!r.timed_out, "took longer than ", kCaseSeconds, " s");
        CHECK_MESSAGE(r.signal == 0, "killed by signal ", r.signal);
        CHECK_MESSAGE(r.exit_code == c.exit_code, "exit status ", r.exit_code, ", expected ", c.exit_code);
        for (const std::string& e : c.expect)
            CHECK_MESSAGE(gemma4::test::contains(lower(r.out), lower(fill(e))), "the message does not contain \"", fill(e), "\"");
        if (c.exit_code != 0) {
            std::vector<std::string> left;
            for (const auto& entry : fs::directory_iterator(tmp.path)) left.push_back(entry.path().filename().string());
            CHECK_MESSAGE(left.empty(), "a refused run left files behind in its output directory: ", left.size() ? left[0] : "");
        }
    }
    MESSAGE(format << ": " << ran << " cases run (" << skipped << " skipped: they need the probes), slowest " << slowest << " s");
    CHECK_MESSAGE(ran + skipped > 0, "the corpus has no case of format ", format);
}

}  // namespace

TEST_CASE("bad inputs: the corpus has at least 100 cases, each in a format tested here") {
    if (corpus_dir().empty()) {
        MESSAGE("skipped: python3 was not found at configure time, so the corpus was not written");
        return;
    }
    std::map<std::string, int> by_format;
    int broken = 0;
    for (const BadInput& c : load_manifest()) {
        ++by_format[c.format];
        broken += c.exit_code != 0;
        CHECK_MESSAGE(std::find(std::begin(kFormats), std::end(kFormats), c.format) != std::end(kFormats),
                      "case ", c.name, ": format '", c.format, "' has no TEST_CASE in test_bad_inputs.cpp");
        if (c.exit_code != 0) CHECK_MESSAGE(c.expect.size() >= 2, "case ", c.name, ": expect the file's name and the problem");
    }
    std::string summary;
    for (const auto& [format, n] : by_format) summary += " " + format + " " + std::to_string(n) + ";";
    int total = 0;
    for (const auto& entry : by_format) total += entry.second;
    MESSAGE(broken << " malformed inputs and " << total - broken << " valid controls in " << by_format.size() << " formats:" << summary);
    CHECK(broken >= 100);
}

TEST_CASE("bad inputs: safetensors files") { run_format("safetensors"); }
TEST_CASE("bad inputs: sharded checkpoints and their index") { run_format("shard-index"); }
TEST_CASE("bad inputs: config.json") { run_format("config"); }
TEST_CASE("bad inputs: tokenizer.json") { run_format("tokenizer"); }
TEST_CASE("bad inputs: tokenizer_config.json") { run_format("tokenizer-config"); }
TEST_CASE("bad inputs: the chat format and prompt text") { run_format("chat"); }
TEST_CASE("bad inputs: images") { run_format("image"); }
TEST_CASE("bad inputs: audio") { run_format("audio"); }
TEST_CASE("bad inputs: .npz traces") { run_format("npz"); }
TEST_CASE("bad inputs: limits (context, -n)") { run_format("limits"); }
TEST_CASE("bad inputs: missing files and directories where files belong") { run_format("missing"); }
