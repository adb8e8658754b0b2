package io.leakwatch.collector.symbols;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * Finds the file on this host that holds a module's debug info, in gdb's order: the binary itself,
 * the file its {@code .gnu_debuglink} names (beside it, in its {@code .debug/} directory, or under
 * the global debug directory), then {@code DIR/.build-id/xx/rest.debug}. A separate file counts
 * only when it belongs to the binary: the same build id, or, for a binary without one, the CRC-32
 * its debug link expects; a stale or foreign file is skipped and its reason said.
 */
public final class DebugFiles {
  /** Where a module's debug info came from (the {@code source} label of the collector's metric). */
  public enum Source {
    BINARY,
    DEBUGLINK,
    BUILD_ID_DIRECTORY,
    DEBUGINFOD
  }

  /** A file with DWARF for a module, and why it was chosen. */
  public record Found(Path file, Source source) {}

  /** What a failed lookup found wrong, for the failure metric; null reasons are not failures. */
  public interface Reasons {
    void mismatch(String reason);
  }

  private final Path debugRoot;

  /**
   * @param debugRoot the global debug directory, normally /usr/lib/debug (with .build-id below it)
   */
  public DebugFiles(Path debugRoot) {
    this.debugRoot = debugRoot;
  }

  /**
   * The local file with DWARF for {@code binary} (already resolved against the target's root), or
   * null: the caller may then ask a debuginfod server.
   */
  public Found find(Path binary, ElfSymbols own, Reasons reasons) {
    if (own.debugSections().hasDwarf()) return new Found(binary, Source.BINARY);
    String buildId = own.buildId();
    String link = own.debugSections().debugLink();
    if (link != null) {
      for (Path candidate : linkCandidates(binary, link)) {
        if (!Files.isRegularFile(candidate) || candidate.equals(binary)) continue;
        ElfSymbols separate = ElfSymbols.loadHeaders(candidate);
        boolean belongs =
            buildId != null
                ? buildId.equals(separate.buildId())
                : crc32(candidate) == Integer.toUnsignedLong(own.debugSections().debugLinkCrc());
        if (!belongs) {
          reasons.mismatch("debug_file_mismatch");
        } else if (!separate.debugSections().hasDwarf()) {
          reasons.mismatch("debug_file_without_dwarf");
        } else {
          return new Found(candidate, Source.DEBUGLINK);
        }
      }
    }
    Path byId = buildIdPath(buildId);
    if (byId != null && Files.isRegularFile(byId)) {
      ElfSymbols separate = ElfSymbols.loadHeaders(byId);
      if (!buildId.equals(separate.buildId())) reasons.mismatch("debug_file_mismatch");
      else if (!separate.debugSections().hasDwarf()) reasons.mismatch("debug_file_without_dwarf");
      else return new Found(byId, Source.BUILD_ID_DIRECTORY);
    }
    return null;
  }

  /**
   * Separate files that may hold fuller symbols than the binary (its debug link's, then the
   * build-id directory's), each checked to belong to it; for the symbol tables of stack identity.
   */
  public List<Path> separateFiles(Path binary, ElfSymbols own) {
    List<Path> files = new ArrayList<>();
    String link = own.debugSections().debugLink();
    if (link != null) {
      for (Path candidate : linkCandidates(binary, link)) {
        if (Files.isRegularFile(candidate) && !candidate.equals(binary)) files.add(candidate);
      }
    }
    Path byId = buildIdPath(own.buildId());
    if (byId != null && Files.isRegularFile(byId)) files.add(byId);
    return files;
  }

  /** {@code DIR/.build-id/xx/rest.debug}, or null for a missing or implausible build id. */
  Path buildIdPath(String buildId) {
    if (debugRoot == null || buildId == null || !buildId.matches("[0-9a-f]{4,128}")) return null;
    return debugRoot
        .resolve(".build-id")
        .resolve(buildId.substring(0, 2))
        .resolve(buildId.substring(2) + ".debug");
  }

  private List<Path> linkCandidates(Path binary, String link) {
    Path dir = binary.toAbsolutePath().getParent();
    List<Path> c = new ArrayList<>();
    if (dir == null) return c;
    c.add(dir.resolve(link));
    c.add(dir.resolve(".debug").resolve(link));
    if (debugRoot != null) c.add(debugRoot.resolve(dir.toString().substring(1)).resolve(link));
    return c;
  }

  /** The CRC-32 gdb's debug link uses (zlib's); -1 when the file cannot be read. */
  static long crc32(Path file) {
    CRC32 crc = new CRC32();
    byte[] buf = new byte[1 << 16];
    try (InputStream in = Files.newInputStream(file)) {
      for (int n; (n = in.read(buf)) > 0; ) crc.update(buf, 0, n);
      return crc.getValue();
    } catch (IOException e) {
      return -1;
    }
  }
}
