// cli.cpp — option parsing and help text for the `gemma4` subcommands (see cli.h).
#include "cli.h"

#include <charconv>
#include <sstream>

#include "error.h"

namespace gemma4::cli {

Args::Args(int argc, char** argv, int first, const std::vector<Option>& options) : options_(options) {
    for (int i = first; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.size() < 2 || arg[0] != '-' || arg == "--") {
            positional_.push_back(arg);
            continue;
        }
        std::string value;
        bool has_inline_value = false;
        if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
            value = arg.substr(eq + 1);
            arg = arg.substr(0, eq);
            has_inline_value = true;
        }
        const Option* match = nullptr;
        for (const Option& o : options_)
            if (o.name == arg || (!o.alias.empty() && o.alias == arg)) match = &o;
        if (match == nullptr) throw Error("unknown option '" + arg + "' (see --help)");
        if (!match->value.empty() && !has_inline_value) {
            if (i + 1 >= argc) throw Error("option " + match->name + " needs a value (" + match->value + ")");
            value = argv[++i];
        } else if (match->value.empty() && has_inline_value) {
            throw Error("option " + match->name + " takes no value");
        }
        given_.emplace_back(match->name, value);
    }
}

bool Args::has(const std::string& name) const {
    for (const auto& [n, v] : given_)
        if (n == name) return true;
    return false;
}

std::string Args::get(const std::string& name, const std::string& fallback) const {
    std::string out = fallback;
    for (const auto& [n, v] : given_)
        if (n == name) out = v;  // the last occurrence wins, as in most tools
    return out;
}

std::vector<std::string> Args::get_all(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : given_)
        if (n == name) out.push_back(v);
    return out;
}

long long Args::get_int(const std::string& name, long long fallback) const {
    if (!has(name)) return fallback;
    std::string s = get(name);
    long long v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size())
        throw Error("option " + name + " expects an integer, got '" + s + "'");
    return v;
}

std::string usage(const std::string& synopsis, const std::string& description, const std::vector<Option>& options) {
    std::ostringstream os;
    os << "usage: " << synopsis << "\n\n" << description << "\n\noptions:\n";
    for (const Option& o : options) {
        std::string left = "  " + (o.alias.empty() ? std::string() : o.alias + ", ") + o.name;
        if (!o.value.empty()) left += " " + o.value;
        os << left;
        if (left.size() < 28) os << std::string(28 - left.size(), ' ');
        else os << "\n" << std::string(28, ' ');
        os << o.help << "\n";
    }
    return os.str();
}

}  // namespace gemma4::cli
