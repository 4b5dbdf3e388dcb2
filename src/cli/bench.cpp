// mmfuzz bench: the benchmark. Speed and detection figures are measured here, never in tests.
#include "cli/cli.hpp"

#include "arch/canary.hpp"
#include "program/codec.hpp"
#include "program/generate.hpp"
#include "program/minimize.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#ifndef MMFUZZ_SOURCE_DIR
#define MMFUZZ_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace mmfuzz::cli {

namespace {

constexpr const char *bench_help =
    R"(usage: mmfuzz bench [--seconds S] [--ops N] [--granule 4K|16K|64K] [--json]
                     [--list-canaries]
       mmfuzz bench --canaries [--cap S] [--runs N] [--only NAME]... [--drivers abcd]
                     [--no-seeds] [--fuzzer-dir DIR] [--rc PATH] [--work DIR] [--json]

Throughput of the differential runner on one core: random legal programs of N ops (default 32)
applied to the reference and the arm64 contpte world, with every oracle on, and bare (both
worlds, no checks). Reports ops/s and the oracle's overhead factor. Build with the release
preset for representative figures. --passes N runs exactly N passes over the 256 programs
instead of a time box, so that 'valgrind --tool=callgrind' counts are repeatable.

--canaries measures, for each canary, the seconds until the first violation the canary causes
(a violation the same program also shows at the same op without the canary does not count),
one process on one core at a time, for N seeds (--runs, default 3), capped at S seconds (--cap,
default 120; a miss is reported as ">S"), with four drivers:
  a  mm_diff_fuzzer: libFuzzer with the structure-aware mutator, on a fresh corpus plus the
     seeds in corpus/seeds (none with --no-seeds), with corpus/mm_diff_fuzzer.dict
  b  mm_diff_fuzzer_bytes: the same with libFuzzer's byte mutation only
  c  rc_canary: RapidCheck's differential property (props/gen.hpp), shrinking off
  d  uniform random programs of --ops ops (program/generate.hpp), in this process
It then minimizes the first input driver a (else d) found, and reports the op count and the
time minimization took. The fuzzers are looked up in --fuzzer-dir (default: $MMFUZZ_FUZZER's
folder, else beside this mmfuzz, as 'campaign' does), rc_canary in --rc or the build's tests/
folder; a driver whose binary is missing is reported as not measured. Build everything with
one preset (fuzz) so that all four drivers run with the same sanitizers. --work DIR keeps the
fuzzers' logs and crashes (default: a fresh folder under /tmp).
)";

struct throughput {
    double ops_per_s = 0;
    double programs_per_s = 0;
    std::size_t ops = 0;
};

