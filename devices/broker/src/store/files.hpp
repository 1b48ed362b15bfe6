// Small, careful file operations for the broker's data directory: whole-file
// atomic replacement (for definitions), whole-file reads, directory fsync,
// and the lock that keeps two brokers off one data directory.
//
// Errors are std::system_error carrying errno, with the operation and the
// path in the message ("open /var/lib/warren/x.tmp: Permission denied").
// Thread-safe: no shared state.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace warren::detail::store {

// Replaces the file at `path` with `bytes` so that after a crash at any point
// the file holds either the old content or the new, never a mix: writes
// path + ".tmp", fsyncs it, renames it over `path` and fsyncs the directory.
// REQUIRES: the parent directory exists.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// The whole content of the file at `path`, or nullopt if it does not exist.
std::optional<std::string> read_file(const std::filesystem::path& path);

// fsyncs a directory, making the creation, rename or removal of the entries
// in it durable.
void sync_directory(const std::filesystem::path& dir);

// [[noreturn]] helper: throws std::system_error(errno, "<op> <path>").
[[noreturn]] void throw_errno(std::string_view op, const std::filesystem::path& path);

// Writes all of `bytes` to `fd` (retrying short writes and EINTR); throws
// std::system_error naming `path` on failure.
void write_all(int fd, std::string_view bytes, const std::filesystem::path& path);

// An owned file descriptor: closed on destruction; move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A whole file mapped read-only, for reading large files without copying.
// REQUIRES: nobody truncates the file while it is mapped (reading past the
// new end would raise SIGBUS); the journal's sealed segments qualify.
class MappedFile {
 public:
  // nullopt if the file does not exist; throws std::system_error otherwise.
  static std::optional<MappedFile> open(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  MappedFile& operator=(MappedFile&&) = delete;
  MappedFile(const MappedFile&) = delete;
  ~MappedFile();

  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  MappedFile(void* data, std::size_t size) : data_(data), size_(size) {}
  void* data_;
  std::size_t size_;
};

// Exclusive use of a data directory for the lifetime of the object: creates
// the directory if missing, takes flock(LOCK_EX | LOCK_NB) on dir/"lock" and
// writes this process's pid into it. The lock is released when the object is
// destroyed or the process dies (the file itself stays; it is not the lock).
// Throws std::runtime_error("data directory <dir> is in use by another broker
// (pid N)") if another DirectoryLock holds it, in this process or another.
class DirectoryLock {
 public:
  explicit DirectoryLock(std::filesystem::path dir);
  DirectoryLock(DirectoryLock&&) noexcept = default;
  DirectoryLock& operator=(DirectoryLock&&) noexcept = default;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  UniqueFd fd_;
};

}  // namespace warren::detail::store
