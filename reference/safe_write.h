// safe_write.h — writing a file so that it is either complete or absent: the bytes go to a temporary file beside the
// target (same directory, so the rename never crosses file systems), renamed over the target only once complete. On an
// error or exception the temporary is removed and an existing target is left as it was; after install_signal_cleanup()
// the temporaries in progress are also removed when SIGINT, SIGTERM, SIGHUP or SIGXFSZ ends the process.
// Used by traces (.npz), safetensors, synthetic checkpoints' JSON and the inspector's screenshots.
// Leaves out: fsync. An interrupted process leaves no half file; a power cut may still lose the last write.
#pragma once

#include <functional>
#include <string>

namespace gemma4 {

// One temporary file for one target: "<target>.tmp.<pid>.<n>". Nothing is created until the caller writes to path().
class TempFile {
public:
    explicit TempFile(std::string target);
    ~TempFile();  // removes the temporary unless commit() succeeded
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;

    const std::string& path() const { return temp_; }  // where to write
    const std::string& target() const { return target_; }
    // Renames the temporary over the target. Error naming both if it fails (the temporary is then removed).
    void commit();

private:
    std::string target_, temp_;
    int slot_ = -1;  // its place in the list the signal handler cleans up, or -1
    bool committed_ = false;
};

// Calls write(temp_path), which must create and fill the file at temp_path (throwing on failure), then renames it to
// `target`. If write throws, the temporary is removed, the exception goes on, and `target` is untouched.
void write_file_safely(const std::string& target, const std::function<void(const std::string& temp_path)>& write);

// Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGXFSZ that remove every TempFile in progress and then end the
// process by the same signal, as it would have ended anyway. For main(): the CLI and the inspector call it once.
void install_signal_cleanup();

}  // namespace gemma4
