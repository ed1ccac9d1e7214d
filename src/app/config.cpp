// The analysis configuration: TOML (toml11) -> strict extraction -> Config,
// with "key=value" overrides applied to the parsed tree before extraction.
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
#include <initializer_list>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

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

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
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
// Strict extraction
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
         join_key(prefix, unknown.front()) + "' (known: " + join_list(known) + ")");
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

  std::optional<std::string> get_string(const toml::table& table, const std::string& prefix, const std::string& key,
                                        bool allow_empty) const {
    const auto it = table.find(key);
    if (it == table.end()) return std::nullopt;
    const std::string name = join_key(prefix, key);
    std::string result;
    if (it->second.is_string()) {
      result = it->second.as_string().str;
    } else if (const auto r = raw_.find(name); r != raw_.end()) {
      result = r->second;  // an override whose text happened to parse as another TOML type
    } else {
      fail("'" + name + "' must be a string, got " + type_name(it->second));
    }
    if (!allow_empty && result.empty()) fail("'" + name + "' must not be empty");
    return result;
  }

  std::optional<double> get_double(const toml::table& table, const std::string& prefix, const std::string& key) const {
    const auto it = table.find(key);
    if (it == table.end()) return std::nullopt;
    if (it->second.is_floating()) return it->second.as_floating();
    if (it->second.is_integer()) return static_cast<double>(it->second.as_integer());
    fail("'" + join_key(prefix, key) + "' must be a number, got " + type_name(it->second));
  }

  std::optional<std::int64_t> get_integer(const toml::table& table, const std::string& prefix, const std::string& key,
                                          std::int64_t lo, std::int64_t hi) const {
    const auto it = table.find(key);
    if (it == table.end()) return std::nullopt;
    const std::string name = join_key(prefix, key);
    if (!it->second.is_integer()) fail("'" + name + "' must be an integer, got " + type_name(it->second));
    const std::int64_t value = it->second.as_integer();
    if (value < lo || value > hi) {
      fail("'" + name + "' must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
           std::to_string(value));
    }
    return value;
  }

  std::optional<int> get_int(const toml::table& table, const std::string& prefix, const std::string& key) const {
    const auto value = get_integer(table, prefix, key, kIntMin, kIntMax);
    if (!value) return std::nullopt;
    return static_cast<int>(*value);
  }

  std::optional<std::uint64_t> get_seed(const toml::table& table, const std::string& prefix,
                                        const std::string& key) const {
    const auto value = get_integer(table, prefix, key, 0, kInt64Max);
    if (!value) return std::nullopt;
    return static_cast<std::uint64_t>(*value);
  }

  Config read(const toml::value& document) const {
    if (!document.is_table()) fail("the document is not a table");
    const toml::table& root = document.as_table();
    check_keys(root, "", {"input", "primary", "metadata", "pca", "probe", "cv", "permutation", "encodability",
                          "bootstrap", "parallel", "checkpoint", "output"});

    Config config;
    // [input]
    const toml::table* input = section(root, "", "input");
    if (input) {
      check_keys(*input, "input", {"embeddings", "labels"});
      if (auto v = get_string(*input, "input", "embeddings", false)) config.input.embeddings = *v;
      if (auto v = get_string(*input, "input", "labels", false)) config.input.labels = *v;
    }
    if (!input || input->count("embeddings") == 0) fail("missing required key 'input.embeddings'");

    // [primary]
    const toml::table* primary = section(root, "", "primary");
    if (primary) {
      check_keys(*primary, "primary", {"task", "source"});
      if (auto v = get_string(*primary, "primary", "task", false)) config.primary.task = *v;
      if (auto v = get_string(*primary, "primary", "source", true)) config.primary.source = *v;
    }
    if (!primary || primary->count("task") == 0) fail("missing required key 'primary.task'");

    // [[metadata]]
    const auto meta = root.find("metadata");
    if (meta == root.end()) fail("at least one [[metadata]] entry (with a name) is required");
    if (!meta->second.is_array()) {
      fail("'metadata' must be an array of tables ([[metadata]]), got " + type_name(meta->second));
    }
    const auto& entries = meta->second.as_array();
    if (entries.empty()) fail("at least one [[metadata]] entry (with a name) is required");
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::string prefix = "metadata." + std::to_string(i);
      if (!entries[i].is_table()) {
        fail("'metadata' must be an array of tables ([[metadata]]); '" + prefix + "' is a " +
             type_name(entries[i]));
      }
      const toml::table& entry = entries[i].as_table();
      check_keys(entry, prefix, {"name", "bins", "binning", "classes"});
      MetadataSpec spec;
      if (auto v = get_string(entry, prefix, "name", false)) {
        spec.name = *v;
      } else {
        fail("missing required key '" + prefix + ".name'");
      }
      if (auto v = get_int(entry, prefix, "bins")) spec.bins = *v;
      if (auto v = get_string(entry, prefix, "binning", true)) {
        if (spec.bins == 0) {
          fail("metadata '" + spec.name + "': binning given without bins (it applies to binned continuous labels)");
        }
        spec.binning = *v;
      }
      if (auto v = get_int(entry, prefix, "classes")) spec.classes = *v;
      config.metadata.push_back(spec);
    }

    // [pca]
    if (const toml::table* pca = section(root, "", "pca")) {
      check_keys(*pca, "pca", {"variance", "min_components", "components"});
      if (auto v = get_double(*pca, "pca", "variance")) config.pca.variance = *v;
      if (auto v = get_int(*pca, "pca", "min_components")) config.pca.min_components = *v;
      if (auto v = get_int(*pca, "pca", "components")) {
        if (*v < 0) fail("'pca.components' must be >= 0 (0: no projection), got " + std::to_string(*v));
        config.pca.components = *v;
      }
    }

    // [probe]
    if (const toml::table* probe = section(root, "", "probe")) {
      check_keys(*probe, "probe", {"l2", "tol", "max_iter"});
      if (auto v = get_double(*probe, "probe", "l2")) config.probe.l2 = *v;
      if (auto v = get_double(*probe, "probe", "tol")) config.probe.tol = *v;
      if (auto v = get_int(*probe, "probe", "max_iter")) config.probe.max_iter = *v;
    }

    // [cv]
    if (const toml::table* cv = section(root, "", "cv")) {
      check_keys(*cv, "cv", {"folds", "groups", "seed"});
      if (auto v = get_int(*cv, "cv", "folds")) config.cv.folds = *v;
      if (auto v = get_string(*cv, "cv", "groups", false)) config.cv.groups = *v;
      if (auto v = get_seed(*cv, "cv", "seed")) config.cv.seed = *v;
    }

    // [permutation]
    if (const toml::table* perm = section(root, "", "permutation")) {
      check_keys(*perm, "permutation", {"count", "seed", "scheme", "strata", "blocks"});
      if (auto v = get_integer(*perm, "permutation", "count", std::numeric_limits<std::int64_t>::min(), kInt64Max)) {
        config.permutation.count = *v;
      }
      if (auto v = get_seed(*perm, "permutation", "seed")) config.permutation.seed = *v;
      if (auto v = get_string(*perm, "permutation", "scheme", true)) config.permutation.scheme = *v;
      if (auto v = get_string(*perm, "permutation", "strata", false)) config.permutation.strata = *v;
      if (auto v = get_string(*perm, "permutation", "blocks", false)) config.permutation.blocks = *v;
    }

    // [output]
    // [encodability]
    if (const toml::table* enc = section(root, "", "encodability")) {
      check_keys(*enc, "encodability", {"permutations", "alpha"});
      if (auto v = get_integer(*enc, "encodability", "permutations", std::numeric_limits<std::int64_t>::min(), kInt64Max)) {
        config.encodability.permutations = *v;
      }
      if (auto v = get_double(*enc, "encodability", "alpha")) config.encodability.alpha = *v;
    }

    // [bootstrap]
    if (const toml::table* boot = section(root, "", "bootstrap")) {
      check_keys(*boot, "bootstrap", {"count", "seed", "level"});
      if (auto v = get_integer(*boot, "bootstrap", "count", std::numeric_limits<std::int64_t>::min(), kInt64Max)) {
        config.bootstrap.count = *v;
      }
      if (auto v = get_seed(*boot, "bootstrap", "seed")) config.bootstrap.seed = *v;
      if (auto v = get_double(*boot, "bootstrap", "level")) config.bootstrap.level = *v;
    }

    // [checkpoint]
    if (const toml::table* ck = section(root, "", "checkpoint")) {
      check_keys(*ck, "checkpoint", {"interval", "path"});
      if (auto v = get_double(*ck, "checkpoint", "interval")) config.checkpoint.interval = *v;
      if (auto v = get_string(*ck, "checkpoint", "path", false)) config.checkpoint.path = *v;
    }

    // [parallel]
    if (const toml::table* par = section(root, "", "parallel")) {
      check_keys(*par, "parallel", {"groups", "batch"});
      if (auto v = get_int(*par, "parallel", "groups")) config.parallel.groups = *v;
      if (auto v = get_integer(*par, "parallel", "batch", std::numeric_limits<std::int64_t>::min(), kInt64Max)) {
        config.parallel.batch = *v;
      }
    }

    if (const toml::table* output = section(root, "", "output")) {
      check_keys(*output, "output", {"dir"});
      if (auto v = get_string(*output, "output", "dir", false)) config.output.dir = *v;
    }
    return config;
  }

 private:
  std::string origin_;
  const RawOverrides& raw_;
};

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty()) return path;
  const fs::path p(path);
  if (p.is_absolute()) return path;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

}  // namespace

