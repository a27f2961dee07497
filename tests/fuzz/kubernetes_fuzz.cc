// Kubernetes API answers, through the same calls the client and the resource watch make on
// them: an error answer's Status body (KubeClient::ErrorFor), a list page or a watch event read
// with gameday::ParseJson and walked with the JsonPath helpers, every object's state
// (ResourceWatch::StateOf) and the events between two states (ResourceWatch::Describe), and an
// exec credential plugin's output (ParseExecCredential); node-failure's reading of Nodes, of the
// controller manager's flags and of the pods' tolerations (node_failure_parts.h,
// node_expectation.h); container-kill's reading of a pod's probes and container states
// (container_timeline.h).
#include <rapidjson/document.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clients/kubernetes/client.h"
#include "clients/kubernetes/cluster_journal.h"
#include "clients/kubernetes/credentials.h"
#include "clients/kubernetes/watch.h"
#include "experiments/json.h"
#include "injectors/container_kill/container_timeline.h"
#include "injectors/node_failure/node_expectation.h"
#include "injectors/node_failure/node_failure_parts.h"
#include "tests/fuzz/fuzz_env.h"

namespace {

gameday::KubeClient& Client() {
  static std::shared_ptr<gameday::KubeClient> client = [] {
    gameday::KubeConfig config;
    config.source = "fuzz";
    config.cluster.server = "https://127.0.0.1:1";
    config.user.token = "fuzz";
    return *gameday::KubeClient::Create(config);
  }();
  return *client;
}

void Objects(const rapidjson::Value& doc, std::vector<const rapidjson::Value*>* out) {
  if (!doc.IsObject()) return;
  out->push_back(&doc);
  if (const rapidjson::Value* items = gameday::JsonPath(doc, {"items"});
      items && items->IsArray()) {
    for (const rapidjson::Value& item : items->GetArray()) out->push_back(&item);
  }
  if (const rapidjson::Value* obj = gameday::JsonPath(doc, {"object"}); obj && obj->IsObject()) {
    out->push_back(obj);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  gameday::IsolateFuzzEnvironment();
  Client();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  gameday::KubeRequest request;
  request.verb = "delete";
  request.ref = gameday::ResourceRef::Core("pods", "shop", "web-1");
  for (long status : {400L, 403L, 404L, 409L, 429L, 500L}) {
    gameday::KubeResponse response;
    response.status = status;
    response.body = body;
    (void)Client().ErrorFor(request, response).message();
  }

  rapidjson::Document doc;
  if (gameday::ParseJson(body, &doc).ok()) {
    (void)gameday::JsonString(doc, "type");
    (void)gameday::JsonPathString(doc, {"metadata", "continue"});
    (void)gameday::JsonPathString(doc, {"metadata", "resourceVersion"});
    std::vector<const rapidjson::Value*> objects;
    Objects(doc, &objects);
    for (const char* kind : {"pod", "node"}) {
      gameday::ResourceWatch::ObjectState before;
      for (size_t i = 0; i < objects.size(); ++i) {
        gameday::ResourceWatch::ObjectState after =
            gameday::ResourceWatch::StateOf(kind, *objects[i]);
        const std::string display =
            std::string(kind) + " " + gameday::JsonPathString(*objects[i], {"metadata", "name"});
        (void)gameday::ResourceWatch::Describe(kind, display, i == 0 ? nullptr : &before, &after);
        (void)gameday::ResourceWatch::Describe(kind, display, &after, nullptr);
        before = after;
      }
    }
    gameday::NodeExpectation expected;
    expected.grace_s = gameday::GraceFlagOf(doc);
    for (const rapidjson::Value* object : objects) {
      (void)gameday::ReadNodeState(*object);
      (void)gameday::GraceFlagOf(*object);
      (void)gameday::ToleratesFor(*object, gameday::kUnreachableTaint);
      gameday::AddNodePod(*object, &expected);
      (void)gameday::ParseClusterJournal(*object);
      for (const char* container : {"", "app"}) {
        const gameday::ContainerSettings settings =
            gameday::ReadContainerSettings(*object, container);
        const gameday::ContainerStages stages = gameday::ReadContainerStages(*object, container);
        for (bool freeze : {false, true}) {
          (void)gameday::ExpectedContainerTimeline(freeze, settings, stages, gameday::WallTime{});
          (void)gameday::MeasuredContainerStages(freeze, gameday::ContainerStages{}, stages,
                                                 stages.died);
        }
      }
    }
    (void)gameday::ExpectationNote(expected, gameday::NodeStages{});
  }
  (void)gameday::ParseGoDuration(body.substr(0, 40));
  for (const char* api :
       {"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"}) {
    (void)gameday::ParseExecCredential(body, api);
  }
  (void)gameday::ParseKubeTime(body);
  return 0;
}
