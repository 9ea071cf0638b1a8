// One name table per enum (loss head, device, schedule, residency, SIMD level): each value with its name and
// a line of help. The CLI parser (CLI11 CheckedTransformer over name_map), --help (names_with_help), the
// settings record (name_of) and the model file (value_from_code, codes_with_names) all read the same table;
// there are no parallel switch statements. The tables themselves live beside their enums.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>

namespace logreg {

template <class E>
struct EnumName {
  E value;
  const char* name;  // on the command line, in the settings record, in messages
  const char* help;  // what the value means, for --help
};

template <class E, std::size_t N>
using NameTable = std::array<EnumName<E>, N>;

// The name of `value`; "?" when the table lacks it (an enum value cast from a bad integer).
template <class E, std::size_t N>
constexpr const char* name_of(const NameTable<E, N>& table, E value) {
  for (const EnumName<E>& e : table) {
    if (e.value == value) return e.name;
  }
  return "?";
}

// The value named `name` (exact match) into *out; false, *out untouched, when no entry has that name.
template <class E, std::size_t N>
bool parse_name(const NameTable<E, N>& table, const std::string& name, E* out) {
  for (const EnumName<E>& e : table) {
    if (name == e.name) {
      *out = e.value;
      return true;
    }
  }
  return false;
}

// The value whose underlying integer is `code` (as a file stores it) into *out; false when none is.
template <class E, std::size_t N>
bool value_from_code(const NameTable<E, N>& table, std::uint64_t code, E* out) {
  for (const EnumName<E>& e : table) {
    if (static_cast<std::uint64_t>(static_cast<std::underlying_type_t<E>>(e.value)) == code) {
      *out = e.value;
      return true;
    }
  }
  return false;
}

// name -> value, for CLI11's CheckedTransformer (which then also rejects every other name).
template <class E, std::size_t N>
std::map<std::string, E> name_map(const NameTable<E, N>& table) {
  std::map<std::string, E> m;
  for (const EnumName<E>& e : table) m.emplace(e.name, e.value);
  return m;
}

namespace name_table_detail {
template <std::size_t N>
const char* separator(std::size_t i) {
  return i == 0 ? "" : i + 1 == N ? " or " : ", ";
}
}  // namespace name_table_detail

// "auto, cpu, cuda or reference"
template <class E, std::size_t N>
std::string names_list(const NameTable<E, N>& table) {
  std::string s;
  for (std::size_t i = 0; i < N; ++i) s += std::string(name_table_detail::separator<N>(i)) + table[i].name;
  return s;
}

// "auto|cpu|cuda|reference"
template <class E, std::size_t N>
std::string names_joined(const NameTable<E, N>& table, const char* separator = "|") {
  std::string s;
  for (std::size_t i = 0; i < N; ++i) s += std::string(i == 0 ? "" : separator) + table[i].name;
  return s;
}

// "softmax (multinomial logistic regression), ... or ovr (one-vs-rest logistic regression)"
template <class E, std::size_t N>
std::string names_with_help(const NameTable<E, N>& table) {
  std::string s;
  for (std::size_t i = 0; i < N; ++i) {
    s += std::string(name_table_detail::separator<N>(i)) + table[i].name;
    if (table[i].help[0] != '\0') s += std::string(" (") + table[i].help + ")";
  }
  return s;
}

// "0 (softmax), 1 (sigmoid-softmax) or 2 (ovr)": the codes a file may hold.
template <class E, std::size_t N>
std::string codes_with_names(const NameTable<E, N>& table) {
  std::string s;
  for (std::size_t i = 0; i < N; ++i) {
    s += std::string(name_table_detail::separator<N>(i)) +
         std::to_string(static_cast<std::underlying_type_t<E>>(table[i].value)) + " (" + table[i].name + ")";
  }
  return s;
}

}  // namespace logreg
