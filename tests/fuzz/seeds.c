/* deeplabseg fuzzing: writes the seed corpus of the model-reader fuzzers,
 * or with --element that of the element fuzzer.
 *
 *   dls-fuzz-seeds OUT_DIR [MODEL...]
 *   dls-fuzz-seeds --element OUT_DIR
 *
 * Into OUT_DIR (created): the small TFLite model of tests/tflite_builder.c
 * in each of its variants (options, activations, external buffers, an
 * unsupported operator, a non-float input, the 128-tensor "bomb"), and for
 * each MODEL: the file itself, cuts of it and copies with a few bytes
 * changed, mostly in the first and last 24 KiB where a converter puts the
 * FlatBuffer's tables (the middle is weights). Made at test time from the
 * shared models, never committed; deterministic (fixed seeds).
 */
#include "tflite_builder.h"
#include "element_ops.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define STRUCTURE_SPAN 24576
#define N_CUTS 24
#define N_MUTATED 24

static int n_written;

static gboolean
write_seed (const char *dir, const char *name, const guint8 * data,
    gsize size)
{
  char *path = g_build_filename (dir, name, NULL);
  GError *err = NULL;
  gboolean ok = g_file_set_contents (path, (const char *) data, size, &err);

  if (!ok) {
    fprintf (stderr, "dls-fuzz-seeds: %s\n", err->message);
    g_error_free (err);
  }
  g_free (path);
  n_written += ok;
  return ok;
}

static gboolean
write_tiny (const char *dir)
{
  TinySpec s[17];
  int n = 0;
  gboolean ok = TRUE;

  for (guint i = 0; i < G_N_ELEMENTS (s); i++)
    s[i] = tiny_default;
  n++;                          /* the default */
  s[n].dw_no_dilation = s[n].dw_no_multiplier = TRUE, n++;
  s[n].resize_align = FALSE, s[n].resize_half_pixel = TRUE, n++;
  s[n].resize_align = FALSE, n++;
  s[n].concat_axis = 3, n++;
  s[n].external = TRUE, n++;
  s[n].external = TRUE, s[n].external_shift = 1 << 20, n++;
  s[n].dw_bias = 1, n++;
  s[n].dw_bias = 2, n++;
  s[n].conv_act = 1, n++;       /* RELU */
  s[n].conv_act = 0, n++;       /* NONE */
  s[n].input_type = 3, n++;     /* UINT8 */
  s[n].bad_op = 2, s[n].bad_code = 22, n++;     /* RESHAPE */
  s[n].bad_op = 1, s[n].bad_code = 32, s[n].custom_code = "Convolution2DTransposeBias", n++;
  s[n].version = 2, n++;
  s[n].bomb = TRUE, n++;
  s[n].rgb = TRUE, n++;
  g_assert (n == (int) G_N_ELEMENTS (s));

  for (int i = 0; i < n; i++) {
    GByteArray *b = tiny_build (&s[i]);
    char name[32];

    g_snprintf (name, sizeof name, "tiny-%02d.tflite", i);
    ok &= write_seed (dir, name, b->data, b->len);
    g_byte_array_unref (b);
  }
  return ok;
}

static gboolean
write_model (const char *dir, const char *path, int index)
{
  gchar *data = NULL, *name;
  gsize size = 0;
  GError *err = NULL;
  GRand *rand;
  gboolean ok = TRUE;

  if (!g_file_get_contents (path, &data, &size, &err)) {
    fprintf (stderr, "dls-fuzz-seeds: %s\n", err->message);
    g_error_free (err);
    return FALSE;
  }
  rand = g_rand_new_with_seed (1000 + index);

  name = g_strdup_printf ("model%d-whole", index);
  ok &= write_seed (dir, name, (guint8 *) data, size);
  g_free (name);

  /* Cuts: geometric from 8 bytes up, and a few near the end. */
  for (int i = 0; i < N_CUTS && size > 8; i++) {
    gsize len = i < N_CUTS - 4 ? (gsize) (8.0 * pow ((double) size / 8.0,
            (double) i / (N_CUTS - 4))) : size - (gsize) (1u << (2 * (i - N_CUTS + 4)));
    len = MIN (len, size - 1);
    name = g_strdup_printf ("model%d-cut-%" G_GSIZE_FORMAT, index, len);
    ok &= write_seed (dir, name, (guint8 *) data, len);
    g_free (name);
  }

  /* Copies with 1..8 bytes changed, two thirds in the structure. */
  for (int i = 0; i < N_MUTATED && size > 0; i++) {
    guint8 *buf = g_memdup2 (data, size);
    int n_mut = g_rand_int_range (rand, 1, 9);

    for (int m = 0; m < n_mut; m++) {
      int zone = g_rand_int_range (rand, 0, 3);
      gsize span = MIN (STRUCTURE_SPAN, size), pos;

      if (zone == 0)
        pos = g_rand_int_range (rand, 0, (gint32) span);
      else if (zone == 1)
        pos = size - 1 - g_rand_int_range (rand, 0, (gint32) span);
      else
        pos = (gsize) (g_rand_double (rand) * size);
      pos = MIN (pos, size - 1);
      buf[pos] = (guint8) g_rand_int (rand);
    }
    name = g_strdup_printf ("model%d-mutated-%02d", index, i);
    ok &= write_seed (dir, name, buf, size);
    g_free (name);
    g_free (buf);
  }
  g_rand_free (rand);
  g_free (data);
  return ok;
}

