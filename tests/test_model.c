/* deeplabseg tests: the model readers (gst/model/).
 *
 * Cases that need no data run first: a small TFLite model built here with
 * a minimal FlatBuffer writer (options, defaults, external buffers,
 * unsupported operators, activations and types), missing and empty files,
 * random bytes and mutated copies of the small model. Then, with
 * ../shared: the real DeepLab model (structure and options checked
 * against what LiteRT reports), truncations and mutations of it, and the
 * quantized models. Hostile input must give a DLS_ERROR, never a crash;
 * run under valgrind or ASan to also catch silent out-of-bounds reads
 * (every parse gets a buffer of exactly the file's size).
 *
 * One line per case; exit 0 pass, 1 fail, 77 skip (data missing).
 */
#include "model/model.h"
#include "testutil.h"

#include <glib/gstdio.h>
#include <string.h>

static int n_failed;

static void
report (gboolean ok, const char *name, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);

static void
report (gboolean ok, const char *name, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  printf ("%s %s: %s\n", ok ? "ok  " : "FAIL", name, msg);
  fflush (stdout);
  g_free (msg);
  if (!ok)
    n_failed++;
}

/* ------------------------------------------------------------------------
 * A minimal FlatBuffer writer. Objects form a tree; fb_finish() lays them
 * out front to back (vtable, table, then its children), so every uoffset
 * points forward as the format requires, with natural alignment.
 */

#define FB_MAX_FIELDS 16

typedef enum
{
  OBJ_TABLE,
  OBJ_VEC_I32,
  OBJ_BYTES,
  OBJ_STRING,
  OBJ_VEC_OBJ,
} ObjKind;

typedef struct FbObj FbObj;

struct FbObj
{
  ObjKind kind;
  int n_fields;
  guint8 field_size[FB_MAX_FIELDS];     /* 0 = absent */
  guint64 field_value[FB_MAX_FIELDS];
  FbObj *field_ref[FB_MAX_FIELDS];
  GByteArray *bytes;            /* VEC_I32 (little-endian), BYTES, STRING */
  guint32 n_items;
  GPtrArray *items;             /* VEC_OBJ */
};

typedef struct
{
  GPtrArray *pool;
} Fb;

static void
fb_obj_free (gpointer p)
{
  FbObj *o = p;
  if (o->bytes)
    g_byte_array_unref (o->bytes);
  if (o->items)
    g_ptr_array_unref (o->items);
  g_free (o);
}

static void
fb_init (Fb * fb)
{
  fb->pool = g_ptr_array_new_with_free_func (fb_obj_free);
}

static void
fb_clear (Fb * fb)
{
  g_ptr_array_unref (fb->pool);
}

static FbObj *
fb_new (Fb * fb, ObjKind kind)
{
  FbObj *o = g_new0 (FbObj, 1);
  o->kind = kind;
  g_ptr_array_add (fb->pool, o);
  return o;
}

static FbObj *
fb_table (Fb * fb)
{
  return fb_new (fb, OBJ_TABLE);
}

static void
fb_scalar (FbObj * t, int id, int size, guint64 value)
{
  g_assert (id < FB_MAX_FIELDS);
  t->field_size[id] = size;
  t->field_value[id] = value;
  t->n_fields = MAX (t->n_fields, id + 1);
}

static void
fb_ref (FbObj * t, int id, FbObj * child)
{
  fb_scalar (t, id, 4, 0);
  t->field_ref[id] = child;
}

static FbObj *
fb_ivec (Fb * fb, const gint32 * v, int n)
{
  FbObj *o = fb_new (fb, OBJ_VEC_I32);
  o->bytes = g_byte_array_new ();
  for (int i = 0; i < n; i++) {
    guint32 le = GUINT32_TO_LE ((guint32) v[i]);
    g_byte_array_append (o->bytes, (const guint8 *) &le, 4);
  }
  o->n_items = n;
  return o;
}

static FbObj *
fb_bytes (Fb * fb, const void *data, gsize n)
{
  FbObj *o = fb_new (fb, OBJ_BYTES);
  o->bytes = g_byte_array_new ();
  g_byte_array_append (o->bytes, data, n);
  o->n_items = n;
  return o;
}

static FbObj *
fb_string (Fb * fb, const char *s)
{
  FbObj *o = fb_bytes (fb, s, strlen (s));
  o->kind = OBJ_STRING;
  return o;
}

static FbObj *
fb_objvec (Fb * fb)
{
  FbObj *o = fb_new (fb, OBJ_VEC_OBJ);
  o->items = g_ptr_array_new ();
  return o;
}

static void
fb_push (FbObj * vec, FbObj * item)
{
  g_ptr_array_add (vec->items, item);
  vec->n_items = vec->items->len;
}

static void
fb_pad (GByteArray * b, guint align)
{
  static const guint8 zero[16];
  if (b->len % align)
    g_byte_array_append (b, zero, align - b->len % align);
}

static void
fb_put (GByteArray * b, guint pos, guint64 v, int size)
{
  for (int i = 0; i < size; i++)
    b->data[pos + i] = (guint8) (v >> (8 * i));
}

static void
fb_append (GByteArray * b, guint64 v, int size)
{
  guint pos = b->len;
  g_byte_array_set_size (b, pos + size);
  fb_put (b, pos, v, size);
}

