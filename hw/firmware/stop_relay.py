"""Stop-relay logic for a microcontroller fed by safetymon's serial output (pure, no hardware).

Runs on MicroPython (RP2040/Pico and others) and on CPython (host tests); it imports nothing.
Bytes from the UART go to :meth:`RelayLogic.feed` together with a millisecond clock value;
:meth:`RelayLogic.tick` is called often (every 1-10 ms) to apply the watchdog. The relay may
be closed (robot permitted to move) only while:

- frames arrive as COBS packets (each ending in 0x00) that decode to exactly 32 bytes,
- whose CRC-32 (ISO-HDLC, as zlib.crc32) over bytes 0..27 matches bytes 28..31,
- with magic "SM", version 1, reserved 0, a known state, and speed 0 when STOP,
- with the configured connection id,
- with a sequence number strictly ahead of the last accepted one (modulo 2**32, at most
  ``max_gap`` ahead) and a sender time that advances,
- at least ``min_frames`` such frames in a row have been accepted (a fresh start or a
  fault needs more than one good frame),
- the newest accepted frame says RUN or SLOW and is at most ``watchdog_ms`` old.

Anything else opens the relay at once: silence beyond the watchdog, a COBS or CRC error, a
wrong length/format, a wrong connection id, a repeated or old sequence, a jump, a STOP frame.
After ``watchdog_ms`` without an accepted frame the sequence reference is dropped, so a
restarted sender (sequence from 0 again) is accepted after ``min_frames`` good frames.

Frame layout (little-endian, hw/PROTOCOL.md): magic 2s | version u8 | state u8 |
connection_id u32 | sequence u32 | sender_time_ns u64 | speed_scale u16 | reserved u16 |
reasons u32 | crc32 u32.

MicroPython notes: no typing, dataclasses, f-strings or ``struct`` needed; ints above 2**30
are long ints there, which is fine at these rates. Not a rated safety function.
"""

FRAME_SIZE = 32
MAGIC0 = 0x53  # "S"
MAGIC1 = 0x4D  # "M"
VERSION = 1
STOP = 0
SLOW = 1
RUN = 2
SEQ_MOD = 1 << 32
SEQ_HALF = 1 << 31
MAX_PACKET = 64  # longest COBS packet kept, bytes (a frame needs 33)
CLOCK_PERIOD = 1 << 30  # MicroPython time.ticks_ms() wraps here on most ports

# Fault names, used as keys of RelayLogic.faults.
F_COBS = "cobs"
F_LENGTH = "length"
F_CRC = "crc"
F_FORMAT = "format"
F_CONNECTION = "connection"
F_REPEAT = "repeat"
F_OLD = "old"
F_JUMP = "jump"
F_TIME = "time"
F_STOP = "stop"
F_WATCHDOG = "watchdog"
F_OVERFLOW = "overflow"
FAULTS = (
    F_COBS,
    F_LENGTH,
    F_CRC,
    F_FORMAT,
    F_CONNECTION,
    F_REPEAT,
    F_OLD,
    F_JUMP,
    F_TIME,
    F_STOP,
    F_WATCHDOG,
    F_OVERFLOW,
)


def _make_crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _make_crc_table()


def crc32(data, end=None):
    """CRC-32/ISO-HDLC of ``data[:end]`` (same value as ``zlib.crc32``)."""
    if end is None:
        end = len(data)
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for i in range(end):
        crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def cobs_decode(packet):
    """Decode one COBS packet (delimiter removed); return bytes, or None if invalid."""
    n = len(packet)
    if n == 0:
        return None
    out = bytearray()
    i = 0
    while i < n:
        code = packet[i]
        if code == 0 or i + code > n:  # a zero inside, or a block past the end
            return None
        out.extend(packet[i + 1 : i + code])
        i += code
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def _u32(b, i):
    return b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)


def _u64(b, i):
    return _u32(b, i) | (_u32(b, i + 4) << 32)


def _clock_diff(now, then):
    """``now - then`` on a clock that wraps at CLOCK_PERIOD (like time.ticks_diff)."""
    half = CLOCK_PERIOD >> 1
    return ((now - then + half) % CLOCK_PERIOD) - half


