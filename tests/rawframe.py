#!/usr/bin/env python3
"""Raw Ethernet frames for the end-to-end tests, run inside an instance's namespace.

  rawframe.py send HEX [HEX...]
      sends each frame (hex, from the destination MAC on) once on the
      namespace's only non-loopback interface, exactly as given: forged
      source MACs, ARP and 802.1Q tags included (no 8021q module needed).
  rawframe.py capture SECONDS [STOPHEX]
      prints "ready" once listening, then one line of hex per frame the
      interface receives (outgoing frames are left out), at most 500 frames
      of at most 512 bytes each. Stops after SECONDS, or 0.5 s after a frame
      containing the bytes STOPHEX arrived.

Only the standard library: python3 is always there, tcpdump and arping are not.
"""
import socket
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4


def iface():
    names = [n for _, n in socket.if_nameindex() if n != "lo"]
    if len(names) != 1:
        sys.exit("rawframe: want exactly one non-loopback interface, have %s" % names)
    return names[0]


def send(frames):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface(), 0))
    for h in frames:
        s.send(bytes.fromhex(h))
        time.sleep(0.02)  # keep them apart: counters and captures see each one
    s.close()


def capture(seconds, stop):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface(), ETH_P_ALL))
    # A tag the kernel took off into metadata is put back, so a tagged frame
    # that got through shows as tagged.
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    count = 0
    while count < 500:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, anc, _, addr = s.recvmsg(65536, socket.CMSG_SPACE(32))
        except socket.timeout:
            break
        if addr[2] == PACKET_OUTGOING:
            continue
        for level, typ, cdata in anc:
            if level == SOL_PACKET and typ == PACKET_AUXDATA and len(cdata) >= 20:
                status = int.from_bytes(cdata[0:4], "little")
                tci = int.from_bytes(cdata[16:18], "little")
                tpid = int.from_bytes(cdata[18:20], "little") or 0x8100
                if status & TP_STATUS_VLAN_VALID:
                    data = data[:12] + tpid.to_bytes(2, "big") + tci.to_bytes(2, "big") + data[12:]
        count += 1
        print(data[:512].hex(), flush=True)
        if stop and stop in data:
            deadline = min(deadline, time.monotonic() + 0.5)
    s.close()


def main(argv):
    if len(argv) >= 2 and argv[0] == "send":
        send(argv[1:])
    elif len(argv) in (2, 3) and argv[0] == "capture":
        capture(float(argv[1]), bytes.fromhex(argv[2]) if len(argv) == 3 else b"")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