/* ---- element seeds: operation sequences (element_ops.h) ---- */

/* Caps @fmt (index in fe_formats) of @w x @h (1..720) at 30/1. */
static void
op_caps (GByteArray * b, int fmt, int w, int h)
{
  guint8 op[] = { FE_CAPS, fmt, FE_DIM_MEDIUM, (w - 1) & 0xff, (w - 1) >> 8,
    FE_DIM_MEDIUM, (h - 1) & 0xff, (h - 1) >> 8, 0
  };
  g_byte_array_append (b, op, sizeof (op));
}

/* Property @prop (index in fe_props) to entry @k of its type's table. */
static void
op_prop (GByteArray * b, int prop, int k)
{
  guint8 op[] = { FE_PROP, prop, 0, k };
  g_byte_array_append (b, op, sizeof (op));
}

static void
op_push (GByteArray * b, int n, int size, int flags)
{
  guint8 op[] = { FE_PUSH, n - 1, size, flags, (guint8) (b->len * 37) };
  g_byte_array_append (b, op, sizeof (op));
}

static void
op2 (GByteArray * b, int op, int arg)
{
  guint8 o[] = { op, arg };
  g_byte_array_append (b, o, sizeof (o));
}

enum
{ P_MODE = 2, P_CRF = 7, P_CLASSES = 18, P_BLUR = 20, P_INTERVAL = 22,
  P_CONFIDENCE = 23
};
enum
{ M_OVERLAY, M_META, M_MASK, M_BACKGROUND };

