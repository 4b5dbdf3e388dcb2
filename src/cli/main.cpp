// mmfuzz: replay, print, minimize, campaign, bench, invariants, canaries.
#include "cli/cli.hpp"

#include "arch/canary.hpp"
#include "oracle/invariants.hpp"
#include "program/codec.hpp"
#include "program/minimize.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace mmfuzz::cli {

namespace {

constexpr const char *usage_text = R"(usage: mmfuzz COMMAND [ARGS]

commands:
  replay FILE|DIR...      run reproducers (text or binary), print the trace and any violation
  print FILE              print a binary input as its text reproducer
  minimize FILE -o OUT    shrink a failing input to a minimal text reproducer
  campaign --time SECONDS run the libFuzzer differential fuzzer and collect minimized reproducers
  bench                   measure throughput, oracle overhead and time to find each canary
  invariants              list the invariants the oracle checks
  canaries                list the canary bugs --inject can switch on

'mmfuzz COMMAND --help' describes each command. Exit status: 0 pass, 1 violation, 2 bad input.
)";

constexpr const char *replay_help =
    R"(usage: mmfuzz replay [--dump] [--quiet] [--inject NAME] FILE|DIR...

Runs each input (a text reproducer, or a binary libFuzzer input; for a folder, every file in
it) on the reference and the arm64 contpte world, checking every op. Prints one trace line per
op and, on a violation, the report with both views, the young/dirty interval and a map of the
affected table rows.
  --dump          also print both worlds' final PMD and PTE tables (raw and through the API)
  --quiet         print only the verdict line of each file
  --inject NAME   enable a canary bug (see 'mmfuzz canaries')
  --known FILE    pass over the known findings listed in FILE (corpus/known-findings.txt)
Exit status: 0 all passed (or matched their '# expect:' line), 1 a violation, 2 bad input.
)";

constexpr const char *print_help = R"(usage: mmfuzz print FILE

Prints a binary input (or a text reproducer, normalized) as a text reproducer.
)";

constexpr const char *minimize_help =
    R"(usage: mmfuzz minimize FILE -o OUT [--force] [--inject NAME]

Shrinks a failing input: op-level delta debugging, then smaller fields, keeping the same
invariant. Writes a text reproducer with an '# expect:' line. OUT is never overwritten unless
--force is given. --known FILE passes over the known findings listed in FILE.
)";

constexpr const char *invariants_help = R"(usage: mmfuzz invariants

Lists the invariant IDs the oracle checks, one line each.
)";

constexpr const char *canaries_help = R"(usage: mmfuzz canaries

Lists the canary bugs, one line each: the name --inject (MMFUZZ_INJECT for the fuzzer) takes,
where the bug lives (arch: the arm64 contpte world only; core: a flow both worlds run), and the
real bug class it stands for.
)";

} // namespace

bool output_writable(const std::string &command, const std::string &path, bool force) {
    const std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
    if (std::error_code ec; !std::filesystem::is_directory(dir, ec)) {
        std::cerr << "mmfuzz: " << command << ": cannot write " << path << ": no folder "
                  << dir.string() << "\n";
        return false;
    }
    if (force || !std::filesystem::exists(path))
        return true;
    std::cerr << "mmfuzz: " << command << ": " << path
              << " exists; not overwriting it (use --force to replace it)\n";
    return false;
}

int usage_error(const std::string &message, const char *help) {
    std::cerr << "mmfuzz: " << message << "\n" << (help != nullptr ? help : usage_text);
    return 2;
}

bool wants_help(const std::vector<std::string> &args) {
    for (const std::string &a : args)
        if (a == "--help" || a == "-h")
            return true;
    return false;
}

namespace {

/// The whole file, or nullopt with `error` saying why it cannot be opened.
std::optional<std::string> read_file(const std::string &path, std::string &error) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        error = path + ": is a directory";
        return std::nullopt;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": cannot open: " + std::strerror(errno);
        return std::nullopt;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

} // namespace

std::optional<program> load_program(const std::string &path, std::string &error, repro_meta *meta) {
    const std::optional<std::string> file = read_file(path, error);
    if (!file)
        return std::nullopt;
    const std::string &data = *file;
    const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t *>(data.data()),
                                              data.size());
    if (meta != nullptr)
        *meta = read_meta(data);
    if (!looks_like_text(bytes))
        return decode_binary(bytes);
    try {
        return parse_text(data, path);
    } catch (const parse_error &e) {
        error = e.what();
        return std::nullopt;
    }
}

