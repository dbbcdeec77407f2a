/* deeplabseg tests: the FlatBuffer writer and the small TFLite model (see
 * tflite_builder.h). Written from the TFLite schema, not from any
 * FlatBuffers library.
 */
#include "tflite_builder.h"

#include <string.h>

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



const TinySpec tiny_default = {
  .bad_op = -1,.conv_act = 3,.resize_align = TRUE,.concat_axis = -1,
  .version = 3,
};



float
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
  const gint32 s_in[] = { 1, 8, 8, s->rgb ? 3 : 4 }, s_cw[] = { 6, 3, 3,
    s->rgb ? 3 : 4
  };
  static const gint32 s_cb[] = { 6 }, s_act6[] = { 1, 4, 4, 6 }, s_dw[] = { 1, 3, 3, 6 },
      s_cat[] = { 1, 4, 4, 12 }, s_pool[] = { 1, 1, 2, 12 }, s_size[] = { 2 },
      s_out[] = { 1, 5, 7, 12 };
  float conv_w[CONV_W_N], conv_b[6], dw_w[54], dw_b[6];
  gint32 size_v[2] = { GINT32_TO_LE (5), GINT32_TO_LE (7) };
  Fb fb;
  FbObj *model, *opcodes, *subgraphs, *sg, *tensors, *buffers, *ops, *o;
  GByteArray *out;
  gsize conv_bytes = (gsize) (s->rgb ? CONV_W_N / 4 * 3 : CONV_W_N) * 4;

  for (int i = 0; i < CONV_W_N; i++)
    conv_w[i] = tiny_weight (i);
  for (int i = 0; i < 6; i++)
    conv_b[i] = 0.5f * i;
  for (int i = 0; i < 54; i++)
    dw_w[i] = tiny_weight (i + 3);
  for (int i = 0; i < 6; i++)
    dw_b[i] = -0.25f * i;
  g_byte_array_set_size (ext, 0);
  g_byte_array_append (ext, (const guint8 *) conv_w, conv_bytes);

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
    fb_scalar (o, 2, 8, conv_bytes);
    fb_push (buffers, o);
  } else {
    fb_push (buffers, tiny_buffer (&fb, conv_w, conv_bytes));
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
GByteArray *
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
GByteArray *
dls_test_tflite_unsupported_op (void)
{
  TinySpec s = tiny_default;

  s.bad_op = 2;
  s.bad_code = 22;
  return tiny_build (&s);
}
