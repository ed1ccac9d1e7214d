#include "wsc/core/exchangeability.hpp"

#include "keyed_words.hpp"

#include <cmath>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>

namespace wsc::core {

namespace {

using detail::bounded;
using detail::WordStream;

// Second counter word: separates these shuffles from make_permutation
// ("permute1"), keyed_uniform and keyed_normal, which share the key {seed, index}
// layout but use other tags.
constexpr std::uint64_t kWithinTag = 0x77697468696e3031ULL;  // "within01"
constexpr std::uint64_t kBlockTag = 0x626c6f636b733031ULL;   // "blocks01"
constexpr std::uint64_t kTreeTag = 0x6562747265653031ULL;   // "ebtree01"

/// Fisher-Yates from the end on `items`; step i draws from counter
/// {i, tag, k, stream}, so no step depends on how many words others used.
void keyed_shuffle(std::vector<std::int64_t>& items, std::uint64_t seed, std::uint64_t index,
                   std::uint64_t tag, std::uint64_t stream) {
  for (std::size_t i = items.size(); i-- > 1;) {
    WordStream words(seed, index, static_cast<std::uint64_t>(i), tag, stream);
    const auto j = static_cast<std::size_t>(bounded(words, static_cast<std::uint64_t>(i) + 1));
    std::swap(items[i], items[j]);
  }
}

}  // namespace

std::vector<std::int64_t> make_permutation_within(std::uint64_t seed, std::uint64_t index,
                                                  const std::vector<std::int64_t>& strata) {
  const std::size_t n = strata.size();
  std::vector<std::int64_t> perm(n);
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  // Members of each stratum in increasing row order; std::map makes the
  // processing (and the error for several singletons) follow stratum id.
  std::map<std::int64_t, std::vector<std::int64_t>> members;
  for (std::size_t i = 0; i < n; ++i) {
    if (strata[i] >= 0) members[strata[i]].push_back(static_cast<std::int64_t>(i));
  }
  for (auto& [stratum, rows] : members) {
    if (rows.size() == 1) {
      throw std::invalid_argument("make_permutation_within: stratum " + std::to_string(stratum) +
                                  " has a single member: it cannot be permuted");
    }
    std::vector<std::int64_t> taken = rows;
    keyed_shuffle(taken, seed, index, kWithinTag, static_cast<std::uint64_t>(stratum));
    for (std::size_t k = 0; k < rows.size(); ++k) {
      perm[static_cast<std::size_t>(rows[k])] = taken[k];
    }
  }
  return perm;
}

namespace {

/// The blocks of `blocks` in order of first appearance, each with its rows in
/// row order; throws for a negative id.
struct BlockRows {
  std::vector<std::int64_t> ids;
  std::vector<std::vector<std::int64_t>> rows;
};

BlockRows block_rows(const std::vector<std::int64_t>& blocks, bool check) {
  BlockRows out;
  std::unordered_map<std::int64_t, std::size_t> slot_of;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::int64_t id = blocks[i];
    if (check && id < 0) {
      throw std::invalid_argument("make_block_permutation: row " + std::to_string(i) +
                                  " has negative block id " + std::to_string(id));
    }
    const auto [it, inserted] = slot_of.emplace(id, out.ids.size());
    if (inserted) {
      out.ids.push_back(id);
      out.rows.emplace_back();
    }
    out.rows[it->second].push_back(static_cast<std::int64_t>(i));
  }
  return out;
}

/// The size classes: block slots of each size, classes in order of the first
/// appearance of their first block, slots in appearance order.
std::vector<std::vector<std::size_t>> size_classes(const BlockRows& b) {
  std::vector<std::vector<std::size_t>> classes;
  std::unordered_map<std::size_t, std::size_t> class_of;  // size -> class
  for (std::size_t k = 0; k < b.ids.size(); ++k) {
    const auto [it, inserted] = class_of.emplace(b.rows[k].size(), classes.size());
    if (inserted) classes.emplace_back();
    classes[it->second].push_back(k);
  }
  return classes;
}

}  // namespace