std::optional<program> load_fuzzer_input(const std::string &path, std::string &error) {
    const std::optional<std::string> data = read_file(path, error);
    if (!data)
        return std::nullopt;
    return decode_fuzzer_input(
        {reinterpret_cast<const std::uint8_t *>(data->data()), data->size()});
}

repro_meta read_meta(std::string_view text) {
    repro_meta m;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t nl = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, nl - start);
        start = nl + 1;
        auto value = [&](std::string_view key) -> std::optional<std::string> {
            const std::string prefix = "# " + std::string(key) + ":";
            if (line.substr(0, prefix.size()) != prefix)
                return std::nullopt;
            std::string v(line.substr(prefix.size()));
            v.erase(0, v.find_first_not_of(" \t"));
            v.erase(v.find_last_not_of(" \t\r") + 1);
            return v;
        };
        if (auto v = value("expect"))
            m.expect = *v;
        if (auto v = value("inject"))
            m.inject = *v;
    }
    return m;
}

namespace {

/// Replaces each folder among `paths` by the regular files in it, sorted by name (a campaign's
/// crashes/, a corpus). False, after saying so, if a folder has none or cannot be read.
bool expand_folders(std::vector<std::string> &paths) {
    namespace fs = std::filesystem;
    std::vector<std::string> out;
    bool ok = true;
    for (const std::string &p : paths) {
        std::error_code ec;
        if (!fs::is_directory(p, ec)) {
            out.push_back(p);
            continue;
        }
        std::vector<std::string> inside;
        for (fs::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec))
            if (it->is_regular_file(ec))
                inside.push_back(it->path().string());
        if (ec || inside.empty()) {
            std::cerr << p << ": " << (ec ? "cannot read: " + ec.message() : "no files in it")
                      << "\n";
            ok = false;
        }
        std::sort(inside.begin(), inside.end());
        out.insert(out.end(), inside.begin(), inside.end());
    }
    paths = std::move(out);
    return ok;
}

int cmd_replay(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << replay_help;
        return 0;
    }
    run_options opts;
    opts.trace = true;
    bool quiet = false;
    std::string inject;
    std::vector<std::string> files;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--dump")
            opts.dump = true;
        else if (args[i] == "--quiet")
            quiet = true;
        else if (args[i] == "--inject" && i + 1 < args.size())
            inject = args[++i];
        else if (args[i] == "--known" && i + 1 < args.size())
            opts.known = read_known_findings(args[++i]);
        else if (!args[i].empty() && args[i][0] == '-')
            return usage_error("replay: unknown option '" + args[i] + "'", replay_help);
        else
            files.push_back(args[i]);
    }
    if (files.empty())
        return usage_error("replay: no input file", replay_help);
    int status = 0;
    if (!expand_folders(files))
        status = 2;
    for (const std::string &f : files) {
        std::string error;
        repro_meta meta;
        const auto p = load_program(f, error, &meta);
        if (!p) {
            std::cerr << error << "\n";
            status = std::max(status, 2);
            continue;
        }
        run_options o = opts;
        o.inject = inject.empty() ? meta.inject : inject;
        if (!o.inject.empty() && !canary_known(o.inject)) {
            std::cerr << f << ": unknown canary '" << o.inject << "'\n";
            status = std::max(status, 2);
            continue;
        }
        o.trace = !quiet;
        const run_result r = run_program(*p, o);
        if (!quiet)
            std::cout << "== " << f << " (" << p->ops.size() << " ops, " << r.applied
                      << " applied, " << r.noops << " skipped)\n"
                      << r.trace;
        const std::string got = r.violation ? r.violation->invariant : "pass";
        if (r.violation && !quiet)
            std::cout << r.violation->report;
        if (opts.dump)
            std::cout << r.dump;
        const bool expected = !meta.expect.empty() && meta.expect == got;
        std::cout << f << ": " << (r.violation ? "VIOLATION " + got : std::string("pass"))
                  << (meta.expect.empty() ? ""
                      : expected          ? " (as expected)"
                                          : " (expected " + meta.expect + ")")
                  << "\n";
        if (meta.expect.empty() ? r.violation.has_value() : !expected)
            status = std::max(status, 1);
    }
    return status;
}

int cmd_print(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << print_help;
        return 0;
    }
    if (args.size() != 1)
        return usage_error("print: expected exactly one FILE", print_help);
    std::string error;
    const auto p = load_program(args[0], error, nullptr);
    if (!p) {
        std::cerr << error << "\n";
        return 2;
    }
    std::cout << print_text(*p);
    return 0;
}

