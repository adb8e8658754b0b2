/*
 * shared_ring_buffer: the per-process ring file the shim writes and the collector reads.
 *
 * Guarantees
 *   - A record is whole or absent: a writer reserves its bytes with one CAS on write_pos, fills
 *     them, and only then publishes the 8-byte record header with a release store. A reader that
 *     sees a zero header at its position stops there: the record is still being written.
 *   - New writes are dropped when the ring is full; the drop is counted in the stats block and
 *     the writer never calls into the allocator. By default it never waits for the reader either
 *     (an exact ring's writer past its first lap's reservation waits, at most 20 ms, for the sibling
 *     thread extending it: wait_for_extension). A ring told to
 *     wait (full_wait_ns, LEAKWATCH_RING_FULL_WAIT_MS: exact numbers for one program under `leakwatch
 *     run`) sleeps while the reader is making room, and only while it is: after full_wait_ns without
 *     the reader moving it drops, and drops at once until the reader moves again. A write nested in
 *     another write of the same thread (a signal handler) never waits.
 *   - The reader sees records in reservation order. The reservation position (the byte offset of
 *     the record in the endless stream, write_pos before the CAS) is the per-process sequence
 *     number: a free reserves before the real free runs, an allocation after the real call
 *     returns, so an address reused by another thread is always seen after its free.
 *
 *   - A write never faults: the bytes it stores were reserved on the filesystem first (a full
 *     tmpfs makes records drop, counted, never a SIGBUS), and never spins: a reservation CAS
 *     that keeps failing gives up after LW_RING_MAX_TRIES.
 *
 * Threat model
 *   - The peer may scribble on the shared mapping. The writer masks every offset it writes with
 *     the capacity and refuses positions that are not 8-byte aligned or not within one capacity of
 *     each other, so a corrupt read_pos or write_pos can at worst make it drop records (counted in
 *     corrupt_positions), never write outside the mapping. The Java reader validates every header and length it reads (see
 *     collector/src/main/java/io/leakwatch/collector/ring/RingReader.java).
 *
 * Layout (little endian; docs/ring-format.md is the normative description)
 *   [0, 4096)             header: identity, positions on their own cache lines, stats, cmdline
 *   [4096, 4096 + cap)    data: records, 8-byte aligned; a record may wrap around the end
 */
#ifndef LEAKWATCH_SHARED_RING_BUFFER_H
#define LEAKWATCH_SHARED_RING_BUFFER_H

#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "wire_protocol.h"

#define LW_RING_MAGIC "LKWRING1"
#define LW_RING_VERSION 1u
#define LW_RING_HEADER_SIZE 4096u
#define LW_RING_MAX_RECORD 4096u
#define LW_RING_CMDLINE_OFFSET 1024u
#define LW_RING_CMDLINE_MAX (LW_RING_HEADER_SIZE - LW_RING_CMDLINE_OFFSET)
#define LW_RING_RESERVE_CHUNK (1u << 20) /* reservation step once a ring's first lap is past it */
#define LW_RING_FIRST_RESERVE (64u << 10) /* a sampled ring's first reservation; it doubles to a chunk */
#define LW_RING_RESERVE_BACKOFF 256u      /* extension attempts skipped after one failed */
#define LW_RING_EXTEND_WAIT_NS 20000000ull /* longest wait for another thread's extension (20 ms) */
#define LW_RING_MAX_TRIES 64             /* reservation attempts before a record is dropped */
#define LW_RING_PATH_MAX 512

/* Every way the shim can fail to deliver an event, counted. Written only by the shim. */
/* (A record whose writer was interrupted for good, e.g. siglongjmp out of a signal handler, is found by
 * the reader: a PENDING header that never completes. See wire_protocol.h.) */
typedef struct {
  _Atomic uint64_t records_written;
  _Atomic uint64_t records_dropped_full;  /* ring full: the record was not written */
  _Atomic uint64_t bytes_dropped_full;
  _Atomic uint64_t records_dropped_oversize;
  _Atomic uint64_t live_set_full;         /* a sampled allocation not remembered: its free is lost */
  _Atomic uint64_t reentrant_calls;       /* a sample point (exact: any allocation) inside the shim: passed through */
  _Atomic uint64_t stacks_truncated;      /* stack deeper than the depth limit */
  _Atomic uint64_t corrupt_positions;     /* read_pos found outside [write_pos - cap, write_pos] */
  _Atomic uint64_t bootstrap_allocations; /* served from the static arena before dlsym resolved */
  _Atomic uint64_t resyncs_completed;     /* live-set lists published after overflows */
  _Atomic uint64_t resyncs_abandoned;     /* lists cut short by a full ring (retried later) */
  _Atomic uint64_t records_dropped_contention; /* write_pos kept moving under the CAS: gave up, dropped */
  _Atomic uint64_t records_dropped_unreserved; /* no tmpfs space could be reserved for it: dropped */
  _Atomic uint64_t frees_reentrant;       /* frees recorded from inside the shim (a signal handler) */
  _Atomic uint64_t freed_elsewhere;       /* a sampled address allocated again: its free bypassed the shim */
  _Atomic uint64_t live_set_busy;         /* a sample not remembered: the set was being compacted */
  _Atomic uint64_t full_waits;            /* writes that waited for the reader to make room (not drops) */
  _Atomic uint64_t full_wait_ns;          /* the time those writes waited, in all */
} lw_ring_stats;

