package io.leakwatch.collector.symbols;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * C++ names through the C++ runtime's own demangler ({@code __cxa_demangle} in libstdc++), called
 * with JNA. Symbol names come from others' binaries, so only Itanium-ABI names ({@code _Z...}) of
 * bounded length and plain characters are passed to it; anything it refuses stays mangled. Without
 * libstdc++ every name stays as it is.
 */
public final class Demangler {
  /**
   * Longer names are left mangled: the demangler recurses on nesting, and we never trust the input.
   */
  static final int MAX_MANGLED = 1024;

  private static final int CACHE = 50_000;
  private static final Function DEMANGLE;
  private static final Function FREE;

  static {
    Function demangle = null, free = null;
    try {
      demangle = NativeLibrary.getInstance("stdc++").getFunction("__cxa_demangle");
      free = NativeLibrary.getInstance("c").getFunction("free");
    } catch (UnsatisfiedLinkError | RuntimeException e) {
      demangle = null;
    }
    DEMANGLE = demangle;
    FREE = free;
  }

  private final Map<String, String> cache =
      new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, String> e) {
          return size() > CACHE;
        }
      };

  public static boolean available() {
    return DEMANGLE != null;
  }

  /** The readable form of {@code name}, or {@code name} itself. */
  public synchronized String demangle(String name) {
    if (DEMANGLE == null
        || name == null
        || !name.startsWith("_Z")
        || name.length() > MAX_MANGLED
        || !plain(name)) return name;
    return cache.computeIfAbsent(name, Demangler::call);
  }

  private static boolean plain(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c <= 0x20 || c >= 0x7f) return false;
    }
    return true;
  }

  private static String call(String name) {
    byte[] bytes = name.getBytes(StandardCharsets.US_ASCII);
    Memory in = new Memory(bytes.length + 1L);
    in.write(0, bytes, 0, bytes.length);
    in.setByte(bytes.length, (byte) 0);
    Memory status = new Memory(4);
    status.setInt(0, -1);
    Pointer out = (Pointer) DEMANGLE.invoke(Pointer.class, new Object[] {in, null, null, status});
    if (out == null) return name;
    try {
      return status.getInt(0) == 0 ? out.getString(0, StandardCharsets.UTF_8.name()) : name;
    } finally {
      FREE.invoke(Void.class, new Object[] {out});
    }
  }
}
