/* A shared object with a task function but no descriptor symbol. */
#include "common.h"

int not_a_descriptor(void);

__attribute__((visibility("default"))) int
not_a_descriptor(void)
{
    struct mproc_buf none = {0};
    return t_echo(NULL, "", 0, 0, &none) == 0 ? 0 : 1;
}
