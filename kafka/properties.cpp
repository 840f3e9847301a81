#include "kafka/properties.h"

#include <algorithm>

namespace streamrec::kafka {

Properties Merge(const Properties& base, const Properties& overrides) {
  Properties out = base;
  for (const auto& entry : overrides) {
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == entry.first; });
    if (it != out.end()) {
      it->second = entry.second;
    } else {
      out.push_back(entry);
    }
  }
  return out;
}

bool IsSecretProperty(const std::string& name) {
  for (const char* marker : {"password", "secret", "key.pem", "private", "token", "sasl.jaas"}) {
    if (name.find(marker) != std::string::npos) return true;
  }
  return false;
}

}  // namespace streamrec::kafka
