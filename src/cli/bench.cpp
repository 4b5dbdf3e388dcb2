// mmfuzz bench: the benchmark. Speed and detection figures are measured here, never in tests.
// This part: throughput of the runner and of the fuzzer, and what the canary part shares.
#include "cli/bench.hpp"
#include "cli/cli.hpp"
#include "cli/fuzzer_proc.hpp"

#include "arch/canary.hpp"
#include "program/codec.hpp"
#include "program/generate.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>
#include <utility>

namespace fs = std::filesystem;

namespace mmfuzz::cli {

const char *const bench_help =
    R"(usage: mmfuzz bench [--seconds S] [--ops N] [--granule 4K|16K|64K] [--direct] [--json]
                     [--fuzzer-seconds S] [--fuzzer-dir DIR] [--markdown FILE [--force]]
       mmfuzz bench --canaries [--cap S] [--runs N] [--jobs N] [--only NAME]... [--drivers abcde]
                     [--no-seeds] [--fuzzer-dir DIR] [--rc PATH] [--work DIR [--resume]]
                     [--json] [--markdown FILE [--force]]
       mmfuzz bench --hunt d|e --inject NAME [--seed N] [--cap S] [--ops N] --out FILE

Every time is CPU time (user + system) of the process doing the work, so that the figures
hold on a machine other jobs share; the wall-clock time is reported beside it.

Throughput of the differential runner on one core: random legal programs of N ops (default 32;
random ops put through the legalizer and topped up until N are legal, so every op counted is
applied; a program that runs into a known finding of corpus/known-findings.txt is replaced, as
its run would end there) run on the reference and the arm64 contpte world, with every oracle
on, and bare (both worlds, no checks): one pass over the same 256 programs in each mode in
turn, for 2 S CPU seconds together (--seconds S, default 3; S for one mode alone), so that a
change in the machine's speed moves both alike. Reports ops/s and the oracle's overhead factor,
also as the median over the pairs of passes (an oracle pass ÷ the bare pass before it): a
change of speed moves only the pairs it falls in. --direct leaves the core flows out of the
programs: the handle-API calls and hardware accesses alone, the op set the 2 M ops/s target was
set for (a flow op does tens to hundreds of entry operations). Build with the release preset
for representative figures. --passes N runs exactly N passes of each mode over the 256 programs
instead of a time box, so that 'valgrind --tool=callgrind' counts are repeatable. Then, when
mm_diff_fuzzer is found (--fuzzer-dir DIR, else as 'campaign' finds it), its executions per CPU
second for --fuzzer-seconds S (default 10; 0 skips it), on a fresh corpus plus corpus/seeds
with the flags of corpus/mm_diff_fuzzer.options: the fuzz build's sanitizers (ASan+UBSan)
included.

--canaries measures, for each canary, the CPU seconds of search until the first violation the
canary causes (a violation the same program also shows at the same op without the canary does
not count), for N seeds (--runs, default 3), capped at S CPU seconds (--cap, default 120; a
miss is reported as ">S"; a run the machine's load keeps from using S CPU seconds within
10 S + 60 wall-clock seconds is not measured), each run one single-threaded process without
address-space randomization (so that a seed takes the same path from run to run), --jobs N
of them at a time (default 1). The search runs from the fuzz target's first input, rc_canary's
main, or the first random program of d and e, to the violation, as each process prints it: the
process's start-up (its median is reported apart) and crash report are not counted, and every
driver pays the first-touch costs of a fresh process alike. Five drivers:
  a  mm_diff_fuzzer: libFuzzer with the structure-aware mutator, on a fresh corpus plus the
     seeds in corpus/seeds (none with --no-seeds), with the flags of corpus/mm_diff_fuzzer.options
     (its dictionary and -max_len)
  b  mm_diff_fuzzer_bytes: the same with libFuzzer's byte mutation only
  c  rc_canary: RapidCheck's differential property (props/gen.hpp), shrinking off
  d  uniform random programs of --ops ops on the 4K granule: every op kind equally likely,
     every field uniform over its encoding (program/generate.hpp uniform_program); the blind
     baseline
  e  biased random programs of --ops ops on the 4K granule: the generator the mutator and the
     RapidCheck property use (nearby pages, small folios, short batches)
d and e run as 'mmfuzz bench --hunt d|e --inject NAME [--seed N] [--cap S] [--ops N] --out
FILE', which can be run alone: it writes the first program the canary fails (never over an
existing FILE) and exits 1, or exits 0 at the cap.
It then minimizes the first input driver a (else e, else d) found, and reports the op count and
the time minimization took. The fuzzers are looked up in --fuzzer-dir (default: $MMFUZZ_FUZZER's
folder, else beside this mmfuzz, as 'campaign' does), rc_canary in --rc or the build's tests/
folder; a driver whose binary is missing is reported as not measured. Build everything with
one preset (fuzz) so that all the drivers run with the same sanitizers. --work DIR keeps the
fuzzers' logs and crashes (default: a fresh folder under /tmp) and DIR/results.tsv, one line per
finished run; --resume takes the runs listed there (with the same --cap) instead of running them
again, so an interrupted benchmark continues where it stopped.