static guint
fb_write (GByteArray * b, FbObj * o)
{
  guint pos, fo[FB_MAX_FIELDS] = { 0 }, cur = 4, vt, tsize;

  switch (o->kind) {
    case OBJ_TABLE:
      for (int i = 0; i < o->n_fields; i++) {
        guint sz = o->field_size[i];
        if (!sz)
          continue;
        cur = (cur + sz - 1) / sz * sz;
        fo[i] = cur;
        cur += sz;
      }
      tsize = (cur + 3) & ~3u;
      fb_pad (b, 2);
      vt = b->len;
      fb_append (b, 4 + 2 * o->n_fields, 2);
      fb_append (b, tsize, 2);
      for (int i = 0; i < o->n_fields; i++)
        fb_append (b, fo[i], 2);
      fb_pad (b, 8);
      pos = b->len;
      fb_append (b, pos - vt, 4);
      g_byte_array_set_size (b, pos + tsize);
      memset (b->data + pos + 4, 0, tsize - 4);
      for (int i = 0; i < o->n_fields; i++)
        if (o->field_size[i] && !o->field_ref[i])
          fb_put (b, pos + fo[i], o->field_value[i], o->field_size[i]);
      for (int i = 0; i < o->n_fields; i++)
        if (o->field_ref[i]) {
          guint child = fb_write (b, o->field_ref[i]);
          fb_put (b, pos + fo[i], child - (pos + fo[i]), 4);
        }
      return pos;
    case OBJ_VEC_I32:
    case OBJ_BYTES:
    case OBJ_STRING:
      fb_pad (b, 4);
      pos = b->len;
      fb_append (b, o->n_items, 4);
      g_byte_array_append (b, o->bytes->data, o->bytes->len);
      if (o->kind == OBJ_STRING)
        fb_append (b, 0, 1);
      return pos;
    case OBJ_VEC_OBJ:
      fb_pad (b, 4);
      pos = b->len;
      fb_append (b, o->n_items, 4);
      for (guint i = 0; i < o->n_items; i++)
        fb_append (b, 0, 4);
      for (guint i = 0; i < o->n_items; i++) {
        guint elem = pos + 4 + 4 * i;
        guint child = fb_write (b, g_ptr_array_index (o->items, i));
        fb_put (b, elem, child - elem, 4);
      }
      return pos;
  }
  g_assert_not_reached ();
}

static GByteArray *
fb_finish (FbObj * root, const char *ident)
{
  GByteArray *b = g_byte_array_new ();

  fb_append (b, 0, 4);
  g_byte_array_append (b, (const guint8 *) ident, 4);
  fb_put (b, 0, fb_write (b, root), 4);
  fb_pad (b, 4);
  return b;
}

/* ------------------------------------------------------------------------
 * A small float TFLite model using every supported operator:
 *
 *   input 1x8x8x4
 *   0 CONV_2D 6x3x3x4 + bias, SAME, stride 2 -> 1x4x4x6 (RELU6)
 *   1 DEPTHWISE_CONV_2D 1x3x3x6 + bias, SAME, dilation h2 w3 (RELU)
 *   2 ADD (0, 1) -> 1x4x4x6 (RELU_N1_TO_1)
 *   3 CONCATENATION (2, 0) axis -1 -> 1x4x4x12
 *   4 AVERAGE_POOL_2D filter h4 w2, stride h4 w2, VALID -> 1x1x2x12
 *   5 RESIZE_BILINEAR to [5, 7], align_corners -> 1x5x7x12 = output
 *
 * TinySpec varies it to reach each path of the reader. The default model
 * also loads and runs in LiteRT (checked when this was written).
 */

typedef struct
{
  int bad_op;                   /* operator whose code is replaced, or -1 */
  int bad_code;                 /* its builtin code */
  const char *custom_code;      /* the custom_code, with bad_code 32 */
  int conv_act;                 /* ActivationFunctionType of operator 0 */
  gboolean resize_half_pixel;
  gboolean resize_align;
  gboolean dw_no_dilation;      /* depthwise options without dilation */
  gboolean dw_no_multiplier;    /* depthwise options without multiplier */
  int dw_bias;                  /* depthwise bias: 0 given, 1 no third
                                 * input, 2 third input -1 */
  gboolean external;            /* conv weights after the FlatBuffer */
  guint64 external_shift;       /* moves their offset by this much */
  int input_type;               /* TensorType of the input */
  int concat_axis;
  int version;
  gboolean bomb;                /* 128 tensors sharing one 16 KB buffer */
} TinySpec;

static const TinySpec tiny_default = {
  .bad_op = -1,.conv_act = 3,.resize_align = TRUE,.concat_axis = -1,
  .version = 3,
};

enum
{
  T_INPUT, T_CONV_W, T_CONV_B, T_CONV, T_DW_W, T_DW_B, T_DW, T_ADD, T_CONCAT,
  T_POOL, T_SIZE, T_OUTPUT, T_COUNT
};

#define CONV_W_N (6 * 3 * 3 * 4)

static float
tiny_weight (int i)
{
  return (float) (i % 17) * 0.125f - 1.0f;
}

static FbObj *
tiny_tensor (Fb * fb, const char *name, int type, guint32 buffer,
    const gint32 * shape, int rank)
{
  FbObj *t = fb_table (fb);
  fb_ref (t, 0, fb_ivec (fb, shape, rank));
  if (type)
    fb_scalar (t, 1, 1, type);
  if (buffer)
    fb_scalar (t, 2, 4, buffer);
  fb_ref (t, 3, fb_string (fb, name));
  return t;
}

static FbObj *
tiny_buffer (Fb * fb, const void *data, gsize n)
{
  FbObj *b = fb_table (fb);
  if (n)
    fb_ref (b, 0, fb_bytes (fb, data, n));
  return b;
}

static FbObj *
tiny_op (Fb * fb, guint32 opcode, const gint32 * ins, int n_in, gint32 out,
    int opts_type, FbObj * opts)
{
  FbObj *op = fb_table (fb);
  if (opcode)
    fb_scalar (op, 0, 4, opcode);
  fb_ref (op, 1, fb_ivec (fb, ins, n_in));
  fb_ref (op, 2, fb_ivec (fb, &out, 1));
  fb_scalar (op, 3, 1, opts_type);
  fb_ref (op, 4, opts);
  return op;
}

/* Builds the model once with @ext_offset as the external weights' offset;
 * see tiny_build(). */
