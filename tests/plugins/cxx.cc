// SPDX-License-Identifier: MIT
// A plugin written in C++ (issue 11.9): MPROC_PLUGIN_DEFINE must give the
// descriptor external, unmangled linkage, which a namespace-scope const
// object does not have by default in C++.  The task upper-cases the item
// with the C++ library, so the plugin really is C++.
#include <algorithm>
#include <cctype>
#include <string>

#include <mproc/plugin.h>

namespace {

int
upper(struct mproc_ctx *ctx, const void *in, size_t len, uint64_t index,
      struct mproc_buf *out)
{
    (void)ctx;
    (void)index;
    std::string s(static_cast<const char *>(in), len);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
        return static_cast<char>(std::toupper(c));
    });
    return mproc_buf_append(out, s.data(), s.size());
}

const struct mproc_task_def tasks[] = {
    {"upper", upper, "upper-case the item (in C++)"},
    {nullptr, nullptr, nullptr},
};

} // namespace

MPROC_PLUGIN_DEFINE(.name = "cxx", .version = "1.0",
                    .description = "a plugin written in C++",
                    .tasks = tasks);
