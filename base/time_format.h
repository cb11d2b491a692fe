// Times as people and other programs read them.
#ifndef MESHTRUST_BASE_TIME_FORMAT_H_
#define MESHTRUST_BASE_TIME_FORMAT_H_

#include <string>

#include "base/clock.h"

namespace meshtrust {

// RFC 3339 in UTC to the second, "2026-12-02T23:53:31Z" (sub-seconds are
// dropped). Used in logs, status files and Kubernetes annotations.
std::string Rfc3339(TimePoint t);

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_TIME_FORMAT_H_
