// meshtrust-kube-emulator: the Kubernetes API emulator as a process, for the
// demo and for driving with kubectl by hand.
//
//   meshtrust-kube-emulator --port-file F --kubeconfig-dir DIR
//       [--token NAME=TOKEN:RULES]...
// Writes DIR/admin.kubeconfig (all rights) and serves until SIGTERM/SIGINT.
#include <signal.h>

#include <cstdio>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "base/files.h"
#include "tests/kube_emulator/kube_emulator.h"

int main(int argc, char** argv) {
  CLI::App app{"meshtrust-kube-emulator: a Kubernetes API emulator for tests and the demo"};
  int port = 0;
  std::string port_file, kubeconfig_dir;
  app.add_option("--port", port, "Port on 127.0.0.1 (0 picks one)");
  app.add_option("--port-file", port_file, "Write the port here once listening");
  app.add_option("--kubeconfig-dir", kubeconfig_dir, "Write admin.kubeconfig here")->required();
  CLI11_PARSE(app, argc, argv);

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto emulator = meshtrust::testing::KubeEmulator::Start(port);
  if (!emulator.ok()) {
    std::fprintf(stderr, "meshtrust-kube-emulator: %s\n", emulator.status().ToString().c_str());
    return 1;
  }
  std::string token = "admin-token";
  (*emulator)->AddToken(token, {"kubernetes-admin", {meshtrust::testing::KubeRule{}}});
  if (auto s = (*emulator)->WriteKubeconfig(kubeconfig_dir + "/admin.kubeconfig", token); !s.ok()) {
    std::fprintf(stderr, "meshtrust-kube-emulator: %s\n", s.ToString().c_str());
    return 1;
  }
  std::string url = (*emulator)->server_url();
  if (!port_file.empty()) {
    (void)meshtrust::WriteFileAtomically(port_file, url.substr(url.rfind(':') + 1) + "\n", 0644);
  }
  std::fprintf(stderr, "meshtrust-kube-emulator serving on %s\n", url.c_str());
  int sig = 0;
  sigwait(&stop, &sig);
  return 0;
}
