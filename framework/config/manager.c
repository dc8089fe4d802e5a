/* SPDX-License-Identifier: MIT */
/*
 * The [manager] section of a job file: a Manager (<mproc/manager.h>) whose
 * objects the job's plugins share with processes outside the run.
 *
 *     [manager]
 *     address = unix:/run/jobs/m.sock  ; a running manager ...
 *     authkey_file = m.key             ; ... and its key
 *     start = yes                      ; or: one started for the run
 *     objects = dict:counts value:total=int64 queue:work=100
 *
 * Each key is checked as it is set, so its error names FILE:LINE; what
 * only the whole section can tell (address or start, a key file to read)
 * is checked by mproc__mgrconf_finish(), which names the key's line.  The
 * run itself (start, connect, create the objects) is manager/job.c's.
 */
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc/manager.h>
#include <mproc/shared.h>

#include "config/config_int.h"
#include "conn/conn_int.h"

static const char *const mgr_keys[] = {"address", "authkey_file", "start",
                                       "objects"};

/* The object kinds of `objects`, and what follows their '=' (if any). */
static const struct {
    const char *name;
    int type;          /* enum mproc_mobj_type */
    int param;         /* P_* */
    bool bounded;      /* semaphore: bounded; queue: joinable; lock: r */
} kinds[] = {
    {"dict", MPROC_MOBJ_DICT, 0, false},
    {"list", MPROC_MOBJ_LIST, 0, false},
    {"namespace", MPROC_MOBJ_NAMESPACE, 0, false},
    {"value", MPROC_MOBJ_ARRAY, 1, false},
    {"array", MPROC_MOBJ_ARRAY, 2, false},
    {"queue", MPROC_MOBJ_QUEUE, 3, false},
    {"joinablequeue", MPROC_MOBJ_JOINABLE_QUEUE, 3, true},
    {"lock", MPROC_MOBJ_LOCK, 0, false},
    {"rlock", MPROC_MOBJ_RLOCK, 0, true},
    {"semaphore", MPROC_MOBJ_SEMAPHORE, 4, false},
    {"boundedsemaphore", MPROC_MOBJ_BOUNDED_SEMAPHORE, 4, true},
    {"condition", MPROC_MOBJ_CONDITION, 0, false},
    {"event", MPROC_MOBJ_EVENT, 0, false},
    {"barrier", MPROC_MOBJ_BARRIER, 5, false},
};
/* What follows '=' after a kind: nothing, value:N=TYPE, array:N=TYPE[LEN],
 * queue:N=MAXSIZE, semaphore:N=VALUE, barrier:N=PARTIES. */
enum { P_NONE, P_VALUE, P_ARRAY, P_QUEUE, P_SEM, P_BARRIER };

static const char kinds_text[] =
    "dict, list, namespace, value, array, queue, joinablequeue, lock, "
    "rlock, semaphore, boundedsemaphore, condition, event or barrier";

const char *
mproc__mgrconf_kind_name(int type, bool flag)
{
    size_t i;

    for (i = 0; i < MPROC__ARRAY_SIZE(kinds); i++)
        if (kinds[i].type == type &&
            (type != MPROC_MOBJ_ARRAY || kinds[i].param == (flag ? P_ARRAY
                                                                 : P_VALUE)))
            return kinds[i].name;
    return "?";
}

static int
key_index(const char *key)
{
    return mproc__find_name(key, mgr_keys, MPROC__ARRAY_SIZE(mgr_keys));
}

ssize_t
mproc__mgrconf_path_at(const char *key, const char *value)
{
    switch (key_index(key)) {
    case MPROC__MGR_ADDRESS:
        /* unix:@NAME is abstract, tcp:HOST:PORT no file at all. */
        return strncmp(value, "unix:", 5) == 0 && value[5] != '@' &&
                       value[5] != '\0'
                   ? 5
                   : -1;
    case MPROC__MGR_AUTHKEY_FILE:
        return value[0] != '\0' ? 0 : -1;
    default:
        return -1;
    }
}

