// bundlefast: file writing on POSIX.
//
// Nothing here truncates or rewrites an existing file: readers map our shards,
// and shortening a mapped file turns their next access into SIGBUS. New bytes
// always go to a new file (O_EXCL) that is renamed into place.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "file_writer.h"

namespace bundlefast {

namespace {
Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  return Status::IOError(path + ": " + what + " failed: " + std::strerror(err), err, path);
}
}  // namespace

Status WritableFile::Create(const std::string& path, std::unique_ptr<WritableFile>* out) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus("create", path, errno);
  out->reset(new WritableFile(path, fd));
  return Status::OK();
}

WritableFile::~WritableFile() {
  if (fd_ >= 0) ::close(fd_);
}

Status WritableFile::Append(const char* data, size_t n) {
  while (n > 0) {
    // Linux writes at most 0x7ffff000 bytes per call; ask for no more.
    const size_t chunk = n < (size_t{1} << 30) ? n : (size_t{1} << 30);
    const ssize_t written = ::write(fd_, data, chunk);
    if (written < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path_, errno);
    }
    data += written;
    n -= static_cast<size_t>(written);
    size_ += static_cast<uint64_t>(written);
  }
  return Status::OK();
}

Status WritableFile::Close() {
  const int fd = fd_;
  fd_ = -1;
  // close() may report a deferred write error (NFS); EINTR must not be retried.
  if (fd >= 0 && ::close(fd) != 0 && errno != EINTR) return ErrnoStatus("close", path_, errno);
  return Status::OK();
}

Status SyncFile(const std::string& path) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("fsync", path, err);
  return Status::OK();
}

Status RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    const int err = errno;
    return Status::IOError(from + ": rename to " + to + " failed: " + std::strerror(err), err, from);
  }
  return Status::OK();
}

Status RemoveFile(const std::string& path, bool missing_ok) {
  if (::unlink(path.c_str()) != 0 && !(missing_ok && errno == ENOENT)) return ErrnoStatus("unlink", path, errno);
  return Status::OK();
}

Status SyncDirectory(const std::string& dir) {
  int fd;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus("open directory", dir, errno);
  // Some file systems cannot fsync a directory (EINVAL); their renames are
  // then as durable as they get, which is not our error to report.
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) return ErrnoStatus("fsync directory", dir, err);
  return Status::OK();
}

Status ListDirectory(const std::string& dir, std::vector<std::string>* names) {
  names->clear();
  DIR* d = ::opendir(dir.c_str());
  if (!d) return ErrnoStatus("opendir", dir, errno);
  while (true) {
    errno = 0;
    const struct dirent* e = ::readdir(d);
    if (!e) break;
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names->emplace_back(e->d_name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoStatus("readdir", dir, err);
  return Status::OK();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace bundlefast
