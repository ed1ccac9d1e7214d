#include "wsc/par/communicator.hpp"

#include <climits>
#include <cstdlib>
#include <sstream>

namespace wsc::par {

void check_mpi(int code, const char* call, const char* file, int line) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(code, text, &length);
  int rank = -1;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::ostringstream message;
  message << "MPI error in " << call << " at " << file << ":" << line << " on rank " << rank
          << ": " << std::string(text, static_cast<std::size_t>(length));
  throw MpiError(message.str());
}

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int length = 0;
  WSC_MPI_CHECK(MPI_Get_library_version(text, &length));
  std::string v(text, static_cast<std::size_t>(length));
  // First line; Open MPI goes on after a comma, MPICH separates with tabs.
  v = v.substr(0, v.find_first_of("\n,"));
  for (char& c : v) {
    if (c == '\t') c = ' ';
  }
  std::string out;
  for (char c : v) {
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

int launcher_process_count() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    const char* value = std::getenv(name);
    if (value == nullptr) continue;
    char* end = nullptr;
    const long n = std::strtol(value, &end, 10);
    if (end != value && *end == '\0' && n > 0 && n <= INT_MAX) return static_cast<int>(n);
  }
  return 0;
}

namespace {
int as_count(std::size_t count) {
  if (count > static_cast<std::size_t>(INT_MAX)) throw MpiError("MPI message too large");
  return static_cast<int>(count);
}
}  // namespace

Communicator::Communicator(MPI_Comm comm) {
  WSC_MPI_CHECK(MPI_Comm_dup(comm, &comm_));
  WSC_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  WSC_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  WSC_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

Communicator::~Communicator() {
  if (comm_ != MPI_COMM_NULL) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);  // destructor: never throws
  }
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(other.comm_), rank_(other.rank_), size_(other.size_) {
  other.comm_ = MPI_COMM_NULL;
}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    if (comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
    comm_ = other.comm_;
    rank_ = other.rank_;
    size_ = other.size_;
    other.comm_ = MPI_COMM_NULL;
  }
  return *this;
}

Communicator Communicator::split(int color, int key) const {
  MPI_Comm raw = MPI_COMM_NULL;
  WSC_MPI_CHECK(MPI_Comm_split(comm_, color, key, &raw));
  Communicator result(raw);  // duplicates raw
  WSC_MPI_CHECK(MPI_Comm_free(&raw));
  return result;
}

void Communicator::barrier() const { WSC_MPI_CHECK(MPI_Barrier(comm_)); }

void Communicator::sum(double* data, std::size_t count) const {
  if (size_ == 1) return;
  WSC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, as_count(count), MPI_DOUBLE, MPI_SUM, comm_));
}

void Communicator::sum(std::int64_t* data, std::size_t count) const {
  if (size_ == 1) return;
  WSC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data, as_count(count), MPI_INT64_T, MPI_SUM, comm_));
}

double Communicator::sum(double value) const {
  sum(&value, 1);
  return value;
}

std::int64_t Communicator::sum(std::int64_t value) const {
  sum(&value, 1);
  return value;
}

double Communicator::max(double value) const {
  WSC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, comm_));
  return value;
}

std::int64_t Communicator::max(std::int64_t value) const {
  WSC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT64_T, MPI_MAX, comm_));
  return value;
}

std::uint64_t Communicator::bit_xor(std::uint64_t value) const {
  WSC_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_UINT64_T, MPI_BXOR, comm_));
  return value;
}

void Communicator::broadcast(double* data, std::size_t count, int root) const {
  WSC_MPI_CHECK(MPI_Bcast(data, as_count(count), MPI_DOUBLE, root, comm_));
}

void Communicator::broadcast(std::string& text, int root) const {
  std::int64_t length = static_cast<std::int64_t>(text.size());
  WSC_MPI_CHECK(MPI_Bcast(&length, 1, MPI_INT64_T, root, comm_));
  text.resize(static_cast<std::size_t>(length));
  if (length > 0) {
    WSC_MPI_CHECK(MPI_Bcast(text.data(), as_count(static_cast<std::size_t>(length)), MPI_CHAR,
                            root, comm_));
  }
}

std::vector<double> Communicator::gather(double value, int root) const {
  std::vector<double> all(rank_ == root ? static_cast<std::size_t>(size_) : 0);
  WSC_MPI_CHECK(MPI_Gather(&value, 1, MPI_DOUBLE, rank_ == root ? all.data() : nullptr, 1,
                           MPI_DOUBLE, root, comm_));
  return all;
}

core::SumReduce Communicator::sum_reduce() const {
  return [this](double* data, std::size_t count) { sum(data, count); };
}

void Communicator::agree(bool ok, const std::string& message) const {
  // The lowest failing rank (size_ when none fails) speaks for everyone.
  int candidate = ok ? size_ : rank_;
  int failing = candidate;
  WSC_MPI_CHECK(MPI_Allreduce(&candidate, &failing, 1, MPI_INT, MPI_MIN, comm_));
  if (failing == size_) return;
  std::string text = message;
  broadcast(text, failing);
  throw AgreedError(text);
}

Environment::Environment(int& argc, char**& argv) {
  int provided = 0;
  WSC_MPI_CHECK(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided));
  WSC_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
}

Environment::~Environment() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace wsc::par
