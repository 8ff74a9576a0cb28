#include "report/linearity_report.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/format.h"
#include "report/plots.h"
#include "weights/state_dict.h"

namespace tleg {
namespace {

namespace fs = std::filesystem;

std::string f3(double value) { return std::isnan(value) ? "n/a" : format_number("%.3f", value); }
std::string f4(double value) { return std::isnan(value) ? "n/a" : format_number("%.4f", value); }

// Share of the weights' variation across depth that the line explains, over every element.
double pooled_r2(const LinearityFit& fit) {
  return 1 - fit.residual_vs_spread * fit.residual_vs_spread;
}

std::string csv(const std::vector<LabelledFit>& fits) {
  std::ostringstream out;
  out << "model,depth,tensor,elements,constant_elements,r2_mean,r2_q1,r2_median,r2_q3,"
         "residual_vs_spread,residual_vs_value\n";
  for (const auto& [label, fit] : fits) {
    for (const TensorFit& t : fit.tensors)
      out << label << "," << fit.depth << "," << t.name << "," << t.elements << ","
          << t.constant_elements << "," << shortest(t.r2_mean) << "," << shortest(t.r2_q1) << ","
          << shortest(t.r2_median) << "," << shortest(t.r2_q3) << ","
          << shortest(t.residual_vs_spread) << "," << shortest(t.residual_vs_value) << "\n";
    out << label << "," << fit.depth << ",all,,,"
        << ","
        << "," << shortest(fit.r2_median) << ","
        << "," << shortest(fit.residual_vs_spread) << "," << shortest(fit.residual_vs_value)
        << "\n";
  }
  return out.str();
}

// R² median with its quartiles per tensor type, one series per model, shifted apart a little.
report::PlotFiles r2_plot(const std::vector<LabelledFit>& fits) {
  report::PlotFiles plot{"linearity_r2", "", ""};
  std::ostringstream dat, tics;
  std::vector<std::string> commands;
  const auto& names = block_tensor_names();
  for (std::size_t k = 0; k < fits.size(); ++k) {
    dat << "# " << fits[k].label << "\n# type_index r2_median r2_q1 r2_q3\n";
    const double shift = (static_cast<double>(k) - (fits.size() - 1) / 2.0) * 0.12;
    for (std::size_t i = 0; i < fits[k].fit.tensors.size(); ++i) {
      const TensorFit& t = fits[k].fit.tensors[i];
      if (std::isnan(t.r2_median)) continue;
      dat << i + 1 + shift << " " << t.r2_median << " " << t.r2_q1 << " " << t.r2_q3 << "\n";
    }
    dat << "\n\n";
    commands.push_back(concat("'linearity_r2.dat' index ", k,
                              " using 1:2:3:4 with yerrorbars pt 7 ps 1.2 lw 2 title ",
                              report::gnuplot_string(fits[k].label)));
  }
  for (std::size_t i = 0; i < names.size(); ++i)
    tics << (i ? ", " : "") << report::gnuplot_string(names[i]) << " " << i + 1;
  plot.data = dat.str();
  std::string joined;
  for (const auto& c : commands) joined += (joined.empty() ? "" : ", \\\n     ") + c;
  plot.script = concat(
      report::script_header("linearity_r2",
                            "R^2 of value ~ a + b*(l/L) per element, median and quartiles per "
                            "block tensor type",
                            "one block per model"),
      "set title 'Linear fit of every block tensor across depth: R^2 per element (median, "
      "quartiles)'\nset ylabel 'R^2 per element'\nset yrange [-0.05:1.05]\nset xrange [0.5:",
      names.size() + 0.5, "]\nset xtics (", tics.str(), ") rotate by 30 right\n",
      report::render_both("linearity_r2", joined));
  return plot;
}

// A few elements' values against depth with their fitted lines: one panel per tensor type.
report::PlotFiles elements_plot(const LabelledFit& model, std::size_t k) {
  const std::string stem = concat("linearity_elements_", k);
  report::PlotFiles plot{stem, "", ""};
  const LinearityFit& fit = model.fit;
  std::ostringstream dat;
  std::vector<std::string> tensors;
  std::vector<std::vector<std::string>> panels;
  std::size_t block = 0;
  for (const ElementTrace& trace : fit.traces) {
    if (tensors.empty() || tensors.back() != trace.tensor) {
      tensors.push_back(trace.tensor);
      panels.emplace_back();
    }
    dat << "# " << trace.tensor << " element " << trace.index << ": a=" << trace.intercept
        << " b=" << trace.slope << " R^2=" << trace.r2 << "\n# position value fitted\n";
    for (std::size_t l = 0; l < trace.values.size(); ++l) {
      const double x = static_cast<double>(l) / static_cast<double>(fit.depth);
      dat << x << " " << trace.values[l] << " " << trace.intercept + trace.slope * x << "\n";
    }
    dat << "\n\n";
    const std::string title = concat("[", trace.index, "] R^2=", f3(trace.r2));
    panels.back().push_back(concat("'", stem, ".dat' index ", block,
                                   " using 1:2 with points pt 7 lc ", panels.back().size() + 1,
                                   " title ", report::gnuplot_string(title), ", '", stem,
                                   ".dat' index ", block, " using 1:3 with lines lw 2 lc ",
                                   panels.back().size() + 1, " notitle"));
    ++block;
  }
  plot.data = dat.str();
  std::ostringstream body;
  const std::size_t columns = 2, rows = (tensors.size() + 1) / 2;
  body << "set multiplot layout " << rows << "," << columns << " title "
       << report::gnuplot_string(concat(model.label, ": block values against depth l/", fit.depth,
                                        " (points) and their least-squares lines"))
       << "\n";
  for (std::size_t p = 0; p < tensors.size(); ++p) {
    std::string joined;
    for (const auto& c : panels[p]) joined += (joined.empty() ? "" : ", ") + c;
    body << "set title " << report::gnuplot_string(tensors[p]) << "\nplot " << joined << "\n";
  }
  body << "unset multiplot\n";
  plot.script = report::script_header(stem,
                                      "the elements of each tensor type that vary most across "
                                      "depth, with their fitted lines",
                                      "one block per element") +
                "set key top left font ',9'\nset xlabel 'l/L'\nset xrange [-0.05:1]\n" +
                report::render_figure(stem, body.str(), {1100, 800, 10});
  return plot;
}

std::string markdown(const std::vector<LabelledFit>& fits, const std::vector<std::string>& stems) {
  std::ostringstream md;
  md << "# Linearity of block weights across depth\n\n"
     << "Every block tensor of each model is fitted across layer positions, per element, as "
        "value ≈ a + b·(l/L), l = 0..L-1 (the positions linear expansion gives its blocks, "
        "docs/method.md §1), by least squares in float64. R² is per element (elements equal at "
        "every layer are left out and counted); *res/spread* is ||residual|| / ||value − mean "
        "over layers|| and *res/value* is ||residual|| / ||value||, over all elements of the "
        "type. A model whose blocks lie on a line has R² = 1 and residuals 0; independent layers "
        "give R² ≈ 1/(L−1) on average (a one-regressor fit on L points).\n\n";
  md << "## What the numbers say\n\nThe reading of each model follows one rule: pooled R² ≥ 0.9 is "
        "*close to a line*, pooled R² ≤ 2/(L−1) (twice the chance level) is *no more linear than "
        "independent layers*, anything between is *partly linear*.\n\n";
  for (const auto& line : linearity_findings(fits)) md << "- " << line << "\n";
  md << "\n## R² per element: median [first quartile, third quartile]\n\n| tensor |";
  for (const auto& f : fits) md << " " << f.label << " (L=" << f.fit.depth << ") |";
  md << "\n|---|";
  for (std::size_t k = 0; k < fits.size(); ++k) md << "---:|";
  md << "\n";
  const auto& names = block_tensor_names();
  for (std::size_t i = 0; i < names.size(); ++i) {
    md << "| " << names[i] << " |";
    for (const auto& f : fits) {
      const TensorFit& t = f.fit.tensors[i];
      md << " " << f3(t.r2_median) << " [" << f3(t.r2_q1) << ", " << f3(t.r2_q3) << "]";
      if (t.constant_elements > 0) md << " (" << t.constant_elements << " constant)";
      md << " |";
    }
    md << "\n";
  }
  md << "| all block elements |";
  for (const auto& f : fits) md << " " << f3(f.fit.r2_median) << " |";
  md << "\n\n## Relative residual: res/spread, res/value\n\n| tensor |";
  for (const auto& f : fits) md << " " << f.label << " |";
  md << "\n|---|";
  for (std::size_t k = 0; k < fits.size(); ++k) md << "---:|";
  md << "\n";
  for (std::size_t i = 0; i < names.size(); ++i) {
    md << "| " << names[i] << " |";
    for (const auto& f : fits)
      md << " " << f4(f.fit.tensors[i].residual_vs_spread) << ", "
         << f4(f.fit.tensors[i].residual_vs_value) << " |";
    md << "\n";
  }
  md << "| all block elements |";
  for (const auto& f : fits)
    md << " " << f4(f.fit.residual_vs_spread) << ", " << f4(f.fit.residual_vs_value) << " |";
  md << "\n\nThe same numbers: `linearity.csv`.\n\n## Plots\n\n";
  for (const auto& stem : stems) md << "![" << stem << "](" << stem << ".png)\n\n";
  return md.str();
}

// The rule behind the one-word reading, stated in the report: pooled R² of at least 0.9 is
// "close to a line"; at most twice the chance level 1/(L-1) is "no more linear than independent
// layers"; in between, "partly linear".
std::string linearity_verdict(const LinearityFit& fit) {
  const double r2 = pooled_r2(fit), chance = 1.0 / static_cast<double>(fit.depth - 1);
  if (r2 >= 0.9) return "close to a line";
  if (r2 <= 2 * chance) return "no more linear than independent layers";
  return "partly linear";
}

}  // namespace

std::vector<std::string> linearity_findings(const std::vector<LabelledFit>& fits) {
  std::vector<std::string> lines;
  const LabelledFit* most = nullptr;
  const LabelledFit* least = nullptr;
  for (const auto& f : fits) {
    const double chance = 1.0 / static_cast<double>(f.fit.depth - 1);
    lines.push_back(
        concat(f.label, " (L=", f.fit.depth, "): the line explains ",
               format_number("%.1f", 100 * pooled_r2(f.fit)),
               " % of the block weights' variation across depth (pooled R²; median per-element R² ",
               f3(f.fit.r2_median), "; independent layers would give about ",
               format_number("%.1f", 100 * chance), " %), and what it leaves is ",
               format_number("%.2f", 100 * f.fit.residual_vs_value),
               " % of the weights' norm: ", linearity_verdict(f.fit)));
    if (most == nullptr || f.fit.residual_vs_spread < most->fit.residual_vs_spread) most = &f;
    if (least == nullptr || f.fit.residual_vs_spread > least->fit.residual_vs_spread) least = &f;
  }
  if (fits.size() > 1)
    lines.push_back(concat("closest to a line: ", most->label, " (res/spread ",
                           f4(most->fit.residual_vs_spread), "); farthest: ", least->label,
                           " (res/spread ", f4(least->fit.residual_vs_spread), ")"));
  return lines;
}

std::vector<std::string> write_linearity_report(const std::vector<LabelledFit>& fits,
                                                const std::string& out_dir) {
  if (fits.empty()) fail("tleg linearity: no model to report on");
  const fs::path dir(out_dir);
  std::error_code error;
  fs::create_directories(dir, error);
  if (!fs::is_directory(dir))
    fail(out_dir, ": cannot create the report folder (", error.message(), ")");
  std::vector<std::string> files;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream out(dir / name);
    out << text;
    out.close();
    if (!out) fail((dir / name).string(), ": cannot write");
    files.push_back(name);
  };
  std::vector<report::PlotFiles> plots{r2_plot(fits)};
  for (std::size_t k = 0; k < fits.size(); ++k) plots.push_back(elements_plot(fits[k], k));
  std::vector<std::string> stems, scripts;
  for (const auto& plot : plots) {
    write(plot.stem + ".dat", plot.data);
    write(plot.stem + ".gp", plot.script);
    stems.push_back(plot.stem);
    scripts.push_back(plot.stem + ".gp");
  }
  report::run_gnuplot(dir, scripts);
  for (const auto& stem : stems)
    for (const char* extension : {".png", ".svg"}) {
      if (!fs::exists(dir / (stem + extension)))
        fail((dir / (stem + extension)).string(), ": gnuplot did not write it");
      files.push_back(stem + extension);
    }
  write("linearity.csv", csv(fits));
  write("linearity.md", markdown(fits, stems));
  return files;
}

}  // namespace tleg
