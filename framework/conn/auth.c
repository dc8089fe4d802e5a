/* SPDX-License-Identifier: MIT */
/*
 * The handshake at the start of every Listener/client connection.
 *
 * Both sides send at once, so it costs three round trips at most and no
 * side waits for the other to speak first:
 *
 *   1. hello:   "MPROC-CONN/1", 'A' (authkey) or 'N' (none), 32 random
 *               bytes (the nonce; unused without authkey).
 *   2. answer:  HMAC-SHA256(authkey, "MPROC-CONN/1 " ROLE, verifier's
 *               nonce, prover's nonce), ROLE being "server" or "client"
 *               for the side that proves.  The role in the MAC stops a
 *               man in the middle from sending a side's own answer back
 *               to it; the prover's nonce stops him from replaying it.
 *   3. verdict: "WELCOME" or "FAILURE".
 *
 * Without authkeys on both sides, step 1 is all.  A key on one side only
 * is seen by both at step 1.  Each side reads exactly the bytes of these
 * frames (a frame over MPROC__HS_FRAME_MAX is refused unread), so no
 * byte of the peer's messages is read before the peer is proven.
 *
 * The cryptography is libsodium's (HMAC-SHA256, the system's random
 * source, constant-time comparison): nothing of it is written here.
 */
#include "conn_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MAGIC "MPROC-CONN/1"
#define MAGIC_LEN (sizeof(MAGIC) - 1)
#define HELLO_LEN (MAGIC_LEN + 1 + MPROC__HS_NONCE)
#define VERDICT_LEN 7

int
mproc__hs_crypto_init(mproc_err_t *err)
{
    /* Thread-safe, and cheap after the first call. */
    if (sodium_init() < 0)
        return mproc__err(err, MPROC_ENOSYS,
                          "libsodium could not start (no random source?)");
    return 0;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint64_t
get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int
fail(struct mproc__hs *hs, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct mproc__hs *hs, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(hs->why, sizeof(hs->why), fmt, ap);
    va_end(ap);
    return code;
}

/* One small frame, at once: the socket's buffer is empty or nearly so
 * during the handshake, so a frame that does not fit means a peer that
 * does not read, which is a failure. */
static int
send_frame(struct mproc__hs *hs, const void *payload, size_t n)
{
    unsigned char buf[MPROC__CONN_HDR + MPROC__HS_FRAME_MAX];
    ssize_t w;

    put_be64(buf, n);
    memcpy(buf + MPROC__CONN_HDR, payload, n);
    w = MPROC__NOINTR(send(hs->fd, buf, MPROC__CONN_HDR + n,
                           MSG_NOSIGNAL | MSG_DONTWAIT));
    sodium_memzero(buf, sizeof(buf));
    if (w == (ssize_t)(MPROC__CONN_HDR + n))
        return 0;
    if (w < 0 && errno != EAGAIN)
        return fail(hs, MPROC_EPIPE, "%s went away during the handshake (%s)",
                    hs->peer, strerror(errno));
    return fail(hs, MPROC_EPIPE, "%s does not read its socket", hs->peer);
}

static void
answer_mac(const struct mproc__hs *hs, bool server,
           const unsigned char *verifier, const unsigned char *prover,
           unsigned char mac[MPROC__HS_MAC])
{
    crypto_auth_hmacsha256_state st;
    const char *role = server ? MAGIC " server" : MAGIC " client";

    crypto_auth_hmacsha256_init(&st, hs->key, hs->keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)role,
                                  strlen(role));
    crypto_auth_hmacsha256_update(&st, verifier, MPROC__HS_NONCE);
    crypto_auth_hmacsha256_update(&st, prover, MPROC__HS_NONCE);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof(st));
}

int
mproc__hs_start(struct mproc__hs *hs, int fd, bool server, const void *key,
                size_t keylen, long long deadline)
{
    unsigned char hello[HELLO_LEN];

    memset(hs, 0, sizeof(*hs));
    hs->fd = fd;
    hs->server = server;
    hs->key = key;
    hs->keylen = key ? keylen : 0;
    hs->deadline = deadline;
    hs->state = HS_HELLO;
    if (server)
        mproc__addr_peer(fd, hs->peer, sizeof(hs->peer));
    else
        snprintf(hs->peer, sizeof(hs->peer), "the listener");
    randombytes_buf(hs->nonce, sizeof(hs->nonce));
    memcpy(hello, MAGIC, MAGIC_LEN);
    hello[MAGIC_LEN] = hs->keylen ? 'A' : 'N';
    memcpy(hello + MAGIC_LEN + 1, hs->nonce, MPROC__HS_NONCE);
    return send_frame(hs, hello, sizeof(hello));
}

