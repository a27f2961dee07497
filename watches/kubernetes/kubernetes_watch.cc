#include "watches/kubernetes/kubernetes_watch.h"

#include "clients/kubernetes/cluster.h"
#include "clients/kubernetes/watch.h"

namespace gameday {
namespace {

class KubernetesWatch : public Watch {
 public:
  KubernetesWatch(TargetSpec target, ResourceWatchOptions options)
      : target_(std::move(target)), options_(std::move(options)) {}

  void Start(MonoTime epoch) override {
    epoch_ = epoch;
    auto client = SharedKubeClient(target_.kubeconfig, target_.context);
    if (!client.ok()) {
      error_ = "kubernetes watch not started: " + client.status().message();
      return;
    }
    watch_ = std::make_unique<ResourceWatch>(*client, options_);
    watch_->Start(epoch);
  }

  std::vector<TimelineEvent> Stop() override {
    if (!watch_) {
      if (error_.empty()) return {};
      return {TimelineEvent{0, "kubernetes", error_}};
    }
    watch_->Stop();
    return watch_->Events();
  }

  Status Failure() const override { return watch_ ? watch_->Failure() : Status::Ok(); }

  std::vector<ApiAccess> ApiAccesses() const override {
    std::vector<ApiAccess> out;
    if (options_.pods) {
      std::vector<std::string> namespaces = options_.namespaces;
      if (namespaces.empty()) namespaces.emplace_back();  // every namespace
      for (const std::string& ns : namespaces) {
        out.push_back(
            AccessTo(ResourceRef::Core("pods", ns), {"list", "watch"}, "kubernetes watch: pods"));
      }
    }
    if (options_.nodes) {
      out.push_back(
          AccessTo(ResourceRef::Core("nodes"), {"list", "watch"}, "kubernetes watch: nodes"));
    }
    return out;
  }

 private:
  TargetSpec target_;
  ResourceWatchOptions options_;
  MonoTime epoch_;
  std::unique_ptr<ResourceWatch> watch_;
  std::string error_;
};

class KubernetesWatchKind : public WatchKind {
 public:
  std::string Name() const override { return "kubernetes"; }
  std::unique_ptr<Watch> Parse(SpecNode& spec, const TargetSpec& target) const override {
    ResourceWatchOptions options;
    if (spec.defined() && !spec.ExpectMap()) return nullptr;
    options.namespaces = spec.StringList("namespaces");
    options.label_selector = spec.String("label_selector", "");
    options.pods = spec.Bool("pods", true);
    options.nodes = spec.Bool("nodes", true);
    if (!options.pods && !options.nodes) spec.Error("watches neither pods nor nodes");
    if (target.kind != "kubernetes") {
      spec.Error("the kubernetes watch needs a target of kind kubernetes, got '" + target.kind +
                 "'");
    }
    spec.Finish();
    return std::make_unique<KubernetesWatch>(target, std::move(options));
  }
};

}  // namespace

std::unique_ptr<WatchKind> MakeKubernetesWatchKind() {
  return std::make_unique<KubernetesWatchKind>();
}

}  // namespace gameday