// ---------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------

Config parse_config(const std::string& toml_text, const std::string& origin, const std::string& base_dir,
                    const std::vector<std::string>& overrides) {
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

  Config config = Reader(origin, raw).read(document);
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

  if (config.input.embeddings.empty()) fail("'input.embeddings' must not be empty (the model file)");

  if (config.primary.task.empty()) fail("'primary.task' must not be empty");
  if (config.primary.source != "file" && config.primary.source != "probe") {
    fail("'primary.source' must be \"file\" or \"probe\", got " + quoted(config.primary.source));
  }

  if (config.metadata.empty()) fail("at least one [[metadata]] entry (with a name) is required");
  std::set<std::string> names;
  for (std::size_t i = 0; i < config.metadata.size(); ++i) {
    const MetadataSpec& spec = config.metadata[i];
    if (spec.name.empty()) fail("'metadata." + std::to_string(i) + ".name' must not be empty");
    const std::string who = "metadata " + quoted(spec.name) + ": ";
    if (!names.insert(spec.name).second) fail("metadata " + quoted(spec.name) + " is given twice (duplicate name)");
    if (spec.name == config.primary.task) fail("metadata " + quoted(spec.name) + " is the primary task");
    if (spec.bins != 0 && spec.bins < 2) fail(who + "bins must be >= 2, got " + std::to_string(spec.bins));
    if (spec.binning != "equal" && spec.binning != "quantile") {
      fail(who + "binning must be \"equal\" or \"quantile\", got " + quoted(spec.binning));
    }
    if (spec.bins == 0 && spec.binning != "equal") {
      fail(who + "binning given without bins (it applies to binned continuous labels)");
    }
    if (spec.classes != 0 && spec.classes < 2) {
      fail(who + "classes must be 0 (from the labels) or >= 2, got " + std::to_string(spec.classes));
    }
    if (spec.bins != 0 && spec.classes != 0 && spec.classes != spec.bins) {
      fail(who + "classes (" + std::to_string(spec.classes) + ") contradicts bins (" + std::to_string(spec.bins) +
           "): binned labels have one class per bin");
    }
  }

  if (!(config.pca.variance > 0.0 && config.pca.variance <= 1.0)) {
    fail("'pca.variance' must be in (0, 1], got " + format_number(config.pca.variance));
  }
  if (config.pca.min_components < 1) {
    fail("'pca.min_components' must be >= 1, got " + std::to_string(config.pca.min_components));
  }
  if (config.pca.components < -1) {
    fail("'pca.components' must be >= 0 (0: no projection), got " + std::to_string(config.pca.components));
  }

  if (!(config.probe.l2 > 0.0) || !std::isfinite(config.probe.l2)) {
    fail("'probe.l2' must be > 0 and finite (the solver needs a strictly convex objective), got " +
         format_number(config.probe.l2));
  }
  if (!(config.probe.tol > 0.0) || !std::isfinite(config.probe.tol)) {
    fail("'probe.tol' must be > 0 and finite, got " + format_number(config.probe.tol));
  }
  if (config.probe.max_iter < 1) fail("'probe.max_iter' must be >= 1, got " + std::to_string(config.probe.max_iter));

  if (config.cv.folds < 2) fail("'cv.folds' must be >= 2, got " + std::to_string(config.cv.folds));
  const auto max_seed = static_cast<std::uint64_t>(kInt64Max);
  if (config.cv.seed > max_seed) {
    fail("'cv.seed' must be <= " + std::to_string(max_seed) + " (TOML integers are signed 64-bit), got " +
         std::to_string(config.cv.seed));
  }

  const auto& perm = config.permutation;
  if (perm.count < 0) fail("'permutation.count' must be >= 0, got " + std::to_string(perm.count));
  if (perm.seed > max_seed) {
    fail("'permutation.seed' must be <= " + std::to_string(max_seed) + " (TOML integers are signed 64-bit), got " +
         std::to_string(perm.seed));
  }
  if (perm.scheme != "free" && perm.scheme != "within" && perm.scheme != "blocks") {
    fail("'permutation.scheme' must be \"free\", \"within\" or \"blocks\", got " + quoted(perm.scheme));
  }
  if (perm.scheme == "within" && perm.strata.empty()) {
    fail("'permutation.scheme' = \"within\" requires 'permutation.strata' (a labels name)");
  }
  if (perm.scheme == "blocks" && perm.blocks.empty()) {
    fail("'permutation.scheme' = \"blocks\" requires 'permutation.blocks' (a groups name)");
  }
  if (perm.scheme != "within" && !perm.strata.empty()) {
    fail("'permutation.strata' is only used with scheme \"within\" (scheme is \"" + perm.scheme + "\")");
  }
  if (perm.scheme != "blocks" && !perm.blocks.empty()) {
    fail("'permutation.blocks' is only used with scheme \"blocks\" (scheme is \"" + perm.scheme + "\")");
  }

  const auto& enc = config.encodability;
  if (enc.permutations < 0) {
    fail("'encodability.permutations' must be >= 0 (0: no test), got " + std::to_string(enc.permutations));
  }
  if (!(enc.alpha > 0.0 && enc.alpha < 1.0)) {
    fail("'encodability.alpha' must be in (0, 1), got " + format_number(enc.alpha));
  }
  const auto& boot = config.bootstrap;
  if (boot.count < 0) fail("'bootstrap.count' must be >= 0 (0: none), got " + std::to_string(boot.count));
  if (boot.seed > max_seed) {
    fail("'bootstrap.seed' must be <= " + std::to_string(max_seed) + " (TOML integers are signed 64-bit), got " +
         std::to_string(boot.seed));
  }
  if (!(boot.level > 0.0 && boot.level < 1.0)) {
    fail("'bootstrap.level' must be in (0, 1), got " + format_number(boot.level));
  }
  if (config.parallel.groups < 0) {
    fail("'parallel.groups' must be >= 0 (0: automatic), got " + std::to_string(config.parallel.groups));
  }
  if (config.parallel.batch < 1 || config.parallel.batch > 4096) {
    fail("'parallel.batch' must be in [1, 4096], got " + std::to_string(config.parallel.batch));
  }

  if (!(config.checkpoint.interval >= 0.0) || !std::isfinite(config.checkpoint.interval)) {
    fail("'checkpoint.interval' must be >= 0 seconds (0: only when stopped), got " +
         format_number(config.checkpoint.interval));
  }

  if (config.output.dir.empty()) fail("'output.dir' must not be empty");
}

