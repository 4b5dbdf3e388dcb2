// mmfuzz bench --canaries: seconds for each driver to find each canary, and the size of the
// minimized reproducer.
#include "cli/bench_canaries.hpp"
#include "cli/cli.hpp"
#include "cli/fuzzer_proc.hpp"

#include "arch/canary.hpp"
#include "program/codec.hpp"
#include "program/detection.hpp"
#include "program/minimize.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace mmfuzz::cli {

namespace {

constexpr std::array<char, 5> all_drivers = {'a', 'b', 'c', 'd', 'e'};

/// A run that has not used `cap` CPU seconds after this long is stopped as not measured: the
/// machine is too loaded.
double wall_limit(double cap) {
    return 10 * cap + 60;
}

/// The first detection time a driver process printed to its log.
std::optional<detection_time> detection_in(const fs::path &log) {
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
        if (auto t = parse_detection_line(line))
            return t;
    return std::nullopt;
}

std::string cap_text(double cap) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", cap);
    return buf;
}

/// CPU seconds a driver process may use beyond the cap: the cap bounds its search, and its
/// start-up (about 0.12 s for libFuzzer under ASan) comes first.
constexpr double startup_allowance = 2;

struct canary_bench {
    std::string fuzzer_dir;
    std::string rc;
    fs::path work;
    double cap = 120;
    std::size_t nr_ops = 32;
    bool seeds = true;
    std::vector<std::string> known;

