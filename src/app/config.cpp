// The analysis configuration: TOML (toml11) -> strict extraction -> Config,
// with "key=value" overrides applied to the parsed tree before extraction.
// Each key is declared once, in the key table (sections(), metadata_keys()):
// its name, where it lives in Config, its check and how it is echoed. The
// table drives reading, the unknown-key check, validate(), to_json and to_toml;
// checks across keys are written out in validate().
#include "wsc/app/config.hpp"

#include "wsc/io/text_output.hpp"

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#include <toml.hpp>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>
#include <type_traits>
#include <utility>

namespace wsc::app {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kIntMin = std::numeric_limits<int>::min();
constexpr std::int64_t kIntMax = std::numeric_limits<int>::max();
constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

std::string display_origin(const std::string& origin) { return origin.empty() ? "config" : origin; }

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t\r\n");
  return s.substr(first, last - first + 1);
}

std::string join_key(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

/// io::format_double, always float-looking (TOML): "2" becomes "2.0".
std::string format_double(double x) {
  std::string text = io::format_double(x);
  if (std::isfinite(x) && text.find_first_of(".eE") == std::string::npos) text += ".0";
  return text;
}

/// A number for messages: round-trip text, no forced ".0".
std::string format_number(double x) {
  std::string text = format_double(x);
  if (text.size() > 2 && text.compare(text.size() - 2, 2, ".0") == 0) text.resize(text.size() - 2);
  return text;
}

/// A TOML basic string literal.
std::string quote_toml(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(u));
          out += buf;
        } else {
          out += c;
        }
      }
    }
  }
  out += '"';
  return out;
}

std::string type_name(const toml::value& v) {
  switch (v.type()) {
    case toml::value_t::boolean: return "boolean";
    case toml::value_t::integer: return "integer";
    case toml::value_t::floating: return "float";
    case toml::value_t::string: return "string";
    case toml::value_t::offset_datetime: return "offset datetime";
    case toml::value_t::local_datetime: return "local datetime";
    case toml::value_t::local_date: return "local date";
    case toml::value_t::local_time: return "local time";
    case toml::value_t::array: return "array";
    case toml::value_t::table: return "table";
    default: return "empty value";
  }
}

bool is_table_like(const toml::value& v) {
  if (v.is_table()) return true;
  if (!v.is_array() || v.as_array().empty()) return false;
  return std::all_of(v.as_array().begin(), v.as_array().end(),
                     [](const toml::value& e) { return e.is_table(); });
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) != 0;
  });
}

/// toml11's messages span several lines ("[error] toml::fn: what\n --> file\n
/// N | text\n   | ^--- note"); keep the first line, the (last) line number and
/// its note.
std::string condense_syntax_error(const std::string& what, const std::string& origin,
                                  std::uint_least32_t fallback_line) {
  std::istringstream lines(what);
  std::string line;
  std::string headline;
  std::string line_number;
  std::string note;
  bool expect_note = false;
  bool first = true;
  while (std::getline(lines, line)) {
    if (first) {
      headline = line;
      first = false;
      continue;
    }
    const auto bar = line.find('|');
    if (bar == std::string::npos) {
      expect_note = false;
      continue;
    }
    const std::string left = trim(line.substr(0, bar));
    if (all_digits(left)) {
      line_number = left;
      note.clear();
      expect_note = true;
    } else if (left.empty() && expect_note) {
      std::string rest = trim(line.substr(bar + 1));
      const auto text_start = rest.find_first_not_of("^~-");
      if (text_start != std::string::npos && text_start > 0) note = trim(rest.substr(text_start));
      expect_note = false;
    }
  }
  const std::string error_tag = "[error] ";
  if (headline.compare(0, error_tag.size(), error_tag) == 0) headline = headline.substr(error_tag.size());
  if (headline.compare(0, 6, "toml::") == 0) {
    const auto colon = headline.find(": ");
    if (colon != std::string::npos) headline = headline.substr(colon + 2);
  }
  headline = trim(headline);
  if (line_number.empty()) line_number = std::to_string(fallback_line);
  std::string message = display_origin(origin) + ":" + line_number + ": TOML syntax error: " + headline;
  if (!note.empty() && note != "here") message += " (" + note + ")";
  return message;
}

/// "<origin>:<line>: tables and arrays nested deeper than 8 levels".
std::string nesting_message(const std::string& where, int line) {
  return where + ":" + std::to_string(line) + ": tables and arrays nested deeper than " +
         std::to_string(kMaxTomlNesting) + " levels";
}

// ---------------------------------------------------------------------------
// Overrides
// ---------------------------------------------------------------------------

/// Raw override text per dotted key, for string keys given a non-string value.
using RawOverrides = std::map<std::string, std::string>;

toml::value parse_override_value(const std::string& text) {
  std::istringstream stream("v = " + text + "\n");
  try {
    const toml::value parsed = toml::parse(stream, "--set");
    if (parsed.is_table() && parsed.as_table().size() == 1 && parsed.as_table().count("v") == 1) {
      return parsed.as_table().at("v");
    }
  } catch (const std::exception&) {
    // not a TOML value: a string
  }
  return toml::value(text);
}