nlohmann::json to_json(const Config& config) {
  nlohmann::json metadata = nlohmann::json::array();
  for (const auto& spec : config.metadata) {
    metadata.push_back(
        {{"name", spec.name}, {"bins", spec.bins}, {"binning", spec.binning}, {"classes", spec.classes}});
  }
  return {
      {"config_path", config.config_path},
      {"input", {{"embeddings", config.input.embeddings}, {"labels", config.input.labels}}},
      {"primary", {{"task", config.primary.task}, {"source", config.primary.source}}},
      {"metadata", metadata},
      {"pca",
       {{"variance", config.pca.variance},
        {"min_components", config.pca.min_components},
        {"components", config.pca.components}}},
      {"probe", {{"l2", config.probe.l2}, {"tol", config.probe.tol}, {"max_iter", config.probe.max_iter}}},
      {"cv", {{"folds", config.cv.folds}, {"groups", config.cv.groups}, {"seed", config.cv.seed}}},
      {"permutation",
       {{"count", config.permutation.count},
        {"seed", config.permutation.seed},
        {"scheme", config.permutation.scheme},
        {"strata", config.permutation.strata},
        {"blocks", config.permutation.blocks}}},
      {"encodability",
       {{"permutations", config.encodability.permutations}, {"alpha", config.encodability.alpha}}},
      {"bootstrap",
       {{"count", config.bootstrap.count}, {"seed", config.bootstrap.seed}, {"level", config.bootstrap.level}}},
      {"parallel", {{"groups", config.parallel.groups}, {"batch", config.parallel.batch}}},
      {"checkpoint", {{"interval", config.checkpoint.interval}, {"path", config.checkpoint.path}}},
      {"output", {{"dir", config.output.dir}}},
  };
}

