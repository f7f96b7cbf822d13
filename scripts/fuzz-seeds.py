#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the Jazzer fuzz tests (the *FuzzTest classes) into their
src/test/resources/.../<Class>Inputs/<method>/ directories. Each seed is a byte string read by the
test's FuzzInput front to back: u8/u16/u32/u64 little-endian, `below(n)` one byte (two above 256).
Jazzer adds what it finds to .cifuzz-corpus/ (not kept); crashes land next to these seeds and stay.
Run from the repository root; idempotent."""
import os
import struct

def u8(*v): return bytes(x & 0xFF for x in v)
def u16(*v): return b"".join(struct.pack("<H", x & 0xFFFF) for x in v)
def u32(*v): return b"".join(struct.pack("<I", x & 0xFFFFFFFF) for x in v)
def u64(*v): return b"".join(struct.pack("<Q", x & 0xFFFFFFFFFFFFFFFF) for x in v)

def write(module, package, cls, method, name, data):
    d = os.path.join(module, "src/test/resources", package.replace(".", "/"), cls + "Inputs", method)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# ChainWalkFuzzTest ------------------------------------------------------------------------------
def desc_data(region, offset, length, flags, nxt):
    # kind: base multiplier 1 (gpa 0x100000), region stride index, u16 offset, u16 length, u8 flags, below(size+1) next
    return u8(0x10 | region) + u16(offset) + u16(length) + u8(flags) + u8(nxt)

def chain_walk(regions, size_log, indirect, event_idx, capacity, descs, heads, rest):
    out = regions + u8(size_log, indirect, event_idx, capacity, len(descs))
    for d in descs:
        out += desc_data(*d)
    out += u16(0) + u8(1, len(heads)) + u8(0)
    for h in heads:
        out += u8(1, h)
    return out + u8(1) + rest

RINGS_END = lambda size: 0x1800 + 6 + 8 * size
def at(size, offset, data):  # bytes of "rest" that land at region 0 offset `offset`
    return b"\0" * (offset - RINGS_END(size)) + data

one_region = u8(0, 1, 1, 0)
indirect_table = u64(0x102800) + u32(64) + u16(1, 1) + u64(0x102900) + u32(64) + u16(2, 0)
CW = ("virtio", "io.jvhost.virtio.ring", "ChainWalkFuzzTest", "shouldWalkAnyDescriptorTableWithinGuestMemory")
write(*CW, "readable-writable-and-indirect", chain_walk(one_region, 3, 1, 1, 3,
      [(0, 0x2000, 100, 1, 1), (0, 0x2100, 200, 2, 0), (0, 0x2400, 32, 4, 0)], [0, 2], at(8, 0x2400, indirect_table)))
# Three adjacent regions (0x100000 + 16 KiB, 4 KiB, 4 KiB); a buffer crossing from region 0 into 1.
three_regions = u8(2, 1, 1, 0, 0, 0, 0, 0)
write(*CW, "buffer-across-regions", chain_walk(three_regions, 2, 0, 0, 1,
      [(0, 0x3F00, 0x200, 2, 0), (1, 0x0100, 0x80, 0, 0)], [0, 1], b""))
write(*CW, "loop", chain_walk(one_region, 2, 0, 0, 3, [(0, 0x2000, 10, 1, 1), (0, 0x2000, 10, 1, 0)], [0], b""))

# RxWriterFuzzTest -------------------------------------------------------------------------------
def rx_chain(*lengths):
    out = u8(len(lengths) - 1)
    for n in lengths:
        out += u8(1, 1) + u16(n)
    return out

def rx_frame(header, csum_offset, prefix, start, length):
    return u64(header) + u16(csum_offset) + u8(len(prefix)) + prefix + u8(start) + u16(length)

RX = ("virtio", "io.jvhost.virtio.net", "RxWriterFuzzTest", "shouldWriteEveryFrameIntoOfferedBuffersOnly")
write(*RX, "mergeable-two-frames", u8(2, 1, 1, 0, 8, 6) + b"".join(rx_chain(1000) for _ in range(6))
      + rx_frame(0, 0, bytes(range(10)), 3, 1500) + rx_frame(0x0005_05DC_0036_0301, 16, b"", 0, 3000))
write(*RX, "one-chain-per-frame", u8(1, 0, 1, 1, 2, 2) + rx_chain(6, 300, 1200) + rx_chain(1100)
      + rx_frame(0, 0, b"", 0, 1400) + rx_frame(0, 0, b"\x01\x02", 1, 1100))

# OffloadFuzzTest --------------------------------------------------------------------------------
def offload(ipv6, tcp, ip_options, ext, l4_options, payload, gso, udp_l4=False, receivable=0, mtu=None, buffers=100):
    out = u8(1, ipv6, tcp)
    out += u8(ext) if ipv6 else u8(ip_options)
    if tcp:
        out += u8(l4_options)
    out += u16(payload) + u32(0x10000) + u8(0x18) + u16(0x1234) + u8(1) + u8(0)  # seq, flags, id, DF, no VLAN
    out += u8(0)  # no byte overwritten
    out += u8(1)  # NEEDS_CSUM
    if gso:
        out += u8(1, 1) + (u8(1) if tcp else u8(1 if udp_l4 else 0))
    else:
        out += u8(1, 0)
    out += u8(1) + u8(1) + u16(1440 - 8) + u8(1)  # hdr_len, gso_size 1440, csum_start
    out += u8(1) + u8(0x7F) + u8(receivable)  # csum_offset as the protocol says; anything allowed
    out += (u8(1) if mtu is None else u8(0) + u16(mtu - 68)) + u8(buffers - 1)
    return out

OF = ("vhost-user-backend", "io.jvhost.backend.offload", "OffloadFuzzTest", "shouldParseAnyHeaderAndSegmentIntoValidFrames")
write(*OF, "tso4-to-a-receiver-without-offloads", offload(0, 1, 0, 0, 3, 2000, True))
write(*OF, "tso6-extension-header-partial-csum", offload(1, 1, 0, 2, 0, 2900, True, receivable=1, mtu=1280))
write(*OF, "uso6", offload(1, 0, 0, 0, 0, 2500, True, udp_l4=True))
write(*OF, "ufo4-small-mtu", offload(0, 0, 2, 0, 0, 2999, True, mtu=576))
write(*OF, "checksum-only", offload(0, 1, 0, 0, 0, 777, False))

# MessageCodecFuzzTest ---------------------------------------------------------------------------
TYPES = ["GET_FEATURES", "SET_FEATURES", "SET_OWNER", "RESET_OWNER", "SET_MEM_TABLE", "SET_LOG_BASE",
         "SET_LOG_FD", "SET_VRING_NUM", "SET_VRING_ADDR", "SET_VRING_BASE", "GET_VRING_BASE", "SET_VRING_KICK",
         "SET_VRING_CALL", "SET_VRING_ERR", "GET_PROTOCOL_FEATURES", "SET_PROTOCOL_FEATURES", "GET_QUEUE_NUM",
         "SET_VRING_ENABLE", "SEND_RARP", "NET_SET_MTU", "GET_MAX_MEM_SLOTS", "ADD_MEM_REG", "REM_MEM_REG"]

def codec_message(name, payload, fds=()):
    # Structured; flags VERSION; the payload's size (SET_MEM_TABLE's range, 8..264, takes two bytes); declared = size.
    size = u16(len(payload) - 8) if name == "SET_MEM_TABLE" else u8(0)
    out = u8(1, TYPES.index(name), 1, 0, 1) + size + u8(1) + payload
    if fds:
        out += u8(0, len(fds)) + u8(*[1 if kind == "memfd" else 0 for kind in fds])
    else:
        out += u8(1)
    return out

region = u32(1, 0) + u64(0, 0x10000, 0x7F0000000000, 0)
CODEC = ("vhost-user-backend", "io.jvhost.backend.protocol", "MessageCodecFuzzTest",
         "shouldDecodeOrRejectAnyStreamAndKeepNoReceivedFd")
write(*CODEC, "features-memtable-kick", codec_message("GET_FEATURES", b"") + codec_message("SET_MEM_TABLE", region, ["memfd"])
      + codec_message("SET_VRING_KICK", u64(0), ["eventfd"]))
# One SET_VRING_CALL in two sends: 8 fds on its first 6 bytes, one more on the rest (9 for one message).
call = u32(13, 1, 8) + u64(0)
def raw_send(data, fds):
    return u8(0) + u16(len(data)) + data + u8(0, len(fds)) + u8(*[1 if kind == "memfd" else 0 for kind in fds])
write(*CODEC, "too-many-fds", raw_send(call[:6], ["eventfd"] * 8) + raw_send(call[6:], ["memfd"]))

# SessionFuzzTest --------------------------------------------------------------------------------
def s(name, *payload):
    return u8(TYPES.index(name), 0) + b"".join(payload)

def idx(q): return u8(1, q)
def addr(a, b): return u8(1, a, b)

def ring(q):
    return (s("SET_VRING_NUM", idx(q), u8(1, 8)) + s("SET_VRING_BASE", idx(q), u16(0))
            + s("SET_VRING_ADDR", idx(q), addr(q, 0x00), addr(q, 0x20), addr(q, 0x10))
            + s("SET_VRING_KICK", u8(1, 1), idx(q)) + s("SET_VRING_CALL", u8(1, 1), idx(q))
            + s("SET_VRING_ERR", u8(1, 1), idx(q)) + s("SET_VRING_ENABLE", idx(q), u8(1)))

memtable = s("SET_MEM_TABLE", u8(1, 0), u8(1, 0, 15, 0, 0), u8(1, 1))
SESSION = ("vhost-user-backend", "io.jvhost.backend.protocol", "SessionFuzzTest",
           "shouldKeepSessionAndDeviceInStepForAnyRequestSequence")
write(*SESSION, "qemu-start-stop-reset", u8(0, 1) + s("GET_FEATURES") + s("GET_PROTOCOL_FEATURES")
      + s("SET_PROTOCOL_FEATURES", u8(1, 0x09)) + s("SET_OWNER") + s("SET_FEATURES", u8(1), u64(-1))
      + memtable + ring(0) + ring(1) + s("GET_VRING_BASE", idx(0)) + memtable + s("RESET_OWNER"))
# CONFIGURE_MEM_SLOTS (protocol byte 0x29: MQ, REPLY_ACK, bit 5 = slots) as QEMU 7.2 sends it: two
# ADD_MEM_REG instead of SET_MEM_TABLE, ring 0 in the first region, a third region while it runs, the
# second removed (an existing one, no fd), then a REM_MEM_REG of a region never added.
def add_reg(gpa, pages, va, offset): return s("ADD_MEM_REG", u8(1, gpa, pages - 1, va, offset), u8(2))
write(*SESSION, "mem-slots-add-rem", u8(0, 1) + s("GET_FEATURES") + s("GET_PROTOCOL_FEATURES")
      + s("SET_PROTOCOL_FEATURES", u8(1, 0x29)) + s("SET_OWNER") + s("SET_FEATURES", u8(1), u64(-1))
      + s("GET_MAX_MEM_SLOTS") + add_reg(0, 4, 0, 0) + add_reg(1, 4, 1, 1) + ring(0) + add_reg(2, 4, 2, 2)
      + s("REM_MEM_REG", u8(1, 1, 0), u8(1)) + s("REM_MEM_REG", u8(0, 1, 3, 3, 3, 0), u8(1)))
write(*SESSION, "kick-before-memory-legacy", u8(1, 0) + s("SET_OWNER") + ring(0) + ring(3) + memtable
      + s("SET_VRING_CALL", u8(0), idx(0)) + s("GET_VRING_BASE", idx(0)))
