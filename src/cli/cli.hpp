// The mmfuzz command-line tool: shared helpers of its commands.
#pragma once

#include "program/op.hpp"
#include "program/runner.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuzz::cli {

/// Comment lines of a reproducer the tools read: '# expect: ID|pass' and '# inject: CANARY'.
struct repro_meta {
    std::string expect;
    std::string inject;
};
repro_meta read_meta(std::string_view text);

/// A text reproducer or a binary input; on failure `error` says file:line:column and why.
std::optional<program> load_program(const std::string &path, std::string &error, repro_meta *meta);
/// A fuzzer's crash file as mm_diff_fuzzer ran it (decode_fuzzer_input); on failure `error`
/// says why the file could not be read.
std::optional<program> load_fuzzer_input(const std::string &path, std::string &error);
void write_reproducer(const std::string &path, const program &p, const std::string &invariant,
                      const std::string &inject, const std::string &note);
bool canary_known(const std::string &name);

int usage_error(const std::string &message, const char *help);
/// Whether `command` may write its result to path, checked before the work: the folder exists,
/// and the file does not unless `force`. Says why not on stderr.
bool output_writable(const std::string &command, const std::string &path, bool force);
bool wants_help(const std::vector<std::string> &args);

int cmd_campaign(const std::vector<std::string> &args);
int cmd_bench(const std::vector<std::string> &args);
int run(const std::vector<std::string> &argv);

} // namespace mmfuzz::cli
