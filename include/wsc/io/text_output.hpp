#pragma once
// Text outputs: the number and CSV formatting of the CSV files (which are
// written through io::AtomicFile).
#include "wsc/io/atomic_file.hpp"

#include <string>
#include <vector>

namespace wsc::io {

/// Shortest decimal that round-trips a double ("nan", "inf", "-inf" for the rest).
std::string format_double(double value);

/// A CSV field: quoted (with doubled quotes) when it holds , " or a newline.
std::string csv_field(const std::string& text);

/// One CSV line from fields (already formatted), with a trailing newline.
std::string csv_line(const std::vector<std::string>& fields);

}  // namespace wsc::io