void apply_override(toml::value& root, const std::string& spec, const std::string& origin,
                    RawOverrides& raw) {
  const auto fail = [&](const std::string& what) {
    throw ConfigError(display_origin(origin) + ": --set " + spec + ": " + what);
  };
  const auto eq = spec.find('=');
  if (eq == std::string::npos) fail("expected key=value");
  const std::string key = trim(spec.substr(0, eq));
  const std::string text = trim(spec.substr(eq + 1));
  if (key.empty()) fail("empty key");

  std::vector<std::string> segments;
  std::size_t start = 0;
  while (true) {
    const auto dot = key.find('.', start);
    segments.push_back(trim(key.substr(start, dot == std::string::npos ? std::string::npos : dot - start)));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  for (const auto& segment : segments) {
    if (segment.empty()) fail("empty component in key '" + key + "'");
  }

  if (toml_nesting_overflow_line(text) != 0) {
    const std::string shown = spec.size() > 60 ? spec.substr(0, 60) + "..." : spec;
    throw ConfigError(display_origin(origin) + ": --set " + shown + ": tables and arrays nested deeper than " +
                      std::to_string(kMaxTomlNesting) + " levels");
  }
  const toml::value value = parse_override_value(text);
  toml::value* current = &root;
  std::string path;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& segment = segments[i];
    const bool last = i + 1 == segments.size();
    toml::value* next = nullptr;
    if (current->is_table()) {
      auto& table = current->as_table();
      if (last) {
        table[segment] = value;
      } else {
        auto it = table.find(segment);
        if (it == table.end()) {
          if (all_digits(segments[i + 1])) fail("there are no [[" + join_key(path, segment) + "]] entries");
          it = table.emplace(segment, toml::value(toml::table{})).first;
        }
        next = &it->second;
      }
    } else if (current->is_array()) {
      auto& array = current->as_array();
      if (!all_digits(segment)) {
        fail("'" + path + "' is an array: '" + segment + "' is not an index (0-based)");
      }
      const std::size_t count = array.size();
      const std::string only = count == 1 ? "there is only 1 [[" + path + "]] entry"
                                          : "there are only " + std::to_string(count) + " [[" + path + "]] entries";
      if (segment.size() > 18) fail(only);
      const auto index = static_cast<std::size_t>(std::stoull(segment));
      if (index >= count) fail(only);
      if (last) {
        array[index] = value;
      } else {
        next = &array[index];
      }
    } else {
      fail("'" + path + "' is a " + type_name(*current) + ", not a table");
    }
    path = join_key(path, segment);
    current = next;
  }

  // Keep the raw text for string keys (e.g. output.dir=2024); forget stale entries below.
  const std::string prefix = path + ".";
  for (auto it = raw.begin(); it != raw.end();) {
    if (it->first == path || it->first.compare(0, prefix.size(), prefix) == 0) {
      it = raw.erase(it);
    } else {
      ++it;
    }
  }
  if (!value.is_string()) raw[path] = text;
}

// ---------------------------------------------------------------------------
// Strict extraction of one value
// ---------------------------------------------------------------------------

class Reader {
 public:
  Reader(std::string origin, const RawOverrides& raw) : origin_(std::move(origin)), raw_(raw) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError(display_origin(origin_) + ": " + what);
  }

  /// Errors on the first (sorted) key of `table` not in `known`.
  void check_keys(const toml::table& table, const std::string& prefix,
                  const std::vector<std::string>& known) const {
    std::vector<std::string> unknown;
    for (const auto& entry : table) {
      if (std::find(known.begin(), known.end(), entry.first) == known.end()) unknown.push_back(entry.first);
    }
    if (unknown.empty()) return;
    std::sort(unknown.begin(), unknown.end());
    const toml::value& bad = table.at(unknown.front());
    fail(std::string("unknown ") + (is_table_like(bad) ? "table" : "key") + " '" +
         join_key(prefix, unknown.front()) + "' (known: " + io::join(known, ", ") + ")");
  }

  /// The sub-table `key` of `parent` (nullptr if absent); errors if not a table.
  const toml::table* section(const toml::table& parent, const std::string& prefix, const std::string& key) const {
    const auto it = parent.find(key);
    if (it == parent.end()) return nullptr;
    if (!it->second.is_table()) {
      fail("'" + join_key(prefix, key) + "' must be a table, got " + type_name(it->second));
    }
    return &it->second.as_table();
  }

  /// The string `v` of key `name` (dotted).
  std::string get_string(const toml::value& v, const std::string& name, bool allow_empty) const {
    std::string result;
    if (v.is_string()) {
      result = v.as_string().str;
    } else if (const auto r = raw_.find(name); r != raw_.end()) {
      result = r->second;  // an override whose text happened to parse as another TOML type
    } else {
      fail("'" + name + "' must be a string, got " + type_name(v));
    }
    if (!allow_empty && result.empty()) fail("'" + name + "' must not be empty");
    return result;
  }

  double get_double(const toml::value& v, const std::string& name) const {
    if (v.is_floating()) return v.as_floating();
    if (v.is_integer()) return static_cast<double>(v.as_integer());
    fail("'" + name + "' must be a number, got " + type_name(v));
  }

  std::int64_t get_integer(const toml::value& v, const std::string& name, std::int64_t lo, std::int64_t hi) const {
    if (!v.is_integer()) fail("'" + name + "' must be an integer, got " + type_name(v));
    const std::int64_t value = v.as_integer();
    if (value < lo || value > hi) {
      fail("'" + name + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
           std::to_string(value));
    }
    return value;
  }

 private:
  std::string origin_;
  const RawOverrides& raw_;
};

