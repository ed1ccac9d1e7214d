// The number and CSV formatting of the text outputs.
#include "wsc/io/text_output.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace wsc::io {

std::string format_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[40];
  for (int precision : {15, 16, 17}) {
    std::snprintf(buffer, sizeof buffer, "%.*g", precision, value);
    const double back = std::strtod(buffer, nullptr);
    if (std::memcmp(&back, &value, sizeof value) == 0) break;
  }
  return buffer;  // %.17g always round-trips
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line += ',';
    line += fields[i];
  }
  line += '\n';
  return line;
}

}  // namespace wsc::io
