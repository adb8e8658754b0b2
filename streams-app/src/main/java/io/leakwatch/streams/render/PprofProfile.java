package io.leakwatch.streams.render;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.SizeRow;
import io.leakwatch.streams.report.model.StackRow;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

/**
 * A process's report as a pprof heap profile: gzipped {@code perftools.profiles.Profile}
 * (github.com/google/pprof, proto/profile.proto), written field by field with protobuf's own wire
 * encoder. What it holds:
 *
 * <ul>
 *   <li>sample types {@code inuse_objects/count} and {@code inuse_space/bytes} (the default): the
 *       outstanding allocations, with the sampling weights applied (estimates in sampled mode).
 *       There are no {@code alloc_*} values: leakwatch keeps what is outstanding, not what was
 *       freed;
 *   <li>one sample per stack and allocation size, labelled {@code bytes} = the size (pprof's heap
 *       convention, so {@code -tagfocus} works) and {@code allocator}/{@code culprit};
 *   <li>one mapping per module, with its build id; locations at module offsets (each mapping placed
 *       at its own synthetic base, since addresses differ per host), already symbolized ({@code
 *       has_functions}), with file and line where the report has them;
 *   <li>{@code period_type space/bytes}, {@code period} the sampling interval; time and duration of
 *       the tracking period.
 * </ul>
 */
public final class PprofProfile {
  private static final long MAPPING_SPAN = 1L << 40;

  private final List<String> strings = new ArrayList<>();
  private final Map<String, Long> stringIds = new HashMap<>();
  private final Map<String, Long> mappingIds = new LinkedHashMap<>();
  private final List<ByteString> mappings = new ArrayList<>();
  private final Map<String, Long> functionIds = new HashMap<>();
  private final List<ByteString> functions = new ArrayList<>();
  private final Map<String, Long> locationIds = new HashMap<>();
  private final List<ByteString> locations = new ArrayList<>();
  private final List<ByteString> samples = new ArrayList<>();

  private PprofProfile() {
    str(""); // string_table[0] must be ""
  }

  /** The gzipped profile of a report as {@code /api/report} returns it. */
  public static byte[] of(ProcessReport report) {
    return new PprofProfile().build(report);
  }

