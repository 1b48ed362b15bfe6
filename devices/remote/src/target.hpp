// Target matching: which minions a job is for, decided by each minion
// itself (and by the master, against its roster, to know whom to expect).
//
// The four target types of salt's CLI:
//   glob      (default)  a glob on the minion id: 'web*', 'db[12]'
//   list      (-L)       a comma-separated list of exact ids: 'web1,db1'
//   grain     (-G)       'key:glob' on a grain's value: 'os:Debian', 'role:web*'
//   compound  (-C)       terms joined by 'and', 'or', 'not' and parentheses;
//                        a term is 'G@key:glob', 'L@id,id' or a glob on the id:
//                        'web* and G@os:Debian or L@db1'
// Globs follow warren::glob_match ('*', '?', '[a-z]', '[^a]', '\' escapes).
// In compounds 'not' binds tightest, then 'and', then 'or', as in salt.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "warren/field_value.hpp"

namespace warren::remote {

enum class TargetType { kGlob, kList, kGrain, kCompound };

// "glob", "list", "grain", "compound"; throws TargetError for anything else.
TargetType parse_target_type(std::string_view name);
std::string_view target_type_name(TargetType type);

// A malformed target expression (an empty one, a grain term without ':', an
// unbalanced parenthesis, an unknown compound prefix such as 'E@').
class TargetError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// True when the minion `id` with `grains` is targeted. Throws TargetError
// when `expression` is malformed (whatever the minion).
bool target_matches(TargetType type, std::string_view expression, std::string_view id,
                    const FieldTable& grains);

// Throws TargetError when `expression` is malformed; the master checks a
// target before it publishes anything.
void validate_target(TargetType type, std::string_view expression);

// A grain's value as text for matching: strings as they are, integers in
// decimal, booleans as True/False (as salt prints them), other values empty.
std::string grain_text(const FieldValue& value);

}  // namespace warren::remote
