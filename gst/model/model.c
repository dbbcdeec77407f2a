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
  GError *err = NULL;
  gchar *contents = NULL;
  gsize size = 0;
  DlsGraph *g = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* A FIFO or a device would be read until memory runs out. */
  if (g_file_test (path, G_FILE_TEST_EXISTS)
      && !g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_FOUND,
        "cannot read model '%s': not a regular file", path);
    return NULL;
  }
  if (!g_file_get_contents (path, &contents, &size, &err)) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_FOUND,
        "cannot read model '%s': %s", path, err->message);
    g_error_free (err);
    return NULL;
  }
  if (size == 0) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_A_MODEL,
        "'%s' is not a model: the file is empty", path);
    goto out;
  }

  for (guint i = 0; i < G_N_ELEMENTS (readers); i++) {
    if (!readers[i].probe ((const guint8 *) contents, size))
      continue;
    g = readers[i].parse ((const guint8 *) contents, size, &err);
    if (!g) {
      g_prefix_error (&err, "model '%s': ", path);
      g_propagate_error (error, err);
    }
    goto out;
  }
  g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_A_MODEL,
      "'%s' is not a model: unknown format (%" G_GSIZE_FORMAT " bytes, no "
      "TFLite identifier \"TFL3\" at byte 4, no ONNX ir_version field at "
      "byte 0)", path, size);

out:
  g_free (contents);
  return g;
}
