package io.leakwatch.streams.report;

import java.util.Locale;

/**
 * Quantities for people, the same in every renderer: binary units (KiB, MiB, GiB: what the kernel,
 * glibc and ps count in) and durations as people say them.
 */
public final class Units {
  private Units() {}

  private static final String[] BINARY = {"KiB", "MiB", "GiB", "TiB"};

  /**
   * Bytes: "422 bytes", "12.5 KiB", "703.0 MiB", "1.5 GiB": the largest unit of which there is one.
   */
  public static String bytes(long v) {
    if (v < 1024 && v > -1024) return String.format(Locale.ROOT, "%,d bytes", v);
    double x = v / 1024.0;
    int unit = 0;
    while (unit < BINARY.length - 1 && Math.abs(x) >= 1024.0) {
      x /= 1024;
      unit++;
    }
    return String.format(Locale.ROOT, "%,.1f %s", x, BINARY[unit]);
  }

  /** A change of bytes, with its sign: "+1.5 MiB", "-512 bytes". */
  public static String signedBytes(long v) {
    return (v >= 0 ? "+" : "-") + bytes(Math.abs(v));
  }

  /** Growth per hour, "-" when there is none to speak of. */
  public static String rate(double bytesPerHour) {
    if (Math.abs(bytesPerHour) < 1) return "-";
    return (bytesPerHour >= 0 ? "+" : "-") + bytes(Math.round(Math.abs(bytesPerHour))) + "/h";
  }

  /** A duration: "0.4 s", "42 s", "12 min 5 s", "3 h 12 min", "2 days 4 h". */
  public static String duration(double seconds) {
    if (Double.isNaN(seconds) || seconds < 0) return "-";
    if (seconds < 10) return String.format(Locale.ROOT, "%.1f s", seconds);
    long s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return (s / 60) + " min" + (s % 60 == 0 ? "" : " " + (s % 60) + " s");
    if (s < 86400)
      return (s / 3600) + " h" + (s % 3600 / 60 == 0 ? "" : " " + (s % 3600 / 60) + " min");
    long days = s / 86400;
    return days
        + (days == 1 ? " day" : " days")
        + (s % 86400 / 3600 == 0 ? "" : " " + (s % 86400 / 3600) + " h");
  }
}
