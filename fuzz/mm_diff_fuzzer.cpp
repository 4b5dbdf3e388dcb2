// libFuzzer target: decode -> legalize -> run both worlds -> on a violation print the report and
// abort, so libFuzzer keeps the input. Structure-aware mutation and crossover over the op
// language unless built with MMFUZZ_BYTE_MUTATION_ONLY.
//
// The input is run as it decodes (decode_fuzzer_input), header included, so a crash file
// replays the same with 'mmfuzz replay': the mutator never leaves damaged text. One of the
// byte-only build may hold text a mutation damaged, which replay rejects; 'mmfuzz campaign' and
// 'mmfuzz bench' read crash files as this target does. The custom mutator keeps each input's
// granule, so a campaign fuzzes the granule of its seeds (corpus/seeds: 4K).
//
// Environment: MMFUZZ_INJECT=NAME enables a canary; MMFUZZ_KNOWN=FILE lists known findings to
// pass over (corpus/known-findings.txt). When MMFUZZ_KNOWN is unset, a known-findings.txt beside
// the binary is read if there is one (the ClusterFuzzLite/OSS-Fuzz build puts one in $OUT);
// MMFUZZ_KNOWN= (empty) reports everything. With a canary, only the violations the canary causes
// count: one the same input also shows at the same op without it is passed over.
//
// At a violation it prints the CPU time its search took (program/detection.hpp).
//
// Seed programs for the custom mutator, which starts about one mutation in ten from one of
// them (program/mutate.hpp): the files of the corpus folders after the first (libFuzzer writes
// new inputs to the first only; the others, corpus/seeds in the README's commands, are read) and
// of the folders in MMFUZZ_SEEDS (':' between them). libFuzzer's fork mode hands its jobs no
// folders, so 'mmfuzz campaign' names its seeds in MMFUZZ_SEEDS.
#include "program/codec.hpp"
#include "program/detection.hpp"
#include "program/mutate.hpp"
#include "program/runner.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t *data, std::size_t size, std::size_t max);

namespace {

/// The run options of every input, with the canary and without it, built once: each copy of
/// the known findings would cost an allocation per line on every execution.
mmfuzz::run_options with_canary;
mmfuzz::run_options without_canary;
/// own_cpu_seconds() at the first input (libFuzzer's empty one): what came before is the
/// process's start-up, libFuzzer's own (about 20 MB of tables to clear) included.
double search_began = -1;
#ifndef MMFUZZ_BYTE_MUTATION_ONLY
/// The programs of the read-only corpus folders, for the mutator.
std::vector<mmfuzz::program> seed_programs;

/// Every file under the corpus folders named after the first and under those of MMFUZZ_SEEDS,
/// each folder once, decoded as the fuzzer runs it. A file over 1 MiB is passed over: no seed is
/// that large.
void read_seed_programs(int argc, char **argv) {
    namespace fs = std::filesystem;
    std::vector<std::string> dirs;
    bool first = true;
    for (int i = 1; i < argc; ++i)
        if (argv[i][0] != '-' && !std::exchange(first, false))
            dirs.emplace_back(argv[i]);
    if (const char *env = std::getenv("MMFUZZ_SEEDS")) {
        std::stringstream list(env);
        for (std::string dir; std::getline(list, dir, ':');)
            if (!dir.empty())
                dirs.push_back(dir);
    }
    std::set<fs::path> seen;
    for (const std::string &dir : dirs) {
        std::error_code ec;
        if (!seen.insert(fs::weakly_canonical(dir, ec)).second)
            continue;
        for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
             it.increment(ec)) {
            if (!it->is_regular_file(ec) || it->file_size(ec) > (std::uintmax_t{1} << 20))
                continue;
            std::ifstream in(it->path(), std::ios::binary);
            const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(in), {}};
            seed_programs.push_back(mmfuzz::decode_fuzzer_input(bytes));
        }
    }
}
#endif

} // namespace

extern "C" int LLVMFuzzerInitialize([[maybe_unused]] int *argc, [[maybe_unused]] char ***argv) {
#ifndef MMFUZZ_BYTE_MUTATION_ONLY
    read_seed_programs(*argc, *argv);
    std::fprintf(stderr, "INFO: mm_diff_fuzzer: %zu seed programs for the mutator\n",
                 seed_programs.size());
#endif
    std::vector<std::string> known;
    try {
        if (const char *k = std::getenv("MMFUZZ_KNOWN")) {
            if (*k != '\0')
                known = mmfuzz::read_known_findings(k);
        } else {
            std::error_code ec;
            const auto beside = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path() /
                                "known-findings.txt";
            if (!ec && std::filesystem::is_regular_file(beside, ec))
                known = mmfuzz::read_known_findings(beside.string());
        }
    } catch (const std::exception &e) {
        std::fprintf(stderr, "mm_diff_fuzzer: %s\n", e.what());
        std::exit(2);
    }
    without_canary.known = known;
    with_canary.known = std::move(known);
    if (const char *e = std::getenv("MMFUZZ_INJECT"))
        with_canary.inject = e;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (search_began < 0)
        search_began = mmfuzz::own_cpu_seconds();
    const mmfuzz::program p = mmfuzz::decode_fuzzer_input({data, size});
    const mmfuzz::run_result r = mmfuzz::run_program(p, with_canary);
    if (r.violation && !with_canary.inject.empty() &&
        !mmfuzz::caused_by_canary(p, *r.violation, without_canary))
        return 0;
    if (r.violation) {
        std::fputs(mmfuzz::detection_line(search_began).c_str(), stderr);
        std::fprintf(stderr, "%s\nreproducer (legalized):\n%s", r.violation->report.c_str(),
                     mmfuzz::print_text(r.legalized).c_str());
        std::abort();
    }
    return 0;
}

#ifndef MMFUZZ_BYTE_MUTATION_ONLY
extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t *data, std::size_t size,
                                               std::size_t max_size, unsigned int seed) {
    return mmfuzz::mutate_program(data, size, max_size, seed, LLVMFuzzerMutate, seed_programs);
}

extern "C" std::size_t LLVMFuzzerCustomCrossOver(const std::uint8_t *data1, std::size_t size1,
                                                 const std::uint8_t *data2, std::size_t size2,
                                                 std::uint8_t *out, std::size_t max_out_size,
                                                 unsigned int seed) {
    return mmfuzz::crossover_programs(data1, size1, data2, size2, out, max_out_size, seed);
}
#endif