--markdown FILE also writes the results as Markdown: the machine (cores, CPU model, load
average while it ran), the command, the tables and the figures the targets of issue 8 are
stated in. FILE is never overwritten unless --force is given.
)";

fs::path fresh_work_dir() {
    std::string tmpl = (fs::temp_directory_path() / "mmfuzz-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

double load_samples::sample() {
    std::ifstream in("/proc/loadavg");
    double one = 0;
    if (!(in >> one))
        return -1;
    values_.push_back(one);
    return one;
}

std::string load_samples::describe() const {
    if (values_.empty())
        return "unknown";
    char buf[128];
    if (values_.size() == 1) {
        std::snprintf(buf, sizeof buf, "%.2f (one sample)", values_.front());
        return buf;
    }
    const auto [lo, hi] = std::minmax_element(values_.begin(), values_.end());
    const double mean =
        std::accumulate(values_.begin(), values_.end(), 0.0) / static_cast<double>(values_.size());
    std::snprintf(buf, sizeof buf, "min %.2f, mean %.2f, max %.2f over %zu samples", *lo, mean, *hi,
                  values_.size());
    return buf;
}

namespace {

/// "AMD EPYC (family 26, model 2), virtual machine" from the first CPU of /proc/cpuinfo.
std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::map<std::string, std::string> f;
    for (std::string line; std::getline(in, line) && !line.empty();) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        const std::size_t key_end = line.find_last_not_of(" \t", colon - 1);
        const std::size_t value = line.find_first_not_of(" \t", colon + 1);
        f[line.substr(0, key_end + 1)] = value == std::string::npos ? "" : line.substr(value);
    }
    std::string s = f.count("model name") ? f["model name"] : "unknown CPU";
    if (f.count("cpu family") && f.count("model"))
        s += " (family " + f["cpu family"] + ", model " + f["model"] + ")";
    if ((" " + f["flags"] + " ").find(" hypervisor ") != std::string::npos)
        s += ", virtual machine";
    return s;
}

/// How this mmfuzz was compiled: what its own figures (throughput, driver d) depend on.
std::string build_kind() {
    std::string s;
#ifdef __OPTIMIZE__
    s = "optimized";
#else
    s = "not optimized";
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
    s += ", ASan";
#endif
#if __has_feature(undefined_behavior_sanitizer)
    s += ", UBSan";
#endif
#endif
    return s;
}

} // namespace

std::string markdown_context(const std::vector<std::string> &args, const load_samples &load) {
    // Relative to the project root when run from there (build/fuzz/mmfuzz); elsewhere a
    // relative path would not say where it was run from.
    fs::path self = self_dir() / "mmfuzz";
    std::error_code ec;
    const fs::path rel = fs::relative(self, fs::current_path(), ec);
    if (!ec && !rel.empty() && rel.native().rfind("..", 0) != 0 &&
        fs::exists(fs::current_path() / "CMakePresets.json", ec))
        self = rel;
    std::string cmd = self.string() + " bench";
    for (const std::string &a : args)
        cmd += " " + a;
    char date[64];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
    std::ostringstream o;
    o << "- machine: " << std::thread::hardware_concurrency() << " cores, " << cpu_model() << "\n"
      << "- mmfuzz build: " << build_kind() << "\n"
      << "- finished: " << date << "\n"
      << "- load average (1 min) while it ran: " << load.describe() << "\n"
      << "- command: `" << cmd << "`\n";
    return o.str();
}

