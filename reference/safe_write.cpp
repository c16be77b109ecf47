// safe_write.cpp — temporary file + rename, and the signal handler that removes temporaries in progress (safe_write.h).
#include "safe_write.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>

#include "error.h"

namespace fs = std::filesystem;

namespace gemma4 {

namespace {

// The temporaries in progress, where a signal handler can read them: fixed arrays and lock-free atomics only (no
// allocation or locking is allowed in a handler). A slot is 0 free, 1 being filled, 2 holding a path.
constexpr int kSlots = 64;
constexpr size_t kMaxPath = 4096;
char g_paths[kSlots][kMaxPath];
std::atomic<int> g_state[kSlots];
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler reads these");

int register_temp(const std::string& path) {
    if (path.size() >= kMaxPath) return -1;
    for (int i = 0; i < kSlots; ++i) {
        int expected = 0;
        if (g_state[i].compare_exchange_strong(expected, 1)) {
            std::memcpy(g_paths[i], path.c_str(), path.size() + 1);
            g_state[i].store(2, std::memory_order_release);
            return i;
        }
    }
    return -1;  // more than 64 at once: this one is still removed on errors, only not on signals
}

void unregister_temp(int slot) {
    if (slot >= 0) g_state[slot].store(0, std::memory_order_release);
}

extern "C" void remove_temps_then_die(int sig) {
    for (int i = 0; i < kSlots; ++i)
        if (g_state[i].load(std::memory_order_acquire) == 2) ::unlink(g_paths[i]);
    // SA_RESETHAND put the default action back: the process now ends as it would have without us.
    ::raise(sig);
}

}  // namespace

TempFile::TempFile(std::string target) : target_(std::move(target)) {
    static std::atomic<unsigned> counter{0};
    temp_ = target_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    slot_ = register_temp(temp_);
}

TempFile::~TempFile() {
    if (!committed_) {
        std::error_code ec;
        fs::remove(temp_, ec);
    }
    unregister_temp(slot_);
}

void TempFile::commit() {
    std::error_code ec;
    fs::rename(temp_, target_, ec);
    if (ec) {
        std::error_code ignored;
        fs::remove(temp_, ignored);
        throw Error("'" + target_ + "': cannot move the finished temporary file '" + temp_ + "' into place: " + ec.message());
    }
    committed_ = true;
    unregister_temp(slot_);
    slot_ = -1;
}

void write_file_safely(const std::string& target, const std::function<void(const std::string& temp_path)>& write) {
    TempFile temp(target);
    write(temp.path());
    temp.commit();
}

void install_signal_cleanup() {
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGXFSZ}) {
        struct sigaction old {};
        if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;  // e.g. nohup: stay ignored
        struct sigaction action {};
        action.sa_handler = remove_temps_then_die;
        action.sa_flags = SA_RESETHAND;
        sigemptyset(&action.sa_mask);
        ::sigaction(sig, &action, nullptr);
    }
}

}  // namespace gemma4