std::vector<std::int64_t> make_block_permutation(std::uint64_t seed, std::uint64_t index,
                                                 const std::vector<std::int64_t>& blocks) {
  const BlockRows b = block_rows(blocks, true);
  if (b.ids.size() < 2) {
    throw std::invalid_argument(
        "make_block_permutation: whole-block permutation needs at least two blocks, got " +
        std::to_string(b.ids.size()));
  }
  const std::vector<std::vector<std::size_t>> classes = size_classes(b);
  if (classes.size() == b.ids.size()) {
    throw std::invalid_argument("make_block_permutation: no two blocks have the same size (block " +
                                std::to_string(b.ids[0]) + " has " + std::to_string(b.rows[0].size()) +
                                " rows, block " + std::to_string(b.ids[1]) + " has " +
                                std::to_string(b.rows[1].size()) +
                                ", ...): every whole-block permutation is the identity");
  }
  std::vector<std::int64_t> perm(blocks.size());
  std::iota(perm.begin(), perm.end(), std::int64_t{0});
  for (std::size_t c = 0; c < classes.size(); ++c) {
    const std::vector<std::size_t>& slots = classes[c];
    if (slots.size() < 2) continue;
    // order[s] = the member (by position in the class) whose rows move into
    // the class's s-th block.
    std::vector<std::int64_t> order(slots.size());
    std::iota(order.begin(), order.end(), std::int64_t{0});
    keyed_shuffle(order, seed, index, kBlockTag, static_cast<std::uint64_t>(c));
    for (std::size_t s = 0; s < slots.size(); ++s) {
      const auto& target = b.rows[slots[s]];
      const auto& source = b.rows[slots[static_cast<std::size_t>(order[s])]];
      for (std::size_t t = 0; t < target.size(); ++t) {
        perm[static_cast<std::size_t>(target[t])] = source[t];
      }
    }
  }
  return perm;
}