    [[nodiscard]] static fs::path src() { return source_dir(); }

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
        child_spec c;
        c.argv = {binary, "-seed=" + std::to_string(seed),
                  "-max_total_time=" + std::to_string(static_cast<long>(wall_limit(cap))),
                  "-artifact_prefix=" + dir.string() + "/", "-print_final_stats=1"};
        for (const std::string &flag :
             libfuzzer_options_flags(src() / "corpus" / "mm_diff_fuzzer.options"))
            c.argv.push_back(flag);
        c.argv.push_back((dir / "corpus").string());
        if (seeds && fs::exists(src() / "corpus" / "seeds"))
            c.argv.push_back((src() / "corpus" / "seeds").string());
        c.env = {"MMFUZZ_INJECT=" + name, "MMFUZZ_KNOWN=" + known_findings_file().string()};
        c.log = dir / "log";
        c.limit = wall_limit(cap) + 30;
        c.cpu_limit = cap + startup_allowance;
        c.fixed_layout = true;
        const child_result r = run_child(c);
        std::optional<fs::path> crash;
        for (const auto &e : fs::directory_iterator(dir))
            if (e.path().filename().string().rfind("crash-", 0) == 0)
                crash = e.path();
        h.wall = r.seconds;
        if (r.status == 0 || r.timed_out) {
            if (!r.cpu_out)
                h.note = "stopped by the wall-clock limit before the CPU cap";
            return h;
        }
        if (!crash) {
            if (!r.cpu_out)
                h.note = "fuzzer exit " + std::to_string(r.status) + " without a crash file";
            return h;
        }
        const std::optional<detection_time> t = detection_in(c.log);
        if (!t) {
            h.note = "the fuzzer printed no detection time (a binary older than this mmfuzz?)";
            return h;
        }
        if (t->search > cap)
            return h;
        std::string error;
        const std::optional<program> p = load_fuzzer_input(crash->string(), error);
        if (!p) {
            h.note = error;
            return h;
        }
        const auto v = canary_violation(*p, opts);
        if (!v) {
            h.note = "crash not reproduced with the canary alone: " + crash->string();
            return h;
        }
        h.seconds = t->search;
        h.startup = t->startup;
        h.found = p;
        h.found_file = crash->string();
        h.invariant = v->invariant;
        return h;
    }

    /// More tests than fit in the cap (a test takes well over 0.1 ms), yet not so many that
    /// RapidCheck's setup, which grows with max_success (about 30 CPU seconds and 3 GB at 10^9),
    /// counts in the time to detect (with seed 1, every max_success from 1,000 to 10^9 failed
    /// at the same test: past max_size tests it does not change what is generated).
    [[nodiscard]] unsigned long rc_max_success() const {
        return 100000UL * static_cast<unsigned long>(std::max(1.0, cap + 0.999));
    }

    hunt rapidcheck(const std::string &name, unsigned seed) const {
        hunt h;
        if (rc.empty() || !fs::exists(rc)) {
            h.note = "no rc_canary binary";
            return h;
        }
        child_spec c;
        c.argv = {rc};
        c.env = {"MMFUZZ_INJECT=" + name, "MMFUZZ_KNOWN=" + known_findings_file().string(),
                 "RC_PARAMS=seed=" + std::to_string(seed) +
                     " max_success=" + std::to_string(rc_max_success()) + " noshrink=1"};
        c.log = work / (name + "-rc-" + std::to_string(seed) + ".log");
        c.limit = wall_limit(cap);
        c.cpu_limit = cap + startup_allowance;
        c.fixed_layout = true;
        const child_result r = run_child(c);
        h.wall = r.seconds;
        if (r.cpu_out)
            return h;
        if (r.timed_out) {
            h.note = "stopped by the wall-clock limit before the CPU cap";
            return h;
        }
        if (r.status != 1) {
            h.note = "rc_canary exit " + std::to_string(r.status);
            return h;
        }
        std::ifstream in(c.log);
        for (std::string line; std::getline(in, line);) {
            const std::size_t at = line.find(" at op #");
            if (at != std::string::npos && at > 0 &&
                line.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == at)
                h.invariant = line.substr(0, at);
        }
        const std::optional<detection_time> t = detection_in(c.log);
        if (!t) {
            h.note = "rc_canary printed no detection time (a binary older than this mmfuzz?)";
            return h;
        }
        if (t->search <= cap) {
            h.seconds = t->search;
            h.startup = t->startup;
        }
        return h;
    }

    /// Driver (d), uniform programs, or (e), the biased generator the mutator also uses: fresh
    /// programs of nr_ops ops on the 4K granule until one shows the canary, in a process of its
    /// own ('mmfuzz bench --hunt', bench_hunt.cpp), timed from its first program as a fuzzer is
    /// from its first input. In a thread of this process, which earlier runs have warmed, a
    /// search would skip the first-touch costs a fresh process pays (its first execution took
    /// 5-8 ms on the benchmark's machine, later ones of the same input 0.03 ms), and two at a
    /// time would share one allocator (BENCHMARKS.md: long searches ran 2-3x slower).
    hunt random_programs(const std::string &name, unsigned seed, const run_options &opts,
                         bool biased) const {
        hunt h;
        const std::string stem = name + (biased ? "-biased-" : "-uniform-") + std::to_string(seed);
        const fs::path out = work / (stem + ".ops");
        fs::remove(out);
        child_spec c;
        c.argv = {fs::read_symlink("/proc/self/exe").string(),
                  "bench",
                  "--hunt",
                  biased ? "e" : "d",
                  "--inject",
                  name,
                  "--seed",
                  std::to_string(seed),
                  "--cap",
                  cap_text(cap),
                  "--ops",
                  std::to_string(nr_ops),
                  "--out",
                  out.string()};
        c.log = work / (stem + ".log");
        c.limit = wall_limit(cap) + 30;
        c.cpu_limit = cap + startup_allowance;
        c.fixed_layout = true;
        const child_result r = run_child(c);
        h.wall = r.seconds;
        if (r.status == 0 || r.cpu_out)
            return h;
        if (r.timed_out) {
            h.note = "stopped by the wall-clock limit before the CPU cap";
            return h;
        }
        const std::optional<detection_time> t = detection_in(c.log);
        if (r.status != 1 || !t) {
            h.note =
                "mmfuzz bench --hunt exit " + std::to_string(r.status) + ", see " + c.log.string();
            return h;
        }
        std::string error;
        const std::optional<program> p = load_program(out.string(), error, nullptr);
        if (!p) {
            h.note = error;
            return h;
        }
        const auto v = canary_violation(*p, opts);
        if (!v) {
            h.note = "not reproduced with the canary alone: " + out.string();
            return h;
        }
        if (t->search > cap)
            return h;
        h.seconds = t->search;
        h.startup = t->startup;
        h.found = p;
        h.found_file = out.string();
        h.invariant = v->invariant;
        return h;
    }
};

// ---- the results file of a work folder, so that an interrupted run can be resumed ----------

/// One line per finished run: canary, driver, seed, cap, CPU seconds of search or "miss",
/// wall-clock seconds, invariant, the file of the input found, note, the load average when it
/// ended, CPU seconds of the process's start-up; tab-separated.
std::string result_line(const std::string &name, char driver, unsigned seed, double cap,
                        const hunt &h, double load) {
    char secs[32];
    if (h.seconds == missed)
        std::snprintf(secs, sizeof secs, "miss");
    else
        std::snprintf(secs, sizeof secs, "%.3f", h.seconds);
    char wall[32];
    std::snprintf(wall, sizeof wall, "%.3f", h.wall);
    char load_text[32];
    std::snprintf(load_text, sizeof load_text, "%.2f", load);
    char startup[32];
    std::snprintf(startup, sizeof startup, "%.3f", h.startup);
    return name + "\t" + driver + "\t" + std::to_string(seed) + "\t" + cap_text(cap) + "\t" + secs +
           "\t" + wall + "\t" + h.invariant + "\t" + h.found_file + "\t" + h.note + "\t" +
           load_text + "\t" + startup + "\n";
}

