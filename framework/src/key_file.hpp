// Key files (docs/security.md): `name = value` lines, '#' comments, and a
// bare Z85 key on a line of its own read as `public-key`. Internal.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace warren::detail {

using KeyFields = std::map<std::string, std::string>;

// Parses a key file's text. A line that is a 40-character Z85 key and
// nothing else becomes `public-key` (when the file has none; checked before
// '#' and '=', which Z85 uses); other lines without '=' are ignored.
KeyFields parse_key_file(std::string_view text);
// The whole file, or nullopt when it cannot be read.
std::optional<std::string> read_small_file(const std::string& path);
// Writes `text` to `path` through a temporary file in `temp_dir` and a
// rename, with `mode`. `exclusive`: fails (returns false, errno EEXIST) when
// `path` exists. Returns false with errno set on failure.
bool write_file_atomically(const std::string& path, const std::string& temp_dir, std::string_view text,
                           unsigned mode, bool exclusive = false);
// "2026-11-25T10:00:00Z", UTC, now.
std::string utc_now();

}  // namespace warren::detail