int
mproc__mgrconf_header(struct mproc__mgrconf *m, const char *loc)
{
    if (m->where != NULL)
        return 0; /* a later file's [manager] adds to the first */
    m->set = true;
    return (m->where = strdup(loc)) != NULL ? 0 : MPROC_ENOMEM;
}

/* TYPE of value:NAME=TYPE and array:NAME=TYPE[LEN]. */
static int
parse_vtype(const char *s, size_t n, int *out)
{
    char buf[32];

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = mproc_type_from_name(buf);
    return *out > 0 ? 0 : -1;
}

static bool
parse_num(const char *s, unsigned long long lo, unsigned long long hi,
          unsigned long long *out)
{
    return mproc__parse_uint(s, lo, hi, out);
}

/* One KIND:NAME[=PARAM] of objects into o; errors name tok. */
static int
parse_object(const char *tok, const char *loc, struct mproc__mgr_obj *o,
             mproc_err_t *err)
{
    const char *colon = strchr(tok, ':'), *eq, *param = NULL, *br;
    char name[256];
    size_t i, klen, nlen;
    int k = -1;

    memset(o, 0, sizeof(*o));
    if (colon == NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: objects: '%s': expected KIND:NAME, e.g. "
                          "dict:counts",
                          loc, tok);
    klen = (size_t)(colon - tok);
    for (i = 0; i < MPROC__ARRAY_SIZE(kinds); i++)
        if (strlen(kinds[i].name) == klen &&
            strncmp(kinds[i].name, tok, klen) == 0)
            k = (int)i;
    if (k < 0)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: objects: unknown kind '%.*s' in '%s'; "
                          "expected %s",
                          loc, (int)klen, tok, tok, kinds_text);
    eq = strchr(colon + 1, '=');
    nlen = eq != NULL ? (size_t)(eq - colon - 1) : strlen(colon + 1);
    if (nlen == 0 || nlen >= sizeof(name))
        goto bad_name;
    memcpy(name, colon + 1, nlen);
    name[nlen] = '\0';
    if (!mproc__is_name(name))
        goto bad_name;
    if (eq != NULL)
        param = eq + 1;
    o->type = kinds[k].type;
    o->flag = kinds[k].bounded;
    switch (kinds[k].param) {
    case P_NONE:
        if (param != NULL)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: objects: '%s': a %s takes no '=...'",
                              loc, tok, kinds[k].name);
        break;
    case P_VALUE:
        o->vtype = MPROC_T_INT64;
        o->length = 1;
        if (param != NULL && parse_vtype(param, strlen(param), &o->vtype) < 0)
            goto bad_type;
        break;
    case P_ARRAY:
        o->flag = true;
        br = param != NULL ? strchr(param, '[') : NULL;
        if (br == NULL || parse_vtype(param, (size_t)(br - param),
                                      &o->vtype) < 0 ||
            br[1] == '\0' || br[strlen(br) - 1] != ']')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: objects: '%s': expected "
                              "array:NAME=TYPE[LENGTH], e.g. "
                              "array:hist=int64[16]",
                              loc, tok);
        {
            char len[24];
            size_t n = strlen(br + 1) - 1;
            if (n == 0 || n >= sizeof(len))
                goto bad_len;
            memcpy(len, br + 1, n);
            len[n] = '\0';
            if (!parse_num(len, 1, 1u << 24, &o->length))
                goto bad_len;
        }
        break;
    case P_QUEUE:
        if (param != NULL && !parse_num(param, 0, 1000000000, &o->param))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: objects: '%s': expected %s:NAME or "
                              "%s:NAME=MAXSIZE (0 to 1000000000)",
                              loc, tok, kinds[k].name, kinds[k].name);
        break;
    case P_SEM:
        o->param = 1;
        if (param != NULL && !parse_num(param, 0, 1000000000, &o->param))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: objects: '%s': expected %s:NAME or "
                              "%s:NAME=VALUE (0 to 1000000000)",
                              loc, tok, kinds[k].name, kinds[k].name);
        break;
    case P_BARRIER:
        if (param == NULL || !parse_num(param, 1, 65536, &o->param))
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: objects: '%s': expected "
                              "barrier:NAME=PARTIES (1 to 65536)",
                              loc, tok);
        break;
    }
    if ((o->name = strdup(name)) == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    return 0;

bad_name:
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: objects: '%s': expected a name of letters, "
                      "digits, '_', '.' and '-' after '%.*s:'",
                      loc, tok, (int)klen, tok);
