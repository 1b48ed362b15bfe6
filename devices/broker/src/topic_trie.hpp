// TopicTrie: the bindings of a topic exchange, as a trie over the words of
// their binding keys, matched the way RabbitMQ's topic exchange matches.
//
// Words: a key splits on '.'; the empty key is zero words, and words may be
// empty ("a..b" is a, "", b; "." is two empty words). In a binding key, the
// whole word "*" matches exactly one word (an empty one too) and the whole
// word "#" matches zero or more words; "a*" or "#a" are literal words. In a
// routing key every word is literal ("*" in a routing key is the word "*").
//
// Cost: match() simulates the trie as an automaton, one routing-key word at a
// time, keeping the set of nodes the key so far can have reached. A step costs
// one hash lookup per node in that set, so a match costs O(routing-key words x
// live nodes), never a scan over all bindings, and stays polynomial however
// many '#' a binding key holds (RabbitMQ's backtracking is exponential there).
// Insert and erase cost O(binding-key words). Nothing recurses on key length,
// so keys of any length (a peer chooses them) cannot exhaust the stack.
//
// Thread rules: none inside; const members may run concurrently with each
// other, not with insert/erase. match() keeps its state on its own stack, so
// its callback may call match() again (exchange-to-exchange routing does),
// but must not insert into or erase from the trie being matched.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace warren::detail {

// The words of a topic key, left to right, without allocating.
class TopicWords {
 public:
  explicit TopicWords(std::string_view key) : rest_(key), done_(key.empty()) {}

  // Sets `word` to the next word; false when there are no more.
  bool next(std::string_view& word) {
    if (done_) return false;
    const std::size_t dot = rest_.find('.');
    if (dot == std::string_view::npos) {
      word = rest_;
      done_ = true;
    } else {
      word = rest_.substr(0, dot);
      rest_.remove_prefix(dot + 1);
    }
    return true;
  }

 private:
  std::string_view rest_;
  bool done_;
};

// REQUIRES: T is copyable, equality-comparable and hashable by std::hash<T>.
template <class T>
class TopicTrie {
 public:
  TopicTrie() = default;
  TopicTrie(const TopicTrie&) = delete;
  TopicTrie& operator=(const TopicTrie&) = delete;
  TopicTrie(TopicTrie&& other) noexcept { take(other); }
  TopicTrie& operator=(TopicTrie&& other) noexcept {
    if (this != &other) {
      clear();
      take(other);
    }
    return *this;
  }
  ~TopicTrie() { clear(); }

  // Binds `value` under `binding_key`; false if that exact pair is bound.
  bool insert(std::string_view binding_key, const T& value);
  // Unbinds the pair; false if it was not bound. Removes the nodes that no
  // longer lead to any binding.
  bool erase(std::string_view binding_key, const T& value);

  // Calls out(const T&) for each value bound under a key that matches
  // `routing_key`, in no particular order. A value is reported once per
  // matching binding key, so one bound under several matching keys is
  // reported several times (callers de-duplicate).
  template <class F>
  void match(std::string_view routing_key, F&& out) const;

  std::size_t size() const { return size_; }  // number of (key, value) pairs
  bool empty() const { return size_ == 0; }
  // Trie nodes including the root: 1 when empty. For tests of pruning.
  std::size_t node_count() const { return node_count_; }
  // Unbinds everything.
  void clear();

 private:
  // Hashes std::string and std::string_view alike, so lookups by a word of
  // the routing key need not build a std::string.
  struct WordHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };

  struct Node {
    std::unordered_map<std::string, std::unique_ptr<Node>, WordHash, std::equal_to<>> words;
    std::unique_ptr<Node> star;  // child by the word "*"
    std::unique_ptr<Node> hash;  // child by the word "#"
    bool is_hash = false;        // this node is its parent's '#' child
    std::unordered_set<T> values;

    bool unused() const { return values.empty() && words.empty() && !star && !hash; }
  };

  // The child of `node` by `word`, or nullptr; N is Node or const Node.
  template <class N>
  static N* child(N& node, std::string_view word);
  Node& child_or_create(Node& node, std::string_view word);
  void remove_child(Node& node, std::string_view word);
  static void add_hash_closure(std::vector<const Node*>& nodes);
  static void detach_children(Node& node, std::vector<std::unique_ptr<Node>>& out);
  void take(TopicTrie& other) noexcept;

  Node root_;
  std::size_t size_ = 0;
  std::size_t node_count_ = 1;
};

template <class T>
bool TopicTrie<T>::insert(std::string_view binding_key, const T& value) {
  Node* node = &root_;
  TopicWords words(binding_key);
  for (std::string_view word; words.next(word);) node = &child_or_create(*node, word);
  if (!node->values.insert(value).second) return false;
  ++size_;
  return true;
}

