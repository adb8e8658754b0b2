package io.leakwatch.collector.ring;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Unmaps a file mapping now rather than when the garbage collector gets to its buffer. A ring's
 * pages are tmpfs memory: after its process exits and the collector removes the file, a mapping
 * still held keeps them allocated (the host's Shmem) until the buffer is collected, and the buffer
 * of a ring followed for hours sits in the old generation, which an idle collector may not collect
 * for days. Java 17 has no public unmap; {@code sun.misc.Unsafe.invokeCleaner} (jdk.unsupported) is
 * what Lucene and Netty use. Without it, the mapping is left to the collector as before.
 *
 * <p>The caller guarantees nothing reads the buffer, or any view of it, afterwards: that read would
 * crash the JVM.
 */
final class MappedBuffers {
  private static final Logger log = LoggerFactory.getLogger(MappedBuffers.class);
  private static final Object UNSAFE;
  private static final Method INVOKE_CLEANER;

  static {
    Object unsafe = null;
    Method invokeCleaner = null;
    try {
      Class<?> c = Class.forName("sun.misc.Unsafe");
      Field f = c.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      unsafe = f.get(null);
      invokeCleaner = c.getMethod("invokeCleaner", ByteBuffer.class);
    } catch (ReflectiveOperationException | RuntimeException e) {
      log.info("rings are unmapped by the garbage collector: {}", e.toString());
    }
    UNSAFE = unsafe;
    INVOKE_CLEANER = invokeCleaner;
  }

  private MappedBuffers() {}

  /** Unmaps {@code mapping} (a buffer FileChannel.map returned, not a view) if it can. */
  static void unmap(ByteBuffer mapping) {
    if (INVOKE_CLEANER == null || !mapping.isDirect()) return;
    try {
      INVOKE_CLEANER.invoke(UNSAFE, mapping);
    } catch (ReflectiveOperationException | RuntimeException e) {
      // a view, or a buffer already unmapped: the garbage collector's, as before
    }
  }
}