static GByteArray *
tiny_build_pass (const TinySpec * s, guint64 ext_offset, GByteArray * ext)
{
  static const int codes[6] = { 3, 4, 0, 2, 1, 23 };
  static const gint32 s_in[] = { 1, 8, 8, 4 }, s_cw[] = { 6, 3, 3, 4 },
      s_cb[] = { 6 }, s_act6[] = { 1, 4, 4, 6 }, s_dw[] = { 1, 3, 3, 6 },
      s_cat[] = { 1, 4, 4, 12 }, s_pool[] = { 1, 1, 2, 12 }, s_size[] = { 2 },
      s_out[] = { 1, 5, 7, 12 };
  float conv_w[CONV_W_N], conv_b[6], dw_w[54], dw_b[6];
  gint32 size_v[2] = { GINT32_TO_LE (5), GINT32_TO_LE (7) };
  Fb fb;
  FbObj *model, *opcodes, *subgraphs, *sg, *tensors, *buffers, *ops, *o;
  GByteArray *out;

  for (int i = 0; i < CONV_W_N; i++)
    conv_w[i] = tiny_weight (i);
  for (int i = 0; i < 6; i++)
    conv_b[i] = 0.5f * i;
  for (int i = 0; i < 54; i++)
    dw_w[i] = tiny_weight (i + 3);
  for (int i = 0; i < 6; i++)
    dw_b[i] = -0.25f * i;
  g_byte_array_set_size (ext, 0);
  g_byte_array_append (ext, (const guint8 *) conv_w, sizeof (conv_w));

  fb_init (&fb);
  model = fb_table (&fb);
  fb_scalar (model, 0, 4, s->version);

  opcodes = fb_objvec (&fb);
  for (int i = 0; i < 6; i++) {
    int code = i == s->bad_op ? s->bad_code : codes[i];
    o = fb_table (&fb);
    /* Old files set only the int8 field, new ones both; 127 stands in for
     * codes that do not fit. */
    if (code)
      fb_scalar (o, 0, 1, MIN (code, 127));
    if (code >= 127 || (i & 1))
      fb_scalar (o, 3, 4, code);
    if (code == 32 && s->custom_code)
      fb_ref (o, 1, fb_string (&fb, s->custom_code));
    fb_push (opcodes, o);
  }
  fb_ref (model, 1, opcodes);

  buffers = fb_objvec (&fb);
  fb_push (buffers, tiny_buffer (&fb, NULL, 0));
  if (s->external) {
    o = fb_table (&fb);
    fb_scalar (o, 1, 8, ext_offset);
    fb_scalar (o, 2, 8, sizeof (conv_w));
    fb_push (buffers, o);
  } else {
    fb_push (buffers, tiny_buffer (&fb, conv_w, sizeof (conv_w)));
  }
  fb_push (buffers, tiny_buffer (&fb, conv_b, sizeof (conv_b)));
  fb_push (buffers, tiny_buffer (&fb, dw_w, sizeof (dw_w)));
  fb_push (buffers, tiny_buffer (&fb, size_v, sizeof (size_v)));
  fb_push (buffers, tiny_buffer (&fb, dw_b, sizeof (dw_b)));
  fb_ref (model, 4, buffers);

  tensors = fb_objvec (&fb);
  fb_push (tensors, tiny_tensor (&fb, "input", s->input_type, 0, s_in, 4));
  fb_push (tensors, tiny_tensor (&fb, "conv/w", 0, 1, s_cw, 4));
  fb_push (tensors, tiny_tensor (&fb, "conv/b", 0, 2, s_cb, 1));
  fb_push (tensors, tiny_tensor (&fb, "conv", 0, 0, s_act6, 4));
  fb_push (tensors, tiny_tensor (&fb, "dw/w", 0, 3, s_dw, 4));
  fb_push (tensors, tiny_tensor (&fb, "dw/b", 0, 5, s_cb, 1));
  fb_push (tensors, tiny_tensor (&fb, "dw", 0, 0, s_act6, 4));
  fb_push (tensors, tiny_tensor (&fb, "add", 0, 0, s_act6, 4));
  fb_push (tensors, tiny_tensor (&fb, "concat", 0, 0, s_cat, 4));
  fb_push (tensors, tiny_tensor (&fb, "pool", 0, 0, s_pool, 4));
  fb_push (tensors, tiny_tensor (&fb, "size", 2, 4, s_size, 1));
  fb_push (tensors, tiny_tensor (&fb, "output", 0, 0, s_out, 4));

  ops = fb_objvec (&fb);
  {
    gint32 in0[] = { T_INPUT, T_CONV_W, T_CONV_B };
    o = fb_table (&fb);
    fb_scalar (o, 0, 1, 0);     /* SAME */
    fb_scalar (o, 1, 4, 2);
    fb_scalar (o, 2, 4, 2);
    fb_scalar (o, 3, 1, s->conv_act);
    fb_push (ops, tiny_op (&fb, 0, in0, 3, T_CONV, 1, o));
  }
  {
    gint32 in1[] = { T_CONV, T_DW_W, s->dw_bias == 2 ? -1 : T_DW_B };
    o = fb_table (&fb);
    fb_scalar (o, 1, 4, 1);
    fb_scalar (o, 2, 4, 1);
    if (!s->dw_no_multiplier)
      fb_scalar (o, 3, 4, 1);
    fb_scalar (o, 4, 1, 1);     /* RELU */
    if (!s->dw_no_dilation) {
      fb_scalar (o, 5, 4, 3);
      fb_scalar (o, 6, 4, 2);
    }
    fb_push (ops, tiny_op (&fb, 1, in1, s->dw_bias == 1 ? 2 : 3, T_DW, 2, o));
  }
  {
    gint32 in2[] = { T_CONV, T_DW };
    o = fb_table (&fb);
    fb_scalar (o, 0, 1, 2);     /* RELU_N1_TO_1 */
    fb_push (ops, tiny_op (&fb, 2, in2, 2, T_ADD, 11, o));
  }
  {
    gint32 in3[] = { T_ADD, T_CONV };
    o = fb_table (&fb);
    fb_scalar (o, 0, 4, (guint32) s->concat_axis);
    fb_push (ops, tiny_op (&fb, 3, in3, 2, T_CONCAT, 10, o));
  }
  {
    gint32 in4[] = { T_CONCAT };
    o = fb_table (&fb);
    fb_scalar (o, 0, 1, 1);     /* VALID */
    fb_scalar (o, 1, 4, 2);
    fb_scalar (o, 2, 4, 4);
    fb_scalar (o, 3, 4, 2);
    fb_scalar (o, 4, 4, 4);
    fb_push (ops, tiny_op (&fb, 4, in4, 1, T_POOL, 5, o));
  }
  {
    gint32 in5[] = { T_POOL, T_SIZE };
    o = fb_table (&fb);
    if (s->resize_align)
      fb_scalar (o, 2, 1, 1);
    if (s->resize_half_pixel)
      fb_scalar (o, 3, 1, 1);
    fb_push (ops, tiny_op (&fb, 5, in5, 2, T_OUTPUT, 15, o));
  }

  sg = fb_table (&fb);
  fb_ref (sg, 0, tensors);
  {
    gint32 in = T_INPUT, outp = T_OUTPUT;
    fb_ref (sg, 1, fb_ivec (&fb, &in, 1));
    fb_ref (sg, 2, fb_ivec (&fb, &outp, 1));
  }
  if (s->bomb) {
    static const gint32 s_bomb[] = { 4096 };
    gint32 base = T_COUNT, in[8];
    float *zeros = g_new0 (float, 4096);

    fb_push (buffers, tiny_buffer (&fb, zeros, 4096 * sizeof (float)));
    g_free (zeros);
    for (int i = 0; i < 128; i++)
      fb_push (tensors, tiny_tensor (&fb, "bomb", 0, 6, s_bomb, 1));
    for (int i = 0; i < 16; i++) {
      for (int k = 0; k < 8; k++)
        in[k] = base + i * 8 + k;
      fb_push (ops, tiny_op (&fb, 3, in, 8, T_OUTPUT, 10, fb_table (&fb)));
    }
  }
  fb_ref (sg, 3, ops);
  fb_ref (sg, 4, fb_string (&fb, "main"));
  subgraphs = fb_objvec (&fb);
  fb_push (subgraphs, sg);
  fb_ref (model, 2, subgraphs);
  fb_ref (model, 3, fb_string (&fb, "built by test_model.c"));

  out = fb_finish (model, "TFL3");
  fb_clear (&fb);
  return out;
}