/// The runs of an earlier invocation with the same cap, by "canary driver seed"; one whose
/// input cannot be read back is left out (it runs again), and so is a run from before start-up
/// was told apart (its time included it) or, for (d) and (e), from before they ran as
/// processes. Their load averages go to `load`.
std::map<std::string, hunt> read_results(const fs::path &file, double cap, load_samples &load) {
    std::map<std::string, hunt> out;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        std::vector<std::string> f;
        std::istringstream fields(line);
        for (std::string x; std::getline(fields, x, '\t');)
            f.push_back(x);
        const bool has_startup = f.size() >= 11;
        f.resize(11);
        if (f[3] != cap_text(cap) || f[1].size() != 1)
            continue;
        if (!has_startup)
            continue;
        hunt h;
        h.startup = std::strtod(f[10].c_str(), nullptr);
        // (d) and (e) ran in bench's own process, without start-up, before they had processes.
        if ((f[1] == "d" || f[1] == "e") && f[4] != "miss" && h.startup == 0)
            continue;
        h.seconds = f[4] == "miss" ? missed : std::strtod(f[4].c_str(), nullptr);
        h.wall = std::strtod(f[5].c_str(), nullptr);
        h.invariant = f[6];
        h.found_file = f[7];
        h.note = f[8];
        if (!h.found_file.empty()) {
            // (a) and (b) leave the fuzzer's crash file, which may hold damaged text; (d) and
            // (e) a text reproducer.
            std::string error;
            h.found = f[1] == "a" || f[1] == "b" ? load_fuzzer_input(h.found_file, error)
                                                 : load_program(h.found_file, error, nullptr);
            if (!h.found)
                continue;
        }
        if (!f[9].empty() && std::strtod(f[9].c_str(), nullptr) >= 0)
            load.add(std::strtod(f[9].c_str(), nullptr));
        out[f[0] + " " + f[1] + " " + f[2]] = std::move(h);
    }
    return out;
}

std::string find_rc(const std::string &fuzzer_dir) {
    std::vector<fs::path> candidates = {self_dir() / "tests" / "rc_canary"};
    if (!fuzzer_dir.empty())
        candidates.insert(candidates.begin(),
                          {fs::path(fuzzer_dir) / "tests" / "rc_canary",
                           fs::path(fuzzer_dir).parent_path() / "tests" / "rc_canary"});
    for (const fs::path &p : candidates)
        if (fs::exists(p))
            return p.string();
    return "";
}

} // namespace

