package io.leakwatch.collector;

import io.leakwatch.collector.ring.RingFile;
import io.leakwatch.collector.ring.RingFormatException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds new rings in the run directory and decides whether to trust them. The directory is shared
 * with every user whose processes are tracked, so a file there is followed only when it is a real
 * ring, not a symlink, owned by us (or anyone, when we run as root), and not claiming to speak for
 * another user's running process; anything else is refused once and not looked at again while it is
 * there.
 */
final class RingDiscovery {
  // The collector's log lines keep the name operators and the docs know them by.
  private static final Logger log = LoggerFactory.getLogger(Collector.class);

  private final Path runDir;
  private final TrackedRings rings;
  private final Function<RingFile, TrackedProcess> follow;

  /**
   * Rings refused, forgotten when their file goes: a user who may write the directory could
   * otherwise grow this set without bound, one junk name at a time.
   */
  private final Set<Path> refused = new HashSet<>();

  /** Rings whose following failed once (logged once, tried again every scan). */
  private final Set<Path> failedToFollow = new HashSet<>();

  private final int uid = currentUid();

  /** {@code follow} makes the tracked process for a ring found trustworthy. */
  RingDiscovery(Path runDir, TrackedRings rings, Function<RingFile, TrackedProcess> follow) {
    this.runDir = runDir;
    this.rings = rings;
    this.follow = follow;
  }

  /**
   * One listing of the run directory a scan (every 250 ms): new rings are opened, and module tables
   * whose ring is gone are removed. A followed ring is known to exist, so only the tables of rings
   * not followed cost a stat.
   */
  void discover() {
    List<Path> found = new ArrayList<>();
    List<Path> tables = new ArrayList<>();
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(runDir, "leakwatch-*.ring*")) {
      for (Path p : dir) {
        String name = p.getFileName().toString();
        if (name.endsWith(".ring")) found.add(p);
        else if (name.endsWith(".ring.modules")) tables.add(p);
      }
    } catch (IOException e) {
      log.warn("cannot list {}: {}", runDir, e.toString());
      return;
    }
    if (!failedToFollow.isEmpty() || !refused.isEmpty()) {
      Set<Path> present = new HashSet<>(found);
      failedToFollow.retainAll(present);
      refused.retainAll(present);
    }
    for (Path p : found) {
      if (rings.contains(p) || refused.contains(p)) continue;
      if (!trustworthy(p)) {
        refused.add(p);
        continue;
      }
      try {
        RingFile ring = RingFile.open(p);
        if (!ownerMaySpeakFor(p, ring.pid())) {
          log.warn("refusing ring {}: its owner does not own pid {}", p, ring.pid());
          ring.close();
          refused.add(p);
          continue;
        }
        TrackedProcess tp;
        try {
          tp = follow.apply(ring);
        } catch (RuntimeException e) {
          // Not followed this scan (tried again at the next): its mapping must not wait for a GC,
          // nor may one ring stop the others from being found.
          ring.close();
          if (failedToFollow.add(p)) log.warn("cannot follow ring {} yet: {}", p, e.toString());
          continue;
        }
        failedToFollow.remove(p);
        rings.add(p, tp);
        log.info("following pid {} ({})", ring.pid(), p.getFileName());
      } catch (RingFormatException e) {
        log.warn("refusing ring {}: {}", p, e.getMessage());
        refused.add(p);
      } catch (IOException e) {
        log.debug("cannot open {} yet: {}", p, e.toString());
      }
    }
    // Module tables whose ring is gone (removed by hand, or retired by a collector killed before it
    // removed the table): the table is ours and nothing will read it.
    for (Path p : tables) {
      Path ring = p.resolveSibling(p.getFileName().toString().replaceFirst("\\.modules$", ""));
      if (rings.contains(ring)) continue;
      try {
        if (!Files.exists(ring, LinkOption.NOFOLLOW_LINKS) && trustworthy(p))
          Files.deleteIfExists(p);
      } catch (IOException e) {
        log.debug("cannot tidy module table {}: {}", p, e.toString());
      }
    }
  }

  /** Rings refused and still there (symlinks, other owners, unreadable headers, impersonation). */
  int refusedCount() {
    return refused.size();
  }

  /**
   * A ring is read only when it is a regular file (no symlink) owned by us or by root-run
   * collectors' targets.
   */
  private boolean trustworthy(Path p) {
    try {
      PosixFileAttributes a =
          Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (!a.isRegularFile()) return false;
      if (uid == 0) return true; // root follows every user's processes
      Object owner = Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      return owner instanceof Integer o && o == uid;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return false;
    }
  }

  /**
   * A ring speaks for the process whose pid it carries; only that process's user can have written
   * it. So while the process lives, the ring's owner must be its real or effective uid: otherwise
   * one user could forge data for another user's (or root's) service. A ring of a process already
   * gone cannot impersonate a running one and is read.
   */
  private static boolean ownerMaySpeakFor(Path ring, int pid) {
    try {
      Object owner = Files.getAttribute(ring, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      String status = Files.readString(Path.of("/proc", Integer.toString(pid), "status"));
      for (String line : status.split("\n")) {
        if (line.startsWith("Uid:")) {
          String[] f = line.substring(4).trim().split("\\s+");
          for (int i = 0; i < Math.min(2, f.length); i++)
            if (f[i].equals(String.valueOf(owner))) return true;
          return false;
        }
      }
      return false;
    } catch (NoSuchFileException e) {
      return true; // the process is gone
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  private static int currentUid() {
    try {
      Object v = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      return v instanceof Integer i ? i : -1;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }
}
