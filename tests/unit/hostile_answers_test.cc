// Answers from the outside world built to crash a recursive parser or to exhaust memory: deep
// JSON from the Kubernetes API (calls, error bodies, watch events), an endless watch line, deep or
// oversized etcd answers, a deep exec-credential plugin output. Each must become a clear error
// (or a watch interruption), never a crash. An in-process HTTP server on 127.0.0.1 plays the
// server; nothing here needs a real cluster.
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "clients/etcd/etcd_client.h"
#include "clients/kubernetes/client.h"
#include "clients/kubernetes/credentials.h"
#include "clients/kubernetes/watch.h"

namespace gameday {
namespace {

using std::chrono::milliseconds;

// 300,000 '[': RapidJSON's recursive parse needs far more stack than a thread has.
const std::string& DeepArray() {
  static const std::string deep(300000, '[');
  return deep;
}

std::string DeepObject(size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += "{\"a\":";
  return s;
}

struct Answer {
  int status = 200;
  std::string body;
};

// Serves what `route` says for each request's URI (path and query).
class FakeServer {
 public:
  explicit FakeServer(std::function<Answer(const std::string& uri)> route)
      : route_(std::move(route)), socket_(Poco::Net::SocketAddress("127.0.0.1", 0)) {
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(4);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(&route_), socket_, params);
    server_->start();
  }
  ~FakeServer() {
    server_->stopAll(true);
    Poco::ThreadPool::defaultPool().joinAll();  // connections finish before the server goes
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(socket_.address().port()); }

 private:
  class Handler : public Poco::Net::HTTPRequestHandler {
   public:
    explicit Handler(const std::function<Answer(const std::string&)>* route) : route_(route) {}
    void handleRequest(Poco::Net::HTTPServerRequest& request,
                       Poco::Net::HTTPServerResponse& response) override {
      Answer a = (*route_)(request.getURI());
      response.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(a.status));
      response.setContentType("application/json");
      response.setContentLength(static_cast<std::streamsize>(a.body.size()));
      response.send().write(a.body.data(), static_cast<std::streamsize>(a.body.size()));
    }

   private:
    const std::function<Answer(const std::string&)>* route_;
  };
  class Factory : public Poco::Net::HTTPRequestHandlerFactory {
   public:
    explicit Factory(const std::function<Answer(const std::string&)>* route) : route_(route) {}
    Poco::Net::HTTPRequestHandler* createRequestHandler(
        const Poco::Net::HTTPServerRequest&) override {
      return new Handler(route_);
    }

   private:
    const std::function<Answer(const std::string&)>* route_;
  };

  std::function<Answer(const std::string&)> route_;
  Poco::Net::ServerSocket socket_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
};

