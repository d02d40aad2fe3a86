/*
 * tls: calcd's TLS, over OpenSSL 3 — the server context made from the
 * tls_* settings (certificate chain, key, optional client CA and CRL,
 * minimum version, ciphers) and its checks for calcd -t; the slot that
 * holds the context new handshakes use, swapped on a reload while open
 * connections keep the one they started with; and one connection's
 * non-blocking session over its socket.  Knows nothing of Thrift or of
 * event loops: each session call says whether to wait for the socket to
 * become readable or writable before calling again.
 */
#ifndef CALCD_TLS_H
#define CALCD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct conf;
struct tls_context;
struct tls_session;
struct tls_slot;

/* --- settings and the context ------------------------------------------------ */

struct tls_settings {
	const char	*certificate;	/* PEM: the server certificate, then its chain */
	const char	*key;		/* PEM, unencrypted; NULL or "": in certificate's file */
	const char	*client_ca;	/* NULL or "": no client certificate asked for */
	const char	*client_crl;	/* NULL or "": none; needs client_ca */
	const char	*ciphers;	/* TLS 1.2 cipher list; NULL or "": OpenSSL's */
	const char	*ciphersuites;	/* TLS 1.3 suites; NULL or "": OpenSSL's */
	unsigned	 min_version;	/* 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3) */
};

/* Which setting a problem is with, for the key and line to blame. */
enum tls_setting {
	TLS_SETTING_NONE = 0,		/* none in particular (out of memory) */
	TLS_SETTING_CERTIFICATE,	/* tls_certificate */
	TLS_SETTING_KEY,		/* tls_key */
	TLS_SETTING_CLIENT_CA,		/* tls_client_ca */
	TLS_SETTING_CLIENT_CRL,		/* tls_client_crl */
	TLS_SETTING_CIPHERS,		/* tls_ciphers */
	TLS_SETTING_CIPHERSUITES,	/* tls_ciphersuites */
	TLS_SETTING_MIN_VERSION,	/* tls_min_version */
};

#define TLS_ERROR_LEN	512

struct tls_error {
	enum tls_setting setting;
	char		 message[TLS_ERROR_LEN];	/* names the file; no key, no line */
};

/* "tls_certificate", ... (the calcd.conf key); "" for TLS_SETTING_NONE. */
const char	*tls_setting_name(enum tls_setting);

/*
 * A server context from settings, holding one reference; NULL with *err
 * filled on any problem: a file missing, unreadable, not a regular file
 * or without what it should hold; an encrypted key; a key that does not
 * match the certificate; a certificate OpenSSL's security level refuses;
 * a cipher list with no cipher OpenSSL knows.  Always: no compression, no
 * renegotiation, session tickets (stateless, one per handshake) and no
 * session cache.  With client_ca, a client certificate signed by one of
 * its CAs is required (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT)
 * and those CAs are named to clients; with client_crl as well, a revoked
 * one is refused.  Safe to share between threads.
 */
struct tls_context *tls_context_new(const struct tls_settings *, struct tls_error *err);
struct tls_context *tls_context_ref(struct tls_context *);
/* Drop a reference; the last one frees the context.  NULL is ignored. */
void		 tls_context_unref(struct tls_context *);
/*
 * For logs: "certificate CN=..., valid until 2035-01-01 00:00:00 UTC,
 * client certificates required (2 CAs)"; the validity says "EXPIRED
 * since" or "not valid before" when the clock is outside it.
 */
void		 tls_context_describe(const struct tls_context *, char *out, size_t len);
/* Is the certificate outside its validity now?  Then calcd serves it anyway. */
bool		 tls_context_expired(const struct tls_context *);

/* --- from calcd.conf ---------------------------------------------------------- */

/* Does conf set tls_certificate (so that TLS can be served)? */
bool		 tls_conf_enabled(const struct conf *);
/* settings pointing into conf (valid while conf is). */
void		 tls_settings_from_conf(const struct conf *, struct tls_settings *);
/*
 * calcd -t and a reload: check conf's tls_* settings by building a
 * context, writing every problem to errors as "FILE:LINE: KEY: message"
 * (the line that set the key at fault; conf_path is the file conf came
 * from) and a certificate outside its validity as "FILE:LINE:
 * tls_certificate: warning: ...", which is not counted.  Also an error:
 * tls_key, tls_client_ca or tls_client_crl without tls_certificate,
 * tls_client_crl without tls_client_ca, and, when required (some listen
 * line says tls), no tls_certificate.  Nothing is read when conf sets no
 * tls_certificate.  Returns the number of errors.
 */
int		 tls_conf_check(const struct conf *, const char *conf_path, bool required,
		    FILE *errors);
/*
 * As tls_conf_check, but keeps the context: NULL (after writing the
 * errors) when there is a problem or conf sets no tls_certificate.
 */
struct tls_context *tls_conf_context(const struct conf *, const char *conf_path, FILE *errors);

/* --- the context in force ----------------------------------------------------- */

/*
 * A slot holds the context new handshakes use; any thread may take a
 * reference from it while another swaps it (a mutex, held for a pointer
 * copy and a reference count).
 */
struct tls_slot	*tls_slot_new(struct tls_context *);	/* takes over the reference; NULL if out of memory */
/* A new reference to the context in the slot (NULL if it holds none): unref it. */
struct tls_context *tls_slot_get(struct tls_slot *);
/* Put ctx (its reference taken over; may be NULL) in the slot; the old one is unref'd. */
void		 tls_slot_set(struct tls_slot *, struct tls_context *);
/*
 * SIGHUP: build a context from settings and put it in the slot; on
 * failure keep the one there, fill *err and return -1.  Sessions already
 * made go on with the context they hold.
 */
