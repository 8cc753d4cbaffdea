// The engine's vocabulary: the values its callers (the API, the apps) pass in and get back.
// They are declared in store/ and serve/; the engine re-exports them so that a caller
// includes the engine only (api -> engine).
#pragma once

#include "streamrec/serve/request.h"
#include "streamrec/serve/rerank.h"
#include "streamrec/store/catalog.h"
#include "streamrec/store/event_log.h"

namespace streamrec::engine {

using serve::ItemFilter;
using serve::parse_predicate;
using serve::Predicate;
using serve::Recommendation;
using serve::RecommendRequest;
using store::ItemRecord;
using store::LoggedEvent;
using store::UserRecord;

}  // namespace streamrec::engine