// ---------------------------------------------------------------------------
// Value types of keys: read, shown in messages, echoed to JSON and TOML
// ---------------------------------------------------------------------------

/// The values of each choice key's enum, in the order messages list them.
template <class E>
struct Choices;
template <>
struct Choices<PrimarySource> {
  static constexpr PrimarySource all[] = {PrimarySource::File, PrimarySource::Probe};
};
template <>
struct Choices<core::BinMethod> {
  static constexpr core::BinMethod all[] = {core::BinMethod::EqualWidth, core::BinMethod::Quantile};
};
template <>
struct Choices<engine::PermutationStop> {
  static constexpr engine::PermutationStop all[] = {engine::PermutationStop::Fixed,
                                                    engine::PermutationStop::Decisions};
};
template <>
struct Choices<engine::PermutationScheme> {
  static constexpr engine::PermutationScheme all[] = {
      engine::PermutationScheme::Free, engine::PermutationScheme::Within, engine::PermutationScheme::Blocks,
      engine::PermutationScheme::Tree};
};

/// The config's spelling of a choice (app::to_string, or engine's for the scheme).
template <class E>
std::string spelling(E value) {
  return to_string(value);
}

template <class E>
std::optional<E> choice_from(const std::string& name) {
  for (const E value : Choices<E>::all) {
    if (name == spelling(value)) return value;
  }
  return std::nullopt;
}

/// "\"free\", \"within\" or \"blocks\"".
template <class E>
std::string choice_list() {
  std::string out;
  const std::size_t n = std::size(Choices<E>::all);
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 0) out += i + 1 == n ? " or " : ", ";
    out += "\"" + spelling(Choices<E>::all[i]) + "\"";
  }
  return out;
}