/* The file bytes of the small model. With s->external the conv weights
 * follow the FlatBuffer, 16-aligned, at the offset Buffer.offset gives;
 * the offset is known only once the FlatBuffer is laid out, so it is laid
 * out twice (the field's value does not change the layout). */
static GByteArray *
tiny_build (const TinySpec * s)
{
  GByteArray *ext = g_byte_array_new ();
  GByteArray *b = tiny_build_pass (s, 16, ext);

  if (s->external) {
    guint64 off = (b->len + 15) / 16 * 16;
    g_byte_array_unref (b);
    b = tiny_build_pass (s, off + s->external_shift, ext);
    g_assert (b->len <= off);
    fb_pad (b, 16);
    g_byte_array_append (b, ext->data, ext->len);
  }
  g_byte_array_unref (ext);
  return b;
}

/* Parses a private copy of exactly @size bytes so that a read past the end
 * is a heap overflow the sanitizers see. */
static DlsGraph *
parse_exact (const guint8 * data, gsize size, GError ** error)
{
  guint8 *copy = g_malloc (MAX (size, 1));
  DlsGraph *g;

  memcpy (copy, data, size);
  g = dls_tflite_parse (size ? copy : NULL, size, error);
  g_free (copy);
  return g;
}

static int
count_op (const DlsGraph * g, DlsOpType op)
{
  int n = 0;
  for (int i = 0; i < dls_graph_n_nodes (g); i++)
    n += dls_graph_node (g, i)->op == op;
  return n;
}

static gboolean
dims_equal (const DlsTensor * t, int n, const int *dims)
{
  if (t->n_dims != n)
    return FALSE;
  for (int i = 0; i < n; i++)
    if (t->dims[i] != dims[i])
      return FALSE;
  return TRUE;
}

/* An error must be ours, carry a readable message and have @code
 * (-1: any). */
static gboolean
error_ok (const GError * err, int code)
{
  return err && err->domain == DLS_ERROR && (code < 0 || err->code == code)
      && err->message && err->message[0]
      && g_utf8_validate (err->message, -1, NULL);
}

static const char *
error_message (const GError * err)
{
  return err ? err->message : "(no error)";
}

static char *
tmp_file (const char *name, const void *data, gsize size)
{
  char *path = g_build_filename (g_get_tmp_dir (), name, NULL);
  GError *err = NULL;

  if (!g_file_set_contents (path, data, size, &err)) {
    report (FALSE, "tmp-file", "cannot write %s: %s", path, err->message);
    g_error_free (err);
  }
  return path;
}

/* ------------------------------------------------------------------------
 * Cases without data.
 */

