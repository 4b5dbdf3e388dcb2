// Finding the fuzz preset's binaries and running libFuzzer as a child process.
#include "cli/fuzzer_proc.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace mmfuzz::cli {

fs::path self_dir() {
    std::error_code ec;
    return fs::read_symlink("/proc/self/exe", ec).parent_path();
}

std::string find_fuzz_binary(const std::string &name, const std::string &dir) {
    std::vector<fs::path> candidates;
    if (!dir.empty()) {
        candidates = {fs::path(dir) / name, fs::path(dir) / "fuzz" / name};
    } else {
        if (const char *env = std::getenv("MMFUZZ_FUZZER")) {
            if (name == "mm_diff_fuzzer")
                return env;
            candidates.push_back(fs::path(env).parent_path() / name);
        }
        candidates.push_back(self_dir() / "fuzz" / name);
        candidates.push_back(self_dir() / name);
    }
    for (const fs::path &p : candidates)
        if (fs::exists(p))
            return p.string();
    return "";
}

std::vector<std::string> libfuzzer_options_flags(const fs::path &options_file) {
    std::vector<std::string> flags;
    std::ifstream in(options_file);
    bool section = false;
    for (std::string line; std::getline(in, line);) {
        const std::size_t b = line.find_first_not_of(" \t");
        if (b == std::string::npos || line[b] == '#' || line[b] == ';')
            continue;
        if (line[b] == '[') {
            section = line.compare(b, 11, "[libfuzzer]") == 0;
            continue;
        }
        const std::size_t eq = line.find('=');
        if (!section || eq == std::string::npos)
            continue;
        auto trim = [](const std::string &s) {
            const std::size_t f = s.find_first_not_of(" \t\r");
            const std::size_t l = s.find_last_not_of(" \t\r");
            return f == std::string::npos ? std::string() : s.substr(f, l - f + 1);
        };
        const std::string key = trim(line.substr(0, eq));
        std::string value = trim(line.substr(eq + 1));
        if (key == "dict" && fs::path(value).is_relative())
            value = (options_file.parent_path() / value).string();
        flags.push_back("-" + key);
        flags.back().append("=").append(value);
    }
    return flags;
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// User + system CPU seconds of a running process (/proc/PID/stat), -1 if unreadable.
double process_cpu_seconds(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    std::getline(in, stat);
    const std::size_t close_paren = stat.rfind(')');
    if (close_paren == std::string::npos)
        return -1;
    // After the command: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime (fields 3..15 of proc(5)).
    std::istringstream fields(stat.substr(close_paren + 2));
    std::string skip;
    for (int i = 3; i < 14; ++i)
        fields >> skip;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    if (!(fields >> utime >> stime))
        return -1;
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double timeval_seconds(const timeval &t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
}

} // namespace

child_result run_child(const child_spec &spec) {
    // Everything the child needs is built before fork(): with other threads running (bench
    // --jobs), the child may only make async-signal-safe calls until it execs.
    std::vector<std::string> env_strings = spec.env;
    for (char **e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const std::string_view name = entry.substr(0, entry.find('='));
        const bool replaced =
            std::any_of(spec.env.begin(), spec.env.end(), [&](const std::string &a) {
                return a.size() > name.size() && a.compare(0, name.size(), name) == 0 &&
                       a[name.size()] == '=';
            });
        if (!replaced)
            env_strings.emplace_back(entry);
    }
    std::vector<char *> envp;
    envp.reserve(env_strings.size() + 1);
    for (std::string &e : env_strings)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_strings = spec.argv;
    std::vector<char *> argv;
    argv.reserve(argv_strings.size() + 1);
    for (std::string &a : argv_strings)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    static constexpr char exec_failed[] = "execve failed\n";

    int pipefd[2];
    // Close-on-exec, so that no other child spawned meanwhile keeps this pipe open.
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    const bool own_group = spec.stop != nullptr;
    const bool fixed_layout = spec.fixed_layout;
    const pid_t parent = getpid();
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        if (own_group) {
            setpgid(0, 0);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != parent)
                _exit(128 + SIGTERM);
        }
        if (fixed_layout) {
            const int persona = personality(0xffffffff);
            if (persona != -1)
                personality(static_cast<unsigned long>(persona) | ADDR_NO_RANDOMIZE);
        }
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(pipefd[1], STDERR_FILENO);
        execve(argv[0], argv.data(), envp.data());
        [[maybe_unused]] const ssize_t ignored =
            write(STDERR_FILENO, exec_failed, sizeof exec_failed - 1);
        _exit(127);
    }
    if (own_group)
        setpgid(pid, pid); // as the child does: whichever runs first
    const pid_t target = own_group ? -pid : pid;
    bool stopping = false;
    close(pipefd[1]);
    std::ofstream log(spec.log, spec.append_log ? std::ios::app : std::ios::trunc);
    child_result r;
    std::string pending;
    char buf[4096];
    auto checked = t0;
    for (;;) {
        pollfd p{pipefd[0], POLLIN, 0};
        const int ready = poll(&p, 1, 100);
        if (ready > 0) {
            const ssize_t n = read(pipefd[0], buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            log.write(buf, n);
            if (spec.on_line) {
                pending.append(buf, static_cast<std::size_t>(n));
                for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
                    spec.on_line(pending.substr(0, nl + 1));
                    pending.erase(0, nl + 1);
                }
            }
        }
        if (own_group && *spec.stop != 0 && !stopping) {
            kill(target, SIGTERM);
            stopping = true;
        }
        if (spec.limit > 0 && seconds_since(t0) > spec.limit) {
            kill(target, SIGKILL);
            r.timed_out = true;
            break;
        }
        if (spec.cpu_limit > 0 && seconds_since(checked) >= 0.05) {
            checked = std::chrono::steady_clock::now();
            if (process_cpu_seconds(pid) >= spec.cpu_limit) {
                kill(target, SIGKILL);
                r.cpu_out = true;
                break;
            }
        }
    }
    if (spec.on_line && !pending.empty())
        spec.on_line(pending);
    close(pipefd[0]);
    int st = 0;
    rusage ru{};
    while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR) {
    }
    r.seconds = seconds_since(t0);
    r.cpu_seconds = timeval_seconds(ru.ru_utime) + timeval_seconds(ru.ru_stime);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return r;
}

double thread_cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

void parse_status(const std::string &line, fuzzer_status &s) {
    if (line.empty() || line[0] != '#')
        return;
    std::istringstream in(line);
    std::string tok;
    in >> tok;
    s.execs = tok.substr(1, tok.find_first_not_of("0123456789", 1) - 1);
    while (in >> tok) {
        std::string v;
        if (tok == "cov:" && in >> v)
            s.cov = v;
        else if (tok == "corp:" && in >> v)
            s.corp = v.substr(0, v.find('/'));
        else if ((tok == "exec/s:" || tok == "exec/s") && in >> v)
            s.rate = v;
        else if (tok == "oom/timeout/crash:" && in >> v)
            s.crashes = v.substr(v.rfind('/') + 1);
    }
}

double final_stat(const fs::path &log, const std::string &name) {
    std::ifstream in(log);
    const std::string key = "stat::" + name + ":";
    double value = -1;
    for (std::string line; std::getline(in, line);) {
        const std::size_t at = line.find(key);
        if (at != std::string::npos)
            value = std::strtod(line.c_str() + at + key.size(), nullptr);
    }
    return value;
}

} // namespace mmfuzz::cli
