/* deeplabseg: model loading. Owns reading a model file and choosing its
 * reader from the content (never from the file name); the readers
 * themselves live in one file each (tflite.c, onnx.c).
 */
#include "model.h"

#include <string.h>

typedef struct
{
  /* Whether @data looks like this format; must not read past @size. */
  gboolean (*probe) (const guint8 * data, gsize size);
  DlsGraph *(*parse) (const guint8 * data, gsize size, GError ** error);
} DlsModelReader;

static gboolean
tflite_probe (const guint8 * data, gsize size)
{
  return size >= 8 && memcmp (data + 4, "TFL3", 4) == 0;
}

/* ONNX is a protobuf ModelProto with no magic number. Every exporter
 * writes ir_version (field 1, a varint: tag byte 0x08) first, followed by
 * a small version number; the probe checks that much, and so comes after
 * every format that has a magic number. */
static gboolean
onnx_probe (const guint8 * data, gsize size)
{
  return size >= 2 && data[0] == 0x08 && data[1] >= 1 && data[1] < 0x80;
}

/* Tried in order; the first whose probe accepts the data parses it. */
static const DlsModelReader readers[] = {
  {tflite_probe, dls_tflite_parse},
  {onnx_probe, dls_onnx_parse},
};

/* Reads @path whole into *@contents (a regular file, not empty). */
static gboolean
read_model_file (const char *path, gchar ** contents, gsize * size,
    GError ** error)
{
  GError *err = NULL;

  /* A FIFO or a device would be read until memory runs out. */
  if (g_file_test (path, G_FILE_TEST_EXISTS)
      && !g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_FOUND,
        "cannot read model '%s': not a regular file", path);
    return FALSE;
  }
  if (!g_file_get_contents (path, contents, size, &err)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_FOUND,
        "cannot read model '%s': %s", path, err->message);
    g_error_free (err);
    return FALSE;
  }
  if (*size == 0) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_A_MODEL,
        "'%s' is not a model: the file is empty", path);
    g_clear_pointer (contents, g_free);
    return FALSE;
  }
  return TRUE;
}

/* Parses the bytes of @path with the reader their content calls for. */
static DlsGraph *
parse_model (const char *path, const guint8 * data, gsize size,
    GError ** error)
{
  GError *err = NULL;
  DlsGraph *g;

  for (guint i = 0; i < G_N_ELEMENTS (readers); i++) {
    if (!readers[i].probe (data, size))
      continue;
    g = readers[i].parse (data, size, &err);
    if (!g) {
      g_prefix_error (&err, "model '%s': ", path);
      g_propagate_error (error, err);
    }
    return g;
  }
  g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_A_MODEL,
      "'%s' is not a model: unknown format (%" G_GSIZE_FORMAT " bytes, no "
      "TFLite identifier \"TFL3\" at byte 4, no ONNX ir_version field at "
      "byte 0)", path, size);
  return NULL;
}

/**
 * dls_model_load:
 * @path: a model file
 *
 * Reads @path whole and parses it with the reader its content calls for.
 * Errors from the reader are prefixed with the path.
 *
 * Returns: (transfer full) (nullable): a finalized graph, or NULL with
 * @error set: DLS_ERROR_NOT_FOUND if the file cannot be read,
 * DLS_ERROR_NOT_A_MODEL if it is empty or of no known format, else the
 * reader's error.
 */
DlsGraph *
dls_model_load (const char *path, GError ** error)
{
  gchar *contents = NULL;
  gsize size = 0;
  DlsGraph *g;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!read_model_file (path, &contents, &size, error))
    return NULL;
  g = parse_model (path, (const guint8 *) contents, size, error);
  g_free (contents);
  return g;
}

/* ---- the process-wide cache of parsed models ---- */

typedef struct
{
  char *key;                    /* "sha256:<hex>/<size>" of the content */
  DlsGraph *graph;
  guint users;
} SharedModel;

static GMutex shared_lock;
static GPtrArray *shared_models;        /* SharedModel*, one per content */

/**
 * dls_model_acquire:
 * @path: a model file
 * @key: (out) (optional) (transfer none): the model's identity, valid
 *   while the graph is held
 *
 * dls_model_load() shared by content: the file is read (and hashed) each
 * time, so a file replaced on disk is the new model at the next call, but
 * it is parsed only when no graph of the same bytes is alive. Thread-safe.
 *
 * Returns: (transfer none) (nullable): the read-only graph, to be given
 * back with dls_model_release(); NULL with @error set as dls_model_load().
 */
const DlsGraph *
dls_model_acquire (const char *path, const char **key, GError ** error)
{
  gchar *contents = NULL, *hash, *k;
  gsize size = 0;
  SharedModel *m = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!read_model_file (path, &contents, &size, error))
    return NULL;
  hash = g_compute_checksum_for_data (G_CHECKSUM_SHA256,
      (const guchar *) contents, size);
  k = g_strdup_printf ("sha256:%s/%" G_GSIZE_FORMAT, hash, size);
  g_free (hash);

  /* Held while parsing: two instances starting together parse once. */
  g_mutex_lock (&shared_lock);
  if (!shared_models)
    shared_models = g_ptr_array_new ();
  for (guint i = 0; i < shared_models->len && !m; i++)
    if (strcmp (((SharedModel *) shared_models->pdata[i])->key, k) == 0)
      m = shared_models->pdata[i];
  if (!m) {
    DlsGraph *g = parse_model (path, (const guint8 *) contents, size, error);
    if (g) {
      m = g_new0 (SharedModel, 1);
      m->key = g_steal_pointer (&k);
      m->graph = g;
      g_ptr_array_add (shared_models, m);
    }
  }
  if (m)
    m->users++;
  g_mutex_unlock (&shared_lock);
  g_free (contents);
  g_free (k);
  if (m && key)
    *key = m->key;
  return m ? m->graph : NULL;
}

/**
 * dls_model_release:
 * @graph: (nullable): a graph from dls_model_acquire()
 *
 * Frees the graph when its last user gives it back.
 */
void
dls_model_release (const DlsGraph * graph)
{
  SharedModel *m = NULL;

  if (!graph)
    return;
  g_mutex_lock (&shared_lock);
  for (guint i = 0; shared_models && i < shared_models->len; i++)
    if (((SharedModel *) shared_models->pdata[i])->graph == graph)
      m = shared_models->pdata[i];
  if (!m) {
    g_mutex_unlock (&shared_lock);
    g_critical ("dls_model_release: %p is not a shared model", graph);
    return;
  }
  if (--m->users == 0)
    g_ptr_array_remove_fast (shared_models, m);
  else
    m = NULL;
  if (shared_models && shared_models->len == 0)
    g_clear_pointer (&shared_models, g_ptr_array_unref);
  g_mutex_unlock (&shared_lock);
  if (m) {
    dls_graph_free (m->graph);
    g_free (m->key);
    g_free (m);
  }
}

/**
 * dls_model_shared_count:
 *
 * Returns: how many parsed models dls_model_acquire() holds (for tests).
 */
guint
dls_model_shared_count (void)
{
  guint n;

  g_mutex_lock (&shared_lock);
  n = shared_models ? shared_models->len : 0;
  g_mutex_unlock (&shared_lock);
  return n;
}