BlockSizeClasses block_size_classes(const std::vector<std::int64_t>& blocks) {
  const BlockRows b = block_rows(blocks, false);
  BlockSizeClasses out;
  out.blocks = static_cast<std::int64_t>(b.ids.size());
  for (const std::vector<std::size_t>& slots : size_classes(b)) {
    if (slots.size() == 1) out.fixed += 1;
    out.log_permutations += std::lgamma(static_cast<double>(slots.size()) + 1.0);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Multi-level exchangeability trees

ExchangeTree::ExchangeTree(std::vector<std::int64_t> ids, std::int64_t rows, std::int64_t levels)
    : ids_(std::move(ids)), rows_(rows), levels_(levels) {
  if (rows_ < 1 || levels_ < 1) {
    throw std::invalid_argument("the tree needs at least one row and one column, got " + std::to_string(rows_) +
                                " x " + std::to_string(levels_));
  }
  if (static_cast<std::int64_t>(ids_.size()) / levels_ != rows_ ||
      static_cast<std::int64_t>(ids_.size()) % levels_ != 0) {
    throw std::invalid_argument("the tree has " + std::to_string(ids_.size()) + " ids, expected " +
                                std::to_string(rows_) + " x " + std::to_string(levels_));
  }
  const auto L = static_cast<std::size_t>(levels_);
  const auto at = [&](std::int64_t row, std::int64_t column) {
    return ids_[static_cast<std::size_t>(row) * L + static_cast<std::size_t>(column)];
  };
  for (std::int64_t i = 0; i < rows_; ++i) {
    for (std::int64_t c = 0; c < levels_; ++c) {
      if (at(i, c) == 0) {
        throw std::invalid_argument("row " + std::to_string(i) + ", column " + std::to_string(c) +
                                    ": block id 0 (ids must be non-zero: a positive id exchanges the "
                                    "block's sub-blocks as whole blocks, a negative one keeps them in place)");
      }
    }
    if (at(i, 0) != at(0, 0)) {
      throw std::invalid_argument("column 0 must hold one id for every row (the whole sample), but row 0 has " +
                                  std::to_string(at(0, 0)) + " and row " + std::to_string(i) + " has " +
                                  std::to_string(at(i, 0)));
    }
  }

  // Blocks, parents before children (each block's rows are split by the next
  // column as soon as the block is made); only leaves keep their rows.
  std::vector<std::vector<std::int64_t>> pending;  // rows of nodes not yet split
  Node root;
  root.id = at(0, 0);
  root.size = rows_;
  nodes_.push_back(root);
  pending.emplace_back(static_cast<std::size_t>(rows_));
  std::iota(pending[0].begin(), pending[0].end(), std::int64_t{0});
  for (std::size_t q = 0; q < nodes_.size(); ++q) {
    std::vector<std::int64_t> members = std::move(pending[q]);
    const std::int64_t column = nodes_[q].column;
    if (column == levels_ - 1) {
      nodes_[q].rows = std::move(members);
      continue;
    }
    std::map<std::int64_t, std::vector<std::int64_t>> split;  // id order, rows in row order
    for (std::int64_t i : members) split[at(i, column + 1)].push_back(i);
    for (auto& [id, sub] : split) {
      Node child;
      child.id = id;
      child.column = column + 1;
      child.parent = q;
      child.size = static_cast<std::int64_t>(sub.size());
      nodes_[q].children.push_back(nodes_.size());
      nodes_.push_back(std::move(child));
      pending.push_back(std::move(sub));
    }
    nodes_[q].exchange = nodes_[q].id > 0 && nodes_[q].children.size() >= 2;
  }

  // Shapes, children before parents; equal shapes get equal numbers.
  std::map<std::vector<std::int64_t>, std::int64_t> shape_numbers;
  for (std::size_t q = nodes_.size(); q-- > 0;) {
    Node& node = nodes_[q];
    std::vector<std::int64_t> key;
    if (node.children.empty()) {
      key = {-1, node.size};
    } else {
      key.push_back(node.exchange ? 1 : 0);
      for (std::size_t c : node.children) key.push_back(nodes_[c].shape);
    }
    node.shape = shape_numbers.emplace(std::move(key), static_cast<std::int64_t>(shape_numbers.size())).first->second;
  }
  for (std::size_t q = 0; q < nodes_.size(); ++q) {
    const Node& node = nodes_[q];
    if (!node.exchange) continue;
    exchanging_ += 1;
    log_permutations_ += std::lgamma(static_cast<double>(node.children.size()) + 1.0);
    const std::size_t first = node.children[0];
    for (std::size_t c : node.children) {
      if (nodes_[c].shape != nodes_[first].shape) {
        throw std::invalid_argument(describe(q) + " exchanges its sub-blocks as whole blocks (id " +
                                    std::to_string(node.id) + " > 0), but they differ in shape: " +
                                    difference(first, c));
      }
    }
  }
  if (exchanging_ == 0) {
    throw std::invalid_argument(
        "no block exchanges two or more sub-blocks (a positive id over two or more distinct ids in the next "
        "column): every permutation the tree allows is the identity");
  }
}

std::string ExchangeTree::describe(std::size_t node) const {
  std::vector<std::int64_t> path;
  for (std::size_t q = node;; q = nodes_[q].parent) {
    path.push_back(nodes_[q].id);
    if (q == 0) break;
  }
  std::string out = "block [";
  for (std::size_t k = path.size(); k-- > 0;) {
    out += std::to_string(path[k]);
    if (k > 0) out += ", ";
  }
  return out + "]";
}

std::string ExchangeTree::difference(std::size_t a, std::size_t b) const {
  // The first place (depth-first, in id order) where the two shapes part.
  const Node& x = nodes_[a];
  const Node& y = nodes_[b];
  if (x.size != y.size) {
    return describe(a) + " has " + std::to_string(x.size) + " rows, " + describe(b) + " has " +
           std::to_string(y.size);
  }
  if (x.children.size() != y.children.size()) {
    return describe(a) + " has " + std::to_string(x.children.size()) + " sub-blocks, " + describe(b) + " has " +
           std::to_string(y.children.size());
  }
  if (x.exchange != y.exchange) {
    return describe(x.exchange ? a : b) + " exchanges its sub-blocks, " + describe(x.exchange ? b : a) +
           " keeps them in place";
  }
  for (std::size_t k = 0; k < x.children.size(); ++k) {
    if (nodes_[x.children[k]].shape != nodes_[y.children[k]].shape) {
      return difference(x.children[k], y.children[k]);
    }
  }
  return describe(a) + " and " + describe(b) + " differ";  // not reached: equal shapes
}

std::vector<std::int64_t> ExchangeTree::permutation(std::uint64_t seed, std::uint64_t index) const {
  std::vector<std::int64_t> perm(static_cast<std::size_t>(rows_));
  // (place, source): the rows of block `source` fill the positions of block
  // `place` (the same shape); the place's shuffle decides where its sub-blocks' rows come from.
  std::vector<std::pair<std::size_t, std::size_t>> stack = {{0, 0}};
  std::vector<std::int64_t> order;
  while (!stack.empty()) {
    const auto [p, s] = stack.back();
    stack.pop_back();
    const Node& place = nodes_[p];
    const Node& source = nodes_[s];
    if (place.children.empty()) {
      for (std::size_t t = 0; t < place.rows.size(); ++t) {
        perm[static_cast<std::size_t>(place.rows[t])] = source.rows[t];
      }
      continue;
    }
    order.resize(place.children.size());
    std::iota(order.begin(), order.end(), std::int64_t{0});
    if (place.exchange) keyed_shuffle(order, seed, index, kTreeTag, static_cast<std::uint64_t>(p));
    for (std::size_t k = 0; k < order.size(); ++k) {
      stack.emplace_back(place.children[k], source.children[static_cast<std::size_t>(order[k])]);
    }
  }
  return perm;
}

}  // namespace wsc::core
