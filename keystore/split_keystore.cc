#include "keystore/split_keystore.h"

#include <algorithm>

namespace meshtrust::keystore {

std::vector<std::string> SplitKeyStore::List() const {
  std::vector<std::string> ids;
  for (const std::string& id : token_->List()) {
    if (in_token_(id)) ids.push_back(id);
  }
  for (const std::string& id : other_->List()) {
    if (!in_token_(id)) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace meshtrust::keystore
