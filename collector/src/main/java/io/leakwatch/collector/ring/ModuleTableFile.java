package io.leakwatch.collector.ring;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * The module table of a ring, kept by the collector beside it ({@code leakwatch-...ring.modules}).
 *
 * <p>Why: the shim writes its module records once, at start (and the new ones at exit). A collector
 * that consumed them and was then killed or restarted resumes the ring past them; while the process
 * lives, /proc/PID/maps stands in, but a process that exited during the gap has no maps left, and
 * every frame of the rest of its ring would be unnamed (a restart test saw 311 of 1,069 leaked keys
 * under their function). The collector saves the table here before it releases the records that
 * brought it, so a successor always finds either the records or this file.
 *
 * <p>Threat: the run directory is shared with the shims of other users' processes. The file is read
 * only when it is a regular file (not a link) owned by the collector's own uid, at most {@link
 * #MAX_BYTES} long, and every count and length is checked; anything else reads as no table.
 */
public final class ModuleTableFile {
  static final int MAGIC = 0x4c574d54; // "LWMT"
  static final int VERSION = 2; // 2: build id and path may be absent (a presence byte before each)
  static final int MAX_BYTES = 8 << 20;
  static final int MAX_MODULES = 65_536;
  static final int MAX_STRING_BYTES = 4096;

  private ModuleTableFile() {}

  /**
   * The table's path beside a ring (not matched by the rings' {@code leakwatch-*.ring} pattern).
   */
  public static Path of(Path ring) {
    return ring.resolveSibling(ring.getFileName() + ".modules");
  }

  /** Writes the table atomically (a temporary file renamed over the old one). */
  public static void save(Path ring, List<RingRecord.Module> modules) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      out.writeInt(MAGIC);
      out.writeInt(VERSION);
      int n = Math.min(modules.size(), MAX_MODULES);
      out.writeInt(n);
      for (RingRecord.Module m : modules.subList(0, n)) {
        out.writeLong(m.loadBias());
        out.writeLong(m.lo());
        out.writeLong(m.hi());
        out.writeBoolean(m.mainExecutable());
        writeOptional(out, m.buildId());
        writeOptional(out, m.path());
      }
    }
    Path target = of(ring);
    Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
    Files.deleteIfExists(tmp);
    Files.write(tmp, bytes.toByteArray());
    try {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /**
   * The saved table of {@code ring}, or an empty list when there is none or it is not trustworthy.
   */
  public static List<RingRecord.Module> load(Path ring) {
    return load(ring, OWN_UID);
  }

  private static final int OWN_UID = ownUid();

  private static int ownUid() {
    try {
      return Files.getAttribute(Path.of("/proc/self"), "unix:uid") instanceof Integer i ? i : -1;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  /** As {@link #load(Path)}, trusting files owned by {@code ownUid} (-1: any owner). */
  static List<RingRecord.Module> load(Path ring, int ownUid) {
    Path p = of(ring);
    try {
      BasicFileAttributes a =
          Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (!a.isRegularFile() || a.size() > MAX_BYTES) return List.of();
      Object uid = Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      if (ownUid >= 0 && !(uid instanceof Integer u && u == ownUid)) return List.of();
      return parse(Files.readAllBytes(p));
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  /** Decodes a table; anything malformed reads as no table. Visible for the fuzz test. */
  static List<RingRecord.Module> parse(byte[] data) {
    if (data.length > MAX_BYTES) return List.of();
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(data))) {
      if (in.readInt() != MAGIC || in.readInt() != VERSION) return List.of();
      int n = in.readInt();
      if (n < 0 || n > MAX_MODULES) return List.of();
      List<RingRecord.Module> out = new ArrayList<>(Math.min(n, 1024));
      for (int i = 0; i < n; i++) {
        long bias = in.readLong();
        long lo = in.readLong();
        long hi = in.readLong();
        boolean main = in.readBoolean();
        boolean hasBuildId = in.readBoolean();
        String buildId = hasBuildId ? readString(in) : null;
        boolean hasPath = in.readBoolean();
        String path = hasPath ? readString(in) : null;
        if ((hasBuildId && buildId == null) || (hasPath && path == null)) return List.of();
        out.add(new RingRecord.Module(0, bias, lo, hi, main, buildId, path));
      }
      return in.available() == 0 ? out : List.of();
    } catch (IOException | RuntimeException e) {
      return List.of();
    }
  }

  /** Removes the table of a retired ring. */
  public static void delete(Path ring) throws IOException {
    Files.deleteIfExists(of(ring));
  }

  /** A module named from /proc/PID/maps has no build id: absent is written as absent, not as "". */
  private static void writeOptional(DataOutputStream out, String s) throws IOException {
    out.writeBoolean(s != null);
    if (s != null) writeString(out, s);
  }

  private static void writeString(DataOutputStream out, String s) throws IOException {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    int n = Math.min(b.length, MAX_STRING_BYTES);
    out.writeShort(n);
    out.write(b, 0, n);
  }

  private static String readString(DataInputStream in) throws IOException {
    int n = in.readUnsignedShort();
    if (n > MAX_STRING_BYTES) return null;
    byte[] b = new byte[n];
    in.readFully(b);
    return new String(b, StandardCharsets.UTF_8);
  }
}
