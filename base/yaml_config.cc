#include "base/yaml_config.h"

#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "yaml-cpp/yaml.h"

namespace meshtrust {
namespace {

constexpr size_t kMaxConfigBytes = 1 << 20;

class YamlConfig : public CLI::Config {
 public:
  explicit YamlConfig(const CLI::App* root) : root_(root) {}

  // Writing a configuration back out is not offered.
  std::string to_config(const CLI::App*, bool, bool, std::string) const override { return ""; }

  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override {
    std::string text;
    text.assign(std::istreambuf_iterator<char>(input), std::istreambuf_iterator<char>());
    if (text.size() > kMaxConfigBytes) {
      throw CLI::ConfigError(File() + " is larger than 1 MiB");
    }
    YAML::Node doc;
    try {
      doc = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw CLI::ConfigError(File() + " is not valid YAML: " + e.what());
    }
    std::vector<CLI::ConfigItem> items;
    if (doc.IsNull()) return items;
    if (!doc.IsMap()) {
      throw CLI::ConfigError(File() + " must be a map of flags and subcommand sections");
    }
    Collect(root_, doc, {}, &items);
    return items;
  }

 private:
  std::string File() const {
    const CLI::Option* opt = root_->get_config_ptr();
    std::string name = opt != nullptr && opt->count() > 0 ? opt->as<std::string>() : "";
    return "config file " + (name.empty() ? std::string("(unnamed)") : name);
  }

  static std::string Path(const std::vector<std::string>& parents, const std::string& name) {
    std::string out;
    for (const std::string& p : parents) out += p + ".";
    return out + name;
  }

  void Collect(const CLI::App* app, const YAML::Node& map, const std::vector<std::string>& parents,
               std::vector<CLI::ConfigItem>* items) const {
    for (const auto& entry : map) {
      if (!entry.first.IsScalar()) {
        throw CLI::ConfigError(File() + ": keys must be flag or subcommand names");
      }
      std::string key = entry.first.as<std::string>();
      const YAML::Node& value = entry.second;
      std::string where = Path(parents, key);
      if (value.IsMap()) {
        const CLI::App* sub = nullptr;
        try {
          sub = const_cast<CLI::App*>(app)->get_subcommand(key);
        } catch (const CLI::OptionNotFound&) {
        }
        if (sub == nullptr) {
          throw CLI::ConfigError(File() + ": \"" + where +
                                 "\" is not a subcommand; only subcommand sections hold maps");
        }
        std::vector<std::string> inner = parents;
        inner.push_back(key);
        Collect(sub, value, inner, items);
        continue;
      }
      const CLI::Option* option = app->get_option_no_throw("--" + key);
      if (option == nullptr || key == "config" || key == "help") {
        throw CLI::ConfigError(File() + ": unknown field \"" + where +
                               "\"; fields are the command's flags (see --help) without dashes");
      }
      CLI::ConfigItem item;
      item.parents = parents;
      item.name = key;
      if (value.IsScalar()) {
        item.inputs = {value.as<std::string>()};
      } else if (value.IsSequence()) {
        for (const auto& element : value) {
          if (!element.IsScalar()) {
            throw CLI::ConfigError(File() + ": \"" + where + "\" must be a list of plain values");
          }
          item.inputs.push_back(element.as<std::string>());
        }
      } else {
        throw CLI::ConfigError(File() + ": \"" + where + "\" has no value");
      }
      items->push_back(std::move(item));
    }
  }

  const CLI::App* root_;
};

}  // namespace

void EnableYamlConfig(CLI::App* app) {
  app->set_config("--config", "",
                  "YAML file of flags: top-level keys are this program's flags, a section per "
                  "subcommand holds its flags (without dashes); the command line wins");
  app->config_formatter(std::make_shared<YamlConfig>(app));
  app->allow_config_extras(CLI::config_extras_mode::error);
}

}  // namespace meshtrust