static gboolean
write_element_seeds (const char *dir)
{
  GByteArray *b;
  gboolean ok = TRUE;
  char name[32];

  /* Every format at 16x16, one frame each, then 8x6 strided. */
  for (int f = 0; f < (int) G_N_ELEMENTS (fe_formats); f++) {
    b = g_byte_array_new ();
    op_caps (b, f, 16, 16);
    op_push (b, 1, FE_SIZE_RIGHT, 0);
    op_caps (b, f, 9, 7);
    op_push (b, 2, FE_SIZE_STRIDED, 0);
    g_snprintf (name, sizeof (name), "format-%02d", f);
    ok &= write_seed (dir, name, b->data, b->len);
    g_byte_array_unref (b);
  }

  /* Modes while playing, a flush, EOS. */
  b = g_byte_array_new ();
  op_caps (b, 0, 320, 240);
  op_push (b, 3, FE_SIZE_RIGHT, 0);
  op_prop (b, P_MODE, M_MASK);
  op_push (b, 2, FE_SIZE_RIGHT, 0);
  op_prop (b, P_MODE, M_META);
  op_prop (b, P_CONFIDENCE, 0);
  op_push (b, 2, FE_SIZE_RIGHT, 0);
  op2 (b, FE_EVENT, FE_EV_FLUSH);
  op_prop (b, P_MODE, M_BACKGROUND);
  op_prop (b, P_BLUR, 5);
  op_push (b, 2, FE_SIZE_RIGHT, 1);
  op2 (b, FE_EVENT, FE_EV_EOS);
  ok &= write_seed (dir, "modes", b->data, b->len);
  g_byte_array_unref (b);

  /* CRF and interval on YUV of odd sizes, caps and state changes. */
  b = g_byte_array_new ();
  op_caps (b, 10, 33, 17);
  op_prop (b, P_CRF, 0);
  op_prop (b, P_INTERVAL, 3);
  op_push (b, 4, FE_SIZE_RIGHT, 0);
  op_caps (b, 11, 31, 9);
  op_push (b, 2, FE_SIZE_STRIDED, 0);
  op2 (b, FE_STATE, 1);
  op2 (b, FE_STATE, 3);
  op_caps (b, 11, 31, 9);
  op_push (b, 2, FE_SIZE_RIGHT, 0);
  op2 (b, FE_EVENT, FE_EV_SEGMENT);
  op_push (b, 1, FE_SIZE_RIGHT, 1);
  ok &= write_seed (dir, "crf-states", b->data, b->len);
  g_byte_array_unref (b);

  /* Caps pushed while the element flushes stay pending on the harness's
   * pad and reach it with the next buffer after the flush (and a
   * stream-start): that buffer's video meta must be made for them
   * (regression: a meta of the caps the element still held was a
   * GStreamer-Video critical in the frame map, found by fuzz-element). */
  b = g_byte_array_new ();
  op_caps (b, 3, 4, 4);
  op2 (b, FE_EVENT, FE_EV_FLUSH_START);
  op_caps (b, 0, 2, 49);
  op2 (b, FE_EVENT, FE_EV_FLUSH);
  op2 (b, FE_EVENT, FE_EV_STREAM_START);
  op_push (b, 1, FE_SIZE_STRIDED, 0);
  ok &= write_seed (dir, "pending-caps", b->data, b->len);
  g_byte_array_unref (b);

  /* Caps the element refuses are not pushed again with the next buffer:
   * it keeps the previous ones, which that buffer's meta must match
   * (regression of the harness, fuzz-element). */
  b = g_byte_array_new ();
  op_caps (b, 0, 2, 561);
  {
    guint8 refused[] = { FE_CAPS, 0, FE_DIM_ZERO, 0, 0, FE_DIM_ONE, 0, 0,
      0
    };
    g_byte_array_append (b, refused, sizeof (refused));
  }
  op2 (b, FE_EVENT, FE_EV_FLUSH);
  op_push (b, 1, FE_SIZE_STRIDED, 0);
  ok &= write_seed (dir, "refused-caps", b->data, b->len);
  g_byte_array_unref (b);

  /* A finding of fuzz-element (CI, 24 November): caps of a large frame
   * with the CRF on asked for a 2.3 GB neighbour array, over libFuzzer's
   * 1 GB malloc limit; the CRF grid is now capped at 2^21 points
   * (engine.c, crf_grid_size()). The input as found. */
  {
    static const guint8 found[] = {
      0x00, 0x0a, 0x05, 0x20, 0x00, 0x05, 0x10, 0x00, 0x00, 0x01, 0x07,
      0x00, 0x00, 0x01, 0x16, 0x00, 0x03, 0x02, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x01, 0x07, 0x01, 0x16, 0x07, 0x01, 0x16, 0x00, 0x03, 0x02,
      0x00, 0x01, 0x07, 0x00, 0x00, 0x01, 0x16, 0x00, 0x03, 0x02, 0x03,
      0x00, 0x00, 0x75, 0x00, 0x0b, 0x05, 0x1e, 0x08, 0x05, 0x08, 0x00,
      0x00, 0x00, 0x15, 0x03, 0x01, 0x02
    };
    ok &= write_seed (dir, "crf-grid-cap", found, sizeof (found));
  }

  /* Wrong sizes, classes, a caps query. */
  b = g_byte_array_new ();
  op_caps (b, 3, 64, 48);
  op_prop (b, P_CLASSES, 8);
  for (int k = 0; k < FE_N_SIZES; k++)
    op_push (b, 1, k, 0);
  op2 (b, FE_QUERY, 2);
  ok &= write_seed (dir, "sizes", b->data, b->len);
  g_byte_array_unref (b);
  return ok;
}

int
main (int argc, char **argv)
{
  gboolean ok;

  if (argc == 3 && strcmp (argv[1], "--element") == 0) {
    if (g_mkdir_with_parents (argv[2], 0755) != 0)
      return 1;
    ok = write_element_seeds (argv[2]);
    printf ("dls-fuzz-seeds: %d files in %s\n", n_written, argv[2]);
    return ok ? 0 : 1;
  }
  if (argc < 2) {
    fprintf (stderr, "usage: %s OUT_DIR [MODEL...]\n", argv[0]);
    return 2;
  }
  if (g_mkdir_with_parents (argv[1], 0755) != 0) {
    fprintf (stderr, "dls-fuzz-seeds: cannot create %s\n", argv[1]);
    return 1;
  }
  ok = write_tiny (argv[1]);
  for (int i = 2; i < argc; i++)
    ok &= write_model (argv[1], argv[i], i - 2);
  printf ("dls-fuzz-seeds: %d files in %s\n", n_written, argv[1]);
  return ok ? 0 : 1;
}
