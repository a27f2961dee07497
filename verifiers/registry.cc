#include "verifiers/registry.h"

#include "verifiers/apiserver/apiserver_verifier.h"
#include "verifiers/etcd/etcd_verifier.h"
#include "verifiers/http/http_verifier.h"
#include "verifiers/kubernetes/kubernetes_verifier.h"
#include "verifiers/prometheus/prometheus_verifier.h"
#include "verifiers/tcp/tcp_verifier.h"

namespace gameday {

void RegisterBuiltinVerifiers(Registry<VerifierKind>& registry) {
  // Built-in names are distinct, so Register cannot fail here.
  (void)registry.Register(MakeHttpVerifierKind());
  (void)registry.Register(MakeTcpVerifierKind());
  (void)registry.Register(MakeKubernetesVerifierKind());
  (void)registry.Register(MakeApiserverVerifierKind());
  (void)registry.Register(MakeEtcdVerifierKind());
  (void)registry.Register(MakePrometheusVerifierKind());
}

}  // namespace gameday
