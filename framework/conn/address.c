/* SPDX-License-Identifier: MIT */
/*
 * Addresses of Listeners: parsing "unix:PATH", "unix:@NAME",
 * "tcp:HOST:PORT", and binding the listening socket safely.
 */
#include "conn_int.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool
is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127;
    }
    return false;
}

static int
parse_unix(const char *address, const char *rest, struct mproc__addr *out,
           mproc_err_t *err)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
    size_t n = strlen(rest);

    out->family = AF_UNIX;
    un->sun_family = AF_UNIX;
    if (rest[0] == '@') {
        /* Abstract: a NUL, then the name, with no NUL after it (the
         * length says where it ends, so "@a" and "@a\0" differ). */
        if (n < 2 || n > sizeof(un->sun_path))
            return mproc__err(err, MPROC_EINVAL,
                              "address '%s': an abstract name has 1 to "
                              "%zu bytes", address, sizeof(un->sun_path) - 1);
        out->abstract = true;
        un->sun_path[0] = '\0';
        memcpy(un->sun_path + 1, rest + 1, n - 1);
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
    }
    if (n == 0 || n >= sizeof(un->sun_path))
        return mproc__err(err, MPROC_EINVAL,
                          "address '%s': a socket path has 1 to %zu bytes "
                          "(a limit of Unix sockets): use a shorter path",
                          address, sizeof(un->sun_path) - 1);
    memcpy(un->sun_path, rest, n + 1);
    memcpy(out->path, rest, n + 1);
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

static int
parse_tcp(const char *address, const char *rest, bool listen, unsigned flags,
          struct mproc__addr *out, mproc_err_t *err)
{
    char host[256];
    const char *port, *colon;
    struct addrinfo hints, *res = NULL;
    char *end;
    unsigned long pn;
    int rc;

    if (rest[0] == '[') {
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':' || (size_t)(close - rest - 1) >= sizeof(host))
            goto bad;
        memcpy(host, rest + 1, (size_t)(close - rest - 1));
        host[close - rest - 1] = '\0';
        port = close + 2;
    } else if ((colon = strrchr(rest, ':'))) {
        if ((size_t)(colon - rest) >= sizeof(host) || colon == rest)
            goto bad;
        memcpy(host, rest, (size_t)(colon - rest));
        host[colon - rest] = '\0';
        port = colon + 1;
    } else {
        strcpy(host, "127.0.0.1");
        port = rest;
    }
    errno = 0;
    pn = strtoul(port, &end, 10);
    if (!*port || *end || errno || pn > 65535 || port[0] == '-' ||
        port[0] == '+' || port[0] == ' ')
        goto bad;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res)
        return mproc__err(err, MPROC_EINVAL, "address '%s': host '%s': %s",
                          address, host,
                          rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    if (res->ai_addrlen > sizeof(out->sa)) {
        freeaddrinfo(res);
        goto bad;
    }
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    out->family = res->ai_family;
    freeaddrinfo(res);
    if (listen && !(flags & MPROC_CONN_ANY) &&
        !is_loopback((const struct sockaddr *)&out->sa))
        return mproc__err(err, MPROC_EINVAL,
                          "address '%s': '%s' is not a loopback address; a "
                          "Listener binds to another one only with "
                          "MPROC_CONN_ANY (the authkey does not encrypt)",
                          address, host);
    return 0;
bad:
    return mproc__err(err, MPROC_EINVAL,
                      "address '%s': expected tcp:HOST:PORT, tcp:[IPV6]:PORT "
                      "or tcp:PORT, with PORT 0 to 65535", address);
}

int
mproc__addr_parse(const char *address, bool listen, unsigned flags,
                  struct mproc__addr *out, mproc_err_t *err)
{
    memset(out, 0, sizeof(*out));
    if (!address)
        return mproc__err(err, MPROC_EINVAL, "no address given");
    if (strncmp(address, "unix:", 5) == 0)
        return parse_unix(address, address + 5, out, err);
    if (strncmp(address, "tcp:", 4) == 0)
        return parse_tcp(address, address + 4, listen, flags, out, err);
    return mproc__err(err, MPROC_EINVAL,
                      "address '%s': expected unix:PATH, unix:@NAME or "
                      "tcp:HOST:PORT", address);
}