static void
test_tiny_valid (void)
{
  GByteArray *b = tiny_build (&tiny_default);
  GError *err = NULL;
  DlsGraph *g = parse_exact (b->data, b->len, &err);
  static const int in_dims[] = { 1, 8, 8, 4 }, out_dims[] = { 1, 5, 7, 12 };
  gboolean ok;

  ok = g != NULL;
  if (ok) {
    const DlsNode *conv = dls_graph_node (g, 0), *dw = dls_graph_node (g, 1),
        *add = dls_graph_node (g, 2), *cat = dls_graph_node (g, 3),
        *pool = dls_graph_node (g, 4), *rs = dls_graph_node (g, 5);
    const DlsTensor *w = dls_graph_tensor (g, conv->inputs[1]);
    gboolean weights_ok = w->kind == DLS_TENSOR_CONSTANT
        && w->n_bytes == CONV_W_N * 4;

    for (int i = 0; weights_ok && i < CONV_W_N; i++)
      weights_ok = ((const float *) w->data)[i] == tiny_weight (i);
    ok = g->finalized && dls_graph_n_nodes (g) == 6
        && g->inputs->len == 1 && g->outputs->len == 1
        && dims_equal (dls_graph_tensor (g, dls_graph_input (g, 0)), 4, in_dims)
        && dims_equal (dls_graph_tensor (g, dls_graph_output (g, 0)), 4,
        out_dims)
        /* only used tensors: the resize size vector stays out */
        && g->tensors->len == T_COUNT - 1
        && conv->op == DLS_OP_CONV2D && conv->n_inputs == 3
        && conv->p.win.stride_h == 2 && conv->p.win.stride_w == 2
        && conv->p.win.dilation_h == 1 && conv->p.win.padding ==
        DLS_PADDING_SAME && conv->act_min == 0.0f && conv->act_max == 6.0f
        && conv->p.win.kernel_h == 3 && weights_ok
        && dw->op == DLS_OP_DEPTHWISE_CONV2D && dw->n_inputs == 3
        && ((const float *) dls_graph_tensor (g, dw->inputs[2])->data)[5]
        == -1.25f
        && dw->p.win.dilation_h == 2 && dw->p.win.dilation_w == 3
        && dw->p.win.depth_multiplier == 1 && dw->act_min == 0.0f
        && isinf (dw->act_max)
        && add->op == DLS_OP_ADD && add->act_min == -1.0f
        && add->act_max == 1.0f
        && cat->op == DLS_OP_CONCAT && cat->p.concat.axis == 3
        && isinf (cat->act_min) && cat->act_min < 0
        && pool->op == DLS_OP_AVERAGE_POOL2D && pool->p.win.kernel_h == 4
        && pool->p.win.kernel_w == 2 && pool->p.win.stride_h == 4
        && pool->p.win.stride_w == 2
        && pool->p.win.padding == DLS_PADDING_VALID
        && rs->op == DLS_OP_RESIZE_BILINEAR && rs->n_inputs == 1
        && rs->p.resize.out_h == 5 && rs->p.resize.out_w == 7
        && rs->p.resize.coord == DLS_RESIZE_ALIGN_CORNERS;
  }
  report (ok, "tiny-valid", "%u-byte model built in code: %s", b->len,
      g ? (ok ? "6 nodes, options, defaults and weights as written"
          : "loaded with wrong contents") : error_message (err));
  dls_graph_free (g);
  g_clear_error (&err);
  g_byte_array_unref (b);
}

static void
test_tiny_variants (void)
{
  struct
  {
    const char *name;
    TinySpec spec;
  } cases[] = {
    {"dw-defaults", tiny_default},
    {"resize-half-pixel", tiny_default},
    {"resize-asymmetric", tiny_default},
    {"concat-axis-3", tiny_default},
    {"external-buffer", tiny_default},
    {"dw-no-bias", tiny_default},
    {"dw-bias-minus-1", tiny_default},
  };
  GError *err = NULL;

  cases[0].spec.dw_no_dilation = TRUE;
  cases[0].spec.dw_no_multiplier = TRUE;
  cases[1].spec.resize_align = FALSE;
  cases[1].spec.resize_half_pixel = TRUE;
  cases[2].spec.resize_align = FALSE;
  cases[3].spec.concat_axis = 3;
  cases[4].spec.external = TRUE;
  cases[5].spec.dw_bias = 1;
  cases[6].spec.dw_bias = 2;

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    GByteArray *b = tiny_build (&cases[c].spec);
    DlsGraph *g = parse_exact (b->data, b->len, &err);
    gboolean ok = g != NULL;
    char *name = g_strdup_printf ("tiny-%s", cases[c].name);

    if (g) {
      const DlsNode *dw = dls_graph_node (g, 1), *cat = dls_graph_node (g, 3),
          *rs = dls_graph_node (g, 5);
      const DlsTensor *w = dls_graph_tensor (g, dls_graph_node (g,
              0)->inputs[1]);
      switch (c) {
        case 0:
          ok = dw->p.win.dilation_h == 1 && dw->p.win.dilation_w == 1
              && dw->p.win.depth_multiplier == 1;
          break;
        case 1:
          ok = rs->p.resize.coord == DLS_RESIZE_HALF_PIXEL;
          break;
        case 2:
          ok = rs->p.resize.coord == DLS_RESIZE_ASYMMETRIC;
          break;
        case 3:
          ok = cat->p.concat.axis == 3;
          break;
        case 4:
          ok = w->n_bytes == CONV_W_N * 4
              && ((const float *) w->data)[CONV_W_N - 1] ==
              tiny_weight (CONV_W_N - 1);
          break;
        case 5:
          ok = dw->n_inputs == 2;
          break;
        case 6:
          ok = dw->n_inputs == 3 && dw->inputs[2] == -1;
          break;
      }
    }
    report (ok, name, "%s", g ? (ok ? "loaded as expected" :
            "loaded with wrong parameters") : error_message (err));
    g_free (name);
    dls_graph_free (g);
    g_clear_error (&err);
    g_byte_array_unref (b);
  }
}

