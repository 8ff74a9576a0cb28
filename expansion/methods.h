// The stage-2 methods in one table: each family of models the report compares, the initialiser
// its models start from, what that needs, and how tables and plots show it. Method names are
// looked up here, where they enter (options, run.json); everything else asks this table.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tleg {

struct Method {
  std::string name;    // as options, run.json and the profiles write it
  std::string label;   // as tables and plots show it
  std::string colour;  // in every plot
  // The initialiser (--init) its models start from: scratch-long is scratch trained for its own,
  // longer budget.
  std::string init;
  bool needs_learngene = false;   // --learngene
  bool needs_pretrained = false;  // a pre-trained model (--from, or --prefin-from's runs)
};

// In the order tables list them.
const std::vector<Method>& methods();
// The method named `name`; nothing for the run kinds that are no method (teacher, aux, ...).
const Method* find_method(std::string_view name);
// The initialisers --init takes, in the table's order.
std::vector<std::string> initializer_names();
// Fails naming the initialisers when `name` is not one.
void check_initializer(const std::string& name);

}  // namespace tleg