/// The value of key `dotted` in a file, of the key's type; `who` names the key in a choice's message.
template <class T>
T read_value(const Reader& r, const toml::value& v, const std::string& dotted, const std::string& who) {
  if constexpr (std::is_same_v<T, std::string>) {
    return r.get_string(v, dotted, false);
  } else if constexpr (std::is_same_v<T, double>) {
    return r.get_double(v, dotted);
  } else if constexpr (std::is_same_v<T, int>) {
    return static_cast<int>(r.get_integer(v, dotted, kIntMin, kIntMax));
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return r.get_integer(v, dotted, std::numeric_limits<std::int64_t>::min(), kInt64Max);
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {  // seeds: what a TOML integer can hold
    return static_cast<std::uint64_t>(r.get_integer(v, dotted, 0, kInt64Max));
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (!v.is_array()) r.fail("'" + dotted + "' must be an array of strings, got " + type_name(v));
    std::vector<std::string> out;
    for (const toml::value& item : v.as_array()) {
      if (!item.is_string()) r.fail("'" + dotted + "' must list strings, got " + type_name(item));
      out.push_back(item.as_string().str);
    }
    return out;
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {  // a list of k ("none" = 0: no projection)
    if (!v.is_array()) r.fail("'" + dotted + "' must be an array of integers, got " + type_name(v));
    std::vector<int> out;
    for (const toml::value& item : v.as_array()) {
      if (item.is_string() && item.as_string().str == "none") {
        out.push_back(0);
      } else if (item.is_integer()) {
        out.push_back(static_cast<int>(r.get_integer(item, dotted, 0, kIntMax)));
      } else {
        r.fail("'" + dotted + "' must list integers k >= 0 or \"none\", got " + type_name(item));
      }
    }
    return out;
  } else {
    static_assert(std::is_enum_v<T>, "a key's type is a string, a number or a choice");
    const std::string text = r.get_string(v, dotted, true);
    if (const std::optional<T> value = choice_from<T>(text)) return *value;
    r.fail(who + " must be " + choice_list<T>() + ", got '" + text + "'");
  }
}

/// A number in a message ("got ...").
template <class T>
std::string shown(const T& value) {
  if constexpr (std::is_same_v<T, double>) {
    return format_number(value);
  } else {
    return std::to_string(value);
  }
}

template <class T>
std::string toml_text(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return quote_toml(value);
  } else if constexpr (std::is_same_v<T, double>) {
    return format_double(value);
  } else if constexpr (std::is_enum_v<T>) {
    return quote_toml(spelling(value));
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    std::string out = "[";
    for (std::size_t i = 0; i < value.size(); ++i) out += (i > 0 ? ", " : "") + quote_toml(value[i]);
    return out + "]";
  } else if constexpr (std::is_same_v<T, std::vector<int>>) {
    std::string out = "[";
    for (std::size_t i = 0; i < value.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(value[i]);
    return out + "]";
  } else {
    return std::to_string(value);
  }
}

template <class T>
nlohmann::json json_value(const T& value) {
  if constexpr (std::is_enum_v<T>) {
    return spelling(value);
  } else {
    return value;
  }
}

// ---------------------------------------------------------------------------
// The key table
// ---------------------------------------------------------------------------

/// A key's check on its own value: `ok`, or the message says it "must ...".
template <class T>
struct Rule {
  bool (*ok)(const T&) = nullptr;  ///< nullptr: every value is fine
  const char* must = "";           ///< "must be >= 1" (a number's message adds ", got <value>")
};

/// Whether a key must be given, and when to_toml writes it.
enum class Presence {
  Required,     ///< a file must give it; always written
  Defaulted,    ///< the struct's default when not given; always written
  OmitDefault,  ///< the struct's default when not given; written only off it
  Optional,     ///< its default means "not given": not written, not checked by validate();
                ///< a value from a file must pass the rule (so cannot be the default)
};

/// One key of a table (a [section] of Config, or a [[metadata]] entry).
template <class Owner>
struct Key {
  std::string name;  ///< within its table: "variance"
  bool required = false;
  /// Stores the file's value `v` (key `dotted`) in the owner, or fails naming the key.
  std::function<void(const Reader&, const toml::value& v, const std::string& dotted, Owner&)> read;
  /// What is wrong with the owner's value ("must be >= 1, got 0"), or "".
  std::function<std::string(const Owner&)> problem;
  std::function<nlohmann::json(const Owner&)> json;
  std::function<std::string(const Owner&)> toml;  ///< the value as TOML text
  std::function<bool(const Owner&)> at_default;
  std::function<bool(const Owner&)> written;      ///< to_toml writes it
};

/// How messages name a key: 'pca.variance'; metadata 'spacing': bins.
std::string subject(const Config&, const std::string& dotted, const std::string&) { return "'" + dotted + "'"; }
std::string subject(const MetadataSpec& spec, const std::string& dotted, const std::string& key) {
  return spec.name.empty() ? "'" + dotted + "'" : "metadata '" + spec.name + "': " + key;
}

template <class Owner, class At>
using ValueOf = std::decay_t<decltype(std::declval<At>()(std::declval<Owner&>()))>;

/// The key `name` at `at(owner)` (a generic lambda returning a reference to the field).
template <class Owner, class At>
Key<Owner> key(const std::string& name, At at, Presence presence, Rule<ValueOf<Owner, At>> rule = {}) {
  using T = ValueOf<Owner, At>;
  Owner fresh;
  const T fallback = at(fresh);  // the struct's default
  const auto message = [rule](const T& value) {
    std::string text = rule.must;
    if constexpr (std::is_arithmetic_v<T>) text += ", got " + shown(value);
    return text;
  };
  Key<Owner> k;
  k.name = name;
  k.required = presence == Presence::Required;
  k.at_default = [at, fallback](const Owner& o) { return at(o) == fallback; };
  k.read = [=](const Reader& r, const toml::value& v, const std::string& dotted, Owner& o) {
    T value = read_value<T>(r, v, dotted, subject(o, dotted, name));
    if (presence == Presence::Optional && rule.ok != nullptr && !rule.ok(value)) {
      r.fail(subject(o, dotted, name) + " " + message(value));
    }
    at(o) = std::move(value);
  };
  k.problem = [=](const Owner& o) -> std::string {
    const T& value = at(o);
    if (rule.ok == nullptr || rule.ok(value)) return {};
    if (presence == Presence::Optional && value == fallback) return {};
    return message(value);
  };
  k.json = [at](const Owner& o) { return json_value(at(o)); };
  k.toml = [at](const Owner& o) { return toml_text(at(o)); };
  const auto at_default = k.at_default;
  k.written = [presence, at_default](const Owner& o) {
    return presence == Presence::Required || presence == Presence::Defaulted || !at_default(o);
  };
  return k;
}

constexpr Presence kRequired = Presence::Required;
constexpr Presence kDefaulted = Presence::Defaulted;
constexpr Presence kOmitDefault = Presence::OmitDefault;
constexpr Presence kOptional = Presence::Optional;

/// A seed is drawn from the TOML integers (signed 64-bit).
const Rule<std::uint64_t> kSeedRule{
    [](const std::uint64_t& v) { return v <= static_cast<std::uint64_t>(kInt64Max); },
    "must be <= 9223372036854775807 (TOML integers are signed 64-bit)"};

const Rule<std::string> kNotEmpty{[](const std::string& v) { return !v.empty(); }, "must not be empty"};

/// A [section] of the config, or the [[metadata]] array of tables.
struct Section {
  std::string name;
  std::vector<Key<Config>> keys;
  /// to_toml writes the section only when one of these keys is off its default; none: always.
  std::vector<std::string> written_when = {};
  bool entries = false;  ///< [[metadata]]: one MetadataSpec per entry, keys in metadata_keys()
};

/// `k`, written by to_toml when `written` says so.
template <class Owner>
Key<Owner> written_if(Key<Owner> k, bool (*written)(const Owner&)) {
  k.written = written;
  return k;
}

/// probe.max_iter's hard limit: Newton's method on these convex problems
/// converges in tens of iterations; more only repeats iterations that
/// cannot meet an unreachable tolerance, and a round (the unit a stop
/// request waits for) must stay short.
constexpr int kMaxIterations = 100000;

/// The keys of a [[metadata]] entry.
const std::vector<Key<MetadataSpec>>& metadata_keys() {
  using M = MetadataSpec;
  static const std::vector<Key<M>> table = {
      key<M>("name", [](auto& m) -> auto& { return m.name; }, kRequired, kNotEmpty),
      key<M>("bins", [](auto& m) -> auto& { return m.bins; }, kOmitDefault,
             {[](const int& v) { return v == 0 || (v >= 2 && v <= engine::kMaxClasses); },
              "must be >= 2 and <= 65536"}),
      // Binned labels spell out their binning, even the default one.
      written_if(key<M>("binning", [](auto& m) -> auto& { return m.binning; }, kOmitDefault),
                 +[](const M& m) { return m.bins != 0 || m.binning != core::BinMethod::EqualWidth; }),
      key<M>("classes", [](auto& m) -> auto& { return m.classes; }, kOmitDefault,
             {[](const int& v) { return v == 0 || (v >= 2 && v <= engine::kMaxClasses); },
              "must be 0 (from the labels) or in [2, 65536]"}),
  };
  return table;
}

/// Every key of the config, section by section, in the order of the file.
const std::vector<Section>& sections() {
  using C = Config;
  static const std::vector<Section> table = {
      {"input",
       {
           key<C>("embeddings", [](auto& c) -> auto& { return c.input.embeddings; }, kRequired,
                  {kNotEmpty.ok, "must not be empty (the model file)"}),
           key<C>("labels", [](auto& c) -> auto& { return c.input.labels; }, kOptional),
       }},
      {"primary",
       {
           key<C>("task", [](auto& c) -> auto& { return c.primary.task; }, kRequired, kNotEmpty),
           key<C>("source", [](auto& c) -> auto& { return c.primary.source; }, kDefaulted),
       }},
      {"metadata", {}, {}, true},
      {"pca",
       {
           key<C>("variance", [](auto& c) -> auto& { return c.analysis.pca.variance; }, kDefaulted,
                  {[](const double& v) { return v > 0.0 && v <= 1.0; }, "must be in (0, 1]"}),
           key<C>("min_components", [](auto& c) -> auto& { return c.analysis.pca.min_components; }, kDefaulted,
                  {[](const int& v) { return v >= 1; }, "must be >= 1"}),
           key<C>("components", [](auto& c) -> auto& { return c.analysis.pca.components; }, kOptional,
                  {[](const int& v) { return v >= 0; }, "must be >= 0 (0: no projection)"}),
           key<C>("sensitivity", [](auto& c) -> auto& { return c.analysis.sensitivity; }, kOptional,
                  {[](const std::vector<int>& v) { return engine::sensitivity_problem(v).empty(); },
                   "must list distinct k >= 1, and at most one 0 or \"none\" (no projection), at most 64 of them"}),
       }},
      {"probe",
       {
           key<C>("l2", [](auto& c) -> auto& { return c.analysis.probe.l2; }, kDefaulted,
                  {[](const double& v) { return v > 0.0 && std::isfinite(v); },
                   "must be > 0 and finite (the solver needs a strictly convex objective)"}),
           key<C>("tol", [](auto& c) -> auto& { return c.analysis.probe.solver.tol; }, kDefaulted,
                  {[](const double& v) { return v > 0.0 && std::isfinite(v); }, "must be > 0 and finite"}),
           key<C>("max_iter", [](auto& c) -> auto& { return c.analysis.probe.solver.max_iter; }, kDefaulted,
                  {[](const int& v) { return v >= 1 && v <= kMaxIterations; }, "must be in [1, 100000]"}),
       }},
      {"cv",
       {
           key<C>("folds", [](auto& c) -> auto& { return c.analysis.cv.folds; }, kDefaulted,
                  {[](const int& v) { return v >= 2; }, "must be >= 2"}),
           key<C>("groups", [](auto& c) -> auto& { return c.cv.groups; }, kOptional),
           key<C>("seed", [](auto& c) -> auto& { return c.analysis.cv.seed; }, kDefaulted, kSeedRule),
       }},
      {"permutation",
       {
           key<C>("count", [](auto& c) -> auto& { return c.analysis.permutation.count; }, kDefaulted,
                  {[](const std::int64_t& v) { return v >= 0 && v <= engine::kMaxResamples; },
                   "must be >= 0 and <= 2^40"}),
           key<C>("seed", [](auto& c) -> auto& { return c.analysis.permutation.seed; }, kDefaulted, kSeedRule),
           key<C>("scheme", [](auto& c) -> auto& { return c.analysis.permutation.scheme; }, kDefaulted),
           key<C>("stop", [](auto& c) -> auto& { return c.analysis.permutation.stop; }, kDefaulted),
           key<C>("risk", [](auto& c) -> auto& { return c.analysis.permutation.risk; }, kDefaulted,
                  {[](const double& v) { return v > 0.0 && v < 0.5; }, "must be in (0, 0.5)"}),
           key<C>("decisions", [](auto& c) -> auto& { return c.analysis.permutation.decisions; }, kDefaulted,
                  {[](const std::vector<std::string>& v) { return engine::decisions_problem(v).empty(); },
                   "must list one or more of \"p_fwer\", \"q_fdr\", \"p_perm\", each once"}),
           key<C>("look", [](auto& c) -> auto& { return c.analysis.permutation.look; }, kDefaulted,
                  {[](const std::int64_t& v) { return v >= 0 && v <= engine::kMaxResamples; },
                   "must be >= 0 (0: automatic) and <= 2^40"}),
           key<C>("strata", [](auto& c) -> auto& { return c.permutation.strata; }, kOptional),
           key<C>("blocks", [](auto& c) -> auto& { return c.permutation.blocks; }, kOptional),
           key<C>("tree", [](auto& c) -> auto& { return c.permutation.tree; }, kOptional),
       }},
      {"encodability",
       {
           key<C>("permutations", [](auto& c) -> auto& { return c.analysis.encodability.permutations; },
                  kDefaulted, {[](const std::int64_t& v) { return v >= 0 && v <= engine::kMaxResamples; },
                               "must be >= 0 (0: no test) and <= 2^40"}),
           key<C>("alpha", [](auto& c) -> auto& { return c.analysis.encodability.alpha; }, kDefaulted,
                  {[](const double& v) { return v > 0.0 && v < 1.0; }, "must be in (0, 1)"}),
       }},
      {"bootstrap",
       {
           key<C>("count", [](auto& c) -> auto& { return c.analysis.bootstrap.count; }, kDefaulted,
                  {[](const std::int64_t& v) { return v >= 0 && v <= engine::kMaxResamples; },
                   "must be >= 0 (0: none) and <= 2^40"}),
           key<C>("seed", [](auto& c) -> auto& { return c.analysis.bootstrap.seed; }, kDefaulted, kSeedRule),
           key<C>("level", [](auto& c) -> auto& { return c.analysis.bootstrap.level; }, kDefaulted,
                  {[](const double& v) { return v > 0.0 && v < 1.0; }, "must be in (0, 1)"}),
       },
       {"count"}},
      {"parallel",
       {
           key<C>("groups", [](auto& c) -> auto& { return c.parallel.groups; }, kDefaulted,
                  {[](const int& v) { return v >= 0; }, "must be >= 0 (0: automatic)"}),
           key<C>("batch", [](auto& c) -> auto& { return c.analysis.batch; }, kDefaulted,
                  {[](const std::int64_t& v) { return v >= 1 && v <= 4096; }, "must be in [1, 4096]"}),
       },
       {"groups", "batch"}},
      {"checkpoint",
       {
           key<C>("interval", [](auto& c) -> auto& { return c.checkpoint.interval; }, kDefaulted,
                  {[](const double& v) { return v >= 0.0 && std::isfinite(v); },
                   "must be >= 0 seconds (0: only when stopped)"}),
           key<C>("path", [](auto& c) -> auto& { return c.checkpoint.path; }, kOptional),
       },
       {"interval", "path"}},
      {"output",
       {
           key<C>("dir", [](auto& c) -> auto& { return c.output.dir; }, kDefaulted, kNotEmpty),
       }},
  };
  return table;
}

template <class Owner>
std::vector<std::string> names_of(const std::vector<Key<Owner>>& keys) {
  std::vector<std::string> names;
  for (const Key<Owner>& k : keys) names.push_back(k.name);
  return names;
}

bool section_written(const Section& section, const Config& config) {
  if (section.written_when.empty()) return true;
  return std::any_of(section.keys.begin(), section.keys.end(), [&](const Key<Config>& k) {
    const auto& when = section.written_when;
    return std::find(when.begin(), when.end(), k.name) != when.end() && !k.at_default(config);
  });
}

// ---------------------------------------------------------------------------
// Reading through the table
// ---------------------------------------------------------------------------

/// The keys of `table` (nullptr: an absent section) into `owner`, refusing unknown ones.
template <class Owner>
void read_keys(const Reader& r, const toml::table* table, const std::string& prefix,
               const std::vector<Key<Owner>>& keys, Owner& owner) {
  if (table != nullptr) r.check_keys(*table, prefix, names_of(keys));
  for (const Key<Owner>& k : keys) {
    const std::string dotted = join_key(prefix, k.name);
    const toml::value* given = nullptr;
    if (table != nullptr) {
      if (const auto it = table->find(k.name); it != table->end()) given = &it->second;
    }
    if (given != nullptr) {
      k.read(r, *given, dotted, owner);
    } else if (k.required) {
      r.fail("missing required key '" + dotted + "'");
    }
  }
}

void read_metadata(const Reader& r, const toml::table& root, Config& config) {
  const auto meta = root.find("metadata");
  if (meta == root.end()) r.fail("at least one [[metadata]] entry (with a name) is required");
  if (!meta->second.is_array()) {
    r.fail("'metadata' must be an array of tables ([[metadata]]), got " + type_name(meta->second));
  }
  const auto& entries = meta->second.as_array();
  if (entries.empty()) r.fail("at least one [[metadata]] entry (with a name) is required");
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string prefix = "metadata." + std::to_string(i);
    if (!entries[i].is_table()) {
      r.fail("'metadata' must be an array of tables ([[metadata]]); '" + prefix + "' is a " +
             type_name(entries[i]));
    }
    const toml::table& entry = entries[i].as_table();
    MetadataSpec spec;
    read_keys(r, &entry, prefix, metadata_keys(), spec);
    // Given at all (even "equal"), binning needs bins.
    if (entry.count("binning") != 0 && spec.bins == 0) {
      r.fail("metadata '" + spec.name + "': binning given without bins (it applies to binned continuous labels)");
    }
    config.metadata.push_back(spec);
  }
}

Config read_config(const Reader& r, const toml::value& document) {
  if (!document.is_table()) r.fail("the document is not a table");
  const toml::table& root = document.as_table();
  std::vector<std::string> names;
  for (const Section& s : sections()) names.push_back(s.name);
  r.check_keys(root, "", names);

  Config config;
  for (const Section& s : sections()) {
    if (s.entries) {
      read_metadata(r, root, config);
    } else {
      read_keys(r, r.section(root, "", s.name), s.name, s.keys, config);
    }
  }
  return config;
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty()) return path;
  const fs::path p(path);
  if (p.is_absolute()) return path;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

}  // namespace

