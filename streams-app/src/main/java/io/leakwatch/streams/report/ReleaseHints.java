package io.leakwatch.streams.report;

import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.StackRow;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Known allocate/release pairs (release-hints.tsv beside this class): when a leaking stack went
 * through an API whose result has a known release call, the report says which call is missing, the
 * way the seed's reader found CryptDeriveKey without CryptDestroyKey.
 */
public final class ReleaseHints {
  /** The allocating API found in a stack, its release call and where it comes from. */
  public record Hint(String allocating, String release, String library) {}

  private static final Map<String, Hint> PAIRS = load();

  private ReleaseHints() {}

  private static Map<String, Hint> load() {
    Map<String, Hint> m = new LinkedHashMap<>();
    try (InputStream in = ReleaseHints.class.getResourceAsStream("release-hints.tsv")) {
      if (in == null) return m;
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      String line;
      while ((line = r.readLine()) != null) {
        if (line.isBlank() || line.startsWith("#")) continue;
        String[] f = line.split("\t");
        if (f.length >= 2)
          m.put(
              f[0].strip(), new Hint(f[0].strip(), f[1].strip(), f.length > 2 ? f[2].strip() : ""));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return m;
  }

  /**
   * The hint for a stack of a report (its frames, leaf first): the allocating API nearest the leaf.
   */
  public static Optional<Hint> forStack(StackRow stack) {
    if (stack.frames() == null) return Optional.empty();
    for (FrameRow f : stack.frames()) {
      String fn = f.function() == null ? "" : f.function();
      int paren = fn.indexOf('(');
      String bare =
          paren > 0 ? fn.substring(0, paren) : fn; // demangled C++ names carry their parameters
      Hint h = PAIRS.get(bare);
      if (h != null) return Optional.of(h);
    }
    return Optional.empty();
  }

  public static int size() {
    return PAIRS.size();
  }
}
