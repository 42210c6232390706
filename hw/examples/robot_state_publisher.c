/*
 * Minimal controller-side robot-state publisher (hw/ROBOT_STATE.md), in C against libzmq,
 * authenticated with CURVE: the controller's PUB socket is the CURVE server, and safetymon
 * (state_input.curve_server_key_file = the matching .key) accepts states only from it.
 *
 * Keys: `safetymon keys generate --out keys --name arm1` writes arm1.key (public: give it to
 * the monitor) and arm1.key_secret (keep it on the controller, owner-only). This example
 * reads the secret file as written there (ZPL text, `public-key = "..."` and
 * `secret-key = "..."`, Z85).
 *
 * Build:  make -C hw/examples robot_state_publisher
 *    or:  gcc -O2 -Wall -Wextra -o robot_state_publisher robot_state_publisher.c \
 *             $(pkg-config --cflags --libs libzmq)
 * Run:    ./robot_state_publisher ENDPOINT KEY_SECRET_FILE ROBOT_ID [RATE_HZ [DURATION_MS]]
 *         e.g. ./robot_state_publisher tcp://0.0.0.0:5570 keys/arm1.key_secret arm1 100
 *
 * It publishes a two-link arm (capsules geometry) whose forearm sweeps a circle, with a new
 * random session id per run, increasing sequence, CLOCK_MONOTONIC capture times and link
 * velocities. A real controller would fill `links` (or `joints`) from its own state.
 *
 * Not a certified safety function: an example of the wire format and of CURVE only.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define KEY_Z85 40
#define MESSAGE_MAX 1024

/* Copy the quoted Z85 value of `name = "..."` from a ZPL certificate line into `out`. */
static int read_key(const char *path, const char *name, char out[KEY_Z85 + 1]) {
    FILE *file = fopen(path, "r");
    if (!file) {
        fprintf(stderr, "error: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    int found = -1;
    while (fgets(line, sizeof line, file)) {
        const char *at = strstr(line, name);
        if (!at) continue;
        const char *open = strchr(at, '"');
        const char *close = open ? strchr(open + 1, '"') : NULL;
        if (open && close && close - open - 1 == KEY_Z85) {
            memcpy(out, open + 1, KEY_Z85);
            out[KEY_Z85] = '\0';
            found = 0;
            break;
        }
    }
    fclose(file);
    if (found != 0) fprintf(stderr, "error: %s: no %s of %d Z85 characters\n", path, name, KEY_Z85);
    return found;
}

static double monotonic_s(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr,
                "usage: %s ENDPOINT KEY_SECRET_FILE ROBOT_ID [RATE_HZ [DURATION_MS]]\n", argv[0]);
        return 2;
    }
    const char *endpoint = argv[1], *key_file = argv[2], *robot_id = argv[3];
    double rate_hz = argc > 4 ? atof(argv[4]) : 100.0;
    long duration_ms = argc > 5 ? atol(argv[5]) : -1;
    if (!(rate_hz > 0.0 && rate_hz <= 10000.0) || strlen(robot_id) > 64) {
        fprintf(stderr, "error: RATE_HZ must be in (0, 10000] and ROBOT_ID at most 64 chars\n");
        return 2;
    }
    char public_key[KEY_Z85 + 1], secret_key[KEY_Z85 + 1];
    if (read_key(key_file, "public-key", public_key) || read_key(key_file, "secret-key", secret_key))
        return 2;
    if (!zmq_has("curve")) {
        fprintf(stderr, "error: this libzmq has no CURVE\n");
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    int server = 1, linger = 200;
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    /* CURVE server: set before bind/connect. The monitor holds public_key's .key file. */
    if (zmq_setsockopt(pub, ZMQ_CURVE_SERVER, &server, sizeof server) ||
        zmq_setsockopt(pub, ZMQ_CURVE_PUBLICKEY, public_key, KEY_Z85) ||
        zmq_setsockopt(pub, ZMQ_CURVE_SECRETKEY, secret_key, KEY_Z85) ||
        zmq_bind(pub, endpoint)) {
        fprintf(stderr, "error: %s: %s\n", endpoint, zmq_strerror(zmq_errno()));
        zmq_close(pub);
        zmq_ctx_term(ctx);
        return 1;
    }
    memset(secret_key, 0, sizeof secret_key);  /* libzmq keeps its own copy */

    /* A new session per run (hw/ROBOT_STATE.md, "Restarting the sender"). */
    unsigned long long session = 0;
    FILE *urandom = fopen("/dev/urandom", "rb");
    if (!urandom || fread(&session, sizeof session, 1, urandom) != 1) session ^= (unsigned long long)monotonic_s();
    if (urandom) fclose(urandom);

    const double upper_m = 0.8, forearm_m = 0.5, omega = 1.0; /* rad/s: tip at 0.5 m/s */
    const double started = monotonic_s();
    const struct timespec period = {0, (long)(1e9 / rate_hz)};
    unsigned long long sequence = 0;
    char message[MESSAGE_MAX];
    for (;;) {
        double now = monotonic_s();
        if (duration_ms >= 0 && (now - started) * 1000.0 >= (double)duration_ms) break;
        double angle = omega * (now - started);
        double x = forearm_m * cos(angle), y = forearm_m * sin(angle);
        double vx = -omega * y, vy = omega * x;
        int length = snprintf(
            message, sizeof message,
            "{\"schema\": \"safetymon.robot_state/1\", \"robot_id\": \"%s\", "
            "\"session\": \"%016llx\", \"sequence\": %llu, \"capture_time_s\": %.6f, "
            "\"links\": {\"a\": [[0, 0, 0], [0, 0, %.3f]], "
            "\"b\": [[0, 0, %.3f], [%.6f, %.6f, %.3f]], "
            "\"vel_a\": [[0, 0, 0], [0, 0, 0]], \"vel_b\": [[0, 0, 0], [%.6f, %.6f, 0]]}}",
            robot_id, session, ++sequence, now, upper_m, upper_m, x, y, upper_m, vx, vy);
        if (length <= 0 || length >= MESSAGE_MAX) {
            fprintf(stderr, "error: message too long\n");
            break;
        }
        zmq_send(pub, "robot_state", 11, ZMQ_SNDMORE);
        zmq_send(pub, message, (size_t)length, 0);
        nanosleep(&period, NULL);
    }
    printf("sent %llu states\n", sequence);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    return 0;
}
