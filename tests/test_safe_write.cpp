// test_safe_write.cpp — files appear whole or not at all (safe_write.h): a writer that fails halfway, a full disk, a
// vanished directory or a signal leave neither a half file nor a temporary behind, and an existing file keeps its bytes;
// and the model directory is never written to by any command that reads it.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "checkpoint.h"
#include "error.h"
#include "npz.h"
#include "safe_write.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gemma4;
using gemma4::test::contains;
using gemma4::test::run_cli;

namespace {

std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_all(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out << bytes;
}

std::set<std::string> listing(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
    return names;
}

// A trace of about a megabyte: enough that a 64 KiB file-size limit stops it midway.
void write_big_npz(const std::string& path) {
    std::vector<float> values(256 * 1024);
    for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 977) * 0.5f;
    NpzWriter w(path);
    w.add_f32("text.logits", values.data(), {256, 1024});
    w.add_string("meta.model", "test");
    w.close();
}

// Runs `body` in a child process and returns its wait() status (the child exits 0 when body returns).
template <class Body>
int in_child(Body body) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        try {
            body();
        } catch (...) {
            ::_exit(10);
        }
        ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

void limit_file_size(rlim_t bytes) {
    const rlimit cap{bytes, bytes};
    ::setrlimit(RLIMIT_FSIZE, &cap);
}

}  // namespace

TEST_CASE("safe writes: a file appears whole or not at all, and a failed write keeps the old one") {
    test::TempDir dir("gemma4_safe_write");
    const fs::path target = dir.path / "out.bin";
    write_file_safely(target.string(), [](const std::string& tmp) { write_all(tmp, "first version"); });
    CHECK(read_all(target) == "first version");
    CHECK(listing(dir.path) == std::set<std::string>{"out.bin"});

    // The writer fails halfway: the old file stays, the half-written temporary goes.
    CHECK_THROWS_WITH_AS(write_file_safely(target.string(),
                                           [](const std::string& tmp) {
                                               write_all(tmp, "half of the second");
                                               throw Error("injected failure");
                                           }),
                         "injected failure", Error);
    CHECK(read_all(target) == "first version");
    CHECK(listing(dir.path) == std::set<std::string>{"out.bin"});

    // A writer that produced nothing: the rename fails with an error naming the target; the old file stays.
    try {
        write_file_safely(target.string(), [](const std::string&) {});
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(contains(e.what(), "out.bin"));
    }
    CHECK(read_all(target) == "first version");

    // The target is a directory: refused, nothing left beside it.
    fs::create_directory(dir.path / "a-directory");
    CHECK_THROWS_AS(write_file_safely((dir.path / "a-directory").string(), [](const std::string& tmp) { write_all(tmp, "x"); }), Error);
    CHECK(fs::is_directory(dir.path / "a-directory"));
    CHECK(listing(dir.path) == std::set<std::string>{"out.bin", "a-directory"});
}

TEST_CASE("safe writes: NpzWriter on a full disk or a vanished directory leaves no file and keeps the old trace") {
    test::TempDir dir("gemma4_safe_npz");
    const fs::path trace = dir.path / "run.npz";
    write_all(trace, "the previous trace");

    // A full disk midway (a 64 KiB file-size limit, SIGXFSZ ignored so the write just fails): Error, old file intact.
    const int status = in_child([&] {
        ::signal(SIGXFSZ, SIG_IGN);
        limit_file_size(64 * 1024);
        try {
            write_big_npz(trace.string());
        } catch (const Error& e) {
            if (contains(e.what(), "run.npz")) ::_exit(0);  // refused by name, as expected
            ::_exit(11);
        }
        ::_exit(12);  // the write "succeeded" past the limit
    });
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(read_all(trace) == "the previous trace");
    CHECK(listing(dir.path) == std::set<std::string>{"run.npz"});

    // The directory vanishes between the start of a run and the write.
    const fs::path gone = dir.path / "gone";
    fs::create_directory(gone);
    {
        NpzWriter w((gone / "t.npz").string());
        const float x[2] = {1, 2};
        w.add_f32("x", x, {2});
        fs::remove_all(gone);
        try {
            w.close();
            FAIL("expected an error");
        } catch (const Error& e) {
            CHECK(contains(e.what(), "t.npz"));
        }
    }
    CHECK_FALSE(fs::exists(gone));

    // A writer dropped without close() (an exception elsewhere in the run) writes nothing.
    {
        NpzWriter w((dir.path / "never.npz").string());
        const float x[2] = {1, 2};
        w.add_f32("x", x, {2});
    }
    CHECK(listing(dir.path) == std::set<std::string>{"run.npz"});
}

