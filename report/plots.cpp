#include "report/plots.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "expansion/methods.h"

namespace tleg::report {

namespace {

// Where the next drawing goes: STEM.png, or STEM.svg on a white background.
std::string png_output(const std::string& stem, const FigureSize& size) {
  return concat("set terminal pngcairo size ", size.width, ",", size.height,
                " noenhanced font 'sans,", size.font, "'\nset output '", stem, ".png'\n");
}
std::string svg_output(const std::string& stem, const FigureSize& size) {
  return concat("set terminal svg size ", size.width, ",", size.height, " noenhanced font 'sans,",
                size.font, "' background '#ffffff'\nset output '", stem, ".svg'\n");
}

}  // namespace

std::string script_header(const std::string& stem, const std::string& job,
                          const std::string& data_layout) {
  return "# " + stem + ".gp: " + job + "\n# Data: " + stem + ".dat (" + data_layout +
         "). Rerun with: gnuplot " + stem +
         ".gp\nreset\nset grid\nset key above center horizontal box\n";
}

// The ending of every script: the same plot as PNG and SVG.
std::string render_both(const std::string& stem, const std::string& plot) {
  return png_output(stem, {}) + "plot " + plot + "\n" + svg_output(stem, {}) +
         "replot\nunset output\n";
}

std::string render_figure(const std::string& stem, const std::string& drawing,
                          const FigureSize& size) {
  return png_output(stem, size) + drawing + svg_output(stem, size) + drawing + "unset output\n";
}

// A string literal for a gnuplot script, whatever the text holds (a method name, a title).
std::string gnuplot_string(const std::string& text) {
  std::string literal = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') literal += '\\';
    literal += c;
  }
  return literal + "\"";
}

