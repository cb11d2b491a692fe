#include "ca/server/watch_streams.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/time/time.h"
#include "ca/server/grpc_service.h"

namespace meshtrust::ca {
namespace {

// How often the writer looks for streams whose heartbeat is due.
std::chrono::milliseconds SweepInterval(std::chrono::milliseconds heartbeat) {
  return std::clamp(heartbeat / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
}

v1::WatchEvent::Type ToProto(WatchEventType type) {
  switch (type) {
    case WatchEventType::kBundleChanged:
      return v1::WatchEvent::BUNDLE_CHANGED;
    case WatchEventType::kCrlChanged:
      return v1::WatchEvent::CRL_CHANGED;
    case WatchEventType::kRotateNow:
      return v1::WatchEvent::ROTATE_NOW;
  }
  return v1::WatchEvent::CHECKPOINT;
}

class RefusedReactor final : public grpc::ServerWriteReactor<v1::WatchEvent> {
 public:
  explicit RefusedReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

// One stream's state, shared by its reactor (until gRPC is done with it),
// the writer queue and the subscription's listener.
class WatchStreams::Stream {
 public:
  Stream(Caller caller, std::shared_ptr<WatchHub::Subscription> sub)
      : caller_(std::move(caller)), sub_(std::move(sub)) {}

  const Caller& caller() const { return caller_; }
  WatchHub::Subscription& sub() { return *sub_; }

  // Writer-thread state: read and written by the writer only.
  Reactor* reactor = nullptr;  // Valid until finished.
  bool finished = false;
  bool greeted = false;    // The first checkpoint was written.
  v1::WatchEvent message;  // The write in flight.

  // Set by gRPC's callbacks, read by the writer.
  void WriteDone(bool ok) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) gone_ = true;
  }
  void Gone() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    gone_ = true;
  }
  // What the writer may do: nothing while a write is in flight.
  enum class Next { kWait, kFinish, kWrite };
  Next Check() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (writing_) return Next::kWait;
    return gone_ ? Next::kFinish : Next::kWrite;
  }
  bool Quiet(std::chrono::steady_clock::time_point since) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return !writing_ && quiet_since_ <= since;
  }
  // A write starts at `at`: the stream is not quiet from then on.
  void Writing(std::chrono::steady_clock::time_point at) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    writing_ = true;
    quiet_since_ = at;
  }
  // In the writer's queue (set and cleared under WatchStreams::mu_).
  bool queued = false;

 private:
  const Caller caller_;
  const std::shared_ptr<WatchHub::Subscription> sub_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool gone_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point quiet_since_ ABSL_GUARDED_BY(mu_);
};

class WatchStreams::Reactor final : public grpc::ServerWriteReactor<v1::WatchEvent> {
 public:
  Reactor(WatchStreams* owner, std::shared_ptr<Stream> stream)
      : owner_(owner), stream_(std::move(stream)) {}

  void OnWriteDone(bool ok) override {
    stream_->WriteDone(ok);
    owner_->Schedule(stream_);
  }
  void OnCancel() override {
    stream_->Gone();
    owner_->Schedule(stream_);
  }
  void OnDone() override {
    stream_->sub().Close();
    owner_->Forget(stream_.get());
    delete this;
  }

 private:
  WatchStreams* const owner_;
  const std::shared_ptr<Stream> stream_;
};

WatchStreams::WatchStreams(Authority* authority, std::chrono::milliseconds heartbeat)
    : authority_(authority), heartbeat_(heartbeat), owner_(std::make_shared<Owner>()) {
  {
    absl::MutexLock lock(&owner_->mu);
    owner_->streams = this;
  }
  writer_ = std::thread([this] { WriterLoop(); });
}

WatchStreams::~WatchStreams() {
  {
    // Waits for a listener running now; later ones find no owner.
    absl::MutexLock lock(&owner_->mu);
    owner_->streams = nullptr;
  }
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
}

grpc::ServerWriteReactor<v1::WatchEvent>* WatchStreams::Refuse(const grpc::Status& status) {
  return new RefusedReactor(status);
}

