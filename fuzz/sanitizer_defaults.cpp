// AddressSanitizer's defaults for the processes that run the models over and over: the fuzz
// targets and, in sanitizer builds, mmfuzz and rc_canary (the benchmark's other drivers, so
// that all of them search under the same allocator). ASAN_OPTIONS in the environment overrides
// them.
//
// quarantine_size_mb: ASan holds freed memory back from reuse to catch a use after free, 256 MB
// by default. An execution allocates about 34 KB in 60 calls, 40 KB with ASan's redzones
// (print_stats over 6,600 inputs), so 8 MB still holds the frees of the last 200 or so
// executions, while the default left every allocation on memory untouched for thousands of
// them: cache misses and, on a virtual machine, page faults. 8 MB ran a fixed corpus about 1.3x
// faster (BENCHMARKS.md, "Fuzzer settings").
extern "C" const char *__asan_default_options() {
    return "quarantine_size_mb=8";
}
