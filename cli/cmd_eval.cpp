#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "eval/evaluation.h"

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
  eval::EvalOptions options;
  options.n = args.n;
  options.surfaces = args.surfaces;
  ProgressBar bar;
  if (isatty(STDERR_FILENO) || args.progress) options.progress = [&](uint64_t d, uint64_t t) { bar(d, t); };
  eval::EvalReport report;
  if (Status s = eval::Evaluate(args.events_file, config, options, &report); !s.ok()) {
    std::cerr << "streamrec eval: " << s.message() << "\n";
    return s.code() == StatusCode::kNotFound || s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << (args.json ? eval::ReportJson(report) : eval::ReportTable(report));
  if (!args.report_file.empty()) {
    std::ofstream out(args.report_file);
    out << eval::ReportHtml(report);
    if (!out) {
      std::cerr << "streamrec eval: cannot write " << args.report_file << "\n";
      return 1;
    }
  }
  return 0;
}

}  // namespace streamrec::cli
