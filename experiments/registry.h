#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "experiments/status.h"

namespace gameday {

// Kinds (injector or verifier factories) looked up by name. A plain object built in main, so a
// test can build one holding only what it needs; registering a name twice is an error.
template <typename Kind>
class Registry {
 public:
  Status Register(std::unique_ptr<Kind> kind) {
    std::string name = kind->Name();
    if (kinds_.count(name)) return Status::InvalidArgument("kind '" + name + "' registered twice");
    kinds_.emplace(std::move(name), std::move(kind));
    return Status::Ok();
  }
  const Kind* Find(const std::string& name) const {
    auto it = kinds_.find(name);
    return it == kinds_.end() ? nullptr : it->second.get();
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& [name, kind] : kinds_) names.push_back(name);
    return names;
  }

 private:
  std::map<std::string, std::unique_ptr<Kind>> kinds_;
};

// Registers a built-in kind; a duplicate name is a programming error, never a user's: fail loudly.
template <typename Kind>
void RegisterOrDie(Registry<Kind>& registry, std::unique_ptr<Kind> kind) {
  Status s = registry.Register(std::move(kind));
  if (!s.ok()) {
    std::fprintf(stderr, "gameday: %s\n", s.ToString().c_str());
    std::abort();
  }
}

}  // namespace gameday
