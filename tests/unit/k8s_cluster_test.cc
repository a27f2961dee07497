#include <gtest/gtest.h>

#include "clients/kubernetes/cluster.h"

namespace gameday {
namespace {

TEST(K8sClusterTest, ProtectedNamespacesAreOffLimitsUnlessAllowed) {
  TargetSpec target;
  target.protected_namespaces = {"kube-system", "monitoring"};
  EXPECT_TRUE(NamespaceOffLimits(target, "kube-system"));
  EXPECT_FALSE(NamespaceOffLimits(target, "shop"));
  EXPECT_FALSE(NamespaceOffLimits(target, "kube"));  // whole names only
  EXPECT_TRUE(CheckNamespaceAllowed(target, "shop").ok());
  Status s = CheckNamespaceAllowed(target, "monitoring");
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s.message(),
            "namespace monitoring is protected (target.protected_namespaces); set "
            "target.allow_protected: true");
  target.allow_protected = true;
  EXPECT_FALSE(NamespaceOffLimits(target, "kube-system"));
  EXPECT_TRUE(CheckNamespaceAllowed(target, "kube-system").ok());
}

TEST(K8sClusterTest, IdentityMembersAreQuotedJson) {
  EXPECT_EQ(IdentityJsonMembers({"/home/me/.kube/config:/tmp/b", "kind-\"x\""}),
            R"("kubeconfig":"/home/me/.kube/config:/tmp/b","context":"kind-\"x\"")");
  EXPECT_EQ(IdentityJsonMembers({"", ""}), R"("kubeconfig":"","context":"")");
}

}  // namespace
}  // namespace gameday