const char* to_string(PrimarySource source) {
  switch (source) {
    case PrimarySource::File: return "file";
    case PrimarySource::Probe: return "probe";
  }
  return "file";
}

std::optional<PrimarySource> primary_source_from(const std::string& name) {
  return choice_from<PrimarySource>(name);
}

const char* to_string(core::BinMethod method) {
  switch (method) {
    case core::BinMethod::EqualWidth: return "equal";
    case core::BinMethod::Quantile: return "quantile";
  }
  return "equal";
}

std::optional<core::BinMethod> bin_method_from(const std::string& name) {
  return choice_from<core::BinMethod>(name);
}

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

int toml_nesting_overflow_line(const std::string& text) {
  int depth = 0;
  int dots = 0;          // of the key being read
  bool in_key = true;    // reading a key (line start, table header, inline table)
  std::string open;      // the open brackets, innermost last (at most kMaxTomlNesting)
  int line = 1;
  const std::size_t n = text.size();
  std::size_t i = 0;
  const auto starts = [&](std::size_t at, const char* what) { return text.compare(at, 3, what) == 0; };
  while (i < n) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      ++i;
    } else if (c == '#') {
      while (i < n && text[i] != '\n') ++i;
    } else if (c == '"' || c == '\'') {
      const bool basic = c == '"';
      const bool multi = starts(i, basic ? "\"\"\"" : "'''");
      i += multi ? 3 : 1;
      while (i < n) {
        if (basic && text[i] == '\\') {
          if (i + 1 < n && text[i + 1] == '\n') ++line;
          i += 2;
          continue;
        }
        if (text[i] == '\n') {
          if (!multi) break;  // an unterminated one-line string: the parser reports it
          ++line;
        }
        if (text[i] == c && (!multi || starts(i, basic ? "\"\"\"" : "'''"))) {
          i += multi ? 3 : 1;
          // A multi-line string may end with up to two more quotes.
          while (multi && i < n && text[i] == c) ++i;
          break;
        }
        ++i;
      }
    } else {
      if (c == '[' || c == '{') {
        if (++depth + dots > kMaxTomlNesting) return line;
        open.push_back(c);
        // A table header's key, an inline table's first key; an array holds values.
        in_key = c == '{' || (in_key && (open.size() == 1 || open == "[["));
        if (c == '{') dots = 0;
      } else if ((c == ']' || c == '}') && depth > 0) {
        --depth;
        open.pop_back();
        if (c == '}') in_key = false;
        if (open.empty()) dots = 0;
      } else if (c == '=' && in_key) {
        in_key = false;
      } else if (c == ',' && !open.empty() && open.back() == '{') {
        in_key = true;
        dots = 0;
      } else if (c == '.' && in_key) {
        // Each dot of a key opens one more table.
        if (depth + ++dots > kMaxTomlNesting) return line;
      }
      ++i;
      continue;
    }
    // After a newline, comment or string: a new key starts on a new line outside any bracket.
    if (c == '\n' && open.empty()) {
      in_key = true;
      dots = 0;
    }
  }
  return 0;
}

