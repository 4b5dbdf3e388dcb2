// libFuzzer target: the binary and text decoders never crash, and both round trips hold.
#include "program/codec.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    using namespace mmfuzz;
    const program p = decode_binary({data, size});
    if (decode_binary(encode_binary(p)) != p) {
        std::fprintf(stderr, "binary round trip failed\n");
        std::abort();
    }
    const std::string text = print_text(p);
    if (parse_text(text) != p) {
        std::fprintf(stderr, "print -> parse is not the identity:\n%s", text.c_str());
        std::abort();
    }
    // Arbitrary text: parses or throws parse_error, nothing else; what parses round-trips.
    try {
        const program q = parse_text({reinterpret_cast<const char *>(data), size}, "input");
        if (parse_text(print_text(q)) != q) {
            std::fprintf(stderr, "text round trip failed\n");
            std::abort();
        }
    } catch (const parse_error &) {
    }
    return 0;
}
