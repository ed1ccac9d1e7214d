// The number and CSV formatting of the text outputs.
#include "wsc/io/text_output.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <system_error>

namespace wsc::io {

std::string format_double(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[32];  // %.17g of any double needs at most 24
  std::to_chars_result end{buffer, std::errc()};
  for (int precision : {15, 16, 17}) {
    end = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, precision);
    double back = 0.0;
    std::from_chars(buffer, end.ptr, back);
    if (std::memcmp(&back, &value, sizeof value) == 0) break;  // 17 digits always round-trip
  }
  return std::string(buffer, end.ptr);
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
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
