// bundlefast: the file operations a crash-safe save needs (create a new file,
// append, fsync, rename, unlink, fsync a directory, list a directory).
#ifndef BUNDLEFAST_CSRC_FILE_WRITER_H_
#define BUNDLEFAST_CSRC_FILE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "status.h"

namespace bundlefast {

// A new file opened for appending. Not thread-safe. The destructor closes the
// descriptor if Close() was not called. Nothing is synced here: SyncFile()
// does that once the file is complete, for several files at once.
class WritableFile {
 public:
  // Creates `path`, which must not exist yet (O_EXCL: a temp name that is
  // somehow taken is an error, never a file we would overwrite). Mode 0666
  // minus the umask, as TF and open() do. Errors: kIOError with errno.
  static Status Create(const std::string& path, std::unique_ptr<WritableFile>* out);

  ~WritableFile();
  WritableFile(const WritableFile&) = delete;
  WritableFile& operator=(const WritableFile&) = delete;

  // Writes all n bytes, retrying short writes and EINTR (ENOSPC etc.: kIOError).
  Status Append(const char* data, size_t n);
  Status Close();

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  WritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::string path_;
  int fd_;
  uint64_t size_ = 0;
};

// fsync() of the file at `path` (through a new read-only descriptor: fsync
// flushes the file, whichever descriptor asks).
Status SyncFile(const std::string& path);
// rename(2): atomically replaces `to` if it exists.
Status RenameFile(const std::string& from, const std::string& to);
// unlink(2). A file that does not exist is not an error when `missing_ok`.
Status RemoveFile(const std::string& path, bool missing_ok);
// fsync() of a directory, so renames and unlinks in it survive a power loss.
Status SyncDirectory(const std::string& dir);
// The names (not paths) of the entries of `dir`, without "." and "..".
Status ListDirectory(const std::string& dir, std::vector<std::string>* names);
// True if `path` exists (any kind of file).
bool FileExists(const std::string& path);

}  // namespace bundlefast

#endif  // BUNDLEFAST_CSRC_FILE_WRITER_H_
