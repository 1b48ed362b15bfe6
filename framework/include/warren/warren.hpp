// Everything a warren client needs: #include <warren/warren.hpp>.
#pragma once

#include "warren/channel.hpp"
#include "warren/connection.hpp"
#include "warren/curve.hpp"
#include "warren/errors.hpp"
#include "warren/field_value.hpp"
#include "warren/keys.hpp"
#include "warren/message.hpp"
#include "warren/properties.hpp"
#include "warren/rpc.hpp"
#include "warren/version.hpp"
