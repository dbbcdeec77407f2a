/* deeplabseg tests: shared helpers (header only).
 *
 * Data comes from ../shared (or $DLS_SHARED_DIR, set by meson). When a file
 * is missing a test skips (exit 77) saying what is missing; under CI=true
 * missing data is a failure, since CI always has it. */
#ifndef DLS_TESTUTIL_H
#define DLS_TESTUTIL_H

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DLS_TEST_SKIP 77

static inline gboolean
dls_test_in_ci (void)
{
  const char *ci = g_getenv ("CI");
  return ci && (g_ascii_strcasecmp (ci, "true") == 0 || g_strcmp0 (ci, "1") == 0);
}

/* Returns the path of @rel inside the shared folder (g_free it). If it does
 * not exist: skips the test (exit 77), or fails it under CI. */
static inline char *
dls_test_shared_path (const char *rel)
{
  const char *dir = g_getenv ("DLS_SHARED_DIR");
  char *path = g_build_filename (dir ? dir : "../shared", rel, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    fprintf (stderr, "missing test data: %s (set DLS_SHARED_DIR)\n", path);
    g_free (path);
    exit (dls_test_in_ci ()? 1 : DLS_TEST_SKIP);
  }
  return path;
}

static inline char *
dls_test_model_path (void)
{
  return dls_test_shared_path ("models/deeplabv3_257_mv_gpu.tflite");
}

/* Resident set size of this process in KiB (VmRSS), 0 if unknown. */
static inline gsize
dls_test_rss_kib (void)
{
  gchar *text = NULL;
  gsize kib = 0;

  if (g_file_get_contents ("/proc/self/status", &text, NULL, NULL)) {
    const gchar *l = strstr (text, "VmRSS:");
    if (l)
      kib = g_ascii_strtoull (l + 6, NULL, 10);
  }
  g_free (text);
  return kib;
}

#endif /* DLS_TESTUTIL_H */
