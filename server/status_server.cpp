#include "server/status_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "common/clock.h"
#include "common/json.h"
#include "common/logging.h"
#include "server/status_page.h"

namespace streamrec::server {

Status StatusServerOptions::Validate() const {
  if (commit_stall_s < 5 || commit_stall_s > 86400) return Status::InvalidArgument("http.commit_stall_s must be in 5..86400");
  return Status::Ok();
}

HealthSnapshot JudgeHealth(HealthSnapshot s, int64_t now_ms, int64_t commit_stall_ms) {
  if (!s.problem.empty() || s.uncommitted_since_ms == 0) return s;
  const int64_t waited_ms = now_ms - s.uncommitted_since_ms;
  if (waited_ms <= commit_stall_ms) return s;
  s.problem = fmt::format("no commit for {} s: events applied since then are not durable (last commit {} s ago)",
                          waited_ms / 1000, s.last_commit_ms > 0 ? std::to_string((now_ms - s.last_commit_ms) / 1000) : "never");
  s.problem_since_ms = s.uncommitted_since_ms + commit_stall_ms;
  return s;
}

std::string HealthJson(const HealthSnapshot& s) {
  const bool lost = s.events_lost > 0 || s.dead_letters_dropped > 0;
  const char* status = !s.problem.empty() ? "failing" : lost ? "degraded" : "ok";
  std::string out = fmt::format(R"({{"status":"{}")", status);
  if (s.problem.empty() && s.events_lost > 0) {
    out += fmt::format(R"(,"warning":"{} events were deleted by the broker before they were read")",
                       s.events_lost);
  } else if (s.problem.empty() && s.dead_letters_dropped > 0) {
    out += fmt::format(R"(,"warning":"{} rejected messages could not be written to the dead-letter topic")",
                       s.dead_letters_dropped);
  }
  if (!s.problem.empty()) {
    out += R"(,"problem":)";
    AppendJsonString(s.problem, &out);
    out += fmt::format(R"(,"problem_since_ms":{})", s.problem_since_ms);
  }
  out += fmt::format(R"(,"applied_events":{},"last_commit_ms":{},"uncommitted_since_ms":{},"partitions":{}}})",
                     s.applied_total, s.last_commit_ms, s.uncommitted_since_ms, s.partitions);
  return out + "\n";
}

struct StatusServer::Impl {
  StatusServerOptions options;
  const HealthBoard* board = nullptr;
  UserLookups* lookups = nullptr;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::shared_ptr<spdlog::logger> log = ModuleLogger("http");

  HealthSnapshot Judged() const {
    return JudgeHealth(board->Get(), NowMillis(), static_cast<int64_t>(options.commit_stall_s) * 1000);
  }
};

StatusServer::StatusServer(StatusServerOptions options, const HealthBoard* board, UserLookups* lookups)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->board = board;
  impl_->lookups = lookups;
}

void StatusServer::Route() {
  impl_->server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(StatusPageHtml()), "text/html; charset=utf-8");
  });
  impl_->server.Get("/status.json", [this](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(StatusJson(impl_->Judged(), NowMillis()), "application/json");
  });
  impl_->server.Get("/api/user", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.get_param_value("id");
    std::string answer;
    if (id.empty() || impl_->lookups == nullptr) {
      res.status = id.empty() ? 400 : 404;
      res.set_content(id.empty() ? R"({"error":"give ?id=<user id>"})" : R"({"error":"no look-ups here"})",
                      "application/json");
      return;
    }
    if (!impl_->lookups->Ask(id, std::chrono::milliseconds(2000), &answer)) {
      res.status = 503;
      res.set_content(R"j({"error":"the pipeline did not answer in 2 s (stopped, or busy)"})j", "application/json");
      return;
    }
    res.status = answer.starts_with(R"({"error")") ? 404 : 200;
    res.set_content(answer, "application/json");
  });
}

StatusServer::~StatusServer() { Stop(); }

Status StatusServer::Start() {
  STREAMREC_RETURN_IF_ERROR(impl_->options.Validate());
  const std::string& listen = impl_->options.listen;
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    try {
      port = std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
      port = -1;
    }
  }
  if (colon == std::string::npos || port < 0 || port > 65535) {
    return Status::InvalidArgument("http.listen must be host:port, got '" + listen + "'");
  }
  const std::string host = listen.substr(0, colon);
  Route();
  impl_->server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const HealthSnapshot s = impl_->Judged();
    res.status = s.problem.empty() ? 200 : 503;
    res.set_content(HealthJson(s), "application/json");
  });
  impl_->server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    try {  // prometheus-cpp throws on a malformed name or label: never past this handler
      res.set_content(MetricsText(impl_->Judged(), NowMillis()), "text/plain; version=0.0.4");
    } catch (const std::exception& e) {
      impl_->log->error("/metrics: {}", e.what());
      res.status = 500;
      res.set_content(std::string("metrics: ") + e.what() + "\n", "text/plain");
    }
  });
  // cpp-httplib's default socket options add SO_REUSEPORT: a second instance
  // on this host would then share the port and answer half the probes for
  // the first. SO_REUSEADDR alone (restart while old connections linger).
  impl_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  impl_->port = port == 0 ? impl_->server.bind_to_any_port(host) : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (impl_->port <= 0) {
    return Status::InvalidArgument("http.listen " + listen + ": cannot bind (address in use? port 0 picks a free one)");
  }
  impl_->thread = std::thread([this] {
    try {
      impl_->server.listen_after_bind();
    } catch (const std::exception& e) {  // never let an exception leave the thread
      impl_->log->error("status server stopped: {}", e.what());
    }
  });
  // cpp-httplib's stop() does nothing until listening has begun: a Stop()
  // right after Start() would leave the thread listening and the join
  // hanging. Return only once it listens (microseconds; bounded).
  for (int i = 0; i < 2000 && !impl_->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->log->info("status endpoint at http://{0}:{1}/health and /metrics; the status page at http://{0}:{1}/", host,
                   impl_->port);
  return Status::Ok();
}

void StatusServer::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

int StatusServer::port() const { return impl_->port; }

}  // namespace streamrec::server