static int
on_hello(struct mproc__hs *hs, const unsigned char *p, size_t n)
{
    unsigned char mac[MPROC__HS_MAC];
    int rc;

    if (n != HELLO_LEN || memcmp(p, MAGIC, MAGIC_LEN) != 0 ||
        (p[MAGIC_LEN] != 'A' && p[MAGIC_LEN] != 'N'))
        return fail(hs, MPROC_EAUTH, "%s does not speak " MAGIC
                    " (not an mproc %s)", hs->peer,
                    hs->server ? "client" : "listener");
    if (p[MAGIC_LEN] == 'A' && !hs->keylen)
        return fail(hs, MPROC_EAUTH, hs->server
                    ? "%s uses an authkey; this listener has none"
                    : "%s requires an authkey; none was given", hs->peer);
    if (p[MAGIC_LEN] == 'N' && hs->keylen)
        return fail(hs, MPROC_EAUTH, hs->server
                    ? "%s gave no authkey; this listener requires one"
                    : "%s has no authkey; refused to connect with one",
                    hs->peer);
    if (!hs->keylen) {
        hs->state = HS_DONE;
        return 0;
    }
    memcpy(hs->peer_nonce, p + MAGIC_LEN + 1, MPROC__HS_NONCE);
    answer_mac(hs, hs->server, hs->peer_nonce, hs->nonce, mac);
    rc = send_frame(hs, mac, sizeof(mac));
    sodium_memzero(mac, sizeof(mac));
    hs->state = HS_RESP;
    return rc;
}

static int
on_answer(struct mproc__hs *hs, const unsigned char *p, size_t n)
{
    unsigned char mac[MPROC__HS_MAC];

    answer_mac(hs, !hs->server, hs->nonce, hs->peer_nonce, mac);
    hs->ok = n == MPROC__HS_MAC && sodium_memcmp(mac, p, MPROC__HS_MAC) == 0;
    sodium_memzero(mac, sizeof(mac));
    hs->state = HS_VERDICT;
    return send_frame(hs, hs->ok ? "WELCOME" : "FAILURE", VERDICT_LEN);
}

static int
on_verdict(struct mproc__hs *hs, const unsigned char *p, size_t n)
{
    if (!hs->ok)
        return fail(hs, MPROC_EAUTH, "%s does not know the authkey",
                    hs->peer);
    if (n != VERDICT_LEN || memcmp(p, "WELCOME", VERDICT_LEN) != 0)
        return fail(hs, MPROC_EAUTH, "%s refused this authkey", hs->peer);
    hs->state = HS_DONE;
    return 0;
}

int
mproc__hs_step(struct mproc__hs *hs)
{
    while (hs->state != HS_DONE) {
        size_t want = MPROC__CONN_HDR;
        uint64_t flen = 0;
        ssize_t r;
        int rc;

        if (hs->rxlen >= MPROC__CONN_HDR) {
            flen = get_be64(hs->rx);
            if (flen > MPROC__HS_FRAME_MAX)
                return fail(hs, MPROC_EAUTH,
                            "%s sent %llu bytes where the handshake expects "
                            "at most %d (not an mproc %s)", hs->peer,
                            (unsigned long long)flen, MPROC__HS_FRAME_MAX,
                            hs->server ? "client" : "listener");
            want += (size_t)flen;
        }
        if (hs->rxlen < want) {
            r = MPROC__NOINTR(recv(hs->fd, hs->rx + hs->rxlen,
                                   want - hs->rxlen, MSG_DONTWAIT));
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return 0;
            if (r < 0)
                return fail(hs, MPROC_EPIPE, "%s: %s during the handshake",
                            hs->peer, strerror(errno));
            if (r == 0)
                return fail(hs, MPROC_EPIPE,
                            "%s hung up during the handshake", hs->peer);
            hs->rxlen += (size_t)r;
            hs->heard = true;
            continue;
        }
        hs->rxlen = 0;
        if (hs->state == HS_HELLO)
            rc = on_hello(hs, hs->rx + MPROC__CONN_HDR, (size_t)flen);
        else if (hs->state == HS_RESP)
            rc = on_answer(hs, hs->rx + MPROC__CONN_HDR, (size_t)flen);
        else
            rc = on_verdict(hs, hs->rx + MPROC__CONN_HDR, (size_t)flen);
        if (rc < 0)
            return rc;
    }
    return 1;
}

void
mproc__hs_wipe(struct mproc__hs *hs)
{
    sodium_memzero(hs->nonce, sizeof(hs->nonce));
    sodium_memzero(hs->peer_nonce, sizeof(hs->peer_nonce));
    sodium_memzero(hs->rx, sizeof(hs->rx));
}