typedef struct {
  char magic[8];
  uint32_t version;
  uint32_t header_size;
  uint64_t capacity;        /* data bytes, a power of two */
  uint32_t pid;
  uint32_t ppid;
  uint64_t start_time_ns;   /* CLOCK_REALTIME when the shim initialised */
  uint64_t sample_bytes;    /* 0 = exact mode */
  uint64_t proc_start_ticks;/* /proc/self/stat field 22: tells a reused pid apart */
  uint32_t flags;           /* LW_FLAG_* */
  uint32_t cmdline_len;     /* bytes of NUL-separated argv at LW_RING_CMDLINE_OFFSET */
  _Atomic uint64_t write_pos; /* offset 64: next byte to reserve (producers, CAS) */
  uint8_t pad1[56];
  _Atomic uint64_t read_pos;  /* offset 128: first byte not yet consumed (reader only) */
  /* offset 136, the collector's alone (the shim never reads it): how far the collector's records are
   * acknowledged by Kafka, stored before it zeroes them and moves read_pos. A collector killed in
   * between leaves zeroed records at read_pos; its successor resumes here instead of waiting on them. */
  _Atomic uint64_t consumed_pos;
  uint8_t pad2[48];
  lw_ring_stats stats;        /* offset 192 */
  uint8_t pad3[512 - 192 - sizeof(lw_ring_stats)];
  _Atomic uint32_t control;   /* offset 512: written by the collector or an operator, LW_CONTROL_* */
} lw_ring_header;

#define LW_CONTROL_DORMANT 1u /* record no new allocations (frees of recorded ones still are) */

#define LW_FLAG_EXITED 1u   /* the shim ran its exit path; nothing more will be written */
#define LW_FLAG_DETACHED 2u /* with EXITED: `leakwatch detach` ended the recording; the process runs on */
#define LW_FLAG_ATTACHED 4u /* made by `leakwatch attach`: blocks from before start_time_ns are unknown */

_Static_assert(offsetof(lw_ring_header, write_pos) == 64, "write_pos offset");
_Static_assert(offsetof(lw_ring_header, read_pos) == 128, "read_pos offset");
_Static_assert(offsetof(lw_ring_header, consumed_pos) == 136, "consumed_pos offset");
_Static_assert(offsetof(lw_ring_header, stats) == 192, "stats offset");
_Static_assert(offsetof(lw_ring_header, control) == 512, "control offset");
_Static_assert(sizeof(lw_ring_header) <= LW_RING_CMDLINE_OFFSET, "header fits before cmdline");

typedef struct {
  lw_ring_header *hdr;
  uint8_t *data;
  uint64_t mask;
  size_t mapping_size;
  /* Data bytes [0, reserved) are backed for real (fallocate): the ring file is sparse beyond, and a
   * store into an unbacked page of a full tmpfs is a SIGBUS. Private memory: the peer cannot move it. */
  _Atomic uint64_t reserved;
  uint64_t chunk; /* reservation step: capacity / 16, at least LW_RING_RESERVE_CHUNK (a power of two);
                   * below it a sampled ring's reservation doubles from LW_RING_FIRST_RESERVE */
  _Atomic int extending;
  _Atomic int reserve_failed;      /* the ring's name now holds another file: never extend again */
  _Atomic uint32_t reserve_backoff; /* after a failed extension, calls left before the next try */
  /* 0: a full ring drops. Otherwise a write waits for room while the reader moves at least this
   * often. Set by the owner after lw_ring_create. */
  uint64_t full_wait_ns;
  _Atomic uint64_t gave_up_at; /* read_pos when a wait last gave up: no waiting until it moves */
  _Atomic uint64_t extend_gave_up_at; /* `reserved` when a wait for an extension last gave up */
  int exact; /* an exact-mode ring (private: the shared header's copy may be scribbled on) */
  dev_t dev;
  ino_t ino;
  char path[LW_RING_PATH_MAX];
} lw_ring;

/*
 * Creates the ring file `dir`/leakwatch-<pid>-<start_ns>.ring with mode 0600, sized for
 * `capacity` data bytes, fully initialised before it becomes visible under its final name. Space is
 * reserved for the header and the first LW_RING_FIRST_RESERVE bytes now (two chunks in exact mode,
 * all of it with `populate`), the rest ahead of the first lap as it reaches it. Uses only system
 * calls (no allocation, no cancellation point). On any failure every file it made is removed and it
 * returns -1.
 */
int lw_ring_create(lw_ring *ring, const char *dir, uint64_t capacity, uint32_t pid, uint32_t ppid,
                   uint64_t start_time_ns, uint64_t sample_bytes, int populate);

/* Unmaps the ring (the file stays for the collector to drain). */
void lw_ring_detach(lw_ring *ring);

/* Unmaps the ring and removes its file (nobody will read it: no collector serves the run directory). */
void lw_ring_discard(lw_ring *ring);

/*
 * Reserves, fills and publishes one record of `type` whose payload is the concatenation of
 * `a` (a_len bytes) and `b` (b_len bytes). Returns the record's sequence number (its position),
 * or UINT64_MAX when the record was dropped (and counted).
 */
uint64_t lw_ring_write(lw_ring *ring, uint16_t type, const void *a, uint32_t a_len, const void *b,
                       uint32_t b_len);

#endif
