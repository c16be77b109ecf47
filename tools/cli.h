// cli.h — the small command-line layer every `gemma4` subcommand shares: declared options, --help text generated
// from the declarations, and errors that name the option. No external parser: a dozen options per command.
#pragma once

#include <string>
#include <vector>

namespace gemma4::cli {

struct Option {
    std::string name;      // "--model"
    std::string alias;     // "-m" or ""
    std::string value;     // placeholder for options that take a value ("DIR"); "" for a flag
    std::string help;      // one line
};

class Args {
public:
    // Parses argv[first..argc). Throws gemma4::Error on an unknown option or a missing value.
    Args(int argc, char** argv, int first, const std::vector<Option>& options);

    bool has(const std::string& name) const;                                  // given at all (flag or value)
    std::string get(const std::string& name, const std::string& fallback = "") const;
    long long get_int(const std::string& name, long long fallback) const;     // error names the option if not a number
    std::vector<std::string> get_all(const std::string& name) const;          // every value of a repeatable option
    const std::vector<std::string>& positional() const { return positional_; }

private:
    const std::vector<Option>& options_;
    std::vector<std::pair<std::string, std::string>> given_;
    std::vector<std::string> positional_;
};

// "usage: gemma4 <command> ..." followed by one line per option.
std::string usage(const std::string& synopsis, const std::string& description, const std::vector<Option>& options);

// Each subcommand: returns the process exit code; throws gemma4::Error for bad input (main prints it).
int cmd_info(int argc, char** argv);
int cmd_probes(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_trace(int argc, char** argv);
int cmd_check(int argc, char** argv);
int cmd_synth(int argc, char** argv);
int cmd_audio_info(int argc, char** argv);
int cmd_image_info(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace gemma4::cli
