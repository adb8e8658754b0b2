/*
 * wire_protocol: every record the shim writes into its ring, defined once.
 *
 * A record is an 8-byte header word followed by its payload, padded to a multiple of 8:
 *   header = (type << 32) | total length in bytes, header included.
 * A writer first stores a PENDING header (type 0, the real length) right after reserving, then the
 * payload, then the final header with a release store. A reader that meets a zero word stops (the
 * writer is between its reservation and its first store); one that meets PENDING waits, and skips
 * the record by its length only when its writer is gone or has abandoned it (a siglongjmp out of a
 * signal handler that interrupted the write): see RingReader.java.
 *
 * The Java reader mirrors these sizes and numbers in RingLayout.java; the test wire_layout (run by
 * RingLayoutTest) prints them from this header so the two cannot drift apart.
 * docs/ring-format.md is the prose description.
 */
#ifndef LEAKWATCH_WIRE_PROTOCOL_H
#define LEAKWATCH_WIRE_PROTOCOL_H

#include <stdint.h>

enum lw_record_type {
  LW_REC_PENDING = 0,         /* reserved and being written: the length is real, the payload not yet */
  LW_REC_ALLOC = 1,           /* an allocation that was recorded (sampled, or every one in exact mode) */
  LW_REC_FREE = 2,            /* the release of a recorded allocation */
  LW_REC_MODULE = 3,          /* a loaded ELF object: load bias, address range, build id, path */
  LW_REC_EXIT = 4,            /* the process began a clean exit (destructor) */
  LW_REC_RESYNC_BEGIN = 5,    /* after an overflow: the live sampled blocks follow */
  LW_REC_RESYNC_ENTRIES = 6,  /* (address, size) pairs */
  LW_REC_RESYNC_END = 7,      /* the list is complete */
  LW_REC_ALLOCATOR_STATS = 8, /* glibc mallinfo2: arena, in use, free (fragmentation) */
};

enum lw_alloc_kind { LW_KIND_HEAP = 0, LW_KIND_MMAP = 1 };

static inline uint64_t lw_record_header(uint32_t type, uint32_t len) { return ((uint64_t)type << 32) | len; }

typedef struct {
  uint64_t address;
  uint64_t size;
  double weight; /* bytes this record stands for: size in exact mode, size / (1 - e^(-size/R)) sampled */
  uint64_t timestamp_ns;
  uint32_t tid;
  uint8_t kind; /* lw_alloc_kind */
  uint8_t truncated;
  uint16_t nframes; /* then nframes u64 return addresses, allocation site first */
} lw_alloc_payload;
_Static_assert(sizeof(lw_alloc_payload) == 40, "ALLOC payload");

typedef struct {
  uint64_t address;
  uint8_t kind;
  uint8_t pad[7];
  uint64_t length; /* mmap kind: bytes unmapped from address on (partial unmaps); heap: 0 */
} lw_free_payload;
_Static_assert(sizeof(lw_free_payload) == 24, "FREE payload");

typedef struct {
  uint64_t load_bias;
  uint64_t lo;
  uint64_t hi;
  uint32_t flags; /* LW_MODULE_MAIN */
  uint16_t build_id_len;
  uint16_t path_len; /* then path_len bytes of path */
  uint8_t build_id[32];
} lw_module_payload;
_Static_assert(sizeof(lw_module_payload) == 64, "MODULE payload");
#define LW_MODULE_MAIN 1u
#define LW_MODULE_PATH_MAX 1024u

typedef struct {
  uint64_t timestamp_ns;
} lw_exit_payload;
_Static_assert(sizeof(lw_exit_payload) == 8, "EXIT payload");

typedef struct {
  uint64_t epoch;
} lw_resync_marker_payload; /* RESYNC_BEGIN and RESYNC_END */
_Static_assert(sizeof(lw_resync_marker_payload) == 8, "RESYNC marker payload");

#define LW_RESYNC_BATCH 250 /* (address, size) pairs per RESYNC_ENTRIES: 8 + 8 + 4000 bytes */
typedef struct {
  uint64_t count; /* then count x (u64 address, u64 size) */
} lw_resync_entries_payload;
_Static_assert(sizeof(lw_resync_entries_payload) == 8, "RESYNC_ENTRIES payload");

typedef struct {
  uint64_t timestamp_ns;
  uint64_t arena_bytes;  /* mallinfo2 arena + hblkhd */
  uint64_t in_use_bytes; /* uordblks + hblkhd */
  uint64_t free_bytes;   /* fordblks */
  uint64_t releasable;   /* keepcost */
} lw_allocator_stats_payload;
_Static_assert(sizeof(lw_allocator_stats_payload) == 40, "ALLOCATOR_STATS payload");

#endif
