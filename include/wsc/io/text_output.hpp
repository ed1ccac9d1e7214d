#pragma once
// Text outputs: the number and CSV formatting of the CSV files (which are
// written through io::AtomicFile).
#include "wsc/io/atomic_file.hpp"

#include <string>
#include <vector>

namespace wsc::io {

/// A double as text that reads back to the same double: the first of 15, 16
/// and 17 significant digits that round-trips, laid out as printf's "%.*g"
/// (std::to_chars, so no locale); "nan", "inf", "-inf" for the rest. Usually
/// the shortest such text, not always: std::to_chars's own shortest form is
/// shorter or differs in the last digit for some powers of two (2^-24 is
/// 5.9604644775390625e-08 here, 5.960464477539063e-08 there) and for
/// subnormals (5e-324 is 4.94065645841247e-324 here), and lays out large
/// integers without an exponent; the outputs keep this text byte for byte.
std::string format_double(double value);

/// A CSV field: quoted (with doubled quotes) when it holds , " or a newline.
std::string csv_field(const std::string& text);

/// The items with `separator` between them (messages, reports).
std::string join(const std::vector<std::string>& items, const char* separator);

/// One CSV line from fields (already formatted), with a trailing newline.
std::string csv_line(const std::vector<std::string>& fields);

}  // namespace wsc::io