int write_markdown(const std::string &path, bool force, const std::string &text) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) {
        std::cerr << "mmfuzz: bench: cannot write " << path << " (it exists, or no access); "
                  << "the Markdown follows on stdout\n";
        std::cout << text;
        return 2;
    }
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(fd, text.data() + done, text.size() - done);
        if (n <= 0)
            break;
        done += static_cast<std::size_t>(n);
    }
    close(fd);
    if (done != text.size()) {
        std::cerr << "mmfuzz: bench: writing " << path << " failed\n";
        return 2;
    }
    std::cerr << "bench: wrote " << path << "\n";
    return 0;
}

std::string thousands(double v) {
    std::string digits = std::to_string(std::llround(v));
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3)
        digits.insert(static_cast<std::size_t>(i), ",");
    return digits;
}

namespace {

struct throughput {
    double ops_per_s = 0;
    double programs_per_s = 0;
    std::size_t ops = 0;
};

/// CPU time, programs and ops of one mode (bare or all oracles).
struct tally {
    double cpu = 0;
    std::size_t runs = 0;
    std::size_t ops = 0;
    std::size_t passes = 0;
    std::vector<double> pass_cpu; ///< CPU seconds of each pass, in order
    [[nodiscard]] throughput rate() const {
        if (cpu <= 0)
            return {};
        return {static_cast<double>(ops) / cpu, static_cast<double>(runs) / cpu, ops};
    }
};

/// A random program of exactly `nr_ops` legal ops: generated ops passed through the
/// legalizer, which turns each into a call meeting the kernel's preconditions or drops it,
/// topped up with further random ops until `nr_ops` are legal. `direct`: no core flows (the
/// handle-API calls and hardware accesses alone). A program that runs into a known finding
/// (corpus/known-findings.txt) is replaced by another: its run would end there, so the oracle
/// pass would apply fewer of its ops than the bare one.
program legal_program(const rand_fn &rnd, const program_header &h, std::size_t nr_ops, bool direct,
                      const std::vector<std::string> &known) {
    const auto wanted = [&](const op &o) { return !direct || !is_flow(o.kind); };
    run_options bare;
    bare.oracle = false;
    run_options checked;
    checked.known = known;
    for (int attempt = 0; attempt < 100; ++attempt) {
        program p = random_program(rnd, h, nr_ops > 3 ? nr_ops - 3 : 1);
        std::erase_if(p.ops, [&](const op &o) { return !wanted(o); });
        for (int round = 0; round < 1000; ++round) {
            program legal = run_program(p, bare).legalized;
            if (legal.ops.size() >= nr_ops) {
                legal.ops.resize(nr_ops);
                if (run_program(legal, checked).known != 0)
                    break;
                return legal;
            }
            p = std::move(legal);
            while (p.ops.size() < nr_ops)
                if (const op o = random_op(rnd, h); wanted(o))
                    p.ops.push_back(o);
        }
    }
    throw std::runtime_error("bench: no legal program of " + std::to_string(nr_ops) +
                             " ops clear of known findings");
}

/// One pass over the programs in one mode. Every op of a program counts: they are all legal.
void run_pass(const std::vector<program> &progs, bool oracle, tally &t) {
    run_options o;
    o.oracle = oracle;
    const double t0 = thread_cpu_seconds();
    for (const program &p : progs) {
        const run_result r = run_program(p, o);
        t.ops += r.applied;
        ++t.runs;
        if (r.noops != 0 || (oracle && r.violation)) {
            std::cerr << "bench: "
                      << (r.noops != 0 ? "a legalized program did not replay as legal\n"
                                       : "unexpected violation\n" + r.violation->report)
                      << print_text(p) << "\n";
            std::exit(1);
        }
    }
    const double cpu = thread_cpu_seconds() - t0;
    t.cpu += cpu;
    t.pass_cpu.push_back(cpu);
    ++t.passes;
}

/// The two modes' rates, and the oracle's overhead pass pair by pass pair.
struct measurement {
    throughput bare;
    throughput full;
    /// Oracle pass ÷ the bare pass before it: median, least and greatest (0 without pairs).
    double pair_median = 0;
    double pair_min = 0;
    double pair_max = 0;
    std::size_t pairs = 0;
};

/// Bare application and all oracles, one pass over the programs each in turn, until the two
/// have used 2 × `seconds` of CPU time together (or exactly `passes` pairs when passes > 0, for
/// instruction counts under callgrind, which do not depend on the machine's load); one mode
/// alone runs for `seconds`. Strict turns make a change in the machine's speed move both
/// figures alike; the ratio of each pair shows how much it moved them apart.
measurement measure(const std::vector<program> &progs, bool bare, bool full, double seconds,
                    std::size_t passes) {
    tally b;
    tally f;
    const double budget = (bare && full ? 2 : 1) * seconds;
    for (std::size_t i = 0; passes > 0 ? i < passes : b.cpu + f.cpu < budget; ++i) {
        if (bare)
            run_pass(progs, false, b);
        if (full)
            run_pass(progs, true, f);
    }
    measurement m{b.rate(), f.rate()};
    std::vector<double> ratios;
    for (std::size_t i = 0; i < std::min(b.pass_cpu.size(), f.pass_cpu.size()); ++i)
        if (b.pass_cpu[i] > 0)
            ratios.push_back(f.pass_cpu[i] / b.pass_cpu[i]);
    if (!ratios.empty()) {
        std::sort(ratios.begin(), ratios.end());
        const std::size_t n = ratios.size();
        m.pair_median = n % 2 == 1 ? ratios[n / 2] : (ratios[n / 2 - 1] + ratios[n / 2]) / 2;
        m.pair_min = ratios.front();
        m.pair_max = ratios.back();
        m.pairs = n;
    }
    return m;
}

struct fuzzer_rate {
    std::string fuzzer;     ///< "" when none was found
    double exec_per_s = -1; ///< executions per CPU second
    double exec_per_wall_s = -1;
    double executions = -1;
    double cpu_seconds = 0;
    std::string note;
};

/// mm_diff_fuzzer for `seconds` (wall-clock) on a fresh corpus plus the seeds.
fuzzer_rate measure_fuzzer(const std::string &fuzzer, double seconds) {
    fuzzer_rate f;
    f.fuzzer = fuzzer;
    if (fuzzer.empty() || !fs::exists(fuzzer)) {
        f.note = "no mm_diff_fuzzer (build the fuzz preset, pass --fuzzer-dir)";
        return f;
    }
    const fs::path work = fresh_work_dir();
    fs::create_directories(work / "corpus");
    const fs::path src = source_dir();
    child_spec c;
    c.argv = {fuzzer, "-seed=1",
              "-max_total_time=" + std::to_string(static_cast<long>(seconds + 0.999)),
              "-artifact_prefix=" + work.string() + "/", "-print_final_stats=1"};
    for (const std::string &flag :
         libfuzzer_options_flags(src / "corpus" / "mm_diff_fuzzer.options"))
        c.argv.push_back(flag);
    c.argv.push_back((work / "corpus").string());
    c.argv.push_back((src / "corpus" / "seeds").string());
    c.env = {"MMFUZZ_KNOWN=" + known_findings_file().string()};
    c.log = work / "log";
    c.limit = seconds + 30;
    const child_result r = run_child(c);
    f.executions = final_stat(c.log, "number_of_executed_units");
    f.cpu_seconds = r.cpu_seconds;
    if (f.executions >= 0 && r.cpu_seconds > 0)
        f.exec_per_s = f.executions / r.cpu_seconds;
    if (f.executions >= 0 && r.seconds > 0)
        f.exec_per_wall_s = f.executions / r.seconds;
    if (r.status != 0) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "stopped after %.1f s, exit %d", r.seconds, r.status);
        f.note = buf;
    }
    if (r.status == 0)
        fs::remove_all(work);
    else
        f.note += "; log in " + c.log.string();
    return f;
}