/* Someone listens at this unix: address (a connect is answered). */
static bool
alive(const struct mproc__addr *a)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int r;

    if (fd < 0)
        return true; /* cannot tell: never remove what may be in use */
    r = MPROC__NOINTR(connect(fd, (const struct sockaddr *)&a->sa, a->len));
    r = r == 0 || errno != ECONNREFUSED;
    close(fd);
    return r;
}

int
mproc__addr_listen(const char *address, const struct mproc__addr *a,
                   int backlog, mproc_err_t *err)
{
    int fd = -1, one = 1, rc;
    struct stat st;

    fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = mproc__err(err, -errno, "listener %s: socket: %s", address,
                        strerror(errno));
        goto fail;
    }
    if (a->family != AF_UNIX)
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Linux gives the file the socket inode's mode less the umask: 0600
     * here, so the file is never more open than that, even for an
     * instant; the chmod below makes it exactly 0600 whatever the umask. */
    if (a->family == AF_UNIX && !a->abstract && fchmod(fd, 0600) < 0) {
        rc = mproc__err(err, -errno, "listener %s: fchmod: %s", address,
                        strerror(errno));
        goto fail;
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0) {
        int e = errno;
        /* bind() never replaces a file: look at what is there. */
        if (e == EADDRINUSE && a->family == AF_UNIX && !a->abstract &&
            lstat(a->path, &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                rc = mproc__err(err, MPROC_EEXIST,
                                "listener %s: the path exists and is not a "
                                "socket; not replaced", address);
                goto fail;
            }
            /* A socket file nobody answers on is what a killed
             * Listener leaves: replace it. */
            if (alive(a))
                e = EADDRINUSE;
            else if (unlink(a->path) == 0 &&
                     bind(fd, (const struct sockaddr *)&a->sa, a->len) == 0)
                goto bound;
            else
                e = errno;
        }
        if (e == EADDRINUSE)
            rc = mproc__err(err, MPROC_EBUSY,
                            "listener %s: the address is in use by another "
                            "listener", address);
        else
            rc = mproc__err(err, -e, "listener %s: bind: %s", address,
                            strerror(e));
        goto fail;
    }
bound:
    if (a->family == AF_UNIX && !a->abstract && chmod(a->path, 0600) < 0) {
        rc = mproc__err(err, -errno, "listener %s: chmod: %s", address,
                        strerror(errno));
        unlink(a->path);
        goto fail;
    }
    if (listen(fd, backlog) < 0) {
        rc = mproc__err(err, -errno, "listener %s: listen: %s", address,
                        strerror(errno));
        if (a->family == AF_UNIX && !a->abstract)
            unlink(a->path);
        goto fail;
    }
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void
format_inet(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, cap, "tcp:%s:%u", ip, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, cap, "tcp:[%s]:%u", ip, ntohs(in6->sin6_port));
    }
}

int
mproc__addr_tcp_name(int fd, char *buf, size_t cap, mproc_err_t *err)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return mproc__err(err, -errno, "listener: getsockname: %s",
                          strerror(errno));
    format_inet((const struct sockaddr *)&ss, buf, cap);
    return 0;
}

void
mproc__addr_peer(int fd, char *buf, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    struct ucred cr;
    socklen_t crlen = sizeof(cr);

    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        snprintf(buf, cap, "client");
        return;
    }
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
        char a[80];
        format_inet((const struct sockaddr *)&ss, a, sizeof(a));
        snprintf(buf, cap, "client %s", a);
    } else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == 0) {
        snprintf(buf, cap, "client pid %ld", (long)cr.pid);
    } else {
        snprintf(buf, cap, "client");
    }
}