bad_type:
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: objects: '%s': unknown type; expected "
                      "value:NAME=TYPE with TYPE int8 ... int64, uint8 ... "
                      "uint64, float, double or char",
                      loc, tok);
bad_len:
    return mproc__err(err, MPROC_ECONFIG,
                      "%s: objects: '%s': expected a LENGTH from 1 to "
                      "16777216 in TYPE[LENGTH]",
                      loc, tok);
}

static void
free_objs(struct mproc__mgr_obj *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* objects = KIND:NAME[=PARAM] ..., separated by blanks or commas. */
static int
parse_objects(struct mproc__mgrconf *m, const char *value, const char *loc,
              mproc_err_t *err)
{
    struct mproc__mgr_obj *v = NULL, *nv;
    char *copy = strdup(value), *tok, *save = NULL;
    size_t n = 0, i;
    int r = 0;

    if (copy == NULL)
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
         tok = strtok_r(NULL, " \t,", &save)) {
        if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL) {
            r = mproc__err(err, MPROC_ENOMEM, "out of memory");
            goto fail;
        }
        v = nv;
        if ((r = parse_object(tok, loc, &v[n], err)) < 0)
            goto fail;
        n++;
        for (i = 0; i + 1 < n; i++)
            if (strcmp(v[i].name, v[n - 1].name) == 0) {
                r = mproc__err(err, MPROC_ECONFIG,
                               "%s: objects: the name '%s' is given twice; "
                               "each object needs a name of its own",
                               loc, v[i].name);
                goto fail;
            }
    }
    free_objs(m->objs, m->nobjs);
    m->objs = v;
    m->nobjs = n;
    free(copy);
    return 0;

fail:
    free_objs(v, n);
    free(copy);
    return r;
}

