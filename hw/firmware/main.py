"""MicroPython entry point: UART -> RelayLogic -> relay GPIO (Raspberry Pi Pico / RP2040).

Copy ``stop_relay.py`` and this file to the board (``mpremote cp stop_relay.py main.py :``).
Adjust the constants below to your wiring and to the monitor's ``outputs.serial`` settings.
The relay pin drives the relay coil (through a transistor/driver stage): HIGH = energised =
contact closed = motion permitted. Every path that is not "valid frames keep arriving" leaves
the pin LOW. A hardware watchdog resets the board if this loop ever hangs; the pin returns
to its reset state (input, pulled low by the driver's pull-down resistor) = relay open.

Not a rated safety function: feed a rated safety relay or the robot's safety input.
"""

import time

from machine import UART, WDT, Pin  # MicroPython only
from stop_relay import RelayLogic

CONNECTION_ID = 1  # must equal outputs.serial.connection_id on the monitor
BAUDRATE = 115200  # must equal outputs.serial.baudrate
WATCHDOG_MS = 100  # relay opens this long after the last good frame (2-5 heartbeats)
UART_ID = 0
UART_TX = 0  # GP0 (unused by the protocol, wired for diagnostics)
UART_RX = 1  # GP1 <- monitor's TX (via a USB-UART adapter or RS-232/RS-485 transceiver)
RELAY_PIN = 15  # GP15 -> relay driver input
LED_PIN = 25  # on-board LED mirrors the relay (use "LED" on a Pico W)
LOOP_MS = 2  # polling period of the main loop, ms


def main():
    """Run forever: read the UART, update the logic, drive the relay."""
    relay = Pin(RELAY_PIN, Pin.OUT, value=0)
    led = Pin(LED_PIN, Pin.OUT, value=0)
    uart = UART(UART_ID, baudrate=BAUDRATE, tx=Pin(UART_TX), rx=Pin(UART_RX), rxbuf=512)
    logic = RelayLogic(CONNECTION_ID, watchdog_ms=WATCHDOG_MS, ticks_diff=time.ticks_diff)
    wdt = WDT(timeout=500)  # board reset (relay open) if the loop stalls for 0.5 s
    closed = False
    while True:
        data = uart.read()
        now = time.ticks_ms()
        closed = logic.feed(data, now) if data else logic.tick(now)
        relay.value(1 if closed else 0)
        led.value(1 if closed else 0)
        wdt.feed()
        time.sleep_ms(LOOP_MS)


try:
    main()
finally:
    Pin(RELAY_PIN, Pin.OUT, value=0)  # any exception: relay open before the REPL takes over
