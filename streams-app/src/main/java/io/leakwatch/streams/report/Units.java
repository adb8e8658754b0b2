package io.leakwatch.streams.report;

import java.util.Locale;

/** Quantities for people, the same in every renderer. */
public final class Units {
  private Units() {}

  /** Bytes: "4,096 bytes", "12.5 KB", "703.0 MB". */
  public static String bytes(long v) {
    if (v >= 10L << 20) return String.format(Locale.ROOT, "%,.1f MB", v / 1048576.0);
    if (v >= 10L << 10) return String.format(Locale.ROOT, "%,.1f KB", v / 1024.0);
    return String.format(Locale.ROOT, "%,d bytes", v);
  }

  /** A change of bytes, with its sign: "+1.5 MB", "-512 bytes". */
  public static String signedBytes(long v) {
    return (v >= 0 ? "+" : "-") + bytes(Math.abs(v));
  }

  /** Growth per hour, "-" when there is none to speak of. */
  public static String rate(double bytesPerHour) {
    if (Math.abs(bytesPerHour) < 1) return "-";
    return (bytesPerHour >= 0 ? "+" : "-") + bytes(Math.round(Math.abs(bytesPerHour))) + "/h";
  }

  /** A duration: "12.5 s", "42 min", "3.5 h", "2.0 days". */
  public static String duration(double seconds) {
    if (seconds < 120) return String.format(Locale.ROOT, "%.1f s", seconds);
    if (seconds < 7200) return String.format(Locale.ROOT, "%.0f min", seconds / 60);
    if (seconds < 172800) return String.format(Locale.ROOT, "%.1f h", seconds / 3600);
    return String.format(Locale.ROOT, "%.1f days", seconds / 86400);
  }
}
