package io.leakwatch.schemas;

import org.apache.avro.util.ClassSecurityValidator;

/**
 * Avro 1.12 refuses to instantiate classes it has not been told to trust. This trusts exactly our
 * generated record classes (and their enums), once, before any decoder runs.
 */
final class AvroTrust {
  private static boolean done;

  private AvroTrust() {}

  static synchronized void trustGeneratedClasses() {
    if (done) return;
    ClassSecurityValidator.Builder ours = ClassSecurityValidator.builder();
    for (Class<?> c :
        new Class<?>[] {
          ProcessMessage.class,
          EventBatch.class,
          AllocationEvent.class,
          EventType.class,
          AllocationKind.class,
          ProcessStarted.class,
          ProcessExited.class,
          Resync.class,
          StackDefinition.class,
          Frame.class,
          CounterSample.class,
          ExitReport.class
        }) {
      ours.add(c);
    }
    ClassSecurityValidator.setGlobal(
        ClassSecurityValidator.composite(ClassSecurityValidator.getGlobal(), ours.build()));
    done = true;
  }

  /** For modules with their own generated classes (the streams-app's state records). */
  static synchronized void trust(Class<?>... classes) {
    ClassSecurityValidator.Builder extra = ClassSecurityValidator.builder();
    for (Class<?> c : classes) extra.add(c);
    ClassSecurityValidator.setGlobal(
        ClassSecurityValidator.composite(ClassSecurityValidator.getGlobal(), extra.build()));
  }
}
