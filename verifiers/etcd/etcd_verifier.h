#pragma once

#include <memory>

#include "experiments/clock.h"
#include "experiments/plugins/verifier.h"

namespace gameday {

// Kind "etcd": writes (and/or reads) a key through etcd's v3 JSON gateway each probe; healthy
// when the cluster accepts it in time. See verifiers/etcd/README.md.
std::unique_ptr<VerifierKind> MakeEtcdVerifierKind();
// With the clock that bounds each probe's failover across endpoints (tests use the real one).
std::unique_ptr<VerifierKind> MakeEtcdVerifierKind(Clock* clock);

}  // namespace gameday
