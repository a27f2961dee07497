#include "verifiers/registry.h"

#include "verifiers/apiserver/apiserver_verifier.h"
#include "verifiers/etcd/etcd_verifier.h"
#include "verifiers/http/http_verifier.h"
#include "verifiers/kubernetes/kubernetes_verifier.h"
#include "verifiers/prometheus/prometheus_verifier.h"
#include "verifiers/tcp/tcp_verifier.h"

namespace gameday {

void RegisterBuiltinVerifiers(Registry<VerifierKind>& registry) {
  // One line per kind.
  RegisterOrDie(registry, MakeHttpVerifierKind());
  RegisterOrDie(registry, MakeTcpVerifierKind());
  RegisterOrDie(registry, MakeKubernetesVerifierKind());
  RegisterOrDie(registry, MakeApiserverVerifierKind());
  RegisterOrDie(registry, MakeEtcdVerifierKind());
  RegisterOrDie(registry, MakePrometheusVerifierKind());
}

}  // namespace gameday