Config parse_config(const std::string& toml_text, const std::string& origin, const std::string& base_dir,
                    const std::vector<std::string>& overrides) {
  if (const int line = toml_nesting_overflow_line(toml_text); line != 0) {
    throw ConfigError(nesting_message(display_origin(origin), line));
  }
  toml::value document;
  try {
    std::istringstream stream(toml_text);
    document = toml::parse(stream, display_origin(origin));
  } catch (const toml::syntax_error& e) {
    throw ConfigError(condense_syntax_error(e.what(), origin, e.location().line()));
  } catch (const toml::exception& e) {
    throw ConfigError(condense_syntax_error(e.what(), origin, e.location().line()));
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    throw ConfigError(display_origin(origin) + ": cannot parse TOML: " + what);
  }

  RawOverrides raw;
  for (const auto& spec : overrides) apply_override(document, spec, origin, raw);

  Config config = read_config(Reader(origin, raw), document);
  config.input.embeddings = resolve_path(base_dir, config.input.embeddings);
  config.input.labels = resolve_path(base_dir, config.input.labels);
  config.output.dir = resolve_path(base_dir, config.output.dir);
  config.checkpoint.path = resolve_path(base_dir, config.checkpoint.path);
  config.config_path = origin;
  validate(config);
  return config;
}