/// "yes", or "no" with how far a figure that should reach the target is from it.
std::string verdict(bool met, double measured, double target) {
    if (met)
        return "yes";
    char buf[96];
    if (target / measured < 2)
        std::snprintf(buf, sizeof buf, "no: %.0f%% of the target, %.0f%% short",
                      100.0 * measured / target, 100.0 * (1 - measured / target));
    else
        std::snprintf(buf, sizeof buf, "no: %.2g%% of the target, %.1f× short",
                      100.0 * measured / target, target / measured);
    return buf;
}

std::string throughput_markdown(const std::vector<std::string> &args, const load_samples &load,
                                std::size_t nr_ops, const std::string &gran, bool direct,
                                const measurement &m, const fuzzer_rate &fz, double fz_seconds) {
    const throughput &full = m.full;
    const throughput &bare = m.bare;
    const double overhead = bare.ops_per_s / full.ops_per_s;
    char ov[64];
    std::snprintf(ov, sizeof ov, "%.2f×", overhead);
    char over[64];
    std::snprintf(over, sizeof over, "no: %.2f× the limit", overhead / 2);
    std::ostringstream o;
    o << "### Throughput\n\n"
      << markdown_context(args, load) << "\n"
      << "Random legal programs of " << nr_ops << " ops on the " << gran << " granule"
      << " (random ops put through the legalizer and topped up until " << nr_ops
      << " are legal: every op counted is applied)"
      << (direct ? ", handle-API calls and hardware accesses only (no core flows)" : "")
      << ", applied to the reference and the arm64 contpte world in one thread; "
         "rates are per CPU second (user + system) of that thread, or of the fuzzer's process, "
         "so that other jobs on the machine change them little. The fuzzer runs on a fresh "
         "corpus plus `corpus/seeds`, with the flags of `corpus/mm_diff_fuzzer.options`.\n\n"
      << "| figure | measured | target (issue 8) | met |\n|---|---:|---:|---|\n"
      << "| ops per CPU second, all oracles | " << thousands(full.ops_per_s) << " | ≥ 2,000,000 | "
      << verdict(full.ops_per_s >= 2e6, full.ops_per_s, 2e6) << " |\n"
      << "| ops per CPU second, bare (both worlds, no oracle) | " << thousands(bare.ops_per_s)
      << " | | |\n"
      << "| oracle overhead (bare ÷ all oracles) | " << ov << " | ≤ 2× | "
      << (overhead <= 2 ? std::string("yes") : over) << " |\n";
    char pairs[128];
    std::snprintf(pairs, sizeof pairs, "%.2f× (%.2f-%.2f×)", m.pair_median, m.pair_min, m.pair_max);
    o << "| oracle overhead, median over the " << m.pairs
      << " pairs of passes (an oracle pass ÷ the bare pass before it; least-greatest) | " << pairs
      << " | | |\n";
    o << "| mm_diff_fuzzer executions per CPU second, ASan+UBSan, " << fz_seconds
      << " s on the seeds";
    if (fz.exec_per_s >= 0)
        o << " | " << thousands(fz.exec_per_s) << " (" << thousands(fz.executions) << " in "
          << std::lround(fz.cpu_seconds * 10) / 10.0 << " CPU s; " << thousands(fz.exec_per_wall_s)
          << " per wall-clock s" << (fz.note.empty() ? "" : "; " + fz.note) << ")"
          << " | ≥ 20,000 | " << verdict(fz.exec_per_s >= 20000, fz.exec_per_s, 20000) << " |\n";
    else
        o << " | not measured: " << (fz.note.empty() ? "no statistics in its log" : fz.note)
          << " | ≥ 20,000 | |\n";
    if (!fz.fuzzer.empty())
        o << "\nfuzzer: `" << fz.fuzzer << "`\n";
    return o.str();
}

} // namespace

