// A gRPC server interceptor that writes one log line per call: method,
// caller, status code, duration and the client's x-request-id, so a refusal
// an agent or operator reports ("request 3f2a...") can be found in the CA's
// log. Failed calls log at info, successful ones at debug (the signing path
// is hot).
#ifndef MESHTRUST_CA_SERVER_ACCESS_LOG_H_
#define MESHTRUST_CA_SERVER_ACCESS_LOG_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

namespace meshtrust::ca {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewAccessLogFactory();

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_ACCESS_LOG_H_