Config load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::error_code ec;
  const fs::path file(path);
  if (!fs::exists(file, ec)) throw ConfigError("cannot read config '" + path + "': no such file");
  if (fs::is_directory(file, ec)) throw ConfigError("cannot read config '" + path + "': it is a directory");
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw ConfigError("cannot read config '" + path + "': " + (err != 0 ? std::strerror(err) : "cannot open"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read config '" + path + "': read error");
  return parse_config(text.str(), path, file.parent_path().string(), overrides);
}

void validate(const Config& config) {
  const std::string origin = display_origin(config.config_path);
  const auto fail = [&](const std::string& what) { throw ConfigError(origin + ": " + what); };
  const auto quoted = [](const std::string& s) { return "'" + s + "'"; };

  // Each key on its own, in the table's order.
  for (const Section& s : sections()) {
    for (const Key<Config>& k : s.keys) {
      const std::string problem = k.problem(config);
      if (!problem.empty()) fail("'" + join_key(s.name, k.name) + "' " + problem);
    }
  }

  // [[metadata]]: each entry's keys, then the entries against each other and the primary task.
  if (config.metadata.empty()) fail("at least one [[metadata]] entry (with a name) is required");
  std::set<std::string> names;
  for (std::size_t i = 0; i < config.metadata.size(); ++i) {
    const MetadataSpec& spec = config.metadata[i];
    for (const Key<MetadataSpec>& k : metadata_keys()) {
      const std::string problem = k.problem(spec);
      if (!problem.empty()) {
        fail(subject(spec, "metadata." + std::to_string(i) + "." + k.name, k.name) + " " + problem);
      }
    }
    const std::string who = "metadata " + quoted(spec.name) + ": ";
    if (!names.insert(spec.name).second) fail("metadata " + quoted(spec.name) + " is given twice (duplicate name)");
    if (spec.name == config.primary.task) fail("metadata " + quoted(spec.name) + " is the primary task");
    if (spec.bins == 0 && spec.binning != core::BinMethod::EqualWidth) {
      fail(who + "binning given without bins (it applies to binned continuous labels)");
    }
    if (spec.bins != 0 && spec.classes != 0 && spec.classes != spec.bins) {
      fail(who + "classes (" + std::to_string(spec.classes) + ") contradicts bins (" + std::to_string(spec.bins) +
           "): binned labels have one class per bin");
    }
  }

  // The permutation scheme and the names it needs.
  const engine::PermutationScheme scheme = config.analysis.permutation.scheme;
  const std::string scheme_name = to_string(scheme);
  const auto& perm = config.permutation;
  if (scheme == engine::PermutationScheme::Within && perm.strata.empty()) {
    fail("'permutation.scheme' = \"within\" requires 'permutation.strata' (a labels name)");
  }
  if (scheme == engine::PermutationScheme::Blocks && perm.blocks.empty()) {
    fail("'permutation.scheme' = \"blocks\" requires 'permutation.blocks' (a groups name)");
  }
  if (scheme == engine::PermutationScheme::Tree && perm.tree.empty()) {
    fail("'permutation.scheme' = \"tree\" requires 'permutation.tree' (a groups name of an N x L dataset)");
  }
  if (scheme != engine::PermutationScheme::Within && !perm.strata.empty()) {
    fail("'permutation.strata' is only used with scheme \"within\" (scheme is \"" + scheme_name + "\")");
  }
  if (scheme != engine::PermutationScheme::Blocks && !perm.blocks.empty()) {
    fail("'permutation.blocks' is only used with scheme \"blocks\" (scheme is \"" + scheme_name + "\")");
  }
  if (scheme != engine::PermutationScheme::Tree && !perm.tree.empty()) {
    fail("'permutation.tree' is only used with scheme \"tree\" (scheme is \"" + scheme_name + "\")");
  }
}

nlohmann::json parse_json(const std::string& text, const std::string& where) {
  // The callback sees each value's depth before the parser descends into it.
  const nlohmann::json::parser_callback_t bounded = [&where](int depth, nlohmann::json::parse_event_t event,
                                                             nlohmann::json&) {
    const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                       event == nlohmann::json::parse_event_t::array_start;
    if (opens && depth >= kMaxJsonNesting) {
      throw std::invalid_argument(where + ": JSON nested deeper than " + std::to_string(kMaxJsonNesting) +
                                  " levels");
    }
    return true;
  };
  return nlohmann::json::parse(text, bounded);
}

nlohmann::json to_json(const Config& config) {
  nlohmann::json j = {{"config_path", config.config_path}};
  for (const Section& s : sections()) {
    if (s.entries) {
      nlohmann::json entries = nlohmann::json::array();
      for (const MetadataSpec& spec : config.metadata) {
        nlohmann::json entry = nlohmann::json::object();
        for (const Key<MetadataSpec>& k : metadata_keys()) entry[k.name] = k.json(spec);
        entries.push_back(entry);
      }
      j[s.name] = entries;
      continue;
    }
    nlohmann::json section = nlohmann::json::object();
    for (const Key<Config>& k : s.keys) section[k.name] = k.json(config);
    j[s.name] = section;
  }
  return j;
}

std::string to_toml(const Config& config) {
  std::ostringstream out;
  bool first = true;
  const auto header = [&](const std::string& text) {
    out << (first ? "" : "\n") << text << '\n';
    first = false;
  };
  const auto keys = [&](const auto& table, const auto& owner) {
    for (const auto& k : table) {
      if (k.written(owner)) out << k.name << " = " << k.toml(owner) << '\n';
    }
  };
  for (const Section& s : sections()) {
    if (s.entries) {
      for (const MetadataSpec& spec : config.metadata) {
        header("[[" + s.name + "]]");
        keys(metadata_keys(), spec);
      }
    } else if (section_written(s, config)) {
      header("[" + s.name + "]");
      keys(s.keys, config);
    }
  }
  return out.str();
}

std::vector<std::string> config_keys() {
  std::vector<std::string> dotted;
  for (const Section& s : sections()) {
    if (s.entries) {
      for (const Key<MetadataSpec>& k : metadata_keys()) dotted.push_back(s.name + "." + k.name);
    }
    for (const Key<Config>& k : s.keys) dotted.push_back(s.name + "." + k.name);
  }
  return dotted;
}

}  // namespace wsc::app
