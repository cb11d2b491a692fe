#include "ca/server/access_log.h"

#include <grpcpp/grpcpp.h>

#include <chrono>

#include "base/logging.h"
#include "ca/server/grpc_service.h"

namespace meshtrust::ca {
namespace {

using grpc::experimental::InterceptionHookPoints;

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

class AccessLog final : public grpc::experimental::Interceptor {
 public:
  explicit AccessLog(grpc::experimental::ServerRpcInfo* info)
      : info_(info), start_(std::chrono::steady_clock::now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* metadata = methods->GetRecvInitialMetadata();
      auto it = metadata->find("x-request-id");
      // Bounded and printable only: it goes into the log verbatim.
      if (it != metadata->end() && it->second.size() <= 64) {
        std::string id(it->second.data(), it->second.size());
        bool printable = std::all_of(id.begin(), id.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
        });
        if (printable) request_id_ = std::move(id);
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start_)
                    .count() /
                1000.0;
      std::string caller = "anonymous";
      if (const grpc::ServerContextBase* context = info_->server_context()) {
        absl::StatusOr<Caller> c = CallerFromContext(context);
        caller = c.ok() ? c->ToString() : "unreadable client certificate";
      }
      spdlog::level::level_enum level = status.ok() ? spdlog::level::debug : spdlog::level::info;
      spdlog::log(level, "grpc {} by {}: {} in {:.1f} ms (request {}){}{}", info_->method(), caller,
                  CodeName(status.error_code()), ms, request_id_.empty() ? "-" : request_id_,
                  status.ok() ? "" : ": ", status.error_message());
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ServerRpcInfo* info_;
  std::chrono::steady_clock::time_point start_;
  std::string request_id_;
};

class AccessLogFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new AccessLog(info);  // gRPC takes ownership.
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewAccessLogFactory() {
  return std::make_unique<AccessLogFactory>();
}

}  // namespace meshtrust::ca
