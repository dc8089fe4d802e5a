/* SPDX-License-Identifier: MIT */
/* The "tiny static program" bench-process spawns as its raw reference. */
int
main(void)
{
    return 0;
}
