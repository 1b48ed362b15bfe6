// Grains: what a minion knows about its machine, as salt calls it. Read once
// at start (from uname, sysconf, /proc and /etc/os-release), plus custom
// key=value pairs from the minion's configuration.
#pragma once

#include <string>
#include <vector>

#include "warren/field_value.hpp"

namespace warren::remote {

// The machine's grains: id, os, osrelease, kernel, kernelrelease, cpuarch,
// hostname, num_cpus (integer), mem_total (MiB, integer), then `custom`
// ("key=value"; a custom key replaces a built-in one; the first occurrence of
// a key wins, so put the more important source first). Throws
// std::invalid_argument for a custom entry without '=' or with an empty key.
FieldTable collect_grains(const std::string& id, const std::vector<std::string>& custom);

// The host name, as the default minion id.
std::string host_name();

}  // namespace warren::remote