TEST_CASE("safe writes: a signal in the middle of a write removes the temporary file") {
    test::TempDir dir("gemma4_safe_signal");
    const fs::path target = dir.path / "out.bin";

    // SIGTERM (or Ctrl-C's SIGINT) while the temporary is half written: the process dies by that signal, as it would
    // have anyway, and the handler has removed the temporary first.
    int status = in_child([&] {
        install_signal_cleanup();
        write_file_safely(target.string(), [](const std::string& tmp) {
            write_all(tmp, "half");
            ::raise(SIGTERM);
        });
    });
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGTERM);
    CHECK(listing(dir.path).empty());

    // A file-size limit that kills the writer (SIGXFSZ, default action) in the middle of an .npz: libzip writes
    // straight into our temporary (no second temporary of its own), so nothing is left.
    write_all(target, "kept");
    status = in_child([&] {
        install_signal_cleanup();
        limit_file_size(64 * 1024);
        write_big_npz(target.string());
    });
    CHECK(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) CHECK(WTERMSIG(status) == SIGXFSZ);
    CHECK(read_all(target) == "kept");
    CHECK(listing(dir.path) == std::set<std::string>{"out.bin"});
}

TEST_CASE("gemma4 trace stopped by a full disk leaves the previous trace and no half file") {
    G4_SKIP_WITHOUT_PROBES();
    test::TempDir dir("gemma4_safe_trace");
    const fs::path trace = dir.path / "t.npz";
    write_all(trace, "the previous trace");
    // `ulimit -f 128` caps files at 64 KiB (512-byte blocks in POSIX sh; 1 KiB blocks in bash: 128 KiB) — far below
    // the few MB of every probe of four tokens.
    const std::string cmd = "sh -c 'ulimit -f 128; exec " + std::string(GEMMA4_CLI_PATH) + " trace -m tiny-e2b --tokens 2,10,11,12 -o " +
                            trace.string() + "' 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buf[4096];
    while (std::fread(buf, 1, sizeof buf, pipe) > 0) {
    }
    const int status = ::pclose(pipe);
    CHECK_FALSE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(read_all(trace) == "the previous trace");
    CHECK(listing(dir.path) == std::set<std::string>{"t.npz"});
}

namespace {

// What a directory holds: every path under it with its size, modification time and a hash of its bytes.
std::map<std::string, std::string> snapshot(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
        struct stat st {};
        REQUIRE(::lstat(e.path().c_str(), &st) == 0);
        uint64_t hash = 1469598103934665603ULL;  // FNV-1a
        if (e.is_regular_file())
            for (unsigned char ch : read_all(e.path())) hash = (hash ^ ch) * 1099511628211ULL;
        std::ostringstream s;
        s << st.st_mode << " " << st.st_size << " " << st.st_mtim.tv_sec << "." << st.st_mtim.tv_nsec << " " << hash;
        out[fs::relative(e.path(), root).string()] = s.str();
    }
    struct stat st {};
    ::stat(root.c_str(), &st);
    out["."] = std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    return out;
}

}  // namespace

TEST_CASE("the model directory is never written to: info, run, trace, check, tokenize, image-info, audio-info, bench") {
    test::TempDir work("gemma4_readonly_model");
    const fs::path model = work.path / "model";
    fs::copy(fs::path(assets_dir()) / "models" / "tiny-e2b", model, fs::copy_options::recursive);
    // Read-only as well, where that binds (not for root, which the tests may run as: the snapshot is the real check).
    for (const auto& e : fs::directory_iterator(model))
        fs::permissions(e.path(), fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write, fs::perm_options::remove);
    fs::permissions(model, fs::perms::owner_write | fs::perms::group_write | fs::perms::others_write, fs::perm_options::remove);
    const auto before = snapshot(model);

    const std::string m = " -m " + model.string();
    const std::string samples = std::string(assets_dir()) + "/samples/";
    const std::string golden = std::string(assets_dir()) + "/goldens/tiny-e2b-t8.npz";
    std::vector<std::string> commands = {
        "info" + m,
        "info" + m + " --json --context 4096",
        "run" + m + " -p 'Hello there' -n 3",
        "run" + m + " --image " + samples + "sample_small.png --audio " + samples + "short.wav -p Describe -n 2",
        "tokenize" + m + " -p 'Hello there'",
        "image-info" + m + " --image " + samples + "sample_small.png --time",
        "audio-info" + m + " --audio " + samples + "short.wav --time",
        "bench" + m + " --quick --backend ref --prefill 8 --decode 2 --reps 1",
    };
    if (GEMMA4_PROBES) {
        commands.push_back("trace" + m + " --tokens 2,10,11 --probes 'text.logits' -o " + (work.path / "t.npz").string());
        commands.push_back("check" + m + " --golden " + golden + " -q");
    }
    for (const std::string& c : commands) {
        const test::CliResult r = run_cli(c);
        INFO(c, "\n", r.out);
        CHECK(r.exit_code == 0);
    }
    CHECK(snapshot(model) == before);
    fs::permissions(model, fs::perms::owner_write, fs::perm_options::add);  // so that TempDir can remove it
}