int cmd_minimize(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << minimize_help;
        return 0;
    }
    std::string in;
    std::string out;
    bool force = false;
    std::string inject;
    std::vector<std::string> known;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if ((args[i] == "-o" || args[i] == "--out") && i + 1 < args.size())
            out = args[++i];
        else if (args[i] == "--known" && i + 1 < args.size())
            known = read_known_findings(args[++i]);
        else if (args[i] == "--force")
            force = true;
        else if (args[i] == "--inject" && i + 1 < args.size())
            inject = args[++i];
        else if (!args[i].empty() && args[i][0] == '-')
            return usage_error("minimize: unknown option '" + args[i] + "'", minimize_help);
        else if (in.empty())
            in = args[i];
        else
            return usage_error("minimize: more than one input file", minimize_help);
    }
    if (in.empty() || out.empty())
        return usage_error("minimize: needs FILE and -o OUT", minimize_help);
    if (!output_writable("minimize", out, force))
        return 2;
    std::string error;
    repro_meta meta;
    const auto p = load_program(in, error, &meta);
    if (!p) {
        std::cerr << error << "\n";
        return 2;
    }
    run_options opts;
    opts.known = known;
    opts.inject = inject.empty() ? meta.inject : inject;
    if (!opts.inject.empty() && !canary_known(opts.inject))
        return usage_error("minimize: unknown canary '" + opts.inject + "'", minimize_help);
    try {
        const minimize_result m = minimize(*p, opts, [](std::size_t n) {
            std::cerr << "\rminimize: " << n << " ops   " << std::flush;
        });
        std::cerr << "\n";
        write_reproducer(out, m.reproducer, m.invariant, opts.inject,
                         "minimized from " + in + " in " + std::to_string(m.runs) + " runs");
        std::cout << out << ": " << m.reproducer.ops.size() << " ops, VIOLATION " << m.invariant
                  << "\n";
        return 1;
    } catch (const std::invalid_argument &e) {
        std::cerr << "mmfuzz: minimize: " << in << ": " << e.what() << "\n";
        return 2;
    }
}

int cmd_invariants(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << invariants_help;
        return 0;
    }
    for (const invariant_info &i : invariants())
        std::printf("%-20s %.*s\n", std::string(i.id).c_str(), static_cast<int>(i.doc.size()),
                    i.doc.data());
    return 0;
}

int cmd_canaries(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << canaries_help;
        return 0;
    }
    if (!args.empty())
        return usage_error("canaries: unexpected argument '" + args[0] + "'", canaries_help);
    for (const canary_info &c : canaries())
        std::printf("%-32s %-4s %.*s\n", std::string(c.name).c_str(), c.in_core ? "core" : "arch",
                    static_cast<int>(c.bug_class.size()), c.bug_class.data());
    return 0;
}

} // namespace

void write_reproducer(const std::string &path, const program &p, const std::string &invariant,
                      const std::string &inject, const std::string &note) {
    std::ofstream out(path, std::ios::trunc);
    out << "# " << note << "\n";
    out << "# expect: " << invariant << "\n";
    if (!inject.empty())
        out << "# inject: " << inject << "\n";
    out << print_text(p);
    if (!out)
        throw std::runtime_error("cannot write " + path);
}

int run(const std::vector<std::string> &argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h" || argv[0] == "help") {
        std::cout << usage_text;
        return argv.empty() ? 2 : 0;
    }
    const std::vector<std::string> rest(argv.begin() + 1, argv.end());
    const std::string &cmd = argv[0];
    if (cmd == "replay")
        return cmd_replay(rest);
    if (cmd == "print")
        return cmd_print(rest);
    if (cmd == "minimize")
        return cmd_minimize(rest);
    if (cmd == "invariants")
        return cmd_invariants(rest);
    if (cmd == "canaries")
        return cmd_canaries(rest);
    if (cmd == "campaign")
        return cmd_campaign(rest);
    if (cmd == "bench")
        return cmd_bench(rest);
    return usage_error("unknown command '" + cmd + "'", nullptr);
}

} // namespace mmfuzz::cli

int main(int argc, char **argv) {
    try {
        return mmfuzz::cli::run(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const std::exception &e) {
        std::cerr << "mmfuzz: " << e.what() << "\n";
        return 2;
    }
}