grpc::ServerWriteReactor<v1::WatchEvent>* WatchStreams::Open(
    const Caller& caller, std::shared_ptr<WatchHub::Subscription> sub) {
  auto stream = std::make_shared<Stream>(caller, std::move(sub));
  auto* reactor = new Reactor(this, stream);
  stream->reactor = reactor;
  {
    absl::MutexLock lock(&mu_);
    streams_.emplace(stream.get(), stream);
  }
  std::weak_ptr<Stream> weak = stream;
  stream->sub().SetListener([owner = owner_, weak] {
    std::shared_ptr<Stream> s = weak.lock();
    if (s == nullptr) return;
    absl::MutexLock lock(&owner->mu);
    if (owner->streams != nullptr) owner->streams->Schedule(s);
  });
  // The first write, a checkpoint, tells the agent the stream is live.
  Schedule(stream);
  return reactor;
}

int WatchStreams::open() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(streams_.size());
}

void WatchStreams::Schedule(const std::shared_ptr<Stream>& stream) {
  absl::MutexLock lock(&mu_);
  if (stream->queued) return;
  stream->queued = true;
  ready_.push_back(stream);
}

void WatchStreams::Forget(Stream* stream) {
  absl::MutexLock lock(&mu_);
  streams_.erase(stream);
}

void WatchStreams::ScheduleHeartbeats(std::chrono::steady_clock::time_point now) {
  absl::MutexLock lock(&mu_);
  for (auto& [ptr, stream] : streams_) {
    if (!stream->queued && stream->Quiet(now - heartbeat_)) {
      stream->queued = true;
      ready_.push_back(stream);
    }
  }
}

void WatchStreams::WriterLoop() {
  const std::chrono::milliseconds sweep = SweepInterval(heartbeat_);
  auto next_sweep = std::chrono::steady_clock::now() + sweep;
  while (true) {
    std::deque<std::shared_ptr<Stream>> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(this, &WatchStreams::HasWork),
                           absl::FromChrono(next_sweep - std::chrono::steady_clock::now()));
      if (stopping_) return;
      batch.swap(ready_);
      for (auto& s : batch) s->queued = false;
    }
    for (auto& s : batch) Serve(*s);
    auto now = std::chrono::steady_clock::now();
    if (now >= next_sweep) {
      ScheduleHeartbeats(now);
      next_sweep = now + sweep;
    }
  }
}

void WatchStreams::Serve(Stream& stream) {
  if (stream.finished) return;
  switch (stream.Check()) {
    case Stream::Next::kWait:
      return;
    case Stream::Next::kFinish:
      stream.finished = true;
      stream.reactor->Finish(grpc::Status::OK);
      return;
    case Stream::Next::kWrite:
      break;
  }
  auto now = std::chrono::steady_clock::now();
  v1::WatchEvent& e = stream.message;
  e.Clear();
  if (!stream.greeted) {
    stream.greeted = true;
  } else {
    std::optional<WatchEventType> next = stream.sub().TryNext();
    bool heartbeat_due = stream.Quiet(now - heartbeat_);
    if (!next.has_value() && !heartbeat_due) return;
    // A stream outlives the checks made when it opened: before each write,
    // end it if the identity was revoked or expired, or the cluster disabled.
    if (absl::Status s = authority_->Reauthorize(stream.caller(), "Watch"); !s.ok()) {
      stream.finished = true;
      stream.reactor->Finish(ToGrpcStatus(s));
      return;
    }
    if (next.has_value()) e.set_type(ToProto(*next));
  }
  if (e.type() == v1::WatchEvent::TYPE_UNSPECIFIED) {
    e.set_type(v1::WatchEvent::CHECKPOINT);
    AuditCheckpoint c = authority_->Checkpoint();
    e.mutable_checkpoint()->set_sequence(c.sequence);
    e.mutable_checkpoint()->set_head_hash(c.head_hash);
    e.mutable_checkpoint()->set_signature(c.signature);
  }
  stream.Writing(now);
  stream.reactor->StartWrite(&stream.message);
}

}  // namespace meshtrust::ca