/* Variants that must fail with @code and a message containing @needle. */
static void
test_tiny_errors (void)
{
  struct
  {
    const char *name;
    int code;
    const char *needle;
    TinySpec spec;
  } cases[] = {
    {"unsupported-op", DLS_ERROR_UNSUPPORTED,
        "unsupported operator RESHAPE (builtin code 22) at operator 2",
        tiny_default},
    {"unsupported-op-high-code", DLS_ERROR_UNSUPPORTED, "GELU (builtin code "
          "150)", tiny_default},
    {"unsupported-op-argmax", DLS_ERROR_UNSUPPORTED, "ARG_MAX", tiny_default},
    {"unknown-op-code", DLS_ERROR_UNSUPPORTED, "unknown builtin code 4000",
        tiny_default},
    {"custom-op", DLS_ERROR_UNSUPPORTED, "custom operator 'MyOp'",
        tiny_default},
    {"activation-tanh", DLS_ERROR_UNSUPPORTED, "TANH", tiny_default},
    {"activation-unknown", DLS_ERROR_UNSUPPORTED, "activation 77",
        tiny_default},
    {"resize-both-flags", DLS_ERROR_UNSUPPORTED, "half_pixel_centers",
        tiny_default},
    {"quantized-input", DLS_ERROR_UNSUPPORTED,
        "tensor 'input' has type INT8: quantized", tiny_default},
    {"float16-input", DLS_ERROR_UNSUPPORTED, "FLOAT16", tiny_default},
    {"external-outside", DLS_ERROR_CORRUPT, "outside", tiny_default},
    {"schema-version", DLS_ERROR_UNSUPPORTED, "version 2", tiny_default},
    {"concat-axis", DLS_ERROR_INVALID_GRAPH, "axis 9", tiny_default},
    {"shared-buffer-bomb", DLS_ERROR_UNSUPPORTED, "times the file size",
        tiny_default},
  };
  GError *err = NULL;

  cases[0].spec.bad_op = 2;
  cases[0].spec.bad_code = 22;
  cases[1].spec.bad_op = 0;
  cases[1].spec.bad_code = 150;
  cases[2].spec.bad_op = 5;
  cases[2].spec.bad_code = 56;
  cases[3].spec.bad_op = 1;
  cases[3].spec.bad_code = 4000;
  cases[4].spec.bad_op = 3;
  cases[4].spec.bad_code = 32;
  cases[4].spec.custom_code = "MyOp";
  cases[5].spec.conv_act = 4;
  cases[6].spec.conv_act = 77;
  cases[7].spec.resize_half_pixel = TRUE;
  cases[8].spec.input_type = 9;
  cases[9].spec.input_type = 1;
  cases[10].spec.external = TRUE;
  cases[10].spec.external_shift = 64;
  cases[11].spec.version = 2;
  cases[12].spec.concat_axis = 9;
  cases[13].spec.bomb = TRUE;

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    GByteArray *b = tiny_build (&cases[c].spec);
    DlsGraph *g = parse_exact (b->data, b->len, &err);
    gboolean ok = !g && error_ok (err, cases[c].code)
        && strstr (err->message, cases[c].needle);
    char *name = g_strdup_printf ("tiny-%s", cases[c].name);

    report (ok, name, "%s", error_message (err));
    g_free (name);
    dls_graph_free (g);
    g_clear_error (&err);
    g_byte_array_unref (b);
  }
}

