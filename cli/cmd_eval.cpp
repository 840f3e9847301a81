#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "eval/evaluation.h"
#include "eval/variants.h"

namespace streamrec::cli {
namespace {

// A one-line progress bar on stderr, redrawn at most every 200 ms.
class ProgressBar {
 public:
  void operator()(uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    const double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 0;
    const int width = 40, filled = static_cast<int>(frac * width);
    const double secs = std::chrono::duration<double>(now - start_).count();
    std::cerr << "\r[" << std::string(static_cast<size_t>(filled), '=') << std::string(static_cast<size_t>(width - filled), ' ')
              << "] " << static_cast<int>(frac * 100) << "% " << done << "/" << total << " events, "
              << static_cast<uint64_t>(secs > 0 ? static_cast<double>(done) / secs : 0) << " ev/s" << std::flush;
    if (done >= total) std::cerr << "\n";
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

// The logs named by --events: files as given, folders expanded (see EvalArgs).
std::vector<std::string> ExpandLogs(const std::vector<std::string>& paths) {
  namespace fs = std::filesystem;
  std::vector<std::string> logs;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      logs.push_back(path);
      continue;
    }
    std::vector<std::string> nested, direct;
    for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
      if (e.is_directory() && fs::is_regular_file(e.path() / "events.csv")) nested.push_back((e.path() / "events.csv").string());
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".csv" || ext == ".jsonl")) direct.push_back(e.path().string());
    }
    std::sort(nested.begin(), nested.end());
    std::sort(direct.begin(), direct.end());
    logs.insert(logs.end(), nested.begin(), nested.end());
    logs.insert(logs.end(), direct.begin(), direct.end());
  }
  return logs;
}

// `eval --variant ...`: every log replayed once per variant, the model alone.
int EvalVariants(const EvalArgs& args, const std::vector<std::string>& logs) {
  std::vector<eval::Variant> variants(args.variants.size());
  for (size_t v = 0; v < variants.size(); ++v) {
    if (Status s = eval::ParseVariant(args.variants[v], &variants[v]); !s.ok()) {
      std::cerr << "streamrec eval: " << s.message() << "\n";
      return 2;
    }
  }
  if (variants.size() < 2) {
    std::cerr << "streamrec eval: --variant compares configurations: give two or more\n";
    return 2;
  }
  std::vector<config::Config> configs(variants.size());
  for (size_t v = 0; v < variants.size(); ++v) {
    std::vector<std::string> overrides = args.overrides;
    overrides.insert(overrides.end(), variants[v].overrides.begin(), variants[v].overrides.end());
    if (Status s = config::LoadConfig(args.config_path, overrides, &configs[v]); !s.ok()) {
      std::cerr << "streamrec eval: variant " << variants[v].name << ": " << s.message() << "\n";
      return 2;
    }
  }
  eval::EvalOptions options;
  options.n = args.n;
  options.baselines = false;
  options.keep_hits = true;
  const bool show_progress = isatty(STDERR_FILENO) || args.progress;
  std::vector<std::vector<eval::VariantRun>> results;
  for (const std::string& log : logs) {
    std::vector<eval::VariantRun>& runs = results.emplace_back();
    for (size_t v = 0; v < variants.size(); ++v) {
      ProgressBar bar;
      if (show_progress) {
        std::cerr << log << ", variant " << variants[v].name << "\n";
        options.progress = [&](uint64_t d, uint64_t t) { bar(d, t); };
      }
      eval::VariantRun& run = runs.emplace_back();
      run.variant = variants[v];
      if (Status s = eval::Evaluate(log, configs[v], options, &run.report); !s.ok()) {
        std::cerr << "streamrec eval: " << log << ": " << s.message() << "\n";
        return s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument ? 2 : 1;
      }
    }
    if (!args.json) std::cout << (results.size() > 1 ? "\n" : "") << eval::VariantsTable(runs) << std::flush;
  }
  if (args.json) std::cout << eval::VariantsJson(results);
  return 0;
}

}  // namespace

int CmdEval(const EvalArgs& args) {
  config::Config config;
  if (Status s = config::LoadConfig(args.config_path, args.overrides, &config); !s.ok()) {
    std::cerr << "streamrec eval: " << s.message() << "\n";
    return 2;
  }
  if (args.n < 1 || args.n > 1000) {
    std::cerr << "streamrec eval: --n must be in 1..1000\n";
    return 2;
  }
  const std::vector<std::string> logs = ExpandLogs(args.events_files);
  if (logs.empty()) {
    std::cerr << "streamrec eval: no event log in " << args.events_files.front()
              << " (a folder needs */events.csv, *.csv or *.jsonl)\n";
    return 2;
  }
  if (!args.variants.empty()) return EvalVariants(args, logs);
  eval::EvalOptions options;
  options.n = args.n;
  options.surfaces = args.surfaces;
  const bool show_progress = isatty(STDERR_FILENO) || args.progress;
  std::vector<eval::EvalReport> reports(logs.size());
  for (size_t k = 0; k < logs.size(); ++k) {
    ProgressBar bar;
    if (show_progress) {
      if (logs.size() > 1) std::cerr << "log " << k + 1 << " of " << logs.size() << ": " << logs[k] << "\n";
      options.progress = [&](uint64_t d, uint64_t t) { bar(d, t); };
    }
    if (Status s = eval::Evaluate(logs[k], config, options, &reports[k]); !s.ok()) {
      std::cerr << "streamrec eval: " << logs[k] << ": " << s.message() << "\n";
      return s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument ? 2 : 1;
    }
    if (!args.json) std::cout << (k > 0 ? "\n" : "") << eval::ReportTable(reports[k]) << std::flush;
  }
  if (args.json) {
    std::cout << (reports.size() == 1 ? eval::ReportJson(reports.front()) : eval::ReportJson(reports));
  } else if (reports.size() > 1) {
    std::cout << "\n" << eval::ReportSummaryTable(reports);
  }
  if (!args.report_file.empty()) {
    std::ofstream out(args.report_file);
    out << eval::ReportHtml(reports);
    if (!out) {
      std::cerr << "streamrec eval: cannot write " << args.report_file << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace streamrec::cli