  private byte[] build(ProcessReport r) {
    long typeObjects = str("inuse_objects"), unitCount = str("count");
    long typeSpace = str("inuse_space"), unitBytes = str("bytes");
    long space = str("space");
    long bytesKey = str("bytes"), allocatorKey = str("allocator"), culpritKey = str("culprit");
    for (StackRow s : r.stacks()) {
      List<Long> locs = new ArrayList<>();
      if (s.frames() != null) {
        // Leaf first, as pprof wants; inlined frames are Lines of the location they were inlined
        // into (innermost first, the caller last), so `pprof -lines` shows each with its line.
        List<FrameRow> inlined = new ArrayList<>();
        for (FrameRow f : s.frames()) {
          if (f.inlined()) {
            inlined.add(f);
            continue;
          }
          locs.add(location(f, inlined));
          inlined = new ArrayList<>();
        }
      }
      long allocator = str(s.allocator());
      long culprit = str(s.culprit());
      if (s.sizes().isEmpty()) {
        samples.add(
            sample(
                locs,
                s.allocations(),
                s.bytes(),
                -1,
                bytesKey,
                allocatorKey,
                allocator,
                culpritKey,
                culprit));
      }
      for (SizeRow z : s.sizes()) {
        samples.add(
            sample(
                locs,
                z.allocations(),
                z.bytes(),
                z.size(),
                bytesKey,
                allocatorKey,
                allocator,
                culpritKey,
                culprit));
      }
    }
    String comment =
        "leakwatch: "
            + r.process().name()
            + " pid "
            + r.process().pid()
            + " on "
            + r.process().host()
            + ", "
            + r.tracking().mode()
            + " tracking";
    long commentId = str(comment);
    long timeNanos = 0;
    try {
      timeNanos = Instant.parse(r.tracking().startedAt()).toEpochMilli() * 1_000_000L;
    } catch (RuntimeException e) {
      // no start time: left at 0
    }
    long durationNanos = Math.round(r.tracking().seconds() * 1e9);
    long period = r.tracking().sampleBytes();

    ByteArrayOutputStream raw = new ByteArrayOutputStream();
    try {
      CodedOutputStream out = CodedOutputStream.newInstance(raw);
      out.writeBytes(1, valueType(typeObjects, unitCount));
      out.writeBytes(1, valueType(typeSpace, unitBytes));
      for (ByteString b : samples) out.writeBytes(2, b);
      for (ByteString b : mappings) out.writeBytes(3, b);
      for (ByteString b : locations) out.writeBytes(4, b);
      for (ByteString b : functions) out.writeBytes(5, b);
      for (String s : strings) out.writeString(6, s);
      if (timeNanos != 0) out.writeInt64(9, timeNanos);
      if (durationNanos > 0) out.writeInt64(10, durationNanos);
      out.writeBytes(11, valueType(space, unitBytes));
      if (period > 0) out.writeInt64(12, period);
      writePacked(out, 13, List.of(commentId));
      out.writeInt64(14, typeSpace);
      out.flush();
      ByteArrayOutputStream gz = new ByteArrayOutputStream();
      try (GZIPOutputStream z = new GZIPOutputStream(gz)) {
        raw.writeTo(z);
      }
      return gz.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private long str(String s) {
    String v = s == null ? "" : s;
    Long id = stringIds.get(v);
    if (id != null) return id;
    long n = strings.size();
    strings.add(v);
    stringIds.put(v, n);
    return n;
  }

  private static ByteString valueType(long type, long unit) {
    return message(
        out -> {
          out.writeInt64(1, type);
          out.writeInt64(2, unit);
        });
  }

  private long mapping(FrameRow f) {
    String module = f.module() == null ? "[unknown]" : f.module();
    String buildId = f.buildId() == null ? "" : f.buildId();
    String key = module + "\0" + buildId;
    Long id = mappingIds.get(key);
    if (id != null) return id;
    long n = mappings.size() + 1;
    long start = n * MAPPING_SPAN;
    long file = str(module), build = str(buildId);
    mappings.add(
        message(
            out -> {
              out.writeUInt64(1, n);
              out.writeUInt64(2, start);
              out.writeUInt64(3, start + MAPPING_SPAN - 1);
              out.writeUInt64(4, 0);
              out.writeInt64(5, file);
              out.writeInt64(6, build);
              out.writeBool(7, true);
              out.writeBool(8, false);
              out.writeBool(9, false);
              out.writeBool(10, false);
            }));
    mappingIds.put(key, n);
    return n;
  }

  private long function(FrameRow f) {
    String name = f.function() != null ? f.function() : f.display() == null ? "" : f.display();
    String file = f.file() == null ? "" : f.file();
    String module = f.module() == null ? "" : f.module();
    String key = module + "\0" + name + "\0" + file;
    Long id = functionIds.get(key);
    if (id != null) return id;
    long n = functions.size() + 1;
    long nameId = str(name), fileId = str(file.isEmpty() ? module : file);
    functions.add(
        message(
            out -> {
              out.writeUInt64(1, n);
              out.writeInt64(2, nameId);
              out.writeInt64(3, nameId);
              out.writeInt64(4, fileId);
            }));
    functionIds.put(key, n);
    return n;
  }

  private long location(FrameRow f, List<FrameRow> inlined) {
    long mappingId = mapping(f);
    long offset = f.moduleOffset();
    long address = mappingId * MAPPING_SPAN + (offset & (MAPPING_SPAN - 1));
    List<FrameRow> lines = new ArrayList<>(inlined);
    lines.add(f);
    StringBuilder key = new StringBuilder().append(mappingId).append('\0').append(offset);
    for (FrameRow l : lines) key.append('\0').append(l.function() == null ? "" : l.function());
    Long id = locationIds.get(key.toString());
    if (id != null) return id;
    long n = locations.size() + 1;
    long[] fns = new long[lines.size()];
    long[] nums = new long[lines.size()];
    for (int i = 0; i < lines.size(); i++) {
      fns[i] = function(lines.get(i));
      nums[i] = lines.get(i).line() == null ? 0 : lines.get(i).line();
    }
    locations.add(
        message(
            out -> {
              out.writeUInt64(1, n);
              out.writeUInt64(2, mappingId);
              out.writeUInt64(3, address);
              for (int i = 0; i < fns.length; i++) {
                long fn = fns[i], line = nums[i];
                out.writeBytes(
                    4,
                    message(
                        l -> {
                          l.writeUInt64(1, fn);
                          if (line > 0) l.writeInt64(2, line);
                        }));
              }
            }));
    locationIds.put(key.toString(), n);
    return n;
  }

  private static ByteString sample(
      List<Long> locs,
      long objects,
      long bytes,
      long size,
      long bytesKey,
      long allocatorKey,
      long allocator,
      long culpritKey,
      long culprit) {
    return message(
        out -> {
          writePacked(out, 1, locs);
          writePacked(out, 2, List.of(objects, bytes));
          if (size >= 0) {
            out.writeBytes(
                3,
                message(
                    l -> {
                      l.writeInt64(1, bytesKey);
                      l.writeInt64(3, size);
                    }));
          }
          out.writeBytes(
              3,
              message(
                  l -> {
                    l.writeInt64(1, allocatorKey);
                    l.writeInt64(2, allocator);
                  }));
          out.writeBytes(
              3,
              message(
                  l -> {
                    l.writeInt64(1, culpritKey);
                    l.writeInt64(2, culprit);
                  }));
        });
  }

  /** A repeated scalar field, packed (the encoding proto3 uses). */
  private static void writePacked(CodedOutputStream out, int field, List<Long> values)
      throws IOException {
    if (values.isEmpty()) return;
    int size = 0;
    for (long v : values) size += CodedOutputStream.computeInt64SizeNoTag(v);
    out.writeTag(field, WireFormat.WIRETYPE_LENGTH_DELIMITED);
    out.writeUInt32NoTag(size);
    for (long v : values) out.writeInt64NoTag(v);
  }

  private interface Writer {
    void write(CodedOutputStream out) throws IOException;
  }

  private static ByteString message(Writer w) {
    ByteString.Output buf = ByteString.newOutput();
    try {
      CodedOutputStream out = CodedOutputStream.newInstance(buf);
      w.write(out);
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return buf.toByteString();
  }
}