namespace {

namespace fs = std::filesystem;

// Colours fixed per method (the methods table) so that every plot reads the same way.
std::string colour_of(const std::string& method) {
  const Method* known = find_method(method);
  return known ? known->colour : "#9467bd";
}

// A unit prefix that keeps axis numbers short: 3.2 PFLOP rather than 3.2e15.
struct AxisScale {
  double factor;
  std::string prefix;
};

AxisScale axis_scale(double largest) {
  for (const auto& [factor, prefix] : std::vector<std::pair<double, std::string>>{
           {1e18, "E"}, {1e15, "P"}, {1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}})
    if (largest >= factor) return {factor, prefix};
  return {1, ""};
}

// The cost plots' data files: one block per series.
constexpr const char* kBlockPerMethod = "one block per method, in the order of the plot command";

PlotFiles accuracy_vs_depth(const ReportData& data) {
  PlotFiles plot{"accuracy_vs_depth", "", ""};
  std::ostringstream dat;
  std::vector<std::string> commands;
  for (std::size_t i = 0; i < data.families.size(); ++i) {
    const Family& f = data.families[i];
    dat << "# " << display_name(f.method) << "\n# depth top1_percent_mean top1_percent_std n\n";
    for (const RunGroup* m : f.models)
      dat << m->depth << " " << 100 * m->top1_mean << " " << 100 * m->top1_std << " " << m->n()
          << "\n";
    dat << "\n\n";
    commands.push_back(concat(
        "'accuracy_vs_depth.dat' index ", i, " using 1:2:3 with yerrorlines lw 2 pt 7 lc rgb '",
        colour_of(f.method), "' title ", gnuplot_string(display_name(f.method))));
  }
  plot.data = dat.str();
  plot.script = script_header(plot.stem, "top-1 accuracy against depth, one line per method",
                              kBlockPerMethod) +
                "set title 'Top-1 accuracy of each depth, per method (error bars: std over "
                "seeds)'\nset xlabel 'depth (number of transformer blocks)'\n"
                "set ylabel 'top-1 accuracy (%)'\nset xtics 1\nset offsets 0.5, 0.5, 0, 0\n" +
                render_both(plot.stem, join(commands, ", \\\n     "));
  return plot;
}

PlotFiles accuracy_vs_cost(const ReportData& data, const AxisScale& scale) {
  PlotFiles plot{"accuracy_vs_cost", "", ""};
  std::ostringstream dat, marks;
  std::vector<std::string> commands;
  for (std::size_t i = 0; i < data.families.size(); ++i) {
    const Family& f = data.families[i];
    dat << "# " << display_name(f.method)
        << "\n# cumulative_training_flops top1_percent depth (models added by increasing depth)\n";
    for (std::size_t m = 0; m < f.models.size(); ++m)
      dat << format_number("%.10g", f.cumulative[m + 1].flops) << " "
          << 100 * f.models[m]->top1_mean << " " << f.models[m]->depth << "\n";
    dat << "\n\n";
    std::string title = display_name(f.method);
    if (!f.pretraining) title += " (pre-training unknown, not counted)";
    commands.push_back(concat("'accuracy_vs_cost.dat' index ", i, " using ($1/", scale.factor,
                              "):2 with linespoints lw 2 pt 7 lc rgb '", colour_of(f.method),
                              "' title ", gnuplot_string(title), ", '' index ", i, " using ($1/",
                              scale.factor,
                              "):2:(sprintf('d=%d', $3)) with labels offset 0,1 notitle"));
    if (f.cumulative.front().flops > 0)  // a curve that starts after a shared stage
      marks << "set arrow from " << f.cumulative.front().flops / scale.factor << ", graph 0 to "
            << f.cumulative.front().flops / scale.factor << ", graph 1 nohead dt 2 lc rgb '"
            << colour_of(f.method) << "'\nset label "
            << gnuplot_string(display_name(f.method) +
                              (f.method == "tleg" ? " stage 1 (aux) done" : " source pre-trained"))
            << " at " << f.cumulative.front().flops / scale.factor
            << ", graph 0.04 rotate by 90 offset -0.8,0 textcolor rgb '" << colour_of(f.method)
            << "'\n";
  }
  plot.data = dat.str();
  plot.script = script_header(plot.stem,
                              "accuracy of each model against the family's cumulative "
                              "training cost when it is ready",
                              kBlockPerMethod) +
                "set title 'Top-1 accuracy against cumulative training cost of the family "
                "(models added by increasing depth)'\nset xlabel 'cumulative training compute "
                "(" +
                scale.prefix +
                "FLOP, pre-training included)'\nset ylabel 'top-1 accuracy "
                "of the model just added (%)'\nset xrange [0:*]\nset offsets 0, graph 0.05, "
                "graph 0.08, graph 0.05\n" +
                marks.str() + render_both(plot.stem, join(commands, ", \\\n     "));
  return plot;
}

PlotFiles cost_vs_models(const ReportData& data, const AxisScale& scale) {
  PlotFiles plot{"cost_vs_models", "", ""};
  std::ostringstream dat;
  std::vector<std::string> commands;
  const auto block = [&](const std::string& title, const std::vector<Cost>& cumulative,
                         const std::string& style) {
    dat << "# " << title << "\n# models_produced cumulative_training_flops\n";
    for (std::size_t m = 0; m < cumulative.size(); ++m)
      dat << m << " " << format_number("%.10g", cumulative[m].flops) << "\n";
    dat << "\n\n";
    commands.push_back(concat("'cost_vs_models.dat' index ", commands.size(), " using 1:($2/",
                              scale.factor, ") with linespoints ", style, " title ",
                              gnuplot_string(title)));
  };
  for (const Family& f : data.families) {
    std::string title = display_name(f.method);
    if (f.method == "tleg") title += " (aux + fine-tunings)";
    if (f.method == "prefin") title += " (pre-train + fine-tune each)";
    if (!f.pretraining) title += " (pre-training unknown, not counted)";
    block(title, f.cumulative, "lw 2 pt 7 lc rgb '" + colour_of(f.method) + "'");
    if (f.method == "tleg" && data.teacher) {
      std::vector<Cost> with_teacher = f.cumulative;
      for (Cost& cost : with_teacher) cost += data.teacher->cost;
      block("TLEG with the teacher's training", with_teacher,
            "lw 2 dt 2 pt 6 lc rgb '" + colour_of(f.method) + "'");
    }
  }
  std::size_t most_models = 0;
  for (const Family& f : data.families) most_models = std::max(most_models, f.models.size());
  plot.data = dat.str();
  plot.script =
      script_header(plot.stem, "cumulative training cost against the number of models produced",
                    kBlockPerMethod) +
      "set title 'Cumulative training cost against the number of models produced "
      "(one per depth, by increasing depth)'\nset xlabel 'models produced (0 = before the "
      "first: shared pre-training only)'\nset ylabel 'cumulative training compute (" +
      scale.prefix + "FLOP)'\n" + concat("set xrange [-0.2:", most_models, ".2]\n") +
      "set xtics 1\nset yrange [0:*]\n" + render_both(plot.stem, join(commands, ", \\\n     "));
  return plot;
}

PlotFiles stored_parameters(const ReportData& data) {
  PlotFiles plot{"stored_parameters", "", ""};
  std::int64_t largest = 0;
  for (const Family& f : data.families) largest = std::max(largest, f.parameters_stored);
  const AxisScale scale = axis_scale(static_cast<double>(largest));
  const std::string unit = scale.prefix == "M"   ? "millions"
                           : scale.prefix == "k" ? "thousands"
                           : scale.prefix == "G" ? "billions"
                                                 : "count";
  std::ostringstream dat;
  dat << "# method parameters_stored colour label\n";
  for (const Family& f : data.families)
    dat << gnuplot_string(display_name(f.method)) << " " << f.parameters_stored << " 0x"
        << colour_of(f.method).substr(1) << " " << gnuplot_string(grouped(f.parameters_stored))
        << "\n";
  plot.data = dat.str();
  const std::string bars = concat("'stored_parameters.dat' using 0:($2/", scale.factor,
                                  "):3:xtic(1) with boxes lc rgb variable notitle, '' using 0:($2/",
                                  scale.factor, "):4 with labels offset 0,1 notitle");
  plot.script =
      script_header(plot.stem, "parameters kept on disk to initialise the family, per method",
                    "one row per method") +
      "set title 'Parameters stored to initialise the whole family of depths, per method'\n"
      "set ylabel 'parameters stored (" +
      unit +
      ")'\nset xlabel 'method'\n"
      "set style fill solid 0.7 border -1\nset boxwidth 0.6\nset yrange [0:*]\n"
      "set offsets 0.5, 0.5, graph 0.1, 0\nunset key\nset grid noxtics ytics\nset xtics "
      "nomirror\n" +
      render_both(plot.stem, bars);
  return plot;
}

}  // namespace

