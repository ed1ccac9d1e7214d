#pragma once
// Integer arithmetic on counts and sizes that come from outside (a config, an
// override, a model file, a saved state): overflow is reported, never
// undefined behaviour, and a size is refused with a message naming where the
// count came from before anything is allocated.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace wsc::core {

/// a + b, or nothing when the sum does not fit in int64.
inline std::optional<std::int64_t> checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

/// a * b, or nothing when the product does not fit in int64.
inline std::optional<std::int64_t> checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t out = 0;
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

/// a + b clamped to [INT64_MIN, INT64_MAX]: for estimates and plans, where
/// "more than fits" is the answer.
inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  if (const auto s = checked_add(a, b)) return *s;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

/// a * b clamped to [INT64_MIN, INT64_MAX].
inline std::int64_t saturating_mul(std::int64_t a, std::int64_t b) {
  if (const auto p = checked_mul(a, b)) return *p;
  return (a < 0) != (b < 0) ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max();
}

/// ceil(a / b) for a >= 0, b >= 1, without forming a + b - 1.
inline std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

/// The element count `count` (times `per_item` elements each) of a buffer of
/// `element_bytes`-byte elements, as a size_t; throws std::invalid_argument
/// "<what> = <count> ..." when it is negative, overflows, or exceeds `limit`
/// bytes (default: what the address space could ever hold, 2^47).
inline std::size_t size_from_count(std::int64_t count, std::int64_t per_item, std::int64_t element_bytes,
                                   const std::string& what,
                                   std::int64_t limit = std::int64_t{1} << 47) {
  if (count < 0 || per_item < 0) {
    throw std::invalid_argument(what + " = " + std::to_string(count) + " is negative");
  }
  const auto elements = checked_mul(count, per_item);
  const auto bytes = elements ? checked_mul(*elements, element_bytes) : std::nullopt;
  if (!bytes || *bytes > limit) {
    throw std::invalid_argument(what + " = " + std::to_string(count) + " needs more than " +
                                std::to_string(limit) + " bytes");
  }
  return static_cast<std::size_t>(*elements);
}

}  // namespace wsc::core
