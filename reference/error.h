// error.h — the one exception type of the toolkit. Messages name the file, tensor or field and what was expected;
// the CLI prints them and exits non-zero. Deliberately no error codes and no assert() for user input.
#pragma once

#include <stdexcept>
#include <string>

namespace gemma4 {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace gemma4
