// Fixed-width binary fields in host byte order (little-endian on every target
// streamrec builds for), for the store's records and the state changelog.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

namespace streamrec {

template <class T>
void PutFixed(std::string* out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  out->append(bytes, sizeof(T));
}

// Reads a T from the front of `in`, advancing it; false if too short.
template <class T>
bool GetFixed(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

}  // namespace streamrec
