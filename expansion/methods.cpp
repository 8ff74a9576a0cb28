#include "expansion/methods.h"

#include "common/error.h"

namespace tleg {

const std::vector<Method>& methods() {
  static const std::vector<Method> table = {
      {.name = "tleg",
       .label = "TLEG",
       .colour = "#d62728",
       .init = "tleg",
       .needs_learngene = true},
      {.name = "scratch", .label = "Scratch", .colour = "#1f77b4", .init = "scratch"},
      // scratch's competitor: no pre-trained weights either
      {.name = "mimetic", .label = "Mimetic", .colour = "#8c564b", .init = "mimetic"},
      {.name = "scratch-long", .label = "Scratch (long)", .colour = "#17becf", .init = "scratch"},
      {.name = "prefin",
       .label = "Pre-Fin",
       .colour = "#2ca02c",
       .init = "prefin",
       .needs_pretrained = true},
      {.name = "subset",
       .label = "Pre-trained subset",
       .colour = "#9467bd",
       .init = "subset",
       .needs_pretrained = true},
      {.name = "weight-selection",
       .label = "Weight selection",
       .colour = "#e377c2",
       .init = "weight-selection",
       .needs_pretrained = true},
      {.name = "heur-lg",
       .label = "Heur-LG",
       .colour = "#7f7f7f",
       .init = "heur-lg",
       .needs_pretrained = true},
      {.name = "auto-lg",
       .label = "Auto-LG",
       .colour = "#bcbd22",
       .init = "auto-lg",
       .needs_pretrained = true},
  };
  return table;
}

const Method* find_method(std::string_view name) {
  for (const Method& method : methods())
    if (method.name == name) return &method;
  return nullptr;
}

std::vector<std::string> initializer_names() {
  std::vector<std::string> names;
  for (const Method& method : methods())
    if (method.init == method.name) names.push_back(method.name);
  return names;
}

void check_initializer(const std::string& name) {
  const auto names = initializer_names();
  for (const auto& known : names)
    if (known == name) return;
  std::string list;
  for (const auto& known : names) list += (list.empty() ? "" : ", ") + known;
  fail("unknown --init '", name, "': use ", list);
}

}  // namespace tleg
