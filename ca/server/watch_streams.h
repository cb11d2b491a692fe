// WatchStreams: the agents' Watch streams, written without a thread each.
//
// Each stream is a gRPC callback reactor; one writer thread serves them all.
// A stream is scheduled when its subscription receives an event, when its
// last write completes, when the agent goes away, or when it has been quiet
// for the heartbeat; the writer then writes the event (or a checkpoint), one
// write in flight per stream. Before every write after the first it checks
// the caller again, so a revoked or expired identity, or a disabled cluster,
// ends the stream at its next event or heartbeat. Idle streams cost memory
// only: nothing polls them.
#ifndef MESHTRUST_CA_SERVER_WATCH_STREAMS_H_
#define MESHTRUST_CA_SERVER_WATCH_STREAMS_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <deque>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "ca/core/authority.h"
#include "ca/core/watch_hub.h"
#include "meshtrust/v1/meshtrust.pb.h"

namespace meshtrust::ca {

class WatchStreams {
 public:
  // `authority` must outlive this. `heartbeat`: how long a stream may stay
  // quiet before it is sent a checkpoint.
  WatchStreams(Authority* authority, std::chrono::milliseconds heartbeat);
  // Stops the writer. The gRPC server must have shut down first (it ends
  // every stream).
  ~WatchStreams();
  WatchStreams(const WatchStreams&) = delete;
  WatchStreams& operator=(const WatchStreams&) = delete;

  // A reactor for a stream of `sub`'s events to `caller`, already
  // authorized; gRPC owns it until it is done.
  grpc::ServerWriteReactor<v1::WatchEvent>* Open(const Caller& caller,
                                                 std::shared_ptr<WatchHub::Subscription> sub)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A reactor that ends the call at once with `status`.
  static grpc::ServerWriteReactor<v1::WatchEvent>* Refuse(const grpc::Status& status);

  // Streams open now.
  int open() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class Stream;
  class Reactor;

  // Queues `stream` for the writer (once, however often it is asked).
  void Schedule(const std::shared_ptr<Stream>& stream) ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(Stream* stream) ABSL_LOCKS_EXCLUDED(mu_);
  void WriterLoop() ABSL_LOCKS_EXCLUDED(mu_);
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !ready_.empty(); }
  // Does what `stream` needs now: write its next event, its heartbeat, or
  // finish it. Only the writer thread calls it.
  void Serve(Stream& stream);
  // Schedules every quiet stream whose heartbeat is due.
  void ScheduleHeartbeats(std::chrono::steady_clock::time_point now) ABSL_LOCKS_EXCLUDED(mu_);

  // What the subscriptions' listeners reach this object through: cleared
  // (under its mutex) before this object goes, so a listener already called
  // when it goes never touches it.
  struct Owner {
    absl::Mutex mu;
    WatchStreams* streams ABSL_GUARDED_BY(mu);
  };

  Authority* const authority_;
  const std::chrono::milliseconds heartbeat_;
  const std::shared_ptr<Owner> owner_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Stream*, std::shared_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<Stream>> ready_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace meshtrust::ca

#endif  // MESHTRUST_CA_SERVER_WATCH_STREAMS_H_
