/* origin host: dlopen()s "libplugin.so" by name; only the host's own RUNPATH ($ORIGIN/plugins) finds
 * it. glibc resolves that from the caller's return address: a shim that interposes dlopen becomes the
 * caller and the plugin is not found. */
#include <dlfcn.h>
#include <stdio.h>

int main(void) {
  void *h = dlopen("libplugin.so", RTLD_NOW);
  if (!h) {
    fprintf(stderr, "origin-host: %s\n", dlerror());
    return 1;
  }
  int (*answer)(void) = (int (*)(void))dlsym(h, "plugin_answer");
  if (!answer || answer() != 42) return 1;
  puts("origin-host: plugin found through $ORIGIN: ok");
  return 0;
}