/// Runs the programs for `seconds`, or exactly `passes` times over them when passes > 0 (for
/// instruction counts under callgrind, which do not depend on the machine's load).
throughput measure(const std::vector<program> &progs, bool oracle, double seconds,
                   std::size_t passes) {
    run_options o;
    o.oracle = oracle;
    std::size_t ops = 0;
    std::size_t runs = 0;
    const auto t0 = std::chrono::steady_clock::now();
    double elapsed = 0;
    for (std::size_t pass = 0; passes > 0 ? pass < passes : elapsed < seconds; ++pass) {
        for (const program &p : progs) {
            const run_result r = run_program(p, o);
            ops += p.ops.size();
            ++runs;
            if (oracle && r.violation) {
                std::cerr << "bench: unexpected violation\n"
                          << r.violation->report << print_text(p) << "\n";
                std::exit(1);
            }
        }
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return {static_cast<double>(ops) / elapsed, static_cast<double>(runs) / elapsed, ops};
}

// ---- time to detect each canary ------------------------------------------------------------

constexpr double missed = std::numeric_limits<double>::infinity();
constexpr std::array<char, 4> all_drivers = {'a', 'b', 'c', 'd'};

const char *driver_title(char d) {
    switch (d) {
    case 'a':
        return "libFuzzer + mutator";
    case 'b':
        return "libFuzzer bytes";
    case 'c':
        return "RapidCheck";
    default:
        return "uniform random";
    }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct child_result {
    int status = 0; ///< exit status, or 128 + signal
    double seconds = 0;
    bool timed_out = false;
};

/// Runs argv with env added, stdout and stderr to log; killed after `limit` seconds.
child_result run_child(const std::vector<std::string> &argv, const std::vector<std::string> &env,
                       const fs::path &log, double limit) {
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        for (const std::string &e : env)
            putenv(const_cast<char *>(e.c_str()));
        std::vector<char *> args;
        for (const std::string &a : argv)
            args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        execv(args[0], args.data());
        std::perror("execv");
        _exit(127);
    }
    child_result r;
    int st = 0;
    for (;;) {
        const pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (seconds_since(t0) > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            r.timed_out = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    r.seconds = seconds_since(t0);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

/// Whether the canary causes p's first violation: it fails with the canary, and without it
/// passes or fails elsewhere.
std::optional<verdict_violation> canary_violation(const program &p, const run_options &with) {
    const run_result r = run_program(p, with);
    if (!r.violation)
        return std::nullopt;
    run_options without = with;
    without.inject.clear();
    const run_result w = run_program(p, without);
    if (w.violation && w.violation->invariant == r.violation->invariant &&
        w.violation->op_index == r.violation->op_index)
        return std::nullopt;
    return r.violation;
}

struct hunt {
    double seconds = missed;
    std::optional<program> found; ///< the failing input, when the driver leaves one
    std::string invariant;
    std::string note; ///< why a run is not a measurement
};

struct canary_bench {
    std::string fuzzer_dir;
    std::string rc;
    fs::path work;
    double cap = 120;
    std::size_t nr_ops = 32;
    bool seeds = true;
    std::vector<std::string> known;

    [[nodiscard]] fs::path src() const { return MMFUZZ_SOURCE_DIR; }

    /// A libFuzzer run of `binary` on a fresh corpus plus the seeds.
    hunt libfuzzer(const std::string &binary, const std::string &name, unsigned seed,
                   const run_options &opts) const {
        hunt h;
        if (binary.empty() || !fs::exists(binary)) {
            h.note = "no fuzzer binary";
            return h;
        }
        const fs::path dir =
            work / (name + "-" + fs::path(binary).filename().string() + "-" + std::to_string(seed));
        fs::remove_all(dir);
        fs::create_directories(dir / "corpus");
        std::vector<std::string> argv = {
            binary, "-seed=" + std::to_string(seed),
            "-max_total_time=" + std::to_string(static_cast<long>(cap + 0.999)),
            "-artifact_prefix=" + dir.string() + "/", "-print_final_stats=1"};
        if (fs::exists(src() / "corpus" / "mm_diff_fuzzer.dict"))
            argv.push_back("-dict=" + (src() / "corpus" / "mm_diff_fuzzer.dict").string());
        argv.push_back((dir / "corpus").string());
        if (seeds && fs::exists(src() / "corpus" / "seeds"))
            argv.push_back((src() / "corpus" / "seeds").string());
        const std::vector<std::string> env = {
            "MMFUZZ_INJECT=" + name,
            "MMFUZZ_KNOWN=" + (src() / "corpus" / "known-findings.txt").string()};
        const child_result c = run_child(argv, env, dir / "log", cap + 30);
        std::optional<fs::path> crash;
        for (const auto &e : fs::directory_iterator(dir))
            if (e.path().filename().string().rfind("crash-", 0) == 0)
                crash = e.path();
        if (c.status == 0 || !crash || c.seconds > cap) {
            if (c.status != 0 && !crash)
                h.note = "fuzzer exit " + std::to_string(c.status) + " without a crash file";
            return h;
        }
        std::ifstream in(*crash, std::ios::binary);
        const std::string data((std::istreambuf_iterator<char>(in)), {});
        const program p =
            decode_any({reinterpret_cast<const std::uint8_t *>(data.data()), data.size()});
        const auto v = canary_violation(p, opts);
        if (!v) {
            h.note = "crash not reproduced with the canary alone: " + crash->string();
            return h;
        }
        h.seconds = c.seconds;
        h.found = p;
        h.invariant = v->invariant;
        return h;
    }

    hunt rapidcheck(const std::string &name, unsigned seed) const {
        hunt h;
        if (rc.empty() || !fs::exists(rc)) {
            h.note = "no rc_canary binary";
            return h;
        }
        const fs::path log = work / (name + "-rc-" + std::to_string(seed) + ".log");
        const std::vector<std::string> env = {
            "MMFUZZ_INJECT=" + name,
            "MMFUZZ_KNOWN=" + (src() / "corpus" / "known-findings.txt").string(),
            "RC_PARAMS=seed=" + std::to_string(seed) + " max_success=1000000000 noshrink=1"};
        const child_result c = run_child({rc}, env, log, cap);
        if (c.timed_out)
            return h;
        if (c.status != 1) {
            h.note = "rc_canary exit " + std::to_string(c.status);
            return h;
        }
        std::ifstream in(log);
        for (std::string line; std::getline(in, line);) {
            const std::size_t at = line.find(" at op #");
            if (at != std::string::npos && at > 0 &&
                line.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == at)
                h.invariant = line.substr(0, at);
        }
        h.seconds = c.seconds;
        return h;
    }

    hunt uniform(unsigned seed, const run_options &opts) const {
        hunt h;
        program_header hd;
        hd.options.gran = granule::k4;
        const rand_fn rnd = seeded_rand(seed);
        const auto t0 = std::chrono::steady_clock::now();
        while (seconds_since(t0) < cap) {
            const program p = random_program(rnd, hd, nr_ops > 3 ? nr_ops - 3 : 1);
            if (const auto v = canary_violation(p, opts)) {
                h.seconds = seconds_since(t0);
                h.found = p;
                h.invariant = v->invariant;
                return h;
            }
        }
        return h;
    }
};

std::string find_beside(const std::string &dir, const std::string &name) {
    std::vector<fs::path> candidates;
    if (!dir.empty()) {
        candidates = {fs::path(dir) / name, fs::path(dir) / "fuzz" / name};
    } else {
        if (const char *env = std::getenv("MMFUZZ_FUZZER"))
            candidates.push_back(fs::path(env).parent_path() / name);
        std::error_code ec;
        const fs::path self = fs::read_symlink("/proc/self/exe", ec).parent_path();
        candidates.push_back(self / "fuzz" / name);
        candidates.push_back(self / name);
    }
    for (const fs::path &p : candidates)
        if (fs::exists(p))
            return p.string();
    return "";
}

std::string find_rc(const std::string &fuzzer_dir) {
    std::error_code ec;
    const fs::path self = fs::read_symlink("/proc/self/exe", ec).parent_path();
    std::vector<fs::path> candidates = {self / "tests" / "rc_canary"};
    if (!fuzzer_dir.empty())
        candidates.insert(candidates.begin(),
                          {fs::path(fuzzer_dir) / "tests" / "rc_canary",
                           fs::path(fuzzer_dir).parent_path() / "tests" / "rc_canary"});
    for (const fs::path &p : candidates)
        if (fs::exists(p))
            return p.string();
    return "";
}

std::string cell(double s, double cap) {
    char buf[32];
    if (s == missed)
        std::snprintf(buf, sizeof buf, ">%g", cap);
    else
        std::snprintf(buf, sizeof buf, "%.1f", s);
    return buf;
}

std::string json_seconds(double s) {
    if (s == missed)
        return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", s);
    return buf;
}

std::string json_string(const std::string &s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

/// The median of the runs; a miss counts as longer than any time.
double median(std::vector<double> v) {
    if (v.empty())
        return missed;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct canary_row {
    std::string name;
    std::map<char, std::vector<hunt>> runs;
    std::string invariant;
    std::size_t reproducer_ops = 0;
    double minimize_seconds = 0;
    std::string reproducer_note;
};

int bench_canaries(const std::vector<std::string> &args) {
    canary_bench b;
    std::size_t runs = 3;
    bool json = false;
    std::string drivers = "abcd";
    std::vector<std::string> only;
    std::string work;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has = i + 1 < args.size();
        if (args[i] == "--canaries")
            continue;
        if (args[i] == "--cap" && has)
            b.cap = std::stod(args[++i]);
        else if (args[i] == "--runs" && has)
            runs = std::stoul(args[++i]);
        else if (args[i] == "--only" && has)
            only.push_back(args[++i]);
        else if (args[i] == "--drivers" && has)
            drivers = args[++i];
        else if (args[i] == "--fuzzer-dir" && has)
            b.fuzzer_dir = args[++i];
        else if (args[i] == "--rc" && has)
            b.rc = args[++i];
        else if (args[i] == "--work" && has)
            work = args[++i];
        else if (args[i] == "--ops" && has)
            b.nr_ops = std::stoul(args[++i]);
        else if (args[i] == "--no-seeds")
            b.seeds = false;
        else if (args[i] == "--json")
            json = true;
        else
            return usage_error("bench: unexpected argument '" + args[i] + "'", bench_help);
    }
    if (b.cap <= 0 || runs == 0)
        return usage_error("bench: --cap and --runs must be positive", bench_help);
    for (const char d : drivers)
        if (std::find(all_drivers.begin(), all_drivers.end(), d) == all_drivers.end())
            return usage_error(std::string("bench: unknown driver '") + d + "'", bench_help);
    for (const std::string &n : only)
        if (!canary_known(n))
            return usage_error("bench: unknown canary '" + n + "'", bench_help);
    if (work.empty()) {
        std::string tmpl = (fs::temp_directory_path() / "mmfuzz-bench-XXXXXX").string();
        if (mkdtemp(tmpl.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed");
        work = tmpl;
    }
    b.work = work;
    fs::create_directories(b.work);
    if (b.rc.empty())
        b.rc = find_rc(b.fuzzer_dir);
    const std::string fuzzer_a = find_beside(b.fuzzer_dir, "mm_diff_fuzzer");
    const std::string fuzzer_b = find_beside(b.fuzzer_dir, "mm_diff_fuzzer_bytes");
    b.known = read_known_findings((b.src() / "corpus" / "known-findings.txt").string());

    std::vector<canary_row> rows;
    for (const canary_info &c : canaries()) {
        const std::string name(c.name);
        if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end())
            continue;
        canary_row row;
        row.name = name;
        run_options opts;
        opts.inject = name;
        opts.known = b.known;
        for (const char d : drivers) {
            for (unsigned seed = 1; seed <= runs; ++seed) {
                hunt h;
                if (d == 'a')
                    h = b.libfuzzer(fuzzer_a, name, seed, opts);
                else if (d == 'b')
                    h = b.libfuzzer(fuzzer_b, name, seed, opts);
                else if (d == 'c')
                    h = b.rapidcheck(name, seed);
                else
                    h = b.uniform(seed, opts);
                std::fprintf(stderr, "%-32s (%c) seed %u: %s%s%s\n", name.c_str(), d, seed,
                             cell(h.seconds, b.cap).c_str(),
                             h.invariant.empty() ? "" : (" " + h.invariant).c_str(),
                             h.note.empty() ? "" : ("  [" + h.note + "]").c_str());
                row.runs[d].push_back(std::move(h));
            }
        }
        const program *sample = nullptr;
        for (const char d : {'a', 'd'})
            for (const hunt &h : row.runs[d])
                if (sample == nullptr && h.found)
                    sample = &*h.found;
        if (sample != nullptr) {
            const auto t0 = std::chrono::steady_clock::now();
            const minimize_result m = minimize(*sample, opts);
            row.minimize_seconds = seconds_since(t0);
            row.reproducer_ops = m.reproducer.ops.size();
            row.invariant = m.invariant;
            if (!canary_violation(m.reproducer, opts))
                row.reproducer_note = "the minimized program fails the same way without the canary";
        }
        rows.push_back(std::move(row));
    }

    auto driver_measured = [&](const canary_row &r, char d) {
        const auto it = r.runs.find(d);
        if (it == r.runs.end())
            return false;
        return std::all_of(it->second.begin(), it->second.end(),
                           [](const hunt &h) { return h.note.empty() || h.found; });
    };
    auto driver_median = [&](const canary_row &r, char d) {
        std::vector<double> v;
        for (const hunt &h : r.runs.at(d))
            v.push_back(h.seconds);
        return median(v);
    };
    std::map<char, double> overall;
    for (const char d : drivers) {
        std::vector<double> v;
        for (const canary_row &r : rows)
            v.push_back(driver_measured(r, d) ? driver_median(r, d) : missed);
        overall[d] = median(v);
    }

    if (json) {
        std::ostringstream o;
        o << "{\"cap_seconds\": " << b.cap << ", \"runs\": " << runs
          << ", \"libfuzzer_seeds\": " << (b.seeds ? "true" : "false") << ", \"canaries\": [";
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const canary_row &r = rows[i];
            o << (i ? ", " : "") << "{\"name\": " << json_string(r.name)
              << ", \"invariant\": " << json_string(r.invariant) << ", \"drivers\": {";
            bool first = true;
            for (const char d : drivers) {
                o << (first ? "" : ", ") << "\"" << d << "\": {";
                first = false;
                if (!driver_measured(r, d)) {
                    o << "\"measured\": false, \"note\": " << json_string(r.runs.at(d).front().note)
                      << "}";
                    continue;
                }
                o << "\"median_seconds\": " << json_seconds(driver_median(r, d))
                  << ", \"seconds\": [";
                for (std::size_t k = 0; k < r.runs.at(d).size(); ++k)
                    o << (k ? ", " : "") << json_seconds(r.runs.at(d)[k].seconds);
                o << "]}";
            }
            o << "}, \"reproducer_ops\": " << r.reproducer_ops
              << ", \"minimize_seconds\": " << json_seconds(r.minimize_seconds) << "}";
        }
        o << "], \"median_over_canaries\": {";
        bool first = true;
        for (const char d : drivers) {
            o << (first ? "" : ", ") << "\"" << d << "\": " << json_seconds(overall[d]);
            first = false;
        }
        o << "}}\n";
        std::cout << o.str();
        return 0;
    }
    std::printf("time to detect each canary: seconds, median of %zu seeds, cap %g s, one core%s\n",
                runs, b.cap, b.seeds ? "" : ", libFuzzer without seed corpus");
    std::printf("%-31s", "canary");
    for (const char d : drivers)
        std::printf(" %21s", ("(" + std::string(1, d) + ") " + driver_title(d)).c_str());
    std::printf("  %-12s %4s %9s\n", "invariant", "ops", "minimize");
    for (const canary_row &r : rows) {
        std::printf("%-31s", r.name.c_str());
        for (const char d : drivers)
            std::printf(" %21s", driver_measured(r, d) ? cell(driver_median(r, d), b.cap).c_str()
                                                       : "not measured");
        if (r.reproducer_ops > 0)
            std::printf("  %-12s %4zu %8.1fs%s\n", r.invariant.c_str(), r.reproducer_ops,
                        r.minimize_seconds,
                        r.reproducer_note.empty() ? "" : ("  (" + r.reproducer_note + ")").c_str());
        else
            std::printf("  %-12s %4s %9s\n", "-", "-", "-");
    }
    std::printf("%-31s", "median over canaries");
    for (const char d : drivers)
        std::printf(" %21s", cell(overall[d], b.cap).c_str());
    std::printf("\nlogs and crashes: %s\n", b.work.c_str());
    return 0;
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
    double seconds = 3;
    std::size_t passes = 0;
    bool bare_only = false;
    bool oracle_only = false;
    std::size_t nr_ops = 32;
    bool json = false;
    granule g = granule::k4;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has = i + 1 < args.size();
        if (args[i] == "--seconds" && has)
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
        else if (args[i] == "--granule" && has) {
            const auto gg = granule_from_name(args[++i]);
            if (!gg)
                return usage_error("bench: unknown granule '" + args[i] + "'", bench_help);
            g = *gg;
        } else if (args[i] == "--list-canaries") {
            for (const canary_info &c : canaries())
                std::cout << c.name << "  " << c.bug_class << "\n";
            return 0;
        } else {
            return usage_error("bench: unexpected argument '" + args[i] + "'", bench_help);
        }
    }
    program_header h;
    h.options.gran = g;
    std::vector<program> progs;
    const rand_fn rnd = seeded_rand(12345);
    for (int i = 0; i < 256; ++i)
        progs.push_back(random_program(rnd, h, nr_ops > 3 ? nr_ops - 3 : 1));
    const throughput bare = oracle_only ? throughput{} : measure(progs, false, seconds, passes);
    const throughput full = bare_only ? throughput{} : measure(progs, true, seconds, passes);
    const double overhead = bare.ops_per_s / full.ops_per_s;
    if (json) {
        std::printf("{\"granule\": \"%s\", \"ops_per_program\": %zu, \"ops_per_s_oracle\": %.0f, "
                    "\"ops_per_s_bare\": %.0f, \"oracle_overhead\": %.2f}\n",
                    std::string(granule_name(g)).c_str(), nr_ops, full.ops_per_s, bare.ops_per_s,
                    overhead);
    } else {
        std::printf("throughput (one core, %s granule, random programs of %zu ops)\n",
                    std::string(granule_name(g)).c_str(), nr_ops);
        std::printf("  with all oracles  %12.0f ops/s  (%.0f programs/s)\n", full.ops_per_s,
                    full.programs_per_s);
        std::printf("  bare application  %12.0f ops/s  (%.0f programs/s)\n", bare.ops_per_s,
                    bare.programs_per_s);
        std::printf("  oracle overhead   %12.2fx\n", overhead);
    }
    return 0;
}

} // namespace mmfuzz::cli
