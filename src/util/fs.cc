// File system helpers (see fs.h).
#include "util/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <lzma.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace yz {

namespace {

std::string errno_text() { return std::strerror(errno); }

// A new, uniquely named directory `parent/prefix` + 6 random characters (mkdtemp).
fs::path make_unique_dir(const fs::path& parent, const std::string& prefix) {
  std::string templ = (parent / (prefix + "XXXXXX")).string();
  if (::mkdtemp(templ.data()) == nullptr)
    YZ_THROW(ErrorKind::kIo, templ, ": cannot create directory: ", errno_text());
  return templ;
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) YZ_THROW(ErrorKind::kIo, path.string(), ": cannot open: ", errno_text());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    std::string why = errno_text();
    ::close(fd);
    YZ_THROW(ErrorKind::kIo, path.string(), ": cannot stat: ", why);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    YZ_THROW(ErrorKind::kIo, path.string(), ": not a regular file");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      std::string why = errno_text();
      ::close(fd);
      YZ_THROW(ErrorKind::kIo, path.string(), ": cannot map: ", why);
    }
    file->data_ = static_cast<uint8_t*>(p);
  }
  ::close(fd);  // the mapping keeps the file alive
  return file;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

uint64_t file_crc64(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) YZ_THROW(ErrorKind::kIo, path.string(), ": cannot open");
  std::vector<char> buf(1 << 20);
  uint64_t crc = 0;
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const std::streamsize n = in.gcount();
    if (n > 0) crc = lzma_crc64(reinterpret_cast<const uint8_t*>(buf.data()), static_cast<size_t>(n), crc);
  }
  if (in.bad()) YZ_THROW(ErrorKind::kIo, path.string(), ": read failed");
  return crc;
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec);
}

void MappedFile::release_pages() const {
  // MADV_DONTNEED on a private read-only mapping: clean pages are dropped and refault from the
  // file; nothing in the project writes through these mappings, so nothing is lost.
  if (data_ != nullptr && size_ > 0) ::madvise(data_, size_, MADV_DONTNEED);
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) YZ_THROW(ErrorKind::kIo, path.string(), ": cannot open: ", errno_text());
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad()) YZ_THROW(ErrorKind::kIo, path.string(), ": read failed");
  return os.str();
}

void fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) YZ_THROW(ErrorKind::kIo, path.string(), ": cannot open for fsync: ", errno_text());
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) YZ_THROW(ErrorKind::kIo, path.string(), ": fsync failed: ", errno_text());
}

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::string templ = (dir / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  int fd = ::mkstemp(templ.data());
  if (fd < 0) YZ_THROW(ErrorKind::kIo, path.string(), ": cannot create a file next to it: ", errno_text());
  const fs::path tmp = templ;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string why = errno_text();
      ::close(fd);
      std::error_code ec;
      fs::remove(tmp, ec);
      YZ_THROW(ErrorKind::kIo, path.string(), ": write failed: ", why);
    }
    done += static_cast<size_t>(n);
  }
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) YZ_THROW(ErrorKind::kIo, tmp.string(), ": fsync failed: ", errno_text());
  ::chmod(tmp.c_str(), 0644);  // mkstemp creates 0600; outputs are ordinary files
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    YZ_THROW(ErrorKind::kIo, path.string(), ": rename failed: ", ec.message());
  }
  fsync_path(dir);
}

void remove_tree(const fs::path& path) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* dir = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(dir)) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        remove_tree(path / e->d_name);
      }
      ::closedir(dir);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

void check_not_inside(const fs::path& out, const fs::path& input) {
  fs::path o = fs::weakly_canonical(fs::absolute(out));
  const fs::path i = fs::weakly_canonical(fs::absolute(input));
  auto starts_with = [](const fs::path& a, const fs::path& prefix) {
    auto ai = a.begin();
    for (auto pi = prefix.begin(); pi != prefix.end(); ++pi, ++ai) {
      if (ai == a.end() || *ai != *pi) return false;
    }
    return true;
  };
  // A file input only forbids itself (and outputs holding it); its siblings are fine.
  YZ_CHECK(!starts_with(o, i), "output ", out.string(),
           fs::is_directory(i) ? " is inside the input " : " is the input ", input.string(),
           "; choose another --out (inputs are never modified)");
  YZ_CHECK(!starts_with(i, o), "output ", out.string(), " contains the input ", input.string(),
           "; choose another --out (inputs are never modified)");
}

StagedDir::StagedDir(const fs::path& final_path, bool overwrite,
                     const std::vector<fs::path>& protected_inputs)
    : final_(fs::absolute(final_path).lexically_normal()), overwrite_(overwrite) {
  if (final_.filename().empty()) final_ = final_.parent_path();
  for (const auto& in : protected_inputs) check_not_inside(final_, in);
  if (fs::exists(final_)) {
    YZ_CHECK(overwrite_, "output ", final_path.string(),
             " already exists; pass --overwrite to replace it");
    YZ_CHECK(fs::is_directory(final_), "output ", final_path.string(),
             " exists and is not a directory");
  }
  fs::path parent = final_.parent_path();
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) YZ_THROW(ErrorKind::kIo, parent.string(), ": cannot create: ", ec.message());
  staging_ = make_unique_dir(parent, "." + final_.filename().string() + ".partial-");
  ::chmod(staging_.c_str(), 0755);
}

StagedDir::~StagedDir() {
  if (!committed_) {
    remove_tree(staging_);
  }
}

void StagedDir::commit() {
  YZ_ASSERT(!committed_, "StagedDir committed twice");
  for (const auto& entry : fs::directory_iterator(staging_)) {
    if (entry.is_regular_file()) fsync_path(entry.path());
  }
  fsync_path(staging_);
  std::error_code ec;
  fs::path old;
  if (fs::exists(final_)) {
    // Move the old output aside first so that a crash between the renames keeps one of them.
    old = make_unique_dir(final_.parent_path(), "." + final_.filename().string() + ".old-");
    fs::rename(final_, old, ec);  // replaces the empty placeholder directory
    if (ec) YZ_THROW(ErrorKind::kIo, final_.string(), ": cannot move aside: ", ec.message());
  }
  fs::rename(staging_, final_, ec);
  if (ec) YZ_THROW(ErrorKind::kIo, final_.string(), ": cannot rename into place: ", ec.message());
  committed_ = true;
  fsync_path(final_.parent_path());
  if (!old.empty()) remove_tree(old);
}

}  // namespace yz
