#include "tests/testing/softhsm.h"

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/testing/subprocess.h"

namespace meshtrust::testing {

SoftHsmToken::SoftHsmToken(const std::string& label, const std::string& extra_config)
    : label_(label) {
  if (!std::filesystem::exists(kSoftHsmModule)) {
    error_ = std::string("SoftHSM2 is not installed (") + kSoftHsmModule +
             "); run scripts/install-deps.sh";
    return;
  }
  token_dir_ = dir_.Sub("tokens");
  conf_ = dir_.Sub("softhsm2.conf");
  pin_file_ = dir_.Sub("pin");
  std::filesystem::create_directory(token_dir_);
  {
    std::ofstream conf(conf_);
    conf << "directories.tokendir = " << token_dir_ << "\n"
         << "objectstore.backend = file\n"
         << "log.level = ERROR\n"
         << extra_config << "\n";
  }
  {
    std::ofstream pin(pin_file_);
    pin << pin_ << "\n";
  }
  ::chmod(pin_file_.c_str(), 0600);
  ::setenv("SOFTHSM2_CONF", conf_.c_str(), 1);
  CommandResult init =
      RunCommand("softhsm2-util --init-token --free --label " + ShellQuote(label_) + " --pin " +
                 ShellQuote(pin_) + " --so-pin 0000-so-meshtrust");
  if (init.exit_code != 0) error_ = "softhsm2-util --init-token failed: " + init.output;
}

SoftHsmToken::~SoftHsmToken() { ::unsetenv("SOFTHSM2_CONF"); }

std::string SoftHsmToken::Uri() const {
  return "pkcs11:token=" + label_ + "?module-path=" + kSoftHsmModule +
         "&pin-source=file:" + pin_file_;
}

bool SoftHsmToken::Remove() {
  return std::rename(token_dir_.c_str(), dir_.Sub("tokens.away").c_str()) == 0;
}

bool SoftHsmToken::Restore() {
  return std::rename(dir_.Sub("tokens.away").c_str(), token_dir_.c_str()) == 0;
}

}  // namespace meshtrust::testing