std::shared_ptr<KubeClient> ClientFor(const FakeServer& server) {
  KubeConfig config;
  config.source = "test";
  config.cluster.server = server.url();
  KubeClientOptions options;
  options.max_attempts = 1;
  options.timeout = std::chrono::seconds(10);
  Result<std::shared_ptr<KubeClient>> client = KubeClient::Create(config, options);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? *client : nullptr;
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(HostileAnswersTest, DeepKubernetesAnswerIsAnErrorNotACrash) {
  for (const std::string& deep : {DeepArray(), DeepObject(200000)}) {
    FakeServer server([&](const std::string&) { return Answer{200, deep}; });
    auto client = ClientFor(server);
    ASSERT_NE(client, nullptr);
    KubeRequest req;
    req.verb = "get";
    req.ref = ResourceRef::Core("pods", "shop", "web-1");
    Result<rapidjson::Document> doc = client->CallJson(req);
    ASSERT_FALSE(doc.ok());
    EXPECT_TRUE(
        Contains(doc.status().message(), "get pods: the API server's answer cannot be read"))
        << doc.status().ToString();
    EXPECT_TRUE(Contains(doc.status().message(), "nested deeper than 128"))
        << doc.status().ToString();

    // The same answer as a list page.
    Result<std::string> listed = client->List(ResourceRef::Core("pods", "shop"), ListOptions{},
                                              [](const rapidjson::Value&) { return Status::Ok(); });
    ASSERT_FALSE(listed.ok());
    EXPECT_TRUE(Contains(listed.status().message(), "nested deeper than 128"));
  }
}

TEST(HostileAnswersTest, DeepKubernetesErrorBodyStillGivesTheStatus) {
  FakeServer server([](const std::string&) { return Answer{404, DeepArray()}; });
  auto client = ClientFor(server);
  ASSERT_NE(client, nullptr);
  KubeRequest req;
  req.ref = ResourceRef::Core("pods", "shop", "web-1");
  Result<KubeResponse> r = client->Call(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound) << r.status().ToString();
}

TEST(HostileAnswersTest, WatchLineOverTheCapEndsTheStreamCleanly) {
  // 17 MiB without a newline: never an event, and it must not grow without bound.
  const std::string endless(17u << 20, 'x');
  FakeServer server([&](const std::string&) { return Answer{200, endless}; });
  auto client = ClientFor(server);
  ASSERT_NE(client, nullptr);
  KubeRequest req;
  req.verb = "watch";
  req.ref = ResourceRef::Core("pods", "shop");
  int lines = 0;
  Status st = client->Stream(req, [&](const std::string&) {
    ++lines;
    return true;
  });
  EXPECT_EQ(lines, 0);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.message(),
            "watch pods: the API server sent a line longer than 16777216 bytes; the stream was "
            "closed");
}

TEST(HostileAnswersTest, DeepWatchEventInterruptsTheWatchWithAReason) {
  FakeServer server([](const std::string& uri) {
    if (Contains(uri, "watch=1")) return Answer{200, DeepArray() + "\n"};
    return Answer{200, R"({"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]})"};
  });
  auto client = ClientFor(server);
  ASSERT_NE(client, nullptr);
  ResourceWatchOptions options;
  options.namespaces = {"shop"};
  options.nodes = false;
  options.reconnect_delay = milliseconds(20);
  options.watch_seconds = 5;
  ResourceWatch watch(client, options);
  watch.Start(Clock::Real().Now());
  const std::string want =
      "watch of pods interrupted: an event from the API server cannot be read: JSON: nested "
      "deeper than 128 at byte 128";
  bool seen = false;
  for (int i = 0; i < 500 && !seen; ++i) {
    for (const TimelineEvent& ev : watch.Events()) seen = seen || ev.message == want;
    if (!seen) std::this_thread::sleep_for(milliseconds(10));
  }
  watch.Stop();
  std::string all;
  for (const TimelineEvent& ev : watch.Events()) all += ev.message + "\n";
  EXPECT_TRUE(seen) << all;
}

TEST(HostileAnswersTest, DeepOrHugeEtcdAnswerIsAnError) {
  FakeServer server([](const std::string& uri) {
    if (Contains(uri, "/v3/maintenance/status")) return Answer{200, DeepArray()};
    return Answer{200, "{\"members\":[" + std::string(2u << 20, ' ') + "]}"};
  });
  Result<EtcdMemberStatus> status =
      GetEtcdStatus(server.url(), std::chrono::seconds(10), EtcdTls{});
  ASSERT_FALSE(status.ok());
  EXPECT_TRUE(Contains(status.status().message(), "unreadable status answer: JSON: nested deeper"))
      << status.status().ToString();
  Result<std::vector<EtcdMember>> members =
      ListEtcdMembers(server.url(), std::chrono::seconds(10), EtcdTls{});
  ASSERT_FALSE(members.ok());
  EXPECT_TRUE(Contains(members.status().message(), "the answer is larger than 1048576 bytes"))
      << members.status().ToString();
}

TEST(HostileAnswersTest, DeepExecCredentialIsAnError) {
  Result<ExecCredential> cred = ParseExecCredential(DeepArray(), "");
  ASSERT_FALSE(cred.ok());
  EXPECT_TRUE(Contains(cred.status().message(), "nested deeper than 128"))
      << cred.status().ToString();
}

}  // namespace
}  // namespace gameday
