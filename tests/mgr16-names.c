/* SPDX-License-Identifier: MIT */
/*
 * An empty name is not a name: every constructor refuses "" as find and
 * unlink do, instead of silently making an anonymous object that no
 * other process can reach (two processes that both open "" would each
 * get an object of their own).
 */
#include <stdio.h>
#include <string.h>

#include <mproc/manager.h>
#include <mproc/shared.h>

#include "tap.h"

int
main(void)
{
    mproc_manager_t *m;
    mproc_mobj_t *a = NULL, *b = NULL;
    mproc_err_t err;
    const void *v;
    size_t vl;
    int r;

    plan(7);
    r = mproc_manager_start(&m, NULL, &err);
    if (!ok(r == 0, "start (%s)", r == 0 ? "" : err.msg))
        return 1;
    is_int(mproc_manager_dict(m, "", &a), MPROC_EINVAL, "dict(\"\") is refused");
    ok(a == NULL, "and gives no proxy");
    ok(strstr(mproc_manager_errmsg(m), "NULL") != NULL,
       "the message says NULL makes an anonymous object (%s)",
       mproc_manager_errmsg(m));
    is_int(mproc_manager_value(m, "", MPROC_T_INT64, &a), MPROC_EINVAL,
           "value(\"\") is refused");
    /* NULL still makes an anonymous object; a real name still shares. */
    r = mproc_manager_dict(m, NULL, &a);
    ok(r == 0 && mproc_mdict_set(a, "k", 1, "v", 1) == 0,
       "dict(NULL) is anonymous and usable");
    mproc_mobj_free(a);
    a = NULL;
    r = mproc_manager_dict(m, "n", &a) == 0 &&
        mproc_mdict_set(a, "k", 1, "v", 1) == 0 &&
        mproc_manager_dict(m, "n", &b) == 0 &&
        mproc_mdict_get(b, "k", 1, &v, &vl) == 0;
    ok(r, "a named dict is shared");
    mproc_mobj_free(a);
    mproc_mobj_free(b);
    mproc_manager_free(m);
    return done_testing();
}