std::string to_toml(const Config& config) {
  std::ostringstream out;
  const auto str = [&](const char* key, const std::string& value) { out << key << " = " << quote_toml(value) << '\n'; };
  const auto num = [&](const char* key, double value) { out << key << " = " << format_double(value) << '\n'; };
  const auto integer = [&](const char* key, auto value) { out << key << " = " << value << '\n'; };

  out << "[input]\n";
  str("embeddings", config.input.embeddings);
  if (!config.input.labels.empty()) str("labels", config.input.labels);

  out << "\n[primary]\n";
  str("task", config.primary.task);
  str("source", config.primary.source);

  for (const auto& spec : config.metadata) {
    out << "\n[[metadata]]\n";
    str("name", spec.name);
    if (spec.bins != 0) integer("bins", spec.bins);
    if (spec.bins != 0 || spec.binning != "equal") str("binning", spec.binning);
    if (spec.classes != 0) integer("classes", spec.classes);
  }

  out << "\n[pca]\n";
  num("variance", config.pca.variance);
  integer("min_components", config.pca.min_components);
  if (config.pca.components != -1) integer("components", config.pca.components);

  out << "\n[probe]\n";
  num("l2", config.probe.l2);
  num("tol", config.probe.tol);
  integer("max_iter", config.probe.max_iter);

  out << "\n[cv]\n";
  integer("folds", config.cv.folds);
  if (!config.cv.groups.empty()) str("groups", config.cv.groups);
  integer("seed", config.cv.seed);

  out << "\n[permutation]\n";
  integer("count", config.permutation.count);
  integer("seed", config.permutation.seed);
  str("scheme", config.permutation.scheme);
  if (!config.permutation.strata.empty()) str("strata", config.permutation.strata);
  if (!config.permutation.blocks.empty()) str("blocks", config.permutation.blocks);

  out << "\n[encodability]\n";
  integer("permutations", config.encodability.permutations);
  num("alpha", config.encodability.alpha);

  if (config.bootstrap.count != 0) {
    out << "\n[bootstrap]\n";
    integer("count", config.bootstrap.count);
    integer("seed", config.bootstrap.seed);
    num("level", config.bootstrap.level);
  }

  if (config.parallel.groups != 0 || config.parallel.batch != 64) {
    out << "\n[parallel]\n";
    integer("groups", config.parallel.groups);
    integer("batch", config.parallel.batch);
  }

  if (config.checkpoint.interval != 600.0 || !config.checkpoint.path.empty()) {
    out << "\n[checkpoint]\n";
    num("interval", config.checkpoint.interval);
    if (!config.checkpoint.path.empty()) str("path", config.checkpoint.path);
  }

  out << "\n[output]\n";
  str("dir", config.output.dir);
  return out.str();
}

}  // namespace wsc::app
