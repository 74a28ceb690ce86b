// Errors inside the library: YZ_CHECK throws yz::Error with a readable message; apps/ and the
// HTTP layer convert it to "error: ..." + exit code or a JSON error (style.md convention 10).
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace yz {

// Kind lets the boundary pick an exit code / HTTP status without parsing messages.
enum class ErrorKind { kInvalidInput, kUsage, kIo, kInternal };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, const char* file = "", int line = 0)
      : std::runtime_error(message), kind_(kind), file_(file), line_(line) {}
  ErrorKind kind() const { return kind_; }
  // Source location of the check that failed (for logs and bug reports, not for users).
  std::string where() const { return std::string(file_) + ":" + std::to_string(line_); }

 private:
  ErrorKind kind_;
  const char* file_;
  int line_;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

}  // namespace yz

// YZ_CHECK(cond, "file ", path, ": bad thing ", value) -> throws yz::Error(kInvalidInput).
#define YZ_CHECK(cond, ...)                                                                \
  do {                                                                                     \
    if (!(cond))                                                                           \
      throw ::yz::Error(::yz::ErrorKind::kInvalidInput, ::yz::detail::concat(__VA_ARGS__), \
                        __FILE__, __LINE__);                                               \
  } while (0)

#define YZ_THROW(kind, ...) \
  throw ::yz::Error((kind), ::yz::detail::concat(__VA_ARGS__), __FILE__, __LINE__)

// Broken invariant of our own code (not the user's input).
#define YZ_ASSERT(cond, ...)                                                           \
  do {                                                                                 \
    if (!(cond))                                                                       \
      throw ::yz::Error(::yz::ErrorKind::kInternal,                                    \
                        ::yz::detail::concat("internal error: ", __VA_ARGS__), __FILE__, \
                        __LINE__);                                                     \
  } while (0)
