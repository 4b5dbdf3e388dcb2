// mmfuzz campaign: time-boxed fuzzing on one machine with libFuzzer's fork mode, then crash
// deduplication by invariant and op, minimization, reproducers and a summary.
#include "cli/cli.hpp"
#include "cli/fuzzer_proc.hpp"
#include "cli/isolated.hpp"

#include "program/codec.hpp"
#include "program/minimize.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <unistd.h>
#include <vector>

#ifndef MMFUZZ_SOURCE_DIR
#define MMFUZZ_SOURCE_DIR "."
#endif

namespace fs = std::filesystem;

namespace mmfuzz::cli {

namespace {

constexpr const char *campaign_help =
    R"(usage: mmfuzz campaign --time SECONDS [--jobs N] [--out DIR] [--seed N]
                        [--inject NAME] [--fuzzer PATH] [--seeds DIR] [--granule G]

Runs the libFuzzer differential target (reference vs arm64 contpte) for SECONDS with N jobs
(libFuzzer -fork), showing elapsed time, execs/s, coverage, corpus size and violations. At the
end, crashes are deduplicated by invariant and op, each is minimized into DIR/reproducers/, a
summary is written to DIR/summary.txt, and the corpus in DIR/corpus is merged. Ctrl-C, SIGTERM
or SIGHUP stops the fuzzer early and still keeps every crash and the corpus, and writes the
summary (without minimizing or merging).
  --out DIR      campaign folder (default: campaign-out); reused if it exists
  --fuzzer PATH  the mm_diff_fuzzer binary (default: $MMFUZZ_FUZZER, or the one built beside
                 this mmfuzz by the fuzz preset)
  --seeds DIR    seed corpus (default: the source tree's corpus/seeds)
  --granule G    fuzz the 4K, 16K or 64K granule: the seeds are rewritten to it (binary inputs
                 in DIR/seeds-G); the fuzzer keeps each input's granule, so the seeds' granule
                 is the campaign's (the window and machine options vary)
  --known FILE   known findings to pass over (default: the source tree's
                 corpus/known-findings.txt; --known none to report everything)
Each crash file is replayed, and minimized, in a child process of its own, so that one whose
replay crashes or hangs (over 10 CPU seconds; 600 to minimize) is reported, not fatal; what
such a child printed is in DIR/replay.log.
Exit status: 0 no violation, 1 violations found (or crash files without one here: a sanitizer
report, a timeout or out of memory in the fuzzer, or a replay that crashes or hangs, listed in
the summary with the reason), 2 bad arguments or no fuzzer.
)";

/// CPU seconds a crash file's replay may take in its child process: a fuzzer input runs at most
/// 64 ops, milliseconds even under the sanitizers, so only a hang reaches it.
constexpr unsigned replay_cpu_limit = 10;
/// And its minimization: some thousand replays of a shorter program.
constexpr unsigned minimize_cpu_limit = 600;

volatile std::sig_atomic_t interrupted = 0;
void on_interrupt(int) {
    interrupted = 1;
}

/// Ctrl-C, kill, timeout(1) or a CI runner's SIGTERM, and a closed terminal all end the fuzzing
/// the same way: the fuzzer's process group gets SIGTERM (run_child), and what it found is kept.
void catch_interrupts(bool on) {
    struct sigaction sa {};
    sa.sa_handler = on ? on_interrupt : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (const int sig : {SIGINT, SIGTERM, SIGHUP})
        sigaction(sig, &sa, nullptr);
}

/// Runs the fuzzer with its output logged; prints a progress line as status lines arrive
/// (none when seconds is 0). With `stop`, the fuzzer is stopped once *stop is set.
int run_fuzzer(const std::vector<std::string> &argv, const std::vector<std::string> &env,
               const fs::path &log, int seconds, fuzzer_status &last,
               const volatile std::sig_atomic_t *stop = nullptr) {
    const auto start = std::chrono::steady_clock::now();
    // On a terminal one line is redrawn every second; in a log a line is added every 10 s.
    const bool tty = isatty(STDERR_FILENO) != 0;
    long long shown = -1;
    child_spec spec;
    spec.argv = argv;
    spec.env = env;
    spec.log = log;
    spec.append_log = true;
    spec.stop = stop;
    spec.on_line = [&](const std::string &line) {
        if (seconds <= 0 || line.empty() || line[0] != '#')
            return;
        parse_status(line, last);
        const long long elapsed = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::steady_clock::now() - start)
                                      .count();
        if (elapsed == shown || (!tty && shown >= 0 && elapsed - shown < 10))
            return;
        shown = elapsed;
        std::fprintf(stderr, "%s[%4llds/%ds] execs %s (%s/s)  cov %s  corpus %s  violations %s%s",
                     tty ? "\r" : "", elapsed, seconds, last.execs.c_str(), last.rate.c_str(),
                     last.cov.c_str(), last.corp.c_str(), last.crashes.c_str(), tty ? "   " : "\n");
    };
    const child_result r = run_child(spec);
    if (seconds > 0 && tty)
        std::fprintf(stderr, "\n");
    return r.status;
}

std::string unique_path(const fs::path &dir, const std::string &stem) {
    fs::path p = dir / (stem + ".ops");
    for (int i = 2; fs::exists(p); ++i)
        p = dir / (stem + "-" + std::to_string(i) + ".ops");
    return p.string();
}

/// The inputs in `from` as binary inputs on granule g, written to `to` (made afresh): a text
/// seed's addresses are page indices once read, so a 4K seed becomes the same program on g's
/// pages. Returns how many it wrote.
std::size_t seeds_on_granule(const fs::path &from, const fs::path &to, granule g) {
    fs::remove_all(to);
    fs::create_directories(to);
    std::size_t written = 0;
    for (const auto &e : fs::directory_iterator(from)) {
        std::string error;
        std::optional<program> p;
        if (e.is_regular_file())
            p = load_fuzzer_input(e.path().string(), error);
        if (!p)
            continue;
        p->header.options.gran = g;
        const std::vector<std::uint8_t> bytes = encode_binary(*p);
        std::ofstream(to / e.path().filename(), std::ios::binary)
            .write(reinterpret_cast<const char *>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
        ++written;
    }
    return written;
}

/// The inputs in a corpus folder whose granule is not g.
std::size_t inputs_off_granule(const fs::path &corpus, granule g) {
    std::size_t off = 0;
    for (const auto &e : fs::directory_iterator(corpus)) {
        std::string error;
        const auto p = load_fuzzer_input(e.path().string(), error);
        if (p && p->header.options.gran != g)
            ++off;
    }
    return off;
}

} // namespace

int cmd_campaign(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << campaign_help;
        return 0;
    }
    int seconds = -1;
    int jobs = 1;
    std::string out = "campaign-out";
    std::string seed;
    std::string inject;
    std::string fuzzer_arg;
    std::string seeds = std::string(MMFUZZ_SOURCE_DIR) + "/corpus/seeds";
    std::string known = std::string(MMFUZZ_SOURCE_DIR) + "/corpus/known-findings.txt";
    bool seeds_given = false;
    std::optional<granule> gran;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has = i + 1 < args.size();
        const std::string &option = args[i];
        try {
            if (args[i] == "--time" && has)
                seconds = std::stoi(args[++i]);
            else if (args[i] == "--jobs" && has)
                jobs = std::stoi(args[++i]);
            else if (args[i] == "--out" && has)
                out = args[++i];
            else if (args[i] == "--seed" && has)
                seed = std::to_string(std::stoul(args[++i]));
            else if (args[i] == "--inject" && has)
                inject = args[++i];
            else if (args[i] == "--fuzzer" && has)
                fuzzer_arg = args[++i];
            else if (args[i] == "--seeds" && has) {
                seeds = args[++i];
                seeds_given = true;
            } else if (args[i] == "--known" && has) {
                known = args[++i];
            } else if (args[i] == "--granule" && has) {
                gran = granule_from_name(args[++i]);
                if (!gran)
                    return usage_error("campaign: --granule takes 4K, 16K or 64K, found '" +
                                           args[i] + "'",
                                       campaign_help);
            } else
                return usage_error("campaign: unexpected argument '" + args[i] + "'",
                                   campaign_help);
        } catch (const std::exception &) {
            return usage_error("campaign: " + option + " needs a number, found '" + args[i] + "'",
                               campaign_help);
        }
    }
    if (seconds <= 0)
        return usage_error("campaign: --time SECONDS (> 0) is required", campaign_help);
    if (jobs <= 0)
        return usage_error("campaign: --jobs N needs N > 0", campaign_help);
    if (seeds_given && !fs::is_directory(seeds))
        return usage_error("campaign: --seeds " + seeds + ": no such folder", campaign_help);
    if (!inject.empty() && !canary_known(inject))
        return usage_error("campaign: unknown canary '" + inject + "'", campaign_help);
    const std::string fuzzer = fuzzer_arg.empty() ? find_fuzz_binary("mm_diff_fuzzer") : fuzzer_arg;
    if (fuzzer.empty() || !fs::exists(fuzzer)) {
        std::cerr << "mmfuzz: campaign: no mm_diff_fuzzer found (build the fuzz preset: "
                     "cmake --preset fuzz && cmake --build --preset fuzz, or pass --fuzzer)\n";
        return 2;
    }
    const fs::path dir(out);
    fs::create_directories(dir / "corpus");
    fs::create_directories(dir / "crashes");
    fs::create_directories(dir / "reproducers");

    std::vector<std::string> argv = {fuzzer,
                                     "-fork=" + std::to_string(jobs),
                                     "-ignore_crashes=1",
                                     "-max_total_time=" + std::to_string(seconds),
                                     "-artifact_prefix=" + (dir / "crashes").string() + "/",
                                     "-print_final_stats=1"};
    // -max_len and -dict, as ClusterFuzzLite and the benchmark take them.
    const fs::path src(MMFUZZ_SOURCE_DIR);
    for (const std::string &flag :
         libfuzzer_options_flags(src / "corpus" / "mm_diff_fuzzer.options"))
        argv.push_back(flag);
    if (!seed.empty())
        argv.push_back("-seed=" + seed);
    argv.push_back((dir / "corpus").string());
    if (gran) {
        // The mutator keeps each input's granule: seeds on g make a campaign on g, and a corpus
        // of another granule would make a mixed one.
        if (const std::size_t off = inputs_off_granule(dir / "corpus", *gran); off > 0)
            return usage_error("campaign: " + std::to_string(off) + " input(s) in " +
                                   (dir / "corpus").string() + " are not on the " +
                                   std::string(granule_name(*gran)) +
                                   " granule; give this campaign its own --out",
                               campaign_help);
        if (fs::exists(seeds)) {
            const fs::path on = dir / ("seeds-" + std::string(granule_name(*gran)));
            std::cerr << "campaign: " << seeds_on_granule(seeds, on, *gran) << " seeds of " << seeds
                      << " rewritten to the " << granule_name(*gran) << " granule in "
                      << on.string() << "\n";
            seeds = on.string();
        }
    }
    std::vector<std::string> env;
    if (fs::exists(seeds)) {
        argv.push_back(seeds);
        // The jobs of fork mode see no corpus folders: the mutator finds the seeds here.
        env.push_back("MMFUZZ_SEEDS=" + fs::absolute(seeds).string());
    }
    if (!inject.empty())
        env.push_back("MMFUZZ_INJECT=" + inject);
    run_options opts;
    opts.inject = inject;
    if (known != "none") {
        if (!fs::exists(known))
            return usage_error("campaign: no known-findings file " + known, campaign_help);
        env.push_back("MMFUZZ_KNOWN=" + known);
        opts.known = read_known_findings(known);
    }

    catch_interrupts(true);
    std::cerr << "campaign: " << seconds << " s, " << jobs << " job(s), fuzzer " << fuzzer
              << ", output in " << dir.string() << "\n";
    fuzzer_status st;
    const auto t0 = std::chrono::steady_clock::now();
    run_fuzzer(argv, env, dir / "fuzzer.log", seconds, st, &interrupted);
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    catch_interrupts(false);

    // Deduplicate by (invariant, op), minimize one reproducer of each. Each file is replayed,
    // and minimized, in a child process: what the fuzzer kept may crash or hang the models.
    std::map<std::string, std::pair<std::string, std::size_t>> unique; // key -> (repro, count)
    std::size_t crashes = 0;
    // Files the fuzzer kept that show no violation here: a sanitizer report, a timeout or an
    // out-of-memory in the fuzzer, which the runner does not see, or a replay that fails. Named
    // in the summary with the reason, so that nothing the fuzzer found goes unmentioned.
    std::vector<std::pair<std::string, std::string>> unexplained; // file name, reason
    // What the children print (a sanitizer's report on a replay that crashes) goes here.
    const fs::path replay_log = dir / "replay.log";
    fs::remove(replay_log);
    std::vector<fs::path> files;
    for (const auto &e : fs::directory_iterator(dir / "crashes"))
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const fs::path &file : files) {
        const std::string name = file.filename().string();
        // Loading is the codec's work, fuzzed on its own; only the models run in the children.
        std::string error;
        const auto p = load_fuzzer_input(file.string(), error);
        if (!p) {
            std::cerr << "campaign: " << error << "\n";
            unexplained.emplace_back(name, "unreadable");
            continue;
        }
        // The child answers "V<invariant>-<op>" or "P<known findings met>".
        const isolated_result replay = run_isolated(
            [&]() -> std::string {
                const run_result r = run_program(*p, opts);
                if (!r.violation)
                    return "P" + std::to_string(r.known);
                const bool at_op =
                    r.violation->op_index < p->ops.size() && !r.legalized.ops.empty();
                return "V" + r.violation->invariant + "-" +
                       (at_op ? std::string(desc_of(r.legalized.ops.back().kind).name) : "audit");
            },
            replay_cpu_limit, replay_log.string());
        if (!replay.ok) {
            unexplained.emplace_back(name, "its replay " + replay.failure);
            continue;
        }
        const std::string answer = replay.output.substr(1);
        if (replay.output[0] == 'P') {
            if (answer == "0")
                unexplained.emplace_back(name, "replays without a violation");
            continue;
        }
        ++crashes;
        auto &slot = unique[answer];
        ++slot.second;
        if (!slot.first.empty() || interrupted)
            continue;
        const std::string out_path = unique_path(dir / "reproducers", answer);
        const isolated_result min = run_isolated(
            [&]() -> std::string {
                const minimize_result m = minimize(*p, opts);
                write_reproducer(out_path, m.reproducer, m.invariant, inject,
                                 "found by mmfuzz campaign, minimized from " + file.string());
                return {};
            },
            minimize_cpu_limit, replay_log.string());
        // A minimization that failed is not tried again on the next file of the same key.
        slot.first = min.ok ? out_path : "(not minimized: " + min.failure + ")";
    }

    // Merge the corpus: keep only inputs that add coverage.
    if (!interrupted) {
        const fs::path merged = dir / "corpus.merged";
        fs::create_directories(merged);
        fuzzer_status ignored;
        run_fuzzer({fuzzer, "-merge=1", merged.string(), (dir / "corpus").string()}, env,
                   dir / "merge.log", 0, ignored);
        if (!fs::is_empty(merged)) {
            fs::remove_all(dir / "corpus");
            fs::rename(merged, dir / "corpus");
        } else {
            fs::remove_all(merged);
        }
    }

    std::ostringstream sum;
    std::size_t corpus_size = 0;
    for ([[maybe_unused]] const auto &e : fs::directory_iterator(dir / "corpus"))
        ++corpus_size;
    sum << "campaign summary\n"
        << "  elapsed      " << static_cast<long long>(elapsed) << " s"
        << (interrupted ? " (interrupted)" : "") << "\n"
        << "  jobs         " << jobs << "\n"
        << "  seeds        " << seeds << "\n"
        << "  execs        " << st.execs << " (" << st.rate << "/s at the end)\n"
        << "  coverage     " << st.cov << "\n"
        << "  corpus       " << corpus_size << " inputs in " << (dir / "corpus").string() << "\n"
        << "  known        " << opts.known.size() << " known finding(s) passed over ("
        << (known == "none" ? std::string("none") : known) << ")\n"
        << "  violations   " << crashes << " crashing inputs, " << unique.size()
        << " distinct (invariant, op)\n";
    for (const auto &[key, v] : unique)
        sum << "    " << key << " x" << v.second << "  "
            << (v.first.empty() ? "(not minimized)" : v.first) << "\n";
    if (!unexplained.empty()) {
        sum << "  unexplained  " << unexplained.size()
            << " crash file(s) without a violation here: a sanitizer report, a timeout or\n"
            << "               out of memory in the fuzzer (its report is in "
            << (dir / "fuzzer.log").string() << "),\n"
            << "               or a replay that failed (what it printed is in "
            << replay_log.string() << ")\n";
        for (const auto &[name, why] : unexplained)
            sum << "    " << (dir / "crashes" / name).string() << "  (" << why << ")\n";
    }
    std::ofstream(dir / "summary.txt") << sum.str();
    std::cout << sum.str();
    return crashes > 0 || !unexplained.empty() ? 1 : 0;
}

} // namespace mmfuzz::cli