static void
test_load_paths (void)
{
  GError *err = NULL;
  char *missing = g_build_filename (g_get_tmp_dir (),
      "dls-test-model-no-such-file.tflite", NULL);
  char *empty = tmp_file ("dls-test-model-empty.tflite", "", 0);
  char *text = tmp_file ("dls-test-model-text.tflite", "hello, not a model",
      18);
  GByteArray *b = tiny_build (&tiny_default);
  char *tiny = tmp_file ("dls-test-model-tiny.tflite", b->data, b->len);
  GByteArray *bad_spec = NULL;
  char *bad = NULL;
  TinySpec s = tiny_default;
  DlsGraph *g;
  gboolean ok;

  g = dls_model_load (missing, &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_FOUND)
      && strstr (err->message, missing);
  report (ok, "load-missing", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (g_get_tmp_dir (), &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_FOUND);
  report (ok, "load-directory", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (empty, &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_A_MODEL)
      && strstr (err->message, "empty");
  report (ok, "load-empty", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (text, &err);
  ok = !g && error_ok (err, DLS_ERROR_NOT_A_MODEL)
      && strstr (err->message, "is not a model");
  report (ok, "load-text", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g = dls_model_load (tiny, &err);
  ok = g && g->finalized && dls_graph_n_nodes (g) == 6;
  report (ok, "load-tiny-file", "%s", g ? "6 nodes" : error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  s.bad_op = 4;
  s.bad_code = 17;
  bad_spec = tiny_build (&s);
  bad = tmp_file ("dls-test-model-maxpool.tflite", bad_spec->data,
      bad_spec->len);
  g = dls_model_load (bad, &err);
  ok = !g && error_ok (err, DLS_ERROR_UNSUPPORTED)
      && strstr (err->message, bad) && strstr (err->message, "MAX_POOL_2D");
  report (ok, "load-unsupported-file", "%s", error_message (err));
  g_clear_error (&err);
  dls_graph_free (g);

  g_unlink (empty);
  g_unlink (text);
  g_unlink (tiny);
  g_unlink (bad);
  g_free (missing);
  g_free (empty);
  g_free (text);
  g_free (tiny);
  g_free (bad);
  g_byte_array_unref (b);
  g_byte_array_unref (bad_spec);
}

static void
test_random_bytes (void)
{
  static const gsize sizes[] = { 1, 4, 7, 8, 9, 12, 16, 31, 64, 100, 256,
    1000, 4096, 65536
  };
  GRand *rand = g_rand_new_with_seed (20240601);
  int n = 0, n_ok = 0;
  GError *err = NULL;

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    for (int rep = 0; rep < 8; rep++) {
      guint8 *buf = g_malloc (sizes[s]);
      DlsGraph *g;

      for (gsize i = 0; i < sizes[s]; i++)
        buf[i] = (guint8) g_rand_int (rand);
      /* Half of them carry the identifier, to get past the probe and
       * exercise the reader; the root offset is kept small in some so it
       * lands inside the buffer. */
      if (rep & 1 && sizes[s] >= 8)
        memcpy (buf + 4, "TFL3", 4);
      if (rep & 2 && sizes[s] >= 8) {
        guint32 root = GUINT32_TO_LE (g_rand_int_range (rand, 0,
                (gint32) MIN (sizes[s], G_MAXINT32)));
        memcpy (buf, &root, 4);
      }
      g = parse_exact (buf, sizes[s], &err);
      n++;
      if (!g && error_ok (err, -1))
        n_ok++;
      else
        report (FALSE, "random-bytes", "%" G_GSIZE_FORMAT " bytes (rep %d):"
            " %s", sizes[s], rep, g ? "loaded" : "bad error");
      dls_graph_free (g);
      g_clear_error (&err);
      g_free (buf);
    }
  }
  report (n_ok == n, "random-bytes", "%d/%d random buffers (1..65536 bytes, "
      "half with \"TFL3\") rejected cleanly", n_ok, n);
  g_rand_free (rand);
}

/* Random byte changes: each copy must load as a finalized graph or fail
 * with a DLS_ERROR. @where: 0 anywhere, else the first / last @span bytes
 * get two thirds of the changes (the FlatBuffer's structure; the middle of
 * a real model is weights). */
static void
mutate_many (const char *name, const guint8 * data, gsize size, int copies,
    guint32 seed, gsize span)
{
  GRand *rand = g_rand_new_with_seed (seed);
  guint8 *buf = g_malloc (size);
  int counts[DLS_ERROR_INVALID_ARGUMENT + 1] = { 0 };
  int n_loaded = 0, n_bad = 0;
  GError *err = NULL;

  memcpy (buf, data, size);
  for (int c = 0; c < copies; c++) {
    gsize pos[6];
    int n_mut = g_rand_int_range (rand, 1, 7);
    DlsGraph *g;

    for (int m = 0; m < n_mut; m++) {
      int zone = span ? g_rand_int_range (rand, 0, 3) : 2;
      gsize lo = 0, hi = size;

      if (zone == 0)
        hi = MIN (span, size);
      else if (zone == 1)
        lo = size > span ? size - span : 0;
      pos[m] = lo + (gsize) (g_rand_double (rand) * (hi - lo));
      pos[m] = MIN (pos[m], size - 1);
      if (g_rand_boolean (rand))
        buf[pos[m]] ^= 1u << g_rand_int_range (rand, 0, 8);
      else
        buf[pos[m]] = (guint8) g_rand_int (rand);
    }
    g = dls_tflite_parse (buf, size, &err);
    if (g) {
      if (g->finalized && dls_graph_n_nodes (g) > 0)
        n_loaded++;
      else
        n_bad++;
    } else if (error_ok (err, -1) && err->code < (int) G_N_ELEMENTS (counts)) {
      counts[err->code]++;
    } else {
      n_bad++;
    }
    dls_graph_free (g);
    g_clear_error (&err);
    for (int m = 0; m < n_mut; m++)
      buf[pos[m]] = data[pos[m]];
  }
  report (n_bad == 0, name, "%d mutated copies: %d loaded, corrupt %d, "
      "not-a-model %d, unsupported %d, invalid-graph %d, bad outcomes %d",
      copies, n_loaded, counts[DLS_ERROR_CORRUPT],
      counts[DLS_ERROR_NOT_A_MODEL], counts[DLS_ERROR_UNSUPPORTED],
      counts[DLS_ERROR_INVALID_GRAPH], n_bad);
  g_free (buf);
  g_rand_free (rand);
}

static void
test_tiny_mutations (void)
{
  TinySpec ext = tiny_default;
  GByteArray *b = tiny_build (&tiny_default);
  GByteArray *e;

  mutate_many ("tiny-mutations", b->data, b->len, 2000, 7, 0);
  ext.external = TRUE;
  e = tiny_build (&ext);
  mutate_many ("tiny-external-mutations", e->data, e->len, 500, 8, 0);
  g_byte_array_unref (b);
  g_byte_array_unref (e);
}

static void
test_tiny_truncated (void)
{
  GByteArray *b = tiny_build (&tiny_default);
  GError *err = NULL;
  guint n_ok = 0;

  for (guint len = 0; len < b->len; len++) {
    DlsGraph *g = parse_exact (b->data, len, &err);
    if (!g && error_ok (err, len < 8 ? DLS_ERROR_NOT_A_MODEL :
            DLS_ERROR_CORRUPT))
      n_ok++;
    else
      report (FALSE, "tiny-truncated", "cut at %u: %s", len,
          g ? "loaded" : "bad error");
    dls_graph_free (g);
    g_clear_error (&err);
  }
  report (n_ok == b->len, "tiny-truncated", "every cut 0..%u rejected, "
      "as not a model below 8 bytes, else corrupt (%u)", b->len - 1, n_ok);
  g_byte_array_unref (b);
}

/* ------------------------------------------------------------------------
 * Cases on ../shared data.
 */

static gboolean
read_file (const char *path, gchar ** data, gsize * size)
{
  GError *err = NULL;

  if (!g_file_get_contents (path, data, size, &err)) {
    report (FALSE, "read", "%s: %s", path, err->message);
    g_error_free (err);
    return FALSE;
  }
  return TRUE;
}

static void
test_real_model (const char *path)
{
  GError *err = NULL;
  DlsGraph *g = dls_model_load (path, &err);
  static const int in_dims[] = { 1, 257, 257, 3 };
  static const int out_dims[] = { 1, 257, 257, 21 };
  static const int w0_dims[] = { 16, 3, 3, 3 };
  /* MobilenetV2/Conv/weights[0..3] and bias[0], as LiteRT reads them. */
  static const float w0[] = { 0.22600266337394714f, -0.7725163102149963f,
    0.5276147127151489f, 0.3157399594783783f
  };
  int dil2 = 0, dil4 = 0, n_resize_ok = 0;
  gboolean ok, first_ok = FALSE, pool_ok = FALSE, concat_ok = FALSE;
  guint64 macs = 0;

  if (!g) {
    report (FALSE, "real-model", "%s", error_message (err));
    g_clear_error (&err);
    return;
  }
  for (int i = 0; i < dls_graph_n_nodes (g); i++) {
    const DlsNode *n = dls_graph_node (g, i);

    if (n->op == DLS_OP_DEPTHWISE_CONV2D) {
      dil2 += n->p.win.dilation_h == 2 && n->p.win.dilation_w == 2;
      dil4 += n->p.win.dilation_h == 4 && n->p.win.dilation_w == 4;
    } else if (n->op == DLS_OP_RESIZE_BILINEAR) {
      int size = i == 69 ? 257 : 33;
      n_resize_ok += n->n_inputs == 1 && n->p.resize.out_h == size
          && n->p.resize.out_w == size
          && n->p.resize.coord == DLS_RESIZE_ALIGN_CORNERS;
    } else if (n->op == DLS_OP_AVERAGE_POOL2D) {
      pool_ok = n->p.win.kernel_h == 33 && n->p.win.kernel_w == 33
          && n->p.win.stride_h == 33 && n->p.win.padding == DLS_PADDING_VALID;
    } else if (n->op == DLS_OP_CONCAT) {
      concat_ok = n->p.concat.axis == 3 && n->n_inputs == 2;
    }
  }
  {
    const DlsNode *n = dls_graph_node (g, 0);
    const DlsTensor *w = dls_graph_tensor (g, n->inputs[1]);
    const DlsTensor *b = dls_graph_tensor (g, n->inputs[2]);

    first_ok = n->op == DLS_OP_CONV2D && n->p.win.stride_h == 2
        && n->p.win.stride_w == 2 && n->p.win.padding == DLS_PADDING_SAME
        && n->act_min == 0.0f && n->act_max == 6.0f
        && g_strcmp0 (w->name, "MobilenetV2/Conv/weights") == 0
        && dims_equal (w, 4, w0_dims) && w->n_bytes == 16 * 27 * 4
        && memcmp (w->data, w0, sizeof (w0)) == 0
        && ((const float *) b->data)[0] == 0.5731321573257446f;
  }
  macs = dls_graph_macs (g);

  ok = g->finalized && dls_graph_n_nodes (g) == 70
      && count_op (g, DLS_OP_CONV2D) == 38
      && count_op (g, DLS_OP_DEPTHWISE_CONV2D) == 17
      && count_op (g, DLS_OP_ADD) == 10
      && count_op (g, DLS_OP_AVERAGE_POOL2D) == 1
      && count_op (g, DLS_OP_CONCAT) == 1
      && count_op (g, DLS_OP_RESIZE_BILINEAR) == 3
      && g->inputs->len == 1 && g->outputs->len == 1
      && dims_equal (dls_graph_tensor (g, dls_graph_input (g, 0)), 4, in_dims)
      && dims_equal (dls_graph_tensor (g, dls_graph_output (g, 0)), 4, out_dims)
      && dil2 == 7 && dil4 == 3 && n_resize_ok == 3 && pool_ok && concat_ok
      && first_ok && macs > 700000000 && macs < 760000000;
  report (ok, "real-model", "%d nodes (conv %d, dw %d [dilation 2: %d, 4: "
      "%d], add %d, pool %d, concat %d, resize %d [align_corners: %d]), "
      "1x257x257x3 -> 1x257x257x21, first conv %s, %.3f GMAC",
      dls_graph_n_nodes (g), count_op (g, DLS_OP_CONV2D),
      count_op (g, DLS_OP_DEPTHWISE_CONV2D), dil2, dil4,
      count_op (g, DLS_OP_ADD), count_op (g, DLS_OP_AVERAGE_POOL2D),
      count_op (g, DLS_OP_CONCAT), count_op (g, DLS_OP_RESIZE_BILINEAR),
      n_resize_ok, first_ok ? "ok" : "WRONG", macs / 1e9);
  dls_graph_free (g);
}

static void
test_real_truncated (const guint8 * data, gsize size)
{
  GError *err = NULL;
  int n = 0, n_ok = 0;
  char *path;
  DlsGraph *g;

  static const gsize tail[] = { 64, 48, 32, 24, 16, 10 };

  for (int i = 0; i < 56; i++) {
    /* 0..64 in steps of 4, then spread over the file, then near the end.
     * The model's last 7 bytes are never read (LiteRT loads those
     * truncations too), so the cuts stop 10 bytes short. */
    gsize len = i <= 16 ? (gsize) i * 4 : i < 50
        ? (gsize) ((guint64) size * (i - 16) / 34) : size - tail[i - 50];

    g = parse_exact (data, len, &err);
    n++;
    if (!g && error_ok (err, len < 8 ? DLS_ERROR_NOT_A_MODEL :
            DLS_ERROR_CORRUPT))
      n_ok++;
    else
      report (FALSE, "real-truncated", "cut at %" G_GSIZE_FORMAT ": %s", len,
          g ? "loaded" : "bad error");
    dls_graph_free (g);
    g_clear_error (&err);
  }
  report (n_ok == n, "real-truncated", "%d/%d truncations rejected "
      "(0..64 bytes, across the file, near the end)", n_ok, n);

  /* Through a file too: the path is named and nothing is read past it. */
  path = tmp_file ("dls-test-model-truncated.tflite", data, size / 2);
  g = dls_model_load (path, &err);
  report (!g && error_ok (err, DLS_ERROR_CORRUPT)
      && strstr (err->message, path), "real-truncated-file", "%s",
      error_message (err));
  dls_graph_free (g);
  g_clear_error (&err);
  g_unlink (path);
  g_free (path);
}

static void
test_quantized (void)
{
  static const char *const models[] = {
    "models/quantized/deeplabv3_mnv2_pascal_quant.tflite",
    "models/quantized/deeplabv3_mnv2_dm05_pascal_quant.tflite",
    "models/quantized/deeplabv3_mnv2_ade20k_uint8.tflite",
    "models/quantized/deeplabv3_mnv2_ade20k_int8.tflite",
    "models/quantized/deeplab_mobilenet_edgetpu_slim_cityscapes_quant.tflite",
  };

  for (guint i = 0; i < G_N_ELEMENTS (models); i++) {
    char *path = dls_test_shared_path (models[i]);
    GError *err = NULL;
    DlsGraph *g = dls_model_load (path, &err);
    char *name = g_strdup_printf ("quantized-%s", strrchr (models[i], '/') + 1);

    report (!g && error_ok (err, DLS_ERROR_UNSUPPORTED)
        && strstr (err->message, "quantized models are not supported"),
        name, "%s", error_message (err));
    dls_graph_free (g);
    g_clear_error (&err);
    g_free (name);
    g_free (path);
  }
}

int
main (void)
{
  char *path;
  gchar *data;
  gsize size;

  test_tiny_valid ();
  test_tiny_variants ();
  test_tiny_errors ();
  test_load_paths ();
  test_random_bytes ();
  test_tiny_truncated ();
  test_tiny_mutations ();
  /* A failure so far must not turn into a skip when data is missing. */
  if (n_failed)
    goto done;

  path = dls_test_model_path ();
  test_real_model (path);
  if (read_file (path, &data, &size)) {
    test_real_truncated ((const guint8 *) data, size);
    mutate_many ("real-mutations", (const guint8 *) data, size, 300, 42, 24576);
    g_free (data);
  }
  g_free (path);
  test_quantized ();

done:
  printf ("%s: %d failure(s)\n", n_failed ? "FAIL" : "PASS", n_failed);
  return n_failed ? 1 : 0;
}
