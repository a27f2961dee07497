#include "experiments/yaml_guard.h"

#include <fcntl.h>
#include <unistd.h>
#include <yaml.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace gameday {
namespace {

// yaml-cpp looks a key up by walking its map, so reading a map of n keys costs n^2 (25,000 labels
// took 43 s to validate). No map of a plan, inventory or kubeconfig needs more keys than this.
constexpr size_t kMaxMapKeys = 1000;

std::string Count(size_t n) { return std::to_string(n); }

// Owns a libyaml parser and its current event, so every return path frees both.
class EventReader {
 public:
  explicit EventReader(const std::string& text) {
    ok_ = yaml_parser_initialize(&parser_) != 0;
    if (ok_) {
      yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                   text.size());
    }
  }
  ~EventReader() {
    if (has_event_) yaml_event_delete(&event_);
    if (ok_) yaml_parser_delete(&parser_);
  }
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  bool initialized() const { return ok_; }
  // The next event, or nullptr on a syntax error (see Error()).
  const yaml_event_t* Next() {
    if (has_event_) yaml_event_delete(&event_);
    has_event_ = yaml_parser_parse(&parser_, &event_) != 0;
    return has_event_ ? &event_ : nullptr;
  }
  DocumentProblem Error() const {
    DocumentProblem p;
    p.line = static_cast<int>(parser_.problem_mark.line) + 1;
    p.column = static_cast<int>(parser_.problem_mark.column) + 1;
    p.message = std::string("syntax error: ") +
                (parser_.problem != nullptr ? parser_.problem : "unreadable YAML");
    if (parser_.context != nullptr) {
      p.message += std::string(" (") + parser_.context + " at line " +
                   std::to_string(parser_.context_mark.line + 1) + ")";
    }
    return p;
  }

 private:
  yaml_parser_t parser_{};
  yaml_event_t event_{};
  bool ok_ = false;
  bool has_event_ = false;
};

const unsigned char* AnchorOf(const yaml_event_t& e) {
  switch (e.type) {
    case YAML_SCALAR_EVENT:
      return e.data.scalar.anchor;
    case YAML_SEQUENCE_START_EVENT:
      return e.data.sequence_start.anchor;
    case YAML_MAPPING_START_EVENT:
      return e.data.mapping_start.anchor;
    default:
      return nullptr;
  }
}

}  // namespace

bool CheckDocument(const std::string& text, const DocumentLimits& limits,
                   DocumentProblem* problem) {
  auto fail = [&](const yaml_event_t* at, std::string message) {
    *problem = DocumentProblem{};
    if (at != nullptr) {
      problem->line = static_cast<int>(at->start_mark.line) + 1;
      problem->column = static_cast<int>(at->start_mark.column) + 1;
    }
    problem->message = std::move(message);
    return false;
  };
  if (text.size() > limits.max_bytes) {
    return fail(nullptr, "the " + std::string(limits.what) + " is " + Count(text.size()) +
                             " bytes; at most " + Count(limits.max_bytes) + " are allowed");
  }
  EventReader reader(text);
  if (!reader.initialized()) return fail(nullptr, "cannot start the YAML reader (out of memory)");
  // The open maps and lists, innermost last: whether each is a map, and its entries so far (keys
  // and values). Never deeper than max_depth.
  struct Open {
    bool is_map;
    size_t entries;
  };
  std::vector<Open> open;
  size_t nodes = 0;
  size_t documents = 0;
  while (true) {
    const yaml_event_t* e = reader.Next();
    if (e == nullptr) {
      *problem = reader.Error();
      return false;
    }
    if (const unsigned char* anchor = AnchorOf(*e)) {
      return fail(e, "YAML anchors (&" + std::string(reinterpret_cast<const char*>(anchor)) +
                         ") and aliases are not allowed in this " + limits.what +
                         "; write the value out where it is used");
    }
    switch (e->type) {
      case YAML_STREAM_END_EVENT:
        return true;
      case YAML_DOCUMENT_START_EVENT:
        if (++documents > 1) {
          return fail(e, "a second YAML document ('---'); this " + std::string(limits.what) +
                             " must be one document (the rest would be silently ignored)");
        }
        break;
      case YAML_ALIAS_EVENT:
        return fail(e, "YAML aliases (*" +
                           std::string(reinterpret_cast<const char*>(e->data.alias.anchor)) +
                           ") are not allowed in this " + limits.what +
                           "; write the value out where it is used");
      default:
        break;
    }
    const bool is_node = e->type == YAML_SCALAR_EVENT || e->type == YAML_SEQUENCE_START_EVENT ||
                         e->type == YAML_MAPPING_START_EVENT;
    if (is_node && !open.empty() && open.back().is_map && ++open.back().entries > 2 * kMaxMapKeys) {
      return fail(e, "a map with more than " + Count(kMaxMapKeys) +
                         " keys, the most allowed in this " + limits.what);
    }
    // yaml-cpp reads keys as strings and throws on a list or map in key position ("? [a, b]").
    if (is_node && e->type != YAML_SCALAR_EVENT && !open.empty() && open.back().is_map &&
        open.back().entries % 2 == 1) {
      return fail(e, std::string("expected a field name, got ") +
                         (e->type == YAML_SEQUENCE_START_EVENT ? "a list" : "a map"));
    }
    switch (e->type) {
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT:
        open.push_back(Open{e->type == YAML_MAPPING_START_EVENT, 0});
        if (open.size() > limits.max_depth) {
          return fail(e, "nested more than " + Count(limits.max_depth) +
                             " maps and lists deep, the most allowed in this " + limits.what);
        }
        [[fallthrough]];
      case YAML_SCALAR_EVENT:
        if (++nodes > limits.max_nodes) {
          return fail(e, "more than " + Count(limits.max_nodes) +
                             " values (maps, lists and scalars), the most allowed in this " +
                             limits.what);
        }
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        if (!open.empty()) open.pop_back();
        break;
      default:
        break;
    }
  }
}

Result<std::string> ReadDocumentFile(const std::string& path, const DocumentLimits& limits) {
  auto error = [&](const char* what) {
    return Status::NotFound(std::string(what) + " " + limits.what + ": " + std::strerror(errno));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return error("cannot open");
  std::string text;
  char buf[65536];
  while (text.size() <= limits.max_bytes) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      errno = saved;
      return error("cannot read");
    }
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (text.size() > limits.max_bytes) {
    return Status::InvalidArgument("the " + std::string(limits.what) + " is larger than " +
                                   Count(limits.max_bytes) + " bytes, the most allowed");
  }
  return text;
}

}  // namespace gameday
