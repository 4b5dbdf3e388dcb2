#include "cli/isolated.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mmfuzz::cli {

namespace {

/// The child's answer on the pipe: 'R' and what fn returned, or 'E' and the exception's text.
void answer(int fd, char tag, const std::string &text) {
    std::string msg = tag + text;
    const char *p = msg.data();
    std::size_t left = msg.size();
    while (left > 0) {
        const ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(126);
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

} // namespace

isolated_result run_isolated(const std::function<std::string()> &fn, unsigned cpu_seconds,
                             const std::string &log) {
    int pipefd[2];
    if (pipe(pipefd) != 0)
        throw std::runtime_error("pipe failed");
    const pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        close(pipefd[0]);
        if (!log.empty()) {
            const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd >= 0) {
                dup2(fd, STDOUT_FILENO);
                dup2(fd, STDERR_FILENO);
                close(fd);
            }
        }
        // SIGXCPU at the soft limit; SIGKILL a second later if it is caught or ignored.
        const rlimit cpu{cpu_seconds, cpu_seconds + 1};
        setrlimit(RLIMIT_CPU, &cpu);
        try {
            answer(pipefd[1], 'R', fn());
        } catch (const std::exception &e) {
            answer(pipefd[1], 'E', e.what());
        }
        _exit(0); // no exit handlers: they belong to the parent's state
    }
    close(pipefd[1]);
    std::string got;
    char buf[4096];
    for (;;) {
        const ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    close(pipefd[0]);
    int status = 0;
    rusage use{};
    while (wait4(pid, &status, 0, &use) < 0 && errno == EINTR) {
    }
    const long cpu = use.ru_utime.tv_sec + use.ru_stime.tv_sec;
    isolated_result r;
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        r.failure = sig == SIGXCPU || (sig == SIGKILL && cpu >= static_cast<long>(cpu_seconds))
                        ? "ran past its limit of " + std::to_string(cpu_seconds) + " CPU seconds"
                        : "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    } else if (WEXITSTATUS(status) != 0 || got.empty()) {
        r.failure = "exited with status " + std::to_string(WEXITSTATUS(status));
    } else if (got[0] == 'E') {
        r.failure = got.substr(1);
    } else {
        r.ok = true;
        r.output = got.substr(1);
    }
    return r;
}

} // namespace mmfuzz::cli
