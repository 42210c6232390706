/*
 * Minimal controller-side receiver of safetymon safety frames (hw/PROTOCOL.md), in C
 * against libzmq. Stand-alone: its own CRC-32 and frame checks, no safetymon code.
 *
 * Build:  make -C hw/examples
 *    or:  gcc -O2 -Wall -Wextra -o controller_example controller_example.c \
 *             $(pkg-config --cflags --libs libzmq)
 * Run:    ./controller_example ENDPOINT CONNECTION_ID [WATCHDOG_MS [DURATION_MS]]
 *         ./controller_example --decode HEX      (decode one frame, for the test vectors)
 *
 * It prints one line per change of the permitted state and the error counters at the end.
 * A real controller would drive its safe outputs from `permitted` instead of printing, and
 * still keep the watchdog of its own rated safety function.
 *
 * Not a certified safety function: an example of the receiver rules only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define FRAME_SIZE 32
#define MAX_GAP 256u
#define MAX_DRIFT_PPM 500
#define CLOCK_TOLERANCE_NS 50000000LL

enum state { STOP = 0, SLOW = 1, RUN = 2 };
static const char *STATE_NAMES[] = {"STOP", "SLOW", "RUN"};

enum error_kind {
    CORRUPTION, REPETITION, INCORRECT_SEQUENCE, LOSS, DELAY, INSERTION, MASQUERADE, ADDRESSING,
    N_ERRORS
};
static const char *ERROR_NAMES[] = {
    "corruption", "unintended_repetition", "incorrect_sequence", "loss",
    "unacceptable_delay", "insertion", "masquerade", "addressing"};

struct frame {
    uint32_t connection_id, sequence, reasons;
    uint64_t sender_time_ns;
    uint8_t state;
    uint16_t speed_raw;
};

/* CRC-32/ISO-HDLC (zlib): reflected polynomial 0xEDB88320, init and xorout 0xFFFFFFFF. */
static uint32_t crc32_iso_hdlc(const uint8_t *data, size_t len) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32); }

