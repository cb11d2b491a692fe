// YAML configuration files for the binaries: `--config FILE`.
//
// Each top-level key names a subcommand and holds that subcommand's flags,
// written without their dashes; top-level scalars are the program's own
// flags. Values are scalars or lists of scalars; a boolean flag takes true
// or false. For example, for `meshtrust-agent run --config agent.yaml`:
//
//   log-format: json
//   run:
//     ca: meshtrust-ca.meshtrust-system:8443
//     cluster: cluster1
//     reconcile-seconds: 30
//
// A flag given on the command line or in the environment wins over the file.
// An unknown section or field, a map where a value belongs, and YAML that
// does not parse are errors that name the file and the field; values are
// checked exactly as on the command line.
#ifndef MESHTRUST_BASE_YAML_CONFIG_H_
#define MESHTRUST_BASE_YAML_CONFIG_H_

#include "CLI/CLI.hpp"

namespace meshtrust {

// Adds --config to `app` (the root of the command tree, which must outlive
// parsing) and reads it as YAML.
void EnableYamlConfig(CLI::App* app);

}  // namespace meshtrust

#endif  // MESHTRUST_BASE_YAML_CONFIG_H_
