/* A plugin found only through its host's RUNPATH ($ORIGIN/plugins). */
int plugin_answer(void) { return 42; }
