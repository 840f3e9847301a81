// librdkafka configuration passed through as name/value pairs.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace streamrec::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;

// Returns `base` with `overrides` applied on top (later entries win).
Properties Merge(const Properties& base, const Properties& overrides);

// True for properties whose values must never be logged (passwords, keys).
bool IsSecretProperty(const std::string& name);

}  // namespace streamrec::kafka