template <class T>
bool TopicTrie<T>::erase(std::string_view binding_key, const T& value) {
  // path[i + 1] is the child of path[i] by words_on_path[i].
  std::vector<Node*> path{&root_};
  std::vector<std::string_view> words_on_path;
  TopicWords words(binding_key);
  for (std::string_view word; words.next(word);) {
    Node* next = child(*path.back(), word);
    if (next == nullptr) return false;
    path.push_back(next);
    words_on_path.push_back(word);
  }
  if (path.back()->values.erase(value) == 0) return false;
  --size_;
  for (std::size_t i = path.size() - 1; i > 0 && path[i]->unused(); --i)
    remove_child(*path[i - 1], words_on_path[i - 1]);
  return true;
}

template <class T>
template <class F>
void TopicTrie<T>::match(std::string_view routing_key, F&& out) const {
  // `live`: the nodes whose binding-key prefix matches the routing-key words
  // seen so far, without duplicates (a duplicate would be expanded again at
  // every later step, which is how naive '#' matching turns exponential).
  std::vector<const Node*> live{&root_};
  std::vector<const Node*> next;
  add_hash_closure(live);
  TopicWords words(routing_key);
  for (std::string_view word; !live.empty() && words.next(word);) {
    next.clear();
    for (const Node* node : live) {
      if (node->is_hash) next.push_back(node);  // '#' takes this word too
      if (const Node* c = child(*node, word)) next.push_back(c);
      if (node->star) next.push_back(node->star.get());
    }
    add_hash_closure(next);
    std::sort(next.begin(), next.end(), std::less<const Node*>());
    next.erase(std::unique(next.begin(), next.end()), next.end());
    live.swap(next);
  }
  for (const Node* node : live)
    for (const T& value : node->values) out(value);
}

template <class T>
void TopicTrie<T>::clear() {
  // Iterative, so that a binding key of a million words cannot overflow the
  // stack the way recursive unique_ptr destruction would.
  std::vector<std::unique_ptr<Node>> doomed;
  detach_children(root_, doomed);
  while (!doomed.empty()) {
    std::unique_ptr<Node> node = std::move(doomed.back());
    doomed.pop_back();
    detach_children(*node, doomed);
  }
  root_.values.clear();
  size_ = 0;
  node_count_ = 1;
}

template <class T>
template <class N>
N* TopicTrie<T>::child(N& node, std::string_view word) {
  if (word == "*") return node.star.get();
  if (word == "#") return node.hash.get();
  auto it = node.words.find(word);
  return it == node.words.end() ? nullptr : it->second.get();
}

template <class T>
auto TopicTrie<T>::child_or_create(Node& node, std::string_view word) -> Node& {
  std::unique_ptr<Node>* slot;
  if (word == "*") {
    slot = &node.star;
  } else if (word == "#") {
    slot = &node.hash;
  } else {
    auto it = node.words.find(word);
    if (it == node.words.end()) it = node.words.emplace(std::string(word), nullptr).first;
    slot = &it->second;
  }
  if (!*slot) {
    *slot = std::make_unique<Node>();
    (*slot)->is_hash = word == "#";
    ++node_count_;
  }
  return **slot;
}

// REQUIRES: the child exists and is unused (so destroying it cannot recurse).
template <class T>
void TopicTrie<T>::remove_child(Node& node, std::string_view word) {
  if (word == "*") {
    node.star.reset();
  } else if (word == "#") {
    node.hash.reset();
  } else {
    node.words.erase(node.words.find(word));
  }
  --node_count_;
}

// Adds to `nodes` every node reachable from one in it through '#' children:
// '#' may match zero words, so being at a node is also being at its '#'.
template <class T>
void TopicTrie<T>::add_hash_closure(std::vector<const Node*>& nodes) {
  for (std::size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i]->hash) nodes.push_back(nodes[i]->hash.get());
}

template <class T>
void TopicTrie<T>::detach_children(Node& node, std::vector<std::unique_ptr<Node>>& out) {
  for (auto& [word, c] : node.words) out.push_back(std::move(c));
  node.words.clear();
  if (node.star) out.push_back(std::move(node.star));
  if (node.hash) out.push_back(std::move(node.hash));
}

template <class T>
void TopicTrie<T>::take(TopicTrie& other) noexcept {
  // Swapping the members leaves `other` as an empty trie; the containers'
  // swaps do not throw.
  root_.words.swap(other.root_.words);
  root_.star.swap(other.root_.star);
  root_.hash.swap(other.root_.hash);
  root_.values.swap(other.root_.values);
  size_ = std::exchange(other.size_, 0);
  node_count_ = std::exchange(other.node_count_, 1);
}

}  // namespace warren::detail
