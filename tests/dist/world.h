#pragma once

#include "streamrec/dist/comm.h"

namespace streamrec::dist::testing {
extern const Comm* g_world;  // set by tests/dist/test_main.cpp
}
