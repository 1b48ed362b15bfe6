#pragma once

namespace warren {
inline constexpr const char* kVersionString = "0.1.0";
}