class RelayLogic:
    """Decide the relay from received bytes and a millisecond clock (see the module docstring).

    Args:
        connection_id: the connection id configured on the monitor's serial output (u32).
        watchdog_ms: longest time since the last accepted frame with the relay closed, ms.
        min_frames: accepted frames in a row needed before the relay may close.
        max_gap: largest sequence step accepted (lost frames in between are tolerated).
        ticks_diff: ``f(now, then) -> now - then`` for the clock; default: wrap at 2**30
            (on MicroPython pass ``time.ticks_diff``).
    """

    def __init__(self, connection_id, watchdog_ms=100, min_frames=2, max_gap=16, ticks_diff=None):
        self.connection_id = connection_id
        self.watchdog_ms = watchdog_ms
        self.min_frames = min_frames
        self.max_gap = max_gap
        self._diff = ticks_diff if ticks_diff is not None else _clock_diff
        self._buf = bytearray()
        self._overflow = False
        self._last_seq = None  # sequence reference; None = not synchronised
        self._last_time = 0  # sender_time_ns of the last accepted frame
        self._last_ms = 0  # clock value when the last frame was accepted
        self._good = 0  # accepted frames in a row
        self._permit = False  # newest accepted frame says RUN/SLOW
        self.closed = False
        """Relay output: True = energise the relay (motion permitted)."""
        self.state = STOP
        """State of the newest accepted frame (STOP when none)."""
        self.speed_raw = 0
        """Speed scale of the newest accepted frame, 0..65535."""
        self.reasons = 0
        """Reason mask of the newest accepted frame."""
        self.accepted = 0
        """Frames accepted since start."""
        self.faults = {}
        """Count of each fault (keys: F_* names)."""
        for name in FAULTS:
            self.faults[name] = 0
        self.last_fault = None
        """Name of the most recent fault, or None."""

    def _fault(self, name):
        self.faults[name] += 1
        self.last_fault = name
        self._good = 0
        self._permit = False
        self.closed = False

    def feed(self, data, now_ms):
        """Process received bytes at clock value ``now_ms``; return the relay output."""
        buf = self._buf
        for b in data:
            if b != 0:
                if len(buf) < MAX_PACKET:
                    buf.append(b)
                elif not self._overflow:
                    self._overflow = True
                    self._fault(F_OVERFLOW)
                continue
            if self._overflow:
                self._overflow = False
            elif len(buf):
                self._packet(bytes(buf), now_ms)
            buf = self._buf = bytearray()
        return self.tick(now_ms)

    def tick(self, now_ms):
        """Apply the watchdog at clock value ``now_ms``; return the relay output."""
        if self._last_seq is not None and self._diff(now_ms, self._last_ms) > self.watchdog_ms:
            self._last_seq = None  # resynchronise on the next good frame
            self.state = STOP
            self._fault(F_WATCHDOG)
        self.closed = self._permit and self._good >= self.min_frames
        return self.closed

    def _packet(self, packet, now_ms):
        frame = cobs_decode(packet)
        if frame is None:
            self._fault(F_COBS)
            return
        if len(frame) != FRAME_SIZE:
            self._fault(F_LENGTH)
            return
        if crc32(frame, 28) != _u32(frame, 28):
            self._fault(F_CRC)
            return
        state = frame[3]
        speed = frame[20] | (frame[21] << 8)
        if (
            frame[0] != MAGIC0
            or frame[1] != MAGIC1
            or frame[2] != VERSION
            or frame[22] != 0
            or frame[23] != 0
            or state > RUN
            or (state == STOP and speed != 0)
        ):
            self._fault(F_FORMAT)
            return
        if _u32(frame, 4) != self.connection_id:
            self._fault(F_CONNECTION)
            return
        # An expired reference is dropped here too, so a late tick() cannot let an old one
        # judge the first frame after silence.
        if self._last_seq is not None and self._diff(now_ms, self._last_ms) > self.watchdog_ms:
            self._last_seq = None
            self._fault(F_WATCHDOG)
        seq = _u32(frame, 8)
        t_ns = _u64(frame, 12)
        if self._last_seq is not None:
            step = (seq - self._last_seq) % SEQ_MOD
            if step == 0:
                self._fault(F_REPEAT)
                return
            if step >= SEQ_HALF:
                self._fault(F_OLD)
                return
            if step > self.max_gap:
                self._fault(F_JUMP)
                return
            if t_ns <= self._last_time:
                self._fault(F_TIME)
                return
        self._last_seq = seq
        self._last_time = t_ns
        self._last_ms = now_ms
        self.accepted += 1
        self.state = state
        self.speed_raw = speed
        self.reasons = _u32(frame, 24)
        if state == STOP:
            self.faults[F_STOP] += 1
            self._permit = False
        else:
            self._permit = True
        self._good += 1