/* Receiver rules 1-3: returns NULL if valid, else the reason (the frame is corruption). */
static const char *decode(const uint8_t *data, size_t len, struct frame *f) {
    if (len != FRAME_SIZE) return "frame length";
    if (crc32_iso_hdlc(data, 28) != le32(data + 28)) return "CRC mismatch";
    if (data[0] != 'S' || data[1] != 'M') return "bad magic";
    if (data[2] != 1) return "unsupported protocol version";
    if (le16(data + 22) != 0) return "reserved field";
    if (data[3] > RUN) return "unknown state";
    f->state = data[3];
    f->connection_id = le32(data + 4);
    f->sequence = le32(data + 8);
    f->sender_time_ns = le64(data + 12);
    f->speed_raw = le16(data + 20);
    f->reasons = le32(data + 24);
    if (f->state == STOP && f->speed_raw != 0) return "STOP frame carries speed_scale";
    return NULL;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct receiver {
    uint32_t connection_id;
    int64_t watchdog_ns, max_delay_ns;
    int synced;
    struct frame last;
    int64_t last_rx_ns, offset_ns, deadline_ns;
    unsigned long counters[N_ERRORS];
    /* permitted state */
    int state;
    uint16_t speed_raw;
    uint32_t reasons;
};

static void set_permitted(struct receiver *r, int state, uint16_t speed, uint32_t reasons,
                          const char *cause) {
    if (r->state == state && r->speed_raw == speed && r->reasons == reasons) return;
    r->state = state;
    r->speed_raw = speed;
    r->reasons = reasons;
    printf("STATE %s speed=%.3f reasons=0x%08" PRIx32 " cause=%s\n", STATE_NAMES[state],
           speed / 65535.0, reasons, cause);
    fflush(stdout);
}

static void reject(struct receiver *r, enum error_kind kind) {
    r->counters[kind]++;
    set_permitted(r, STOP, 0, 1u << 17 /* OUTPUT_FAULT */, ERROR_NAMES[kind]);
}

/* Receiver rules 4-9 (hw/PROTOCOL.md section 5). */
static void on_message(struct receiver *r, const uint8_t *data, size_t len, int64_t rx) {
    struct frame f;
    if (decode(data, len, &f) != NULL) { reject(r, CORRUPTION); return; }
    if (f.connection_id != r->connection_id) { reject(r, ADDRESSING); return; }
    if (r->synced && rx - r->last_rx_ns > r->watchdog_ns) r->synced = 0; /* re-sync */
    int64_t transit = rx - (int64_t)f.sender_time_ns;
    int64_t offset = transit;
    uint32_t lost = 0;
    if (r->synced) {
        uint32_t step = f.sequence - r->last.sequence; /* modulo 2^32 */
        if (step == 0) { reject(r, REPETITION); return; }
        if (step >= 0x80000000u) { reject(r, INCORRECT_SEQUENCE); return; }
        if (step > MAX_GAP) { reject(r, INSERTION); return; }
        if (f.sender_time_ns <= r->last.sender_time_ns) { reject(r, MASQUERADE); return; }
        offset = r->offset_ns + (rx - r->last_rx_ns) / 1000000 * MAX_DRIFT_PPM;
        if (transit < offset - CLOCK_TOLERANCE_NS) { reject(r, MASQUERADE); return; }
        if (transit < offset) offset = transit;
        lost = step - 1;
    }
    if (transit - offset > r->max_delay_ns) { reject(r, DELAY); return; }
    r->counters[LOSS] += lost;
    r->synced = 1;
    r->last = f;
    r->last_rx_ns = rx;
    r->offset_ns = offset;
    r->deadline_ns = rx + r->watchdog_ns;
    set_permitted(r, f.state, f.speed_raw, f.reasons, "frame");
}

static int decode_only(const char *hex) {
    uint8_t buf[64];
    size_t n = strlen(hex) / 2;
    if (n > sizeof buf) n = sizeof buf;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) return 2;
        buf[i] = (uint8_t)v;
    }
    struct frame f;
    const char *err = decode(buf, n, &f);
    if (err) { printf("error: %s\n", err); return 1; }
    printf("connection_id=%" PRIu32 " sequence=%" PRIu32 " sender_time_ns=%" PRIu64
           " state=%s speed=%u reasons=0x%08" PRIx32 "\n",
           f.connection_id, f.sequence, f.sender_time_ns, STATE_NAMES[f.state],
           (unsigned)f.speed_raw, f.reasons);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--decode") == 0) return decode_only(argv[2]);
    if (argc < 3) {
        fprintf(stderr, "usage: %s ENDPOINT CONNECTION_ID [WATCHDOG_MS [DURATION_MS]]\n"
                        "       %s --decode HEX\n", argv[0], argv[0]);
        return 2;
    }
    struct receiver r;
    memset(&r, 0, sizeof r);
    r.connection_id = (uint32_t)strtoul(argv[2], NULL, 10);
    r.watchdog_ns = (argc > 3 ? atoll(argv[3]) : 100) * 1000000LL;
    r.max_delay_ns = r.watchdog_ns / 2;
    int64_t duration_ns = (argc > 4 ? atoll(argv[4]) : -1) * 1000000LL;
    r.state = STOP;
    r.reasons = 1; /* STARTUP */
    printf("STATE STOP speed=0.000 reasons=0x00000001 cause=startup\n");
    fflush(stdout);

    void *ctx = zmq_ctx_new();
    void *sub = zmq_socket(ctx, ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (zmq_connect(sub, argv[1]) != 0) {
        fprintf(stderr, "cannot connect %s: %s\n", argv[1], zmq_strerror(errno));
        return 1;
    }
    int64_t end = duration_ns < 0 ? INT64_MAX : now_ns() + duration_ns;
    uint8_t buf[256];
    while (now_ns() < end) {
        zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
        long timeout_ms = 10; /* wake often enough to apply the watchdog promptly */
        if (zmq_poll(&item, 1, timeout_ms) < 0 && errno != EINTR) break;
        while (item.revents & ZMQ_POLLIN) {
            int n = zmq_recv(sub, buf, sizeof buf, ZMQ_DONTWAIT);
            if (n < 0) break;
            int more = 0;
            size_t more_len = sizeof more;
            zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &more_len);
            int64_t rx = now_ns();
            if (more) { /* multi-part: drain and count as corruption */
                while (more) {
                    zmq_recv(sub, buf, sizeof buf, 0);
                    zmq_getsockopt(sub, ZMQ_RCVMORE, &more, &more_len);
                }
                reject(&r, CORRUPTION);
                continue;
            }
            on_message(&r, buf, (size_t)n > sizeof buf ? sizeof buf + 1 : (size_t)n, rx);
        }
        if (r.state != STOP && now_ns() > r.deadline_ns)
            set_permitted(&r, STOP, 0, 1u << 17, "watchdog");
    }
    printf("COUNTERS");
    for (int k = 0; k < N_ERRORS; k++) printf(" %s=%lu", ERROR_NAMES[k], r.counters[k]);
    printf("\n");
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return 0;
}