int		 tls_slot_reload(struct tls_slot *, const struct tls_settings *, struct tls_error *);
void		 tls_slot_free(struct tls_slot *);

/* --- one connection ----------------------------------------------------------- */

/*
 * What a session call did.  WANT_READ / WANT_WRITE: nothing more can
 * happen until the socket is readable / writable: wait, then make the
 * same call again (for a write, with the same bytes; they may have moved).
 */
enum tls_io {
	TLS_IO_DONE = 0,	/* finished; a read returned at least one byte */
	TLS_IO_WANT_READ,
	TLS_IO_WANT_WRITE,
	TLS_IO_CLOSED,		/* the peer closed the connection: close it too */
	TLS_IO_ERROR,		/* failed: tls_session_failure and _error say why; close */
};

/* Why a session failed: one counter each for metrics (tls_failure_name). */
enum tls_failure {
	TLS_FAIL_NONE = 0,
	TLS_FAIL_NOT_TLS,	/* the first bytes are no TLS handshake: a plain client on a TLS port */
	TLS_FAIL_VERSION,	/* no protocol version in common (the client's are below tls_min_version) */
	TLS_FAIL_CIPHER,	/* no cipher, group or signature algorithm in common */
	TLS_FAIL_NO_CERTIFICATE, /* tls_client_ca: the client sent no certificate */
	TLS_FAIL_BAD_CERTIFICATE, /* tls_client_ca: its certificate did not verify (CA, dates, CRL) */
	TLS_FAIL_ALERT,		/* the client gave up with an alert (it did not trust calcd's certificate, ...) */
	TLS_FAIL_PROTOCOL,	/* malformed or unexpected TLS */
	TLS_FAIL_EOF,		/* the client closed the connection in the middle of the handshake */
	TLS_FAIL_IO,		/* the socket failed (reset, ...) */
	TLS_FAIL_TIMEOUT,	/* never set here: the caller's handshake timeout, counted alike */
	TLS_FAIL_INTERNAL,	/* out of memory, or OpenSSL failed */
	TLS_FAIL_COUNT
};

/* "not_tls", "version", ... for metric labels and logs. */
const char	*tls_failure_name(enum tls_failure);

/*
 * Start a server session on fd (connected, non-blocking; it stays the
 * caller's to close).  already[0..already_len) are bytes of the
 * connection the caller has read off fd (after a PROXY header): the TLS
 * stream begins with them.  Holds its own reference to ctx.  NULL if out
 * of memory.
 */
struct tls_session *tls_session_new(struct tls_context *, int fd, const uint8_t *already,
		    size_t already_len);
void		 tls_session_free(struct tls_session *);

/*
 * One step of the handshake.  DONE once it is complete: then read at
 * once, without waiting for the socket, since the client's first request
 * may have come with its last handshake message.  Before OpenSSL sees a
 * byte, the first bytes are checked: if they are no TLS handshake, ERROR
 * with TLS_FAIL_NOT_TLS and an error naming what they look like.  CLOSED
 * if the peer closed before sending anything (a port probe); closing
 * later in the handshake is an ERROR (TLS_FAIL_EOF).
 */
enum tls_io	 tls_session_handshake(struct tls_session *);
bool		 tls_session_established(const struct tls_session *);

/*
 * Read up to len bytes of plaintext into buf: DONE with *got > 0 (as many
 * as were there, up to len), WANT_READ / WANT_WRITE with *got = 0,
 * CLOSED at the peer's close_notify or end of stream, or ERROR.  After a
 * DONE that filled buf, more may be waiting inside the session where the
 * socket cannot signal it: call tls_session_pending and read again.
 */
enum tls_io	 tls_session_read(struct tls_session *, uint8_t *buf, size_t len, size_t *got);
/* Plaintext or records already taken off the socket and not yet read? */
bool		 tls_session_pending(const struct tls_session *);

/*
 * Send data[0..len): DONE when all of it is taken (*written = len);
 * WANT_WRITE / WANT_READ with *written < len bytes taken: wait, then call
 * again with data + *written (the same bytes, wherever they now are).
 */
enum tls_io	 tls_session_write(struct tls_session *, const uint8_t *data, size_t len,
		    size_t *written);

/*
 * Send close_notify (once; the peer's is not waited for).  DONE, or
 * WANT_WRITE (retry when writable, or just close), or ERROR.  Does
 * nothing after an ERROR or CLOSED (DONE).
 */
enum tls_io	 tls_session_shutdown(struct tls_session *);

/* After ERROR: why, as a reason and as text for the log ("" before). */
enum tls_failure tls_session_failure(const struct tls_session *);
const char	*tls_session_error(const struct tls_session *);
/* Once established: "TLSv1.3", "TLS_AES_256_GCM_SHA384"; "" before. */
const char	*tls_session_version(const struct tls_session *);
const char	*tls_session_cipher(const struct tls_session *);
/* The client certificate's subject, RFC 2253 ("CN=a,O=b"); "" without one. */
void		 tls_session_peer(const struct tls_session *, char *out, size_t len);

/* --- before any session --------------------------------------------------------- */

enum tls_hello {
	TLS_HELLO_NO = 0,	/* cannot be a TLS handshake */
	TLS_HELLO_YES,		/* a TLS handshake record header (0x16 0x03 0x00..0x04) */
	TLS_HELLO_MAYBE,	/* too few bytes to tell (fewer than 3, all fitting) */
};

/* Do the first bytes of a connection start a TLS handshake? */
enum tls_hello	 tls_detect_hello(const uint8_t *data, size_t len);
/*
 * What the first bytes of a connection on a TLS port look like when they
 * are no handshake, for the log: "a plain Thrift client (framed) on a TLS
 * port", "an HTTP request on a TLS port", ...
 */
const char	*tls_describe_plain(const uint8_t *data, size_t len);

#endif