int
mproc__mgrconf_key(struct mproc__mgrconf *m, const char *key,
                   const char *value, const char *loc, const char *dir,
                   int file_id, int line, mproc_err_t *err)
{
    struct mproc__addr a;
    struct mproc__mgr_slot *s;
    const char *near;
    char *raw = NULL, *where = NULL, *path = NULL;
    int k = key_index(key), b = 0, r;

    if (k < 0) {
        near = mproc__closest(key, mgr_keys, MPROC__ARRAY_SIZE(mgr_keys));
        if (near != NULL)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: unknown key '%s' in [manager]; did you "
                              "mean '%s'?",
                              loc, key, near);
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: unknown key '%s' in [manager]; expected "
                          "address, authkey_file, start or objects",
                          loc, key);
    }
    s = &m->slot[k];
    if (s->raw != NULL && file_id != 0 && s->file_id == file_id)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: duplicate key '%s' in [manager] (first set "
                          "at line %d)",
                          loc, key, s->line);
    switch (k) {
    case MPROC__MGR_ADDRESS:
        /* As a client would read it; a relative unix: path is the job
         * file's folder's, as every path of a job file. */
        if (value[0] == '\0' ||
            mproc__addr_parse(value, false, 0, &a, NULL) < 0) {
            mproc_err_t e = {0, ""};
            if (value[0] != '\0')
                mproc__addr_parse(value, false, 0, &a, &e);
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: address: expected unix:PATH, unix:@NAME "
                              "or tcp:HOST:PORT, got '%s'%s%s",
                              loc, value, e.msg[0] ? ": " : "", e.msg);
        }
        if (strncmp(value, "unix:", 5) == 0 && value[5] != '@' &&
            value[5] != '/' && dir != NULL) {
            char *p = mproc__resolve(dir, value + 5);
            if (p == NULL || asprintf(&path, "unix:%s", p) < 0) {
                free(p);
                return mproc__err(err, MPROC_ENOMEM, "out of memory");
            }
            free(p);
        }
        break;
    case MPROC__MGR_AUTHKEY_FILE:
        if (value[0] == '\0')
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: authkey_file: expected the path of a "
                              "file holding the manager's authkey, got "
                              "nothing",
                              loc);
        if ((path = mproc__resolve(dir, value)) == NULL)
            return mproc__err(err, MPROC_ENOMEM, "out of memory");
        break;
    case MPROC__MGR_START:
        if ((b = mproc__parse_bool(value)) < 0)
            return mproc__err(err, MPROC_ECONFIG,
                              "%s: start: expected yes (start a manager for "
                              "the run) or no, got '%s'",
                              loc, value);
        break;
    case MPROC__MGR_OBJECTS:
        if ((r = parse_objects(m, value, loc, err)) < 0)
            return r;
        break;
    }
    if ((raw = strdup(value)) == NULL || (where = strdup(loc)) == NULL) {
        free(raw);
        free(path);
        return mproc__err(err, MPROC_ENOMEM, "out of memory");
    }
    free(s->raw);
    free(s->where);
    free(s->path);
    s->raw = raw;
    s->where = where;
    s->path = path;
    s->file_id = file_id;
    s->line = line;
    if (k == MPROC__MGR_START)
        m->start = b == 1;
    m->set = true;
    return 0;
}

/* The value a key holds for the run: its resolved path, else as written. */
const char *
mproc__mgrconf_value(const struct mproc__mgrconf *m, int key)
{
    return m->slot[key].path ? m->slot[key].path : m->slot[key].raw;
}

int
mproc__mgrconf_finish(struct mproc__mgrconf *m, const char *file,
                      mproc_err_t *err)
{
    const struct mproc__mgr_slot *ad = &m->slot[MPROC__MGR_ADDRESS],
                                 *kf = &m->slot[MPROC__MGR_AUTHKEY_FILE];
    const char *where = m->where ? m->where
                        : file ? file : "configuration";
    const char *path;
    int fd;

    if (!m->set)
        return 0;
    if (!m->start && ad->raw == NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [manager] needs address = ADDRESS and "
                          "authkey_file = FILE (a running manager) or "
                          "start = yes (one started for the run)",
                          where);
    if (!m->start && kf->raw == NULL)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: [manager] address = %s needs authkey_file = "
                          "FILE, the file holding that manager's authkey",
                          ad->where, ad->raw);
    if (kf->raw == NULL)
        return 0;
    /* A started manager creates a key file that is absent; any other
     * must be readable now, so that `mproc check` says so. */
    path = mproc__mgrconf_value(m, MPROC__MGR_AUTHKEY_FILE);
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 && errno == ENOENT && m->start)
        return 0;
    if (fd < 0)
        return mproc__err(err, MPROC_ECONFIG,
                          "%s: authkey_file: cannot read %s: %s; expected "
                          "a file holding the manager's authkey (1 to 4096 "
                          "bytes)",
                          kf->where, path, strerror(errno));
    close(fd);
    return 0;
}

void
mproc__mgrconf_free(struct mproc__mgrconf *m)
{
    size_t i;

    for (i = 0; i < MPROC__MGR_NKEYS; i++) {
        free(m->slot[i].raw);
        free(m->slot[i].where);
        free(m->slot[i].path);
    }
    free_objs(m->objs, m->nobjs);
    free(m->where);
    memset(m, 0, sizeof(*m));
}