std::vector<PlotFiles> make_plots(const ReportData& data) {
  if (data.families.empty()) return {};
  double largest_flops = 0;
  for (const Family& f : data.families)
    largest_flops = std::max(largest_flops, f.cumulative.back().flops);
  if (data.teacher) largest_flops += data.teacher->cost.flops;
  const AxisScale scale = axis_scale(largest_flops);
  return {accuracy_vs_depth(data), accuracy_vs_cost(data, scale), cost_vs_models(data, scale),
          stored_parameters(data)};
}

void run_gnuplot(const fs::path& dir, const std::vector<std::string>& scripts) {
  const fs::path log = dir / "gnuplot.log";
  std::vector<std::string> arguments = {"gnuplot"};
  arguments.insert(arguments.end(), scripts.begin(), scripts.end());
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  const std::string dir_text = dir.string(), log_text = log.string();
  const pid_t child = fork();
  if (child < 0) fail("cannot start gnuplot (fork failed)");
  if (child == 0) {  // only async-signal-safe calls until exec
    const int out = open(log_text.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || chdir(dir_text.c_str()) != 0) _exit(126);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    execvp("gnuplot", argv.data());
    _exit(127);
  }
  int status = 0;
  if (waitpid(child, &status, 0) < 0) fail("cannot wait for gnuplot");
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 127)
    fail(
        "gnuplot not found on PATH: install it (Debian: gnuplot-nox; setup/install-deps.sh) "
        "or plot the .dat files in ",
        dir_text, " yourself");
  if (code != 0) {
    std::ifstream in(log);
    std::string line, last;
    while (std::getline(in, line))
      if (!line.empty()) last = line;
    fail("gnuplot failed (exit ", code, ") on the scripts in ", dir_text, ": ", last, " (see ",
         log_text, ")");
  }
  if (fs::file_size(log) == 0) fs::remove(log);  // keep it only when gnuplot had something to say
}

}  // namespace tleg::report
