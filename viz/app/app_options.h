// app_options.h — the inspector's command line (a small parser of its own: the inspector does not link tools/, whose
// Args this mirrors in spirit: long and short names, one value each, --help listing them). Leaves out everything the
// CLI does about generation and sampling.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace gemma4::viz {

struct AppOption {
    const char* name;   // "--model"
    const char* alias;  // "-m" or ""
    const char* value;  // "MODEL", or "" for a flag
    const char* help;
};

const std::vector<AppOption>& app_options();
std::string app_usage();

// Parsed options, by long name. Throws gemma4::Error naming an unknown option or a missing value.
class AppArgs {
public:
    AppArgs(int argc, char** argv);
    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = "") const;
    long long get_int(const std::string& name, long long fallback) const;  // Error naming the option when not an integer

private:
    std::map<std::string, std::string> values_;
};

}  // namespace gemma4::viz