int bench_canaries(const std::vector<std::string> &args) {
    canary_bench b;
    std::size_t runs = 3;
    std::size_t jobs = 1;
    bool json = false;
    bool resume = false;
    std::string drivers = "abcde";
    std::vector<std::string> only;
    std::string work;
    std::string markdown_file;
    bool force = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has = i + 1 < args.size();
        if (args[i] == "--canaries")
            continue;
        if (args[i] == "--cap" && has)
            b.cap = std::stod(args[++i]);
        else if (args[i] == "--runs" && has)
            runs = std::stoul(args[++i]);
        else if (args[i] == "--jobs" && has)
            jobs = std::stoul(args[++i]);
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
        else if (args[i] == "--resume")
            resume = true;
        else if (args[i] == "--markdown" && has)
            markdown_file = args[++i];
        else if (args[i] == "--force")
            force = true;
        else
            return usage_error("bench: unexpected argument '" + args[i] + "'", bench_help);
    }
    if (b.cap <= 0 || runs == 0 || jobs == 0)
        return usage_error("bench: --cap, --runs and --jobs must be positive", bench_help);
    for (const char d : drivers)
        if (std::find(all_drivers.begin(), all_drivers.end(), d) == all_drivers.end())
            return usage_error(std::string("bench: unknown driver '") + d + "'", bench_help);
    for (const std::string &n : only)
        if (!canary_known(n))
            return usage_error("bench: unknown canary '" + n + "'", bench_help);
    if (resume && work.empty())
        return usage_error("bench: --resume needs the --work folder of the earlier run",
                           bench_help);
    if (!markdown_file.empty() && !output_writable("bench", markdown_file, force))
        return 2;
    b.work = work.empty() ? fresh_work_dir() : fs::path(work);
    fs::create_directories(b.work);
    if (b.rc.empty())
        b.rc = find_rc(b.fuzzer_dir);
    const std::string fuzzer_a = find_fuzz_binary("mm_diff_fuzzer", b.fuzzer_dir);
    const std::string fuzzer_b = find_fuzz_binary("mm_diff_fuzzer_bytes", b.fuzzer_dir);
    b.known = read_known_findings(known_findings_file().string());

    canary_results res;
    res.drivers = drivers;
    res.runs = runs;
    res.cap = b.cap;
    res.seeds = b.seeds;
    res.work = b.work;
    load_samples load;
    load.sample();
    // One row per canary; each (canary, driver, seed) is a unit of work, one process, run by
    // --jobs workers.
    std::vector<run_options> opts;
    for (const canary_info &c : canaries()) {
        const std::string name(c.name);
        if (!only.empty() && std::find(only.begin(), only.end(), name) == only.end())
            continue;
        canary_row row;
        row.name = name;
        for (const char d : drivers)
            row.runs[d].resize(runs);
        res.rows.push_back(std::move(row));
        run_options o;
        o.inject = name;
        o.known = b.known;
        opts.push_back(std::move(o));
    }
    struct unit {
        std::size_t row;
        char driver;
        unsigned seed;
    };
    const fs::path results_file = b.work / "results.tsv";
    const std::map<std::string, hunt> earlier =
        resume ? read_results(results_file, b.cap, load) : std::map<std::string, hunt>{};
    if (!resume)
        fs::remove(results_file);
    std::vector<unit> units;
    for (std::size_t r = 0; r < res.rows.size(); ++r)
        for (const char d : drivers)
            for (unsigned seed = 1; seed <= runs; ++seed) {
                const auto it =
                    earlier.find(res.rows[r].name + " " + d + " " + std::to_string(seed));
                if (it == earlier.end())
                    units.push_back({r, d, seed});
                else
                    res.rows[r].runs[d][seed - 1] = it->second;
            }
    if (resume)
        std::fprintf(stderr, "bench: %zu run(s) taken from %s, %zu to run\n",
                     res.rows.size() * drivers.size() * runs - units.size(), results_file.c_str(),
                     units.size());
    std::atomic<std::size_t> next{0};
    std::mutex report;
    auto worker = [&] {
        for (std::size_t i; (i = next++) < units.size();) {
            const unit &u = units[i];
            const std::string &name = res.rows[u.row].name;
            hunt h;
            try {
                if (u.driver == 'a')
                    h = b.libfuzzer(fuzzer_a, name, u.seed, opts[u.row]);
                else if (u.driver == 'b')
                    h = b.libfuzzer(fuzzer_b, name, u.seed, opts[u.row]);
                else if (u.driver == 'c')
                    h = b.rapidcheck(name, u.seed);
                else
                    h = b.random_programs(name, u.seed, opts[u.row], u.driver == 'e');
            } catch (const std::exception &e) {
                h.note = e.what();
            }
            const std::lock_guard<std::mutex> lock(report);
            const double now = load.sample();
            std::ofstream(results_file, std::ios::app)
                << result_line(name, u.driver, u.seed, b.cap, h, now);
            std::fprintf(stderr, "%-32s (%c) seed %u: %s%s%s\n", name.c_str(), u.driver, u.seed,
                         cell(h.seconds, b.cap).c_str(),
                         h.invariant.empty() ? "" : (" " + h.invariant).c_str(),
                         h.note.empty() ? "" : ("  [" + h.note + "]").c_str());
            res.rows[u.row].runs[u.driver][u.seed - 1] = std::move(h);
        }
    };
    std::vector<std::thread> workers;
    for (std::size_t j = 1; j < jobs; ++j)
        workers.emplace_back(worker);
    worker();
    for (std::thread &t : workers)
        t.join();

    for (std::size_t r = 0; r < res.rows.size(); ++r) {
        canary_row &row = res.rows[r];
        const program *sample = nullptr;
        for (const char d : {'a', 'e', 'd'})
            for (const hunt &h : row.runs[d])
                if (sample == nullptr && h.found)
                    sample = &*h.found;
        if (sample != nullptr) {
            const double cpu0 = thread_cpu_seconds();
            const minimize_result m = minimize(*sample, opts[r]);
            row.minimize_seconds = thread_cpu_seconds() - cpu0;
            row.reproducer_ops = m.reproducer.ops.size();
            row.invariant = m.invariant;
            if (!canary_violation(m.reproducer, opts[r]))
                row.reproducer_note = "the minimized program fails the same way without the canary";
        }
    }
    res.jobs = jobs;

    if (json)
        std::cout << canary_json(res);
    else
        print_canary_table(res);
    if (markdown_file.empty())
        return 0;
    return write_markdown(markdown_file, force, canary_markdown(res, args, load));
}

} // namespace mmfuzz::cli