bool canary_known(const std::string &name) {
    return canary_from_name(name).has_value();
}

int cmd_bench(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << bench_help;
        return 0;
    }
    if (std::find(args.begin(), args.end(), "--canaries") != args.end())
        return bench_canaries(args);
    if (std::find(args.begin(), args.end(), "--hunt") != args.end())
        return bench_hunt(args);
    double seconds = 3;
    std::size_t passes = 0;
    bool bare_only = false;
    bool oracle_only = false;
    std::size_t nr_ops = 32;
    bool json = false;
    double fuzzer_seconds = 10;
    std::string fuzzer_dir;
    std::string markdown;
    bool force = false;
    granule g = granule::k4;
    bool direct = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has = i + 1 < args.size();
        if (args[i] == "--direct")
            direct = true;
        else if (args[i] == "--seconds" && has)
            seconds = std::stod(args[++i]);
        else if (args[i] == "--ops" && has)
            nr_ops = std::stoul(args[++i]);
        else if (args[i] == "--passes" && has)
            passes = std::stoul(args[++i]);
        else if (args[i] == "--bare-only")
            bare_only = true;
        else if (args[i] == "--oracle-only")
            oracle_only = true;
        else if (args[i] == "--json")
            json = true;
        else if (args[i] == "--fuzzer-seconds" && has)
            fuzzer_seconds = std::stod(args[++i]);
        else if (args[i] == "--fuzzer-dir" && has)
            fuzzer_dir = args[++i];
        else if (args[i] == "--markdown" && has)
            markdown = args[++i];
        else if (args[i] == "--force")
            force = true;
        else if (args[i] == "--granule" && has) {
            const auto gg = granule_from_name(args[++i]);
            if (!gg)
                return usage_error("bench: unknown granule '" + args[i] + "'", bench_help);
            g = *gg;
        } else {
            return usage_error("bench: unexpected argument '" + args[i] + "'", bench_help);
        }
    }
    if (!markdown.empty() && (bare_only || oracle_only || passes > 0))
        return usage_error("bench: --markdown reports both measurements in a time box", bench_help);
    if (!markdown.empty() && !output_writable("bench", markdown, force))
        return 2;
    load_samples load;
    load.sample();
    program_header h;
    h.options.gran = g;
    std::vector<program> progs;
    const rand_fn rnd = seeded_rand(12345);
    const fs::path known_file = known_findings_file();
    const std::vector<std::string> known = fs::exists(known_file)
                                               ? read_known_findings(known_file.string())
                                               : std::vector<std::string>{};
    progs.reserve(256);
    for (int i = 0; i < 256; ++i)
        progs.push_back(legal_program(rnd, h, nr_ops, direct, known));
    const measurement m = measure(progs, !oracle_only, !bare_only, seconds, passes);
    const throughput &bare = m.bare;
    const throughput &full = m.full;
    const double overhead = bare.ops_per_s / full.ops_per_s;
    load.sample();
    const std::string fuzzer = find_fuzz_binary("mm_diff_fuzzer", fuzzer_dir);
    fuzzer_rate fz;
    fz.note = "not run (--fuzzer-seconds 0, --passes, --bare-only or --oracle-only)";
    if (fuzzer_seconds > 0 && !bare_only && !oracle_only && passes == 0) {
        fz = measure_fuzzer(fuzzer, fuzzer_seconds);
        load.sample();
    }
    const std::string gran(granule_name(g));
    if (json) {
        std::printf("{\"granule\": \"%s\", \"ops_per_program\": %zu, \"ops_per_s_oracle\": %.0f, "
                    "\"ops_per_s_bare\": %.0f, \"oracle_overhead\": %.2f, "
                    "\"oracle_overhead_pairs\": {\"n\": %zu, \"median\": %.2f, \"min\": %.2f, "
                    "\"max\": %.2f}, \"fuzzer_exec_per_s\": %s}\n",
                    gran.c_str(), nr_ops, full.ops_per_s, bare.ops_per_s, overhead, m.pairs,
                    m.pair_median, m.pair_min, m.pair_max,
                    fz.exec_per_s >= 0 ? std::to_string(std::lround(fz.exec_per_s)).c_str()
                                       : "null");
    } else {
        std::printf("throughput (per CPU second, %s granule, random programs of %zu ops%s)\n",
                    gran.c_str(), nr_ops, direct ? ", direct calls only" : "");
        std::printf("  with all oracles  %12.0f ops/s  (%.0f programs/s)\n", full.ops_per_s,
                    full.programs_per_s);
        std::printf("  bare application  %12.0f ops/s  (%.0f programs/s)\n", bare.ops_per_s,
                    bare.programs_per_s);
        std::printf("  oracle overhead   %12.2fx", overhead);
        if (m.pairs > 0)
            std::printf("  (pass pairs: median %.2fx, %.2f-%.2fx over %zu)", m.pair_median,
                        m.pair_min, m.pair_max, m.pairs);
        std::printf("\n");
        if (fz.exec_per_s >= 0)
            std::printf("  mm_diff_fuzzer    %12.0f exec/s  (per CPU second; %.0f per wall-clock "
                        "second; %g s on the seeds%s%s)\n",
                        fz.exec_per_s, fz.exec_per_wall_s, fuzzer_seconds,
                        fz.note.empty() ? "" : "; ", fz.note.c_str());
        else if (!fz.note.empty())
            std::printf("  mm_diff_fuzzer    not measured: %s\n", fz.note.c_str());
    }
    if (markdown.empty())
        return 0;
    return write_markdown(
        markdown, force,
        throughput_markdown(args, load, nr_ops, gran, direct, m, fz, fuzzer_seconds));
}

} // namespace mmfuzz::cli
