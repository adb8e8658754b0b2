package io.leakwatch.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the built parts live: the launcher passes -Dleakwatch.home (the repository root). */
final class Home {
  private Home() {}

  static Path root() {
    String h = System.getProperty("leakwatch.home");
    return Path.of(h != null ? h : ".").toAbsolutePath().normalize();
  }

  static Path nativeDir() {
    return root().resolve("collector/target/native");
  }

  static Path agent() {
    Path p = nativeDir().resolve("libleakwatch.so");
    if (!Files.isRegularFile(p)) {
      throw new IllegalStateException(
          "libleakwatch.so not built at " + p + " (run ./leakwatch once, or mvn install)");
    }
    return p;
  }

  static Path demoService() {
    return nativeDir().resolve("leaky-service");
  }
}
