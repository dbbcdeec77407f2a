/* deeplabseg: the ONNX reader. Owns the mapping from an ONNX ModelProto
 * (onnx/onnx.proto, IR version 3 and later, default domain) to the graph
 * IR: which operators map to which DlsOpType, their attributes and
 * defaults, what is folded at load and which layouts are accepted. The
 * wire format is protobuf.c's business; graph consistency (shapes, arity,
 * order) is dls_graph_finalize()'s.
 *
 * Values. Every ONNX value (by name) is either a constant held here
 * (initializers, Constant nodes and everything computed from constants
 * only: the shape sub-graphs exporters emit, Shape, Gather, Unsqueeze,
 * Slice, Cast, Concat... on a fixed input size) or an activation, an IR
 * tensor {1,H,W,C}. An activation carries the ONNX layout it stands for:
 * NCHW (ONNX's own: logical dims {1,C,H,W}) or NHWC (logical {1,H,W,C},
 * e.g. the input of a model converted from TensorFlow; and every tensor of
 * rank 1..3, {a,b,c} being {1,a,b,c}). A Transpose between the two is a
 * change of that tag and costs nothing; operators read the channel axis
 * from it. Other Transposes and Reshapes move data (TRANSPOSE, RESHAPE).
 *
 * The graph input's layout is detected from the graph: NHWC when every
 * consumer of the input is a Transpose with perm [0,3,1,2], else NCHW.
 * Its size must be fixed in the file.
 *
 * Folding at load: BatchNormalization into the preceding Conv when it is
 * that Conv's only consumer; Relu and Clip into the producing Conv or Add
 * (a fused clamp) under the same condition. What cannot be fused
 * (BatchNormalization elsewhere, a lone Relu, Add/Sub/Mul/Div with a
 * per-channel or scalar constant) becomes a 1x1 depthwise convolution, a
 * per-channel affine map with a clamp.
 *
 * Hostile files. Every element count comes from n_elements() (checked
 * products, at most MAX_ELEMENTS), a perm from perm_valid(), an integer
 * read from a float constant from const_int(), and int64 folding from
 * int_arith(): a shape, index or value in the file can make the load fail
 * (DLS_ERROR_CORRUPT, DLS_ERROR_INVALID_GRAPH), never wrap or trap.
 *
 * Refused with a message that names the operator and the node: operators
 * outside the list in convert_node(), attributes whose value the IR cannot
 * express (e.g. Softmax or ArgMax over another axis than the channels,
 * cubic resize), tensors with external data (DLS_ERROR_UNSUPPORTED).
 */
#include "model.h"
#include "protobuf.h"

#include <math.h>
#include <string.h>

/* Field numbers of onnx.proto. */
enum
{
  MODEL_IR_VERSION = 1,
  MODEL_GRAPH = 7,
  MODEL_OPSET_IMPORT = 8,
  OPSET_DOMAIN = 1,
  OPSET_VERSION = 2,
  GRAPH_NODE = 1,
  GRAPH_INITIALIZER = 5,
  GRAPH_INPUT = 11,
  GRAPH_OUTPUT = 12,
  GRAPH_SPARSE_INITIALIZER = 15,
  NODE_INPUT = 1,
  NODE_OUTPUT = 2,
  NODE_NAME = 3,
  NODE_OP_TYPE = 4,
  NODE_ATTRIBUTE = 5,
  NODE_DOMAIN = 7,
  ATTR_NAME = 1,
  ATTR_F = 2,
  ATTR_I = 3,
  ATTR_S = 4,
  ATTR_T = 5,
  ATTR_FLOATS = 7,
  ATTR_INTS = 8,
  ATTR_TYPE = 20,
  ATTR_REF_ATTR_NAME = 21,
  TENSOR_DIMS = 1,
  TENSOR_DATA_TYPE = 2,
  TENSOR_SEGMENT = 3,
  TENSOR_FLOAT_DATA = 4,
  TENSOR_INT32_DATA = 5,
  TENSOR_INT64_DATA = 7,
  TENSOR_NAME = 8,
  TENSOR_RAW_DATA = 9,
  TENSOR_DOUBLE_DATA = 10,
  TENSOR_EXTERNAL_DATA = 13,
  TENSOR_DATA_LOCATION = 14,
  VALUE_INFO_NAME = 1,
  VALUE_INFO_TYPE = 2,
  TYPE_TENSOR = 1,
  TYPE_TENSOR_ELEM_TYPE = 1,
  TYPE_TENSOR_SHAPE = 2,
  SHAPE_DIM = 1,
  DIM_VALUE = 1,
  DIM_PARAM = 2,
};

/* TensorProto.DataType */
enum
{
  DT_FLOAT = 1,
  DT_UINT8 = 2,
  DT_INT8 = 3,
  DT_UINT16 = 4,
  DT_INT16 = 5,
  DT_INT32 = 6,
  DT_INT64 = 7,
  DT_BOOL = 9,
  DT_DOUBLE = 11,
  DT_UINT32 = 12,
  DT_UINT64 = 13,
};

#define MAX_RANK 8
#define MAX_NODES (1 << 20)
/* Bound on the element count of any shape (constants, and the logical
 * shapes Reshape and friends compute): 1 GiB of floats. */
#define MAX_ELEMENTS (G_GUINT64_CONSTANT (1) << 28)
#define MAX_ATTR_VALUES (1 << 16)

typedef enum
{
  LAYOUT_NCHW,
  LAYOUT_NHWC,
} Layout;

/* A named ONNX value: a constant (numbers here, float or int64) or an
 * activation (an IR tensor and the layout it stands for). */
typedef struct
{
  gboolean is_const;
  int rank;
  gint64 dims[MAX_RANK];        /* logical ONNX dims */
  /* constants */
  gboolean is_float;
  gsize n;
  float *f;
  gint64 *i;
  /* activations */
  int id;
  Layout layout;
} Value;

typedef struct
{
  char *name;
  int type;                     /* AttributeProto.AttributeType */
  float f;
  gint64 i;
  char *s;
  DlsPbField t;                 /* TENSOR: the TensorProto's bytes */
  GArray *floats;
  GArray *ints;
} Attr;

typedef struct
{
  char *name;                   /* for messages: node name, else "#k" */
  char *op;
  GPtrArray *in;                /* char*, "" = absent */
  GPtrArray *out;
  GArray *attrs;                /* Attr */
} Node;

typedef struct
{
  DlsGraph *g;
  GHashTable *values;           /* name -> Value* */
  GHashTable *uses;             /* name -> GINT count (nodes + outputs) */
  GHashTable *input_layouts;    /* graph input name -> GINT Layout + 1 */
  /* IR tensor id -> the one value name whose reader may rewrite the
   * producing node (fuse a clamp, fold a batch norm): the tensor's own
   * name, or the value a fusion or a sole-reader Transpose renamed it to. */
  GHashTable *owner;
  gint64 opset;
} Parser;

static void
value_free (gpointer p)
{
  Value *v = p;

  g_free (v->f);
  g_free (v->i);
  g_free (v);
}

static void
attr_clear (gpointer p)
{
  Attr *a = p;

  g_free (a->name);
  g_free (a->s);
  if (a->floats)
    g_array_unref (a->floats);
  if (a->ints)
    g_array_unref (a->ints);
}

static void
node_clear (Node * n)
{
  g_free (n->name);
  g_free (n->op);
  if (n->in)
    g_ptr_array_unref (n->in);
  if (n->out)
    g_ptr_array_unref (n->out);
  if (n->attrs)
    g_array_unref (n->attrs);
}

/* The number of elements of the shape @dims into *@n. FALSE when a dim
 * is negative or larger than MAX_ELEMENTS or the product exceeds it: no
 * shape read from a file may make an element count or an index wrap. */
static gboolean
n_elements (const gint64 * dims, int rank, gsize * n)
{
  guint64 c = 1;

  for (int k = 0; k < rank; k++) {
    gint64 d = dims[k];
    if (d < 0 || (guint64) d > MAX_ELEMENTS
        || (d > 0 && c > MAX_ELEMENTS / (guint64) d))
      return FALSE;
    c *= (guint64) d;
  }
  *n = (gsize) c;
  return TRUE;
}

static char *
dims_string (const gint64 * dims, int rank)
{
  GString *s = g_string_new ("[");

  for (int k = 0; k < rank; k++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, k ? "," : "", dims[k]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------ */
/* Constants                                                           */

/* A zeroed constant of shape @dims; NULL (and @error set) when the shape
 * is negative or too large (n_elements()). */
static Value *
const_new (int rank, const gint64 * dims, gboolean is_float, GError ** error)
{
  Value *v;
  gsize n;

  if (rank < 0 || rank > MAX_RANK || !n_elements (dims, rank, &n)) {
    char *s = dims_string (dims, CLAMP (rank, 0, MAX_RANK));
    dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "constant of shape %s: "
        "negative or more than %" G_GUINT64_FORMAT " elements", s,
        (guint64) MAX_ELEMENTS);
    g_free (s);
    return NULL;
  }
  v = g_new0 (Value, 1);
  v->is_const = TRUE;
  v->rank = rank;
  if (rank)
    memcpy (v->dims, dims, sizeof (gint64) * rank);
  v->is_float = is_float;
  v->n = n;
  if (is_float)
    v->f = g_new0 (float, MAX (v->n, 1));
  else
    v->i = g_new0 (gint64, MAX (v->n, 1));
  v->id = -1;
  return v;
}

static double
const_get (const Value * v, gsize k)
{
  return v->is_float ? v->f[k] : (double) v->i[k];
}

/* Element @k of the constant @v as an integer into *@out: ints as they
 * are, floats truncated; an error for a float that is NaN, infinite or
 * out of the int64 range (where a C cast is undefined). */
static gboolean
const_int (const Value * v, gsize k, gint64 * out, GError ** error)
{
  double d;

  if (!v->is_float) {
    *out = v->i[k];
    return TRUE;
  }
  d = v->f[k];
  if (!(d >= -0x1p63 && d < 0x1p63))
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "the float %g is "
        "not an int64 value", d);
  *out = (gint64) d;
  return TRUE;
}

static void
define (Parser * p, const char *name, Value * v)
{
  g_hash_table_replace (p->values, g_strdup (name), v);
}

static Value *
value_copy (const Value * v)
{
  Value *c = g_memdup2 (v, sizeof (*v));

  if (v->f)
    c->f = g_memdup2 (v->f, sizeof (float) * MAX (v->n, 1));
  if (v->i)
    c->i = g_memdup2 (v->i, sizeof (gint64) * MAX (v->n, 1));
  return c;
}

/* Element size in raw_data of the data types we read, 0 for others. */
static guint
dtype_size (int dt)
{
  switch (dt) {
    case DT_BOOL:
    case DT_UINT8:
    case DT_INT8:
      return 1;
    case DT_UINT16:
    case DT_INT16:
      return 2;
    case DT_FLOAT:
    case DT_INT32:
    case DT_UINT32:
      return 4;
    case DT_INT64:
    case DT_DOUBLE:
    case DT_UINT64:
      return 8;
    default:
      return 0;
  }
}

static gboolean
dtype_is_float (int dt)
{
  return dt == DT_FLOAT || dt == DT_DOUBLE;
}

/* Reads a TensorProto into a constant. Float types become float, integer
 * and bool types int64. */
static gboolean
parse_tensor (const DlsPbField * tf, char **name_out, Value ** out,
    GError ** error)
{
  DlsPbMsg m;
  DlsPbField f;
  int r;
  GArray *dims = g_array_new (FALSE, FALSE, sizeof (gint64));
  GArray *floats = g_array_new (FALSE, FALSE, sizeof (float));
  GArray *ints = g_array_new (FALSE, FALSE, sizeof (gint64));
  GArray *doubles = g_array_new (FALSE, FALSE, sizeof (gint64));
  GArray *src;
  const guint8 *raw = NULL;
  gsize raw_len = 0;
  gboolean has_raw = FALSE, external = FALSE;
  gint64 dt = 0;
  char *name = NULL;
  Value *v = NULL;
  gsize n;
  guint esize;
  gboolean ok = FALSE;

  dls_pb_sub (tf, &m, "TensorProto");
  while ((r = dls_pb_next (&m, &f, error)) > 0) {
    switch (f.number) {
      case TENSOR_DIMS:
        if (!dls_pb_append_varints (&m, &f, "dims", dims, MAX_RANK + 1, error))
          goto out;
        break;
      case TENSOR_DATA_TYPE:
        if (!dls_pb_expect (&m, &f, DLS_PB_VARINT, "data_type", error))
          goto out;
        dt = (gint64) f.u;
        break;
      case TENSOR_NAME:
        if (!dls_pb_read_string (&m, &f, "name", &name,
                error))
          goto out;
        break;
      case TENSOR_RAW_DATA:
        if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "raw_data", error))
          goto out;
        raw = f.data;
        raw_len = f.len;
        has_raw = TRUE;
        break;
      case TENSOR_FLOAT_DATA:
        if (!dls_pb_append_floats (&m, &f, "float_data", floats,
                (guint) MAX_ELEMENTS, error))
          goto out;
        break;
      case TENSOR_INT32_DATA:
      case TENSOR_INT64_DATA:
        if (!dls_pb_append_varints (&m, &f, "int_data", ints,
                (guint) MAX_ELEMENTS, error))
          goto out;
        break;
      case TENSOR_DOUBLE_DATA:{
        /* Packed fixed64 or one per field. */
        if (f.wire == DLS_PB_FIXED64) {
          gint64 u = (gint64) f.u;
          g_array_append_val (doubles, u);
        } else if (f.wire == DLS_PB_BYTES && f.len % 8 == 0) {
          for (gsize k = 0; k < f.len; k += 8) {
            gint64 u = (gint64) dls_pb_read_le (f.data + k, 8);
            if (doubles->len >= MAX_ELEMENTS)
              break;
            g_array_append_val (doubles, u);
          }
        } else {
          dls_error_set (error, DLS_ERROR_CORRUPT, "TensorProto.double_data is "
              "malformed");
          goto out;
        }
        break;
      }
      case TENSOR_DATA_LOCATION:
        if (f.wire == DLS_PB_VARINT && f.u == 1)
          external = TRUE;
        break;
      case TENSOR_EXTERNAL_DATA:
        external = TRUE;
        break;
      case TENSOR_SEGMENT:
        dls_error_set (error, DLS_ERROR_UNSUPPORTED,
            "tensor '%s' is segmented, "
            "which is not supported", name ? name : "");
        goto out;
      default:
        break;
    }
  }
  if (r < 0)
    goto out;
  if (!name)
    name = g_strdup ("");
  if (external) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED,
        "tensor '%s' keeps its data in "
        "an external file (external data), which is not supported: save "
        "the model with its weights inside the .onnx", name);
    goto out;
  }
  if (dims->len > MAX_RANK) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "tensor '%s' has more than %d "
        "dimensions", name, MAX_RANK);
    goto out;
  }
  if (!n_elements ((gint64 *) dims->data, dims->len, &n)) {
    char *s = dims_string ((gint64 *) dims->data, dims->len);
    dls_error_set (error, DLS_ERROR_CORRUPT, "tensor '%s' has shape %s, "
        "negative or too large", name, s);
    g_free (s);
    goto out;
  }
  esize = dtype_size ((int) dt);
  if (esize == 0) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "tensor '%s' has data type %"
        G_GINT64_FORMAT ", which is not supported", name, dt);
    goto out;
  }
  /* The data must be there before anything is allocated for it. */
  src = dt == DT_FLOAT ? floats : dt == DT_DOUBLE ? doubles : ints;
  if (has_raw ? (guint64) raw_len != (guint64) n * esize : src->len != n) {
    char *s = dims_string ((gint64 *) dims->data, dims->len);
    if (has_raw)
      dls_error_set (error, DLS_ERROR_CORRUPT, "tensor '%s' holds %"
          G_GSIZE_FORMAT " bytes of data, its shape %s needs %"
          G_GUINT64_FORMAT, name, raw_len, s, (guint64) n * esize);
    else
      dls_error_set (error, DLS_ERROR_CORRUPT, "tensor '%s' holds %u values, "
          "its shape %s needs %" G_GSIZE_FORMAT, name, src->len, s, n);
    g_free (s);
    goto out;
  }

  v = const_new ((int) dims->len, (gint64 *) dims->data, dtype_is_float (dt),
      error);
  if (!v)
    goto out;
  if (has_raw) {
    for (gsize k = 0; k < n; k++) {
      guint64 u = dls_pb_read_le (raw + k * esize, esize);
      union
      {
        guint32 u;
        float f;
      } f32;
      union
      {
        guint64 u;
        double d;
      } f64;

      switch (dt) {
        case DT_FLOAT:
          f32.u = (guint32) u;
          v->f[k] = f32.f;
          break;
        case DT_DOUBLE:
          f64.u = u;
          v->f[k] = (float) f64.d;
          break;
        case DT_INT8:
          v->i[k] = (gint8) u;
          break;
        case DT_INT16:
          v->i[k] = (gint16) u;
          break;
        case DT_INT32:
          v->i[k] = (gint32) u;
          break;
        default:
          v->i[k] = (gint64) u;
          break;
      }
    }
  } else {
    for (gsize k = 0; k < n; k++) {
      if (dt == DT_FLOAT) {
        v->f[k] = g_array_index (floats, float, k);
      } else if (dt == DT_DOUBLE) {
        union
        {
          gint64 u;
          double d;
        } f64;
        f64.u = g_array_index (doubles, gint64, k);
        v->f[k] = (float) f64.d;
      } else {
        v->i[k] = g_array_index (ints, gint64, k);
      }
    }
  }
  ok = TRUE;

out:
  g_array_unref (dims);
  g_array_unref (floats);
  g_array_unref (ints);
  g_array_unref (doubles);
  if (!ok) {
    if (v)
      value_free (v);
    g_free (name);
    return FALSE;
  }
  *out = v;
  if (name_out)
    *name_out = name;
  else
    g_free (name);
  return TRUE;
}

/* ------------------------------------------------------------------ */
/* Nodes and attributes                                                */

static gboolean
parse_attr (const DlsPbField * af, Attr * a, GError ** error)
{
  DlsPbMsg m;
  DlsPbField f;
  int r;

  dls_pb_sub (af, &m, "AttributeProto");
  while ((r = dls_pb_next (&m, &f, error)) > 0) {
    switch (f.number) {
      case ATTR_NAME:
        if (!dls_pb_read_string (&m, &f, "name", &a->name,
                error))
          return FALSE;
        break;
      case ATTR_TYPE:
        if (!dls_pb_expect (&m, &f, DLS_PB_VARINT, "type", error))
          return FALSE;
        a->type = (int) f.u;
        break;
      case ATTR_F:{
        union
        {
          guint32 u;
          float f;
        } v;
        if (!dls_pb_expect (&m, &f, DLS_PB_FIXED32, "f", error))
          return FALSE;
        v.u = (guint32) f.u;
        a->f = v.f;
        break;
      }
      case ATTR_I:
        if (!dls_pb_expect (&m, &f, DLS_PB_VARINT, "i", error))
          return FALSE;
        a->i = (gint64) f.u;
        break;
      case ATTR_S:
        if (!dls_pb_read_string (&m, &f, "s", &a->s,
                error))
          return FALSE;
        break;
      case ATTR_T:
        if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "t", error))
          return FALSE;
        a->t = f;
        break;
      case ATTR_FLOATS:
        if (!a->floats)
          a->floats = g_array_new (FALSE, FALSE, sizeof (float));
        if (!dls_pb_append_floats (&m, &f, "floats", a->floats,
                MAX_ATTR_VALUES, error))
          return FALSE;
        break;
      case ATTR_INTS:
        if (!a->ints)
          a->ints = g_array_new (FALSE, FALSE, sizeof (gint64));
        if (!dls_pb_append_varints (&m, &f, "ints", a->ints,
                MAX_ATTR_VALUES, error))
          return FALSE;
        break;
      case ATTR_REF_ATTR_NAME:
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "attribute refers "
            "to a function attribute, which is not supported");
      default:
        break;
    }
  }
  if (r < 0)
    return FALSE;
  if (!a->name)
    a->name = g_strdup ("");
  return TRUE;
}

static gboolean
parse_node (const DlsPbField * nf, int index, Node * n, GError ** error)
{
  DlsPbMsg m;
  DlsPbField f;
  int r;
  char *domain = NULL;

  n->in = g_ptr_array_new_with_free_func (g_free);
  n->out = g_ptr_array_new_with_free_func (g_free);
  n->attrs = g_array_new (FALSE, TRUE, sizeof (Attr));
  g_array_set_clear_func (n->attrs, attr_clear);
  dls_pb_sub (nf, &m, "NodeProto");
  while ((r = dls_pb_next (&m, &f, error)) > 0) {
    switch (f.number) {
      case NODE_INPUT:
      case NODE_OUTPUT:
        if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "input/output", error))
          goto fail;
        if ((f.number == NODE_INPUT ? n->in : n->out)->len >= 4096) {
          dls_error_set (error, DLS_ERROR_UNSUPPORTED, "too many inputs");
          goto fail;
        }
        g_ptr_array_add (f.number == NODE_INPUT ? n->in : n->out,
            dls_pb_string (&f));
        break;
      case NODE_NAME:
        if (!dls_pb_read_string (&m, &f, "name", &n->name,
                error))
          goto fail;
        break;
      case NODE_OP_TYPE:
        if (!dls_pb_read_string (&m, &f, "op_type", &n->op,
                error))
          goto fail;
        break;
      case NODE_DOMAIN:
        if (!dls_pb_read_string (&m, &f, "domain", &domain,
                error))
          goto fail;
        break;
      case NODE_ATTRIBUTE:{
        Attr a = { 0 };
        if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "attribute", error))
          goto fail;
        if (n->attrs->len >= 1024) {
          dls_error_set (error, DLS_ERROR_UNSUPPORTED, "too many attributes");
          goto fail;
        }
        if (!parse_attr (&f, &a, error)) {
          attr_clear (&a);
          goto fail;
        }
        g_array_append_val (n->attrs, a);
        break;
      }
      default:
        break;
    }
  }
  if (r < 0)
    goto fail;
  if (!n->name || !*n->name) {
    g_free (n->name);
    n->name = g_strdup_printf ("#%d", index);
  }
  if (!n->op)
    n->op = g_strdup ("");
  if (domain && *domain && strcmp (domain, "ai.onnx") != 0) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "unsupported operator %s of "
        "domain '%s' (node '%s')", n->op, domain, n->name);
    goto fail;
  }
  g_free (domain);
  return TRUE;

fail:
  g_free (domain);
  return FALSE;
}

static const Attr *
attr (const Node * n, const char *name)
{
  for (guint k = 0; k < n->attrs->len; k++) {
    const Attr *a = &g_array_index (n->attrs, Attr, k);
    if (strcmp (a->name, name) == 0)
      return a;
  }
  return NULL;
}

static gint64
attr_int (const Node * n, const char *name, gint64 def)
{
  const Attr *a = attr (n, name);
  return a ? a->i : def;
}

static float
attr_float (const Node * n, const char *name, float def)
{
  const Attr *a = attr (n, name);
  return a ? a->f : def;
}

static const char *
attr_string (const Node * n, const char *name, const char *def)
{
  const Attr *a = attr (n, name);
  return a && a->s ? a->s : def;
}

/* Copies the ints of attribute @name into @out (at most @max); returns
 * how many, 0 when absent. */
static int
attr_ints (const Node * n, const char *name, gint64 * out, int max)
{
  const Attr *a = attr (n, name);
  int k;

  if (!a || !a->ints)
    return 0;
  for (k = 0; k < (int) a->ints->len && k < max; k++)
    out[k] = g_array_index (a->ints, gint64, k);
  return a->ints->len > (guint) max ? -1 : k;
}

static const char *
in_name (const Node * n, guint k)
{
  return k < n->in->len ? g_ptr_array_index (n->in, k) : "";
}

static const char *
out_name (const Node * n)
{
  return g_ptr_array_index (n->out, 0);
}

/* Input @k of @n, or NULL if absent (the empty name or past the end). */
static Value *
input (Parser * p, const Node * n, guint k)
{
  const char *name = in_name (n, k);

  if (!*name)
    return NULL;
  return g_hash_table_lookup (p->values, name);
}

static int
uses (Parser * p, const char *name)
{
  return GPOINTER_TO_INT (g_hash_table_lookup (p->uses, name));
}

/* ------------------------------------------------------------------ */
/* Activations                                                         */

static int
channel_axis (Layout l)
{
  return l == LAYOUT_NCHW ? 1 : 3;
}

/* The IR axis (1 = H, 2 = W, 3 = C) of logical axis @a. */
static int
ir_axis (Layout l, int a)
{
  static const int nchw[4] = { 0, 3, 1, 2 };
  return l == LAYOUT_NCHW ? nchw[a] : a;
}

static void
set_owner (Parser * p, int id, const char *name)
{
  g_hash_table_replace (p->owner, GINT_TO_POINTER (id), g_strdup (name));
}

/* Defines @name as the activation IR tensor @id, in layout @layout, of
 * @rank logical dims. An activation of rank 1..3 is NHWC: its dims are the
 * IR dims' last ones ({a,b,c} is {1,a,b,c}), so elementwise ops, Concat and
 * numpy broadcasting (right-aligned) read it unchanged. */
static Value *
define_act_rank (Parser * p, const char *name, int id, Layout layout,
    int rank)
{
  Value *v = g_new0 (Value, 1);
  const DlsTensor *t = dls_graph_tensor (p->g, id);

  v->id = id;
  v->layout = layout;
  v->rank = 4;
  v->dims[0] = 1;
  if (rank < 4) {
    v->rank = rank;
    for (int k = 0; k < rank; k++)
      v->dims[k] = t->dims[4 - rank + k];
  } else if (layout == LAYOUT_NCHW) {
    v->dims[1] = t->dims[3];
    v->dims[2] = t->dims[1];
    v->dims[3] = t->dims[2];
  } else {
    v->dims[1] = t->dims[1];
    v->dims[2] = t->dims[2];
    v->dims[3] = t->dims[3];
  }
  define (p, name, v);
  return v;
}

static Value *
define_act (Parser * p, const char *name, int id, Layout layout)
{
  return define_act_rank (p, name, id, layout, 4);
}

/* The logical axis holding the channels (the IR's C). */
static int
chan_axis (const Value * x)
{
  return x->layout == LAYOUT_NCHW ? 1 : x->rank - 1;
}

/* Adds @node writing a new activation named @name, infers its shape and
 * defines the value. Returns the IR node index, -1 on error. */
static int
emit (Parser * p, DlsNode * node, const char *name, Layout layout, int rank,
    GError ** error)
{
  int i;

  node->output = dls_graph_add_tensor (p->g, name, DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 0, NULL, NULL, 0);
  i = dls_graph_add_node (p->g, node);
  if (!dls_graph_infer_node (p->g, i, error))
    return -1;
  define_act_rank (p, name, node->output, layout, rank);
  set_owner (p, node->output, name);
  return i;
}

static int
add_const_tensor (Parser * p, const char *name, int n_dims, const int *dims,
    float *data, gsize n)
{
  return dls_graph_add_tensor (p->g, name, DLS_TENSOR_CONSTANT,
      DLS_DTYPE_FLOAT32, n_dims, dims, data, n * sizeof (float));
}

/* out[c] = clamp (x[c] * scale[c] + shift[c], lo, hi) as a 1x1 depthwise
 * convolution; @scale, @shift (C floats or NULL for 1 and 0) are copied. */
static gboolean
emit_affine (Parser * p, const Value * x, const float *scale,
    const float *shift, float lo, float hi, const char *name,
    GError ** error)
{
  int c = (int) x->dims[chan_axis (x)];
  int wdims[4] = { 1, 1, 1, c };
  float *w = g_new (float, c), *b = g_new0 (float, c);
  char *wname = g_strconcat (name, "/scale", NULL);
  char *bname = g_strconcat (name, "/shift", NULL);
  DlsNode node;

  for (int k = 0; k < c; k++) {
    w[k] = scale ? scale[k] : 1.0f;
    b[k] = shift ? shift[k] : 0.0f;
  }
  dls_node_init (&node, DLS_OP_DEPTHWISE_CONV2D);
  node.n_inputs = 3;
  node.inputs[0] = x->id;
  node.inputs[1] = add_const_tensor (p, wname, 4, wdims, w, c);
  node.inputs[2] = add_const_tensor (p, bname, 1, &c, b, c);
  node.act_min = lo;
  node.act_max = hi;
  g_free (wname);
  g_free (bname);
  return emit (p, &node, name, x->layout, x->rank, error) >= 0;
}

/* The IR node that produced activation @v if it may take a fused clamp or
 * a folded scale: @v's only reader is the node being read. */
static DlsNode *
sole_producer (Parser * p, const Value * v, const char *vname)
{
  const char *owner = g_hash_table_lookup (p->owner, GINT_TO_POINTER (v->id));

  if (uses (p, vname) != 1 || !owner || strcmp (owner, vname) != 0)
    return NULL;
  for (int i = dls_graph_n_nodes (p->g) - 1; i >= 0; i--) {
    DlsNode *n = dls_graph_node (p->g, i);
    if (n->output == v->id)
      return n;
  }
  return NULL;
}

/* @name = clamp (@x, lo, hi): fused into the producer when possible. */
static gboolean
clamp_value (Parser * p, const Node * nd, float lo, float hi, GError ** error)
{
  Value *x = input (p, nd, 0);
  DlsNode *prod = sole_producer (p, x, in_name (nd, 0));

  if (!(lo <= hi))
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "empty clip range "
        "[%g, %g]", lo, hi);
  if (prod && (prod->op == DLS_OP_CONV2D
          || prod->op == DLS_OP_DEPTHWISE_CONV2D || prod->op == DLS_OP_ADD
          || prod->op == DLS_OP_AVERAGE_POOL2D)) {
    prod->act_min = MAX (prod->act_min, lo);
    prod->act_max = MIN (prod->act_max, hi);
    if (!(prod->act_min <= prod->act_max))
      prod->act_min = prod->act_max;
    define (p, out_name (nd), value_copy (x));
    set_owner (p, x->id, out_name (nd));
    return TRUE;
  }
  return emit_affine (p, x, NULL, NULL, lo, hi, out_name (nd), error);
}

/* A constant that broadcasts to @x's logical shape along the channel axis
 * only (or a scalar), as C floats; NULL if it does not. */
static float *
per_channel (const Value * x, const Value * k)
{
  int ca = chan_axis (x), c = (int) x->dims[ca], r = x->rank;
  gint64 d[4] = { 1, 1, 1, 1 };
  float *out;

  if (k->rank > r)
    return NULL;
  for (int a = 0; a < k->rank; a++)
    d[r - k->rank + a] = k->dims[a];
  for (int a = 0; a < r; a++)
    if (d[a] != 1 && (a != ca || d[a] != c))
      return NULL;
  out = g_new (float, c);
  for (int j = 0; j < c; j++)
    out[j] = (float) const_get (k, k->n == 1 ? 0 : (gsize) j);
  return out;
}

/* ------------------------------------------------------------------ */
/* Operators on activations                                            */

static gboolean
window_attrs (const Node * nd, const Value * x, int kh, int kw,
    DlsWindowParams * w, GError ** error)
{
  gint64 strides[2] = { 1, 1 }, dil[2] = { 1, 1 }, pads[4] = { 0 };
  const char *auto_pad = attr_string (nd, "auto_pad", "NOTSET");

  if (attr_ints (nd, "strides", strides, 2) < 0
      || attr_ints (nd, "dilations", dil, 2) < 0
      || attr_ints (nd, "pads", pads, 4) < 0)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "only 2-D windows are "
        "supported");
  for (int k = 0; k < 4; k++)
    if (pads[k] < 0 || pads[k] > 65536)
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH,
          "pads out of range");
  for (int k = 0; k < 2; k++)
    if (strides[k] < 1 || strides[k] > 64 || dil[k] < 1 || dil[k] > 1024)
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "strides or "
          "dilations out of range");
  w->stride_h = (int) strides[0];
  w->stride_w = (int) strides[1];
  w->dilation_h = (int) dil[0];
  w->dilation_w = (int) dil[1];
  if (strcmp (auto_pad, "NOTSET") == 0) {
    w->padding = DLS_PADDING_EXPLICIT;
    w->pad_top = (int) pads[0];
    w->pad_left = (int) pads[1];
    w->pad_bottom = (int) pads[2];
    w->pad_right = (int) pads[3];
  } else if (strcmp (auto_pad, "VALID") == 0) {
    w->padding = DLS_PADDING_VALID;
  } else if (strcmp (auto_pad, "SAME_UPPER") == 0
      || strcmp (auto_pad, "SAME_LOWER") == 0) {
    /* ONNX: out = ceil (in / stride), total padding split with the odd
     * pixel at the end (UPPER) or at the start (LOWER). */
    int in[2] = { (int) x->dims[x->layout == LAYOUT_NCHW ? 2 : 1],
      (int) x->dims[x->layout == LAYOUT_NCHW ? 3 : 2]
    };
    int k[2] = { kh, kw }, s[2] = { w->stride_h, w->stride_w };
    int d[2] = { w->dilation_h, w->dilation_w }, before[2], after[2];
    for (int a = 0; a < 2; a++) {
      int o = (in[a] + s[a] - 1) / s[a];
      int total = MAX ((o - 1) * s[a] + (k[a] - 1) * d[a] + 1 - in[a], 0);
      before[a] = auto_pad[5] == 'U' ? total / 2 : total - total / 2;
      after[a] = total - before[a];
    }
    w->padding = DLS_PADDING_EXPLICIT;
    w->pad_top = before[0];
    w->pad_left = before[1];
    w->pad_bottom = after[0];
    w->pad_right = after[1];
  } else {
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "auto_pad '%s' is not "
        "supported", auto_pad);
  }
  return TRUE;
}

static gboolean
require_act (const Value * v, const char *what, GError ** error)
{
  if (!v || v->is_const)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%s must be an "
        "activation computed from the graph input", what);
  return TRUE;
}

static gboolean
op_conv (Parser * p, const Node * nd, GError ** error)
{
  Value *x = input (p, nd, 0), *wv = input (p, nd, 1), *bv = input (p, nd, 2);
  gint64 group = attr_int (nd, "group", 1), ks[2];
  int c, m, cg, kh, kw, mg, wdims[4];
  gsize nw;
  float *w;
  DlsNode node;

  if (!require_act (x, "Conv input X", error))
    return FALSE;
  if (x->layout != LAYOUT_NCHW)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Conv on an NHWC "
        "tensor (ONNX convolutions read NCHW)");
  if (!wv || !wv->is_const || !wv->is_float || wv->rank != 4)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Conv weights W must "
        "be a constant 4-D float tensor (2-D convolution)");
  if (bv && (!bv->is_const || !bv->is_float || bv->n != (gsize) wv->dims[0]))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Conv bias B must be a "
        "constant of %" G_GINT64_FORMAT " floats", wv->dims[0]);
  c = (int) x->dims[1];
  m = (int) wv->dims[0];
  cg = (int) wv->dims[1];
  kh = (int) wv->dims[2];
  kw = (int) wv->dims[3];
  if (attr_ints (nd, "kernel_shape", ks, 2) == 2
      && (ks[0] != kh || ks[1] != kw))
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "kernel_shape does "
        "not match the weights");
  if (group < 1 || group > c || c % group != 0 || m % group != 0
      || cg * group != c || m < 1 || kh < 1 || kw < 1)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "weights %dx%dx%dx%d "
        "and group %" G_GINT64_FORMAT " do not fit %d input channels", m, cg,
        kh, kw, group, c);
  /* The loops below read m*cg*kh*kw weights. */
  if (!n_elements (wv->dims, 4, &nw) || wv->n != nw)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "Conv weights hold %"
        G_GSIZE_FORMAT " values, not %dx%dx%dx%d", wv->n, m, cg, kh, kw);
  mg = m / (int) group;

  if (group > 1 && cg == 1) {
    /* Depthwise: output channel o reads input channel o / mg. */
    dls_node_init (&node, DLS_OP_DEPTHWISE_CONV2D);
    node.p.win.depth_multiplier = mg;
    w = g_new (float, (gsize) kh * kw * m);
    for (int o = 0; o < m; o++)
      for (int ky = 0; ky < kh; ky++)
        for (int kx = 0; kx < kw; kx++)
          w[((gsize) ky * kw + kx) * m + o] = wv->f[((gsize) o * kh + ky) * kw
              + kx];
    wdims[0] = 1;
    wdims[1] = kh;
    wdims[2] = kw;
    wdims[3] = m;
  } else {
    /* OIHW -> OHWI; a grouped convolution becomes a dense one whose
     * weights are zero across groups. */
    dls_node_init (&node, DLS_OP_CONV2D);
    w = g_try_new0 (float, (gsize) m * kh * kw * c);
    if (!w)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Conv of %d groups "
          "too large to expand to a dense %dx%dx%dx%d kernel", (int) group,
          m, kh, kw, c);
    for (int o = 0; o < m; o++)
      for (int i = 0; i < cg; i++) {
        int ci = (o / mg) * cg + i;
        for (int ky = 0; ky < kh; ky++)
          for (int kx = 0; kx < kw; kx++)
            w[(((gsize) o * kh + ky) * kw + kx) * c + ci] =
                wv->f[(((gsize) o * cg + i) * kh + ky) * kw + kx];
      }
    wdims[0] = m;
    wdims[1] = kh;
    wdims[2] = kw;
    wdims[3] = c;
  }
  if (!window_attrs (nd, x, kh, kw, &node.p.win, error)) {
    g_free (w);
    return FALSE;
  }
  node.n_inputs = 3;
  node.inputs[0] = x->id;
  node.inputs[1] = add_const_tensor (p, in_name (nd, 1), 4, wdims, w,
      (gsize) wdims[0] * wdims[1] * wdims[2] * wdims[3]);
  node.inputs[2] = add_const_tensor (p, bv ? in_name (nd, 2) : "", 1, &m,
      bv ? g_memdup2 (bv->f, sizeof (float) * m) : g_new0 (float, m), m);
  return emit (p, &node, out_name (nd), LAYOUT_NCHW, 4, error) >= 0;
}

static gboolean
op_batchnorm (Parser * p, const Node * nd, GError ** error)
{
  Value *x = input (p, nd, 0), *k[4];
  double eps = attr_float (nd, "epsilon", 1e-5f);
  int c;
  float *scale, *shift;
  DlsNode *prod;
  gboolean ok;

  if (!require_act (x, "BatchNormalization input X", error))
    return FALSE;
  c = (int) x->dims[channel_axis (LAYOUT_NCHW)];
  if (x->layout != LAYOUT_NCHW)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "BatchNormalization on "
        "an NHWC tensor");
  if (nd->out->len > 1 && *(char *) g_ptr_array_index (nd->out, 1))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "training mode "
        "(running mean and variance outputs)");
  for (int j = 0; j < 4; j++) {
    k[j] = input (p, nd, j + 1);
    if (!k[j] || !k[j]->is_const || !k[j]->is_float || k[j]->n != (gsize) c)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "scale, B, mean and "
          "var must be constants of %d floats", c);
  }
  scale = g_new (float, c);
  shift = g_new (float, c);
  for (int j = 0; j < c; j++) {
    double s = k[0]->f[j] / sqrt ((double) k[3]->f[j] + eps);
    scale[j] = (float) s;
    shift[j] = (float) (k[1]->f[j] - k[2]->f[j] * s);
  }

  prod = sole_producer (p, x, in_name (nd, 0));
  if (prod && (prod->op == DLS_OP_CONV2D
          || prod->op == DLS_OP_DEPTHWISE_CONV2D) && isinf (prod->act_min)
      && isinf (prod->act_max)) {
    /* Fold: w' = w * s (per output channel), b' = (b - mean) * s + beta. */
    DlsTensor *wt = dls_graph_tensor (p->g, prod->inputs[1]);
    DlsTensor *bt = dls_graph_tensor (p->g, prod->inputs[2]);
    float *w = wt->data, *b = bt->data;
    gsize per = dls_tensor_n_elements (wt) / c;
    gboolean dw = prod->op == DLS_OP_DEPTHWISE_CONV2D;

    for (gsize e = 0; e < dls_tensor_n_elements (wt); e++)
      w[e] = (float) ((double) w[e] * scale[dw ? e % c : e / per]);
    for (int j = 0; j < c; j++)
      b[j] = (float) ((double) b[j] * scale[j] + shift[j]);
    define (p, out_name (nd), value_copy (x));
    set_owner (p, x->id, out_name (nd));
    ok = TRUE;
  } else {
    ok = emit_affine (p, x, scale, shift, -INFINITY, INFINITY,
        out_name (nd), error);
  }
  g_free (scale);
  g_free (shift);
  return ok;
}

static gboolean
op_clip (Parser * p, const Node * nd, GError ** error)
{
  float lo = attr_float (nd, "min", -INFINITY);
  float hi = attr_float (nd, "max", INFINITY);
  Value *vmin = input (p, nd, 1), *vmax = input (p, nd, 2);

  /* Opset 11 moved min and max from attributes to optional inputs. */
  if ((vmin && (!vmin->is_const || vmin->n != 1))
      || (vmax && (!vmax->is_const || vmax->n != 1)))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "min and max must be "
        "constant scalars");
  if (vmin)
    lo = (float) const_get (vmin, 0);
  if (vmax)
    hi = (float) const_get (vmax, 0);
  if (!require_act (input (p, nd, 0), "Clip input", error))
    return FALSE;
  return clamp_value (p, nd, lo, hi, error);
}

/* Mul or Add of two activations in one layout: the one with extents of 1
 * (a squeeze-excitation scale) is broadcast; both ops commute. */
static gboolean
op_bcast_act (Parser * p, const Node * nd, Value * a, Value * b,
    DlsOpType op, GError ** error)
{
  DlsNode node;
  gboolean a_small = FALSE, b_small = FALSE;

  const int *ad = dls_graph_tensor (p->g, a->id)->dims;
  const int *bd = dls_graph_tensor (p->g, b->id)->dims;

  if (a->layout != b->layout)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%s of activations in "
        "different layouts", nd->op);
  /* On the IR dims: right-aligned, as numpy broadcasting. */
  for (int k = 1; k < 4; k++) {
    if (ad[k] == bd[k])
      continue;
    if (ad[k] == 1)
      a_small = TRUE;
    else if (bd[k] == 1)
      b_small = TRUE;
    else
      a_small = b_small = TRUE;
  }
  if (a_small && b_small)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%s whose operands "
        "both need broadcasting", nd->op);
  dls_node_init (&node, op);
  node.n_inputs = 2;
  node.inputs[0] = a_small ? b->id : a->id;
  node.inputs[1] = a_small ? a->id : b->id;
  return emit (p, &node, out_name (nd), a->layout, MAX (a->rank, b->rank),
      error) >= 0;
}

/* HardSigmoid, HardSwish, Sigmoid, Softmax (checked by the caller). */
static gboolean
op_unary (Parser * p, const Node * nd, DlsOpType op, GError ** error)
{
  Value *x = input (p, nd, 0);
  DlsNode node;

  if (!require_act (x, "the input", error))
    return FALSE;
  dls_node_init (&node, op);
  node.n_inputs = 1;
  node.inputs[0] = x->id;
  if (op == DLS_OP_HARD_SIGMOID) {
    node.p.unary.alpha = attr_float (nd, "alpha", 0.2f);
    node.p.unary.beta = attr_float (nd, "beta", 0.5f);
  }
  return emit (p, &node, out_name (nd), x->layout, x->rank, error) >= 0;
}

/* Softmax over the channel axis only: opset 13 takes one axis (default
 * -1); earlier opsets flatten at axis (default 1) and normalise over all
 * that follows, which is the channels alone when they come last or the
 * other dims after them are 1. */
static gboolean
op_softmax (Parser * p, const Node * nd, GError ** error)
{
  Value *x = input (p, nd, 0);
  gint64 axis;
  gboolean ok;

  if (!require_act (x, "the input", error))
    return FALSE;
  axis = attr_int (nd, "axis", p->opset >= 13 ? -1 : 1);
  if (axis < 0)
    axis += x->rank;
  ok = axis == chan_axis (x);
  if (ok && p->opset < 13)
    for (int k = (int) axis + 1; k < x->rank; k++)
      ok &= x->dims[k] == 1;
  if (!ok)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Softmax over axis %"
        G_GINT64_FORMAT " (only over the channels)", axis);
  return op_unary (p, nd, DLS_OP_SOFTMAX, error);
}

/* ArgMax over the channel axis; the indices come out as floats. Without
 * keepdims the channel axis goes, which for NHWC tensors (channels last)
 * keeps the dense order: a RESHAPE. */
static gboolean
op_argmax (Parser * p, const Node * nd, GError ** error)
{
  Value *x = input (p, nd, 0), *v;
  gint64 axis;
  char *tmp;
  DlsNode node;
  int ir[4] = { 1, 1, 1, 1 }, r;

  if (!require_act (x, "the input", error))
    return FALSE;
  axis = attr_int (nd, "axis", 0);
  if (axis < 0)
    axis += x->rank;
  if (axis != chan_axis (x))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "ArgMax over axis %"
        G_GINT64_FORMAT " (only over the channels)", axis);
  dls_node_init (&node, DLS_OP_ARGMAX);
  node.n_inputs = 1;
  node.inputs[0] = x->id;
  node.p.argmax.select_last = attr_int (nd, "select_last_index", 0) != 0;
  if (attr_int (nd, "keepdims", 1))
    return emit (p, &node, out_name (nd), x->layout, x->rank, error) >= 0;
  if (x->layout != LAYOUT_NHWC || x->rank < 2)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "ArgMax without "
        "keepdims of an NCHW or 1-D tensor");
  tmp = g_strconcat (out_name (nd), "/keepdims", NULL);
  r = emit (p, &node, tmp, x->layout, x->rank, error);
  v = r >= 0 ? g_hash_table_lookup (p->values, tmp) : NULL;
  g_free (tmp);
  if (!v)
    return FALSE;
  r = x->rank - 1;
  for (int k = 0; k < r; k++)
    ir[4 - r + k] = (int) x->dims[k];
  dls_node_init (&node, DLS_OP_RESHAPE);
  node.n_inputs = 1;
  node.inputs[0] = v->id;
  memcpy (node.p.reshape.dims, ir + 1, sizeof (int) * 3);
  return emit (p, &node, out_name (nd), LAYOUT_NHWC, r, error) >= 0;
}

/* Add, Sub, Mul, Div with at least one activation. */
static gboolean
op_binary (Parser * p, const Node * nd, GError ** error)
{
  Value *a = input (p, nd, 0), *b = input (p, nd, 1), *x, *k;
  char op = nd->op[0];
  float *v, *scale = NULL, *shift = NULL;
  int c;
  gboolean ok;

  if (!a || !b)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "two inputs needed");
  if (!a->is_const && !b->is_const && (op == 'M' || op == 'A'))
    return op_bcast_act (p, nd, a, b, op == 'M' ? DLS_OP_MUL : DLS_OP_ADD,
        error);
  if (!a->is_const && !b->is_const)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%s of two "
        "activations is not supported", nd->op);
  x = a->is_const ? b : a;
  k = a->is_const ? a : b;
  if (!(v = per_channel (x, k)))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%s with a constant "
        "that is neither a scalar nor per channel is not supported", nd->op);
  c = (int) x->dims[chan_axis (x)];
  switch (op) {
    case 'A':                  /* x + k */
      shift = v;
      break;
    case 'M':                  /* x * k */
      scale = v;
      break;
    case 'S':                  /* x - k, or k - x */
      if (x == a) {
        for (int j = 0; j < c; j++)
          v[j] = -v[j];
        shift = v;
      } else {
        shift = v;
        scale = g_new (float, c);
        for (int j = 0; j < c; j++)
          scale[j] = -1.0f;
      }
      break;
    default:                   /* Div: x / k only */
      if (x != a) {
        g_free (v);
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Div of a constant "
            "by an activation is not supported");
      }
      for (int j = 0; j < c; j++)
        v[j] = 1.0f / v[j];
      scale = v;
      break;
  }
  ok = emit_affine (p, x, scale, shift, -INFINITY, INFINITY, out_name (nd),
      error);
  g_free (scale);
  g_free (shift);
  return ok;
}

static gboolean
op_pool (Parser * p, const Node * nd, DlsOpType op, gboolean global,
    GError ** error)
{
  Value *x = input (p, nd, 0);
  gint64 ks[2];
  DlsNode node;
  int ih, iw;

  if (!require_act (x, "pool input", error))
    return FALSE;
  if (x->layout != LAYOUT_NCHW)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
        "pooling an NHWC tensor");
  ih = (int) x->dims[2];
  iw = (int) x->dims[3];
  dls_node_init (&node, op);
  node.n_inputs = 1;
  node.inputs[0] = x->id;
  if (global) {
    node.p.win.kernel_h = ih;
    node.p.win.kernel_w = iw;
    node.p.win.padding = DLS_PADDING_VALID;
  } else {
    DlsWindowParams *w = &node.p.win;
    if (attr_ints (nd, "kernel_shape", ks, 2) != 2 || ks[0] < 1 || ks[1] < 1
        || ks[0] > 65536 || ks[1] > 65536)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "kernel_shape must be "
          "2 positive values");
    if (!window_attrs (nd, x, (int) ks[0], (int) ks[1], w, error))
      return FALSE;
    if (w->dilation_h != 1 || w->dilation_w != 1)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "dilated pooling");
    w->kernel_h = (int) ks[0];
    w->kernel_w = (int) ks[1];
    if (op == DLS_OP_MAX_POOL2D && (attr_int (nd, "storage_order", 0)
            || nd->out->len > 1))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "MaxPool indices "
          "output or storage_order");
    if (attr_int (nd, "count_include_pad", 0) && (w->pad_top || w->pad_left
            || w->pad_bottom || w->pad_right))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "count_include_pad=1 "
          "with padding (the IR averages over the taps inside the input)");
    if (attr_int (nd, "ceil_mode", 0)) {
      /* Only when rounding up gives the same size as rounding down. */
      int eh = ih + w->pad_top + w->pad_bottom - w->kernel_h;
      int ew = iw + w->pad_left + w->pad_right - w->kernel_w;
      if (eh % w->stride_h || ew % w->stride_w)
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "ceil_mode=1 that "
            "changes the output size");
    }
  }
  return emit (p, &node, out_name (nd), LAYOUT_NCHW, 4, error) >= 0;
}

static gboolean
op_concat_act (Parser * p, const Node * nd, GError ** error)
{
  gint64 axis = attr_int (nd, "axis", 1);
  Value *x0 = input (p, nd, 0);
  DlsNode node;
  int ir;

  if (nd->in->len < 1 || nd->in->len > DLS_MAX_INPUTS)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%u inputs, 1..%d are "
        "supported", nd->in->len, DLS_MAX_INPUTS);
  if (!require_act (x0, "every Concat input", error))
    return FALSE;
  if (axis < 0)
    axis += x0->rank;
  ir = axis < 0 || axis >= x0->rank ? -1 : x0->rank < 4 ?
      (int) axis + 4 - x0->rank : ir_axis (x0->layout, (int) axis);
  if (ir < 1 || ir > 3)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "axis %" G_GINT64_FORMAT
        " of a rank-%d tensor", axis, x0->rank);
  dls_node_init (&node, DLS_OP_CONCAT);
  for (guint k = 0; k < nd->in->len; k++) {
    Value *v = input (p, nd, k);
    if (!require_act (v, "every Concat input", error))
      return FALSE;
    if (v->layout != x0->layout || v->rank != x0->rank)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "inputs in different "
          "layouts");
    node.inputs[k] = v->id;
  }
  node.n_inputs = (int) nd->in->len;
  node.p.concat.axis = ir;
  return emit (p, &node, out_name (nd), x0->layout, x0->rank, error) >= 0;
}

/* Upsample (opset 7: scales attribute; 9: scales input) and Resize (10: X,
 * scales; 11+: X, roi, scales, sizes). Linear and nearest. */
static gboolean
op_resize (Parser * p, const Node * nd, GError ** error)
{
  Value *x = input (p, nd, 0), *scales = NULL, *sizes = NULL;
  const char *mode = attr_string (nd, "mode", "nearest");
  const char *ctm = "asymmetric";
  gboolean resize = strcmp (nd->op, "Resize") == 0;
  double sc[4] = { 1, 1, 1, 1 };
  gint64 out[4];
  DlsNode node;
  int hax, wax;
  gboolean nearest;

  if (!require_act (x, "Resize input", error))
    return FALSE;
  if (x->rank != 4)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "resizing a rank-%d "
        "tensor", x->rank);
  if (resize && p->opset >= 11) {
    scales = input (p, nd, 2);
    sizes = input (p, nd, 3);
    ctm = attr_string (nd, "coordinate_transformation_mode", "half_pixel");
    if (attr (nd, "antialias") && attr_int (nd, "antialias", 0))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "antialias");
    if (attr (nd, "axes"))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "the axes attribute");
  } else if (nd->in->len >= 2) {
    scales = input (p, nd, 1);
  } else {
    const Attr *a = attr (nd, "scales");
    if (!a || !a->floats || a->floats->len != 4)
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "4 scales needed");
    for (int k = 0; k < 4; k++)
      sc[k] = g_array_index (a->floats, float, k);
  }
  if ((scales && (!scales->is_const || (scales->n != 4 && scales->n != 0)))
      || (sizes && (!sizes->is_const || sizes->n != 4)))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "scales or sizes must "
        "be constants of 4 values (fixed input size)");
  if (scales && scales->n == 0)
    scales = NULL;
  for (int k = 0; k < 4; k++) {
    if (sizes) {
      if (!const_int (sizes, k, &out[k], error))
        return FALSE;
    } else {
      if (scales)
        sc[k] = const_get (scales, k);
      if (!(sc[k] > 0) || sc[k] > 65536)
        return dls_error_set (error, DLS_ERROR_INVALID_GRAPH,
            "scale %g", sc[k]);
      out[k] = (gint64) floor (x->dims[k] * sc[k]);
    }
  }
  hax = x->layout == LAYOUT_NCHW ? 2 : 1;
  wax = hax + 1;
  if (out[0] != x->dims[0] || out[channel_axis (x->layout)]
      != x->dims[channel_axis (x->layout)])
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "resizing the batch or "
        "channel axis");
  if (out[hax] < 1 || out[wax] < 1 || out[hax] > 65536 || out[wax] > 65536)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "output size %"
        G_GINT64_FORMAT "x%" G_GINT64_FORMAT, out[hax], out[wax]);
  nearest = strcmp (mode, "nearest") == 0;
  if (!nearest && strcmp (mode, "linear") != 0
      && strcmp (mode, "bilinear") != 0)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "mode '%s' (linear and "
        "nearest are supported)", mode);

  dls_node_init (&node, nearest ? DLS_OP_RESIZE_NEAREST :
      DLS_OP_RESIZE_BILINEAR);
  node.n_inputs = 1;
  node.inputs[0] = x->id;
  node.p.resize.out_h = (int) out[hax];
  node.p.resize.out_w = (int) out[wax];
  if (strcmp (ctm, "asymmetric") == 0)
    node.p.resize.coord = DLS_RESIZE_ASYMMETRIC;
  else if (strcmp (ctm, "align_corners") == 0)
    node.p.resize.coord = DLS_RESIZE_ALIGN_CORNERS;
  else if (strcmp (ctm, "half_pixel") == 0
      || strcmp (ctm, "pytorch_half_pixel") == 0)
    node.p.resize.coord = DLS_RESIZE_HALF_PIXEL;
  else
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "coordinate_"
        "transformation_mode '%s'", ctm);
  /* ONNX's source coordinate uses the scale when one is given (x / scale,
   * or (in - 1) / (in * scale - 1) for align_corners), not in / out; and
   * pytorch_half_pixel maps an axis of output size 1 to 0 (a step of 0
   * with half-pixel centres reads pixel 0 too). */
  {
    int ax[2] = { hax, wax };
    float f[2];
    gboolean need = FALSE;

    for (int k = 0; k < 2; k++) {
      double in = (double) x->dims[ax[k]], o = (double) out[ax[k]];
      double len = sizes ? o : in * sc[ax[k]];

      if (node.p.resize.coord == DLS_RESIZE_ALIGN_CORNERS)
        f[k] = len > 1.0 ? (float) ((in - 1.0) / (len - 1.0)) : 0.0f;
      else if (strcmp (ctm, "pytorch_half_pixel") == 0 && o <= 1.0)
        f[k] = 0.0f;
      else
        f[k] = sizes ? (float) (in / o) : (float) (1.0 / sc[ax[k]]);
      need |= !sizes || f[k] == 0.0f;
    }
    node.p.resize.has_scale = need;
    node.p.resize.scale_h = f[0];
    node.p.resize.scale_w = f[1];
  }
  if (nearest && resize && p->opset >= 11) {
    const char *nm = attr_string (nd, "nearest_mode", "round_prefer_floor");
    if (strcmp (nm, "round_prefer_floor") == 0)
      node.p.resize.nearest = DLS_NEAREST_ROUND_PREFER_FLOOR;
    else if (strcmp (nm, "round_prefer_ceil") == 0)
      node.p.resize.nearest = DLS_NEAREST_ROUND_PREFER_CEIL;
    else if (strcmp (nm, "floor") == 0)
      node.p.resize.nearest = DLS_NEAREST_FLOOR;
    else if (strcmp (nm, "ceil") == 0)
      node.p.resize.nearest = DLS_NEAREST_CEIL;
    else
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "nearest_mode '%s'",
          nm);
  } else if (nearest) {
    /* Upsample and Resize-10: the index of x / scale, rounded down when
     * enlarging and up when shrinking (onnxruntime's rule). */
    gboolean up = sc[hax] >= 1.0 && sc[wax] >= 1.0;
    if (!up && !(sc[hax] < 1.0 && sc[wax] < 1.0))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "nearest resize that "
          "enlarges one axis and shrinks the other");
    node.p.resize.nearest = up ? DLS_NEAREST_FLOOR : DLS_NEAREST_CEIL;
  }
  return emit (p, &node, out_name (nd), x->layout, 4, error) >= 0;
}

/* ------------------------------------------------------------------ */
/* Constant folding                                                    */

/* TRUE when @perm is a permutation of 0..@np-1: every entry in range,
 * none twice. */
static gboolean
perm_valid (const gint64 * perm, int np)
{
  for (int k = 0; k < np; k++) {
    if (perm[k] < 0 || perm[k] >= np)
      return FALSE;
    for (int j = 0; j < k; j++)
      if (perm[j] == perm[k])
        return FALSE;
  }
  return TRUE;
}

static gboolean
fold_transpose (Parser * p, const Node * nd, const Value * x, GError ** error)
{
  gint64 perm[MAX_RANK], od[MAX_RANK] = { 0 };
  gsize istride[MAX_RANK];
  int np = attr_ints (nd, "perm", perm, MAX_RANK);
  Value *o;

  if (np == 0) {
    np = x->rank;
    for (int k = 0; k < np; k++)
      perm[k] = np - 1 - k;
  }
  if (np != x->rank)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "perm has %d entries "
        "for rank %d", np, x->rank);
  if (!perm_valid (perm, np))
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad perm");
  for (int k = 0; k < np; k++)
    od[k] = x->dims[perm[k]];
  if (!(o = const_new (np, od, x->is_float, error)))
    return FALSE;
  /* Unsigned: a stride left of a zero dim may wrap, and is never used. */
  for (gsize k = np, s = 1; k-- > 0; s *= (gsize) x->dims[k])
    istride[k] = s;
  for (gsize e = 0; e < o->n; e++) {
    gsize r = e, src = 0;
    for (int k = np - 1; k >= 0; k--) {
      src += (r % od[k]) * istride[perm[k]];
      r /= od[k];
    }
    if (o->is_float)
      o->f[e] = x->f[src];
    else
      o->i[e] = x->i[src];
  }
  define (p, out_name (nd), o);
  return TRUE;
}

static gboolean new_shape (Parser * p, const Node * nd, const Value * x,
    gint64 * d, int *r, GError ** error);

/* The IR axis (1..3) of logical axis @a of @x; 0 for the batch axis of a
 * rank-4 tensor. */
static int
ir_axis_of (const Value * x, int a)
{
  return x->rank < 4 || x->layout == LAYOUT_NHWC ? a + 4 - x->rank
      : ir_axis (LAYOUT_NCHW, a);
}

/* A TRANSPOSE node whose output holds @x's elements in the order of the
 * logical axes @perm (of x->rank) picks, tagged NHWC (logical order = IR
 * order); @x itself when that is its order already. */
static Value *
permute_act (Parser * p, const Node * nd, Value * x, const gint64 * perm,
    const char *name, GError ** error)
{
  int ir[3], used[4] = { 0 }, r = x->rank, off = 4 - r;
  gboolean identity = TRUE;
  DlsNode node;

  for (int k = 0; k < r; k++) {
    int a = ir_axis_of (x, (int) perm[k]);
    if (k + off == 0) {
      if (a != 0) {
        dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Transpose moving the "
            "batch axis");
        return NULL;
      }
      continue;
    }
    ir[k + off - 1] = a;
    used[a] = 1;
  }
  /* Leading size-1 axes of a rank < 3 tensor take the unused ones. */
  for (int j = 0; j < off - 1; j++)
    for (int a = 1; a <= 3; a++)
      if (!used[a]) {
        ir[j] = a;
        used[a] = 1;
        break;
      }
  for (int j = 0; j < 3; j++)
    identity &= ir[j] == j + 1;
  if (identity) {
    Value *v = value_copy (x);
    v->layout = LAYOUT_NHWC;
    for (int k = 0; k < r; k++)
      v->dims[k] = x->dims[perm[k]];
    define (p, name, v);
    return v;
  }
  dls_node_init (&node, DLS_OP_TRANSPOSE);
  node.n_inputs = 1;
  node.inputs[0] = x->id;
  memcpy (node.p.transpose.perm, ir, sizeof (ir));
  {
    /* Moving only axes of size 1 keeps the dense order: a RESHAPE. */
    const int *in = dls_graph_tensor (p->g, x->id)->dims;
    int last = 0;
    gboolean ordered = TRUE;

    for (int j = 0; j < 3; j++)
      if (in[ir[j]] > 1) {
        ordered &= ir[j] > last;
        last = ir[j];
      }
    if (ordered) {
      dls_node_init (&node, DLS_OP_RESHAPE);
      node.n_inputs = 1;
      node.inputs[0] = x->id;
      for (int j = 0; j < 3; j++)
        node.p.reshape.dims[j] = in[ir[j]];
    }
  }
  if (emit (p, &node, name, LAYOUT_NHWC, r, error) < 0)
    return NULL;
  return g_hash_table_lookup (p->values, name);
}

/* Transpose, Reshape, Flatten, Squeeze, Unsqueeze of an activation other
 * than the NCHW <-> NHWC relabelling: the elements are moved into the new
 * logical order (TRANSPOSE), and a new shape that keeps the order is a
 * RESHAPE (or nothing, when the IR shape stays). */
static gboolean
move_act (Parser * p, const Node * nd, Value * x, GError ** error)
{
  gint64 perm[MAX_RANK], d[MAX_RANK];
  int r = 0, ir[4] = { 1, 1, 1, 1 };
  char *tmp;
  Value *v;
  DlsNode node;

  if (strcmp (nd->op, "Transpose") == 0) {
    int np = attr_ints (nd, "perm", perm, MAX_RANK);
    if (np == 0)
      for (np = 0; np < x->rank; np++)
        perm[np] = x->rank - 1 - np;
    if (np != x->rank)
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "perm of %d for "
          "rank %d", np, x->rank);
    if (!perm_valid (perm, np))
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad perm");
    return permute_act (p, nd, x, perm, out_name (nd), error) != NULL;
  }

  if (!new_shape (p, nd, x, d, &r, error))
    return FALSE;
  if (r > 4 || (r == 4 && d[0] != 1))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "reshape of an "
        "activation to rank %d (at most 4, batch 1)", r);
  /* Into logical order first (no data moves for NHWC tensors). */
  for (int k = 0; k < x->rank; k++)
    perm[k] = k;
  tmp = g_strconcat (out_name (nd), "/ordered", NULL);
  v = permute_act (p, nd, x, perm, tmp, error);
  g_free (tmp);
  if (!v)
    return FALSE;
  for (int k = 0; k < r; k++)
    ir[4 - r + k] = (int) d[k];
  if (memcmp (dls_graph_tensor (p->g, v->id)->dims + 1, ir + 1,
          sizeof (int) * 3) == 0) {
    define_act_rank (p, out_name (nd), v->id, LAYOUT_NHWC, MAX (r, 1));
    if (r == 0)
      ((Value *) g_hash_table_lookup (p->values, out_name (nd)))->rank = 0;
    return TRUE;
  }
  dls_node_init (&node, DLS_OP_RESHAPE);
  node.n_inputs = 1;
  node.inputs[0] = v->id;
  memcpy (node.p.reshape.dims, ir + 1, sizeof (int) * 3);
  return emit (p, &node, out_name (nd), LAYOUT_NHWC, MAX (r, 1), error) >= 0;
}

static gboolean
op_transpose (Parser * p, const Node * nd, GError ** error)
{
  Value *x = input (p, nd, 0);
  const char *owner;
  gint64 perm[4];
  Layout to;

  if (!x)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "no input");
  if (x->is_const)
    return fold_transpose (p, nd, x, error);
  if (x->rank == 4 && attr_ints (nd, "perm", perm, 4) == 4 && perm[0] == 0) {
    if (x->layout == LAYOUT_NHWC && perm[1] == 3 && perm[2] == 1
        && perm[3] == 2)
      to = LAYOUT_NCHW;
    else if (x->layout == LAYOUT_NCHW && perm[1] == 2 && perm[2] == 3
        && perm[3] == 1)
      to = LAYOUT_NHWC;
    else
      goto unsupported;
    define_act (p, out_name (nd), x->id, to);
    owner = g_hash_table_lookup (p->owner, GINT_TO_POINTER (x->id));
    if (owner && strcmp (owner, in_name (nd, 0)) == 0
        && uses (p, in_name (nd, 0)) == 1)
      set_owner (p, x->id, out_name (nd));
    return TRUE;
  }
unsupported:
  return move_act (p, nd, x, error);
}

static gboolean
all_const (Parser * p, const Node * nd)
{
  for (guint k = 0; k < nd->in->len; k++) {
    Value *v = input (p, nd, k);
    if (*in_name (nd, k) && (!v || !v->is_const))
      return FALSE;
  }
  return TRUE;
}

static gint64
norm_axis (gint64 axis, int rank)
{
  return axis < 0 ? axis + rank : axis;
}

/* The logical shape Unsqueeze, Squeeze, Reshape or Flatten (@nd) gives
 * @x: into @d (*@r dims). */
static gboolean
new_shape (Parser * p, const Node * nd, const Value * x, gint64 * d, int *r,
    GError ** error)
{
  const char *op = nd->op;
  gsize n, m;

  if (!n_elements (x->dims, x->rank, &n))
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "%s of a tensor "
        "of more than %" G_GUINT64_FORMAT " elements", op,
        (guint64) MAX_ELEMENTS);
  if (strcmp (op, "Unsqueeze") == 0 || strcmp (op, "Squeeze") == 0) {
    gint64 axes[MAX_RANK];
    int na = attr_ints (nd, "axes", axes, MAX_RANK);
    gboolean unsq = op[0] == 'U';
    Value *av = input (p, nd, 1);
    if (av) {
      na = (int) MIN (av->n, MAX_RANK);
      for (int k = 0; k < na; k++)
        if (!const_int (av, k, &axes[k], error))
          return FALSE;
    }
    *r = unsq ? x->rank + na : x->rank;
    if (na < 0 || *r > MAX_RANK)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "rank too large");
    if (unsq) {
      gboolean mark[MAX_RANK] = { 0 };
      for (int k = 0; k < na; k++) {
        gint64 a = norm_axis (axes[k], *r);
        if (a < 0 || a >= *r || mark[a])
          return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad axes");
        mark[a] = TRUE;
      }
      for (int k = 0, s = 0; k < *r; k++)
        d[k] = mark[k] ? 1 : x->dims[s++];
    } else {
      int m = 0;
      for (int k = 0; k < x->rank; k++) {
        gboolean drop = na == 0 && x->dims[k] == 1;
        for (int j = 0; j < na; j++)
          if (norm_axis (axes[j], x->rank) == k)
            drop = TRUE;
        if (!drop)
          d[m++] = x->dims[k];
      }
      *r = m;
    }
  } else if (op[0] == 'F') {
    gint64 axis = norm_axis (attr_int (nd, "axis", 1), x->rank);
    if (axis < 0 || axis > x->rank)
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad axis");
    if (!n_elements (x->dims, (int) axis, &m))
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad shape");
    d[0] = (gint64) m;
    d[1] = (gint64) (n / MAX (m, 1));
    *r = 2;
  } else {
    Value *s = input (p, nd, 1);
    gsize known;
    int infer = -1;
    if (!s || !s->is_const || s->n > MAX_RANK)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "the shape must be a "
          "constant of at most %d values", MAX_RANK);
    if (attr_int (nd, "allowzero", 0))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "allowzero=1");
    *r = (int) s->n;
    for (int k = 0; k < *r; k++) {
      if (!const_int (s, k, &d[k], error))
        return FALSE;
      if (d[k] == 0)
        d[k] = k < x->rank ? x->dims[k] : 0;
      if (d[k] == -1 && infer < 0)
        infer = k;
      else if (d[k] < 0)
        return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad shape");
    }
    if (infer >= 0) {
      d[infer] = 1;
      if (!n_elements (d, *r, &known))
        return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad shape");
      d[infer] = known ? (gint64) (n / known) : 0;
    }
  }
  if (!n_elements (d, *r, &m) || m != n)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "reshape of %"
        G_GSIZE_FORMAT " elements to another count", n);
  return TRUE;
}

/* *@r = @u @op @w in int64 for the Add, Sub, Mul or Div @op (Div
 * truncates, as C and onnxruntime do); an error where the result is not
 * defined or does not fit: division by zero, overflow (INT64_MIN / -1). */
static gboolean
int_arith (const char *op, gint64 u, gint64 w, gint64 * r, GError ** error)
{
  gboolean overflow = FALSE;

  switch (op[0]) {
    case 'A':
      overflow = __builtin_add_overflow (u, w, r);
      break;
    case 'S':
      overflow = __builtin_sub_overflow (u, w, r);
      break;
    case 'M':
      overflow = __builtin_mul_overflow (u, w, r);
      break;
    default:
      if (w == 0)
        return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "division by "
            "zero");
      overflow = u == G_MININT64 && w == -1;
      if (!overflow)
        *r = u / w;
      break;
  }
  if (overflow)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "%s of the int64 "
        "values %" G_GINT64_FORMAT " and %" G_GINT64_FORMAT " overflows", op,
        u, w);
  return TRUE;
}

/* Shape, Gather, Unsqueeze, Squeeze, Slice, Cast, Concat, Reshape,
 * Identity and elementwise arithmetic on constants. */
static gboolean
fold (Parser * p, const Node * nd, GError ** error)
{
  const char *op = nd->op;
  Value *x = input (p, nd, 0), *o = NULL;

  if (!x)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "no input");

  if (strcmp (op, "Shape") == 0) {
    gint64 start = attr_int (nd, "start", 0), end = attr_int (nd, "end",
        x->rank), d = x->rank;
    start = CLAMP (norm_axis (start, x->rank), 0, x->rank);
    end = CLAMP (norm_axis (end, x->rank), 0, x->rank);
    d = MAX (end - start, 0);
    if (!(o = const_new (1, &d, FALSE, error)))
      return FALSE;
    for (gint64 k = 0; k < d; k++)
      o->i[k] = x->dims[start + k];
  } else if (strcmp (op, "Identity") == 0 || strcmp (op, "Dropout") == 0) {
    o = value_copy (x);
  } else if (strcmp (op, "Cast") == 0) {
    gint64 to = attr_int (nd, "to", DT_FLOAT);
    if (!dtype_size ((int) to))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Cast to type %"
          G_GINT64_FORMAT, to);
    if (!(o = const_new (x->rank, x->dims, dtype_is_float ((int) to), error)))
      return FALSE;
    for (gsize e = 0; e < o->n; e++) {
      if (o->is_float) {
        o->f[e] = (float) const_get (x, e);
      } else if (!const_int (x, e, &o->i[e], error)) {
        value_free (o);
        return FALSE;
      }
    }
  } else if (strcmp (op, "Unsqueeze") == 0 || strcmp (op, "Squeeze") == 0
      || strcmp (op, "Reshape") == 0 || strcmp (op, "Flatten") == 0) {
    gint64 d[MAX_RANK];
    int r = 0;
    if (!new_shape (p, nd, x, d, &r, error))
      return FALSE;
    o = value_copy (x);
    o->rank = r;
    memcpy (o->dims, d, sizeof (gint64) * r);
  } else if (strcmp (op, "Gather") == 0) {
    Value *idx = input (p, nd, 1);
    gint64 axis = norm_axis (attr_int (nd, "axis", 0), x->rank), d[MAX_RANK];
    gsize outer = 1, inner = 1;
    int r = 0;
    if (!idx || axis < 0 || axis >= x->rank
        || x->rank - 1 + idx->rank > MAX_RANK)
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "bad Gather");
    for (int k = 0; k < axis; k++)
      outer *= (gsize) (d[r++] = x->dims[k]);
    for (int k = 0; k < idx->rank; k++)
      d[r++] = idx->dims[k];
    for (int k = (int) axis + 1; k < x->rank; k++)
      inner *= (gsize) (d[r++] = x->dims[k]);
    if (!(o = const_new (r, d, x->is_float, error)))
      return FALSE;
    /* outer and inner may wrap when a dim is 0, but then o->n is 0. */
    for (gsize a = 0, e = 0; o->n && a < outer; a++)
      for (gsize j = 0; j < idx->n; j++) {
        gint64 i;
        if (!const_int (idx, j, &i, error)) {
          value_free (o);
          return FALSE;
        }
        if (i < 0)
          i += x->dims[axis];
        if (i < 0 || i >= x->dims[axis]) {
          value_free (o);
          return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "index out of "
              "range");
        }
        for (gsize b = 0; b < inner; b++, e++) {
          gsize src = (a * x->dims[axis] + i) * inner + b;
          if (o->is_float)
            o->f[e] = x->f[src];
          else
            o->i[e] = x->i[src];
        }
      }
  } else if (strcmp (op, "Slice") == 0) {
    /* 1-D only (shape vectors); opset 1 attributes or opset 10 inputs. */
    gint64 starts[1], ends[1], axes[1] = { 0 }, steps = 1, start, end, len;
    Value *vs = input (p, nd, 1), *ve = input (p, nd, 2);
    Value *va = input (p, nd, 3), *vst = input (p, nd, 4);
    if (x->rank != 1)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Slice of a constant "
          "of rank %d (only 1-D)", x->rank);
    if (vs && ve) {
      if (vs->n != 1 || ve->n != 1 || (va && va->n != 1)
          || (vst && vst->n != 1))
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "bad Slice");
      if (!const_int (vs, 0, &starts[0], error)
          || !const_int (ve, 0, &ends[0], error)
          || (va && !const_int (va, 0, &axes[0], error))
          || (vst && !const_int (vst, 0, &steps, error)))
        return FALSE;
    } else if (attr_ints (nd, "starts", starts, 1) != 1
        || attr_ints (nd, "ends", ends, 1) != 1) {
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "bad Slice");
    }
    if (norm_axis (axes[0], 1) != 0 || steps == 0)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "bad Slice");
    len = x->dims[0];
    /* A step longer than the axis takes one element at most either way;
     * bounding it keeps the arithmetic below from overflowing. */
    steps = CLAMP (steps, -len - 1, len + 1);
    start = starts[0] < 0 ? starts[0] + len : starts[0];
    end = ends[0] < 0 ? ends[0] + len : ends[0];
    if (steps > 0) {
      start = CLAMP (start, 0, len);
      end = CLAMP (end, 0, len);
    } else {
      start = CLAMP (start, 0, len - 1);
      end = CLAMP (end, -1, len - 1);
    }
    {
      gint64 n = steps > 0 ? MAX ((end - start + steps - 1) / steps, 0)
          : MAX ((start - end - steps - 1) / -steps, 0);
      if (!(o = const_new (1, &n, x->is_float, error)))
        return FALSE;
      for (gint64 k = 0; k < n; k++) {
        gint64 s = start + k * steps;
        if (o->is_float)
          o->f[k] = x->f[s];
        else
          o->i[k] = x->i[s];
      }
    }
  } else if (strcmp (op, "Concat") == 0) {
    gint64 n = 0;
    gboolean isf = FALSE;
    for (guint k = 0; k < nd->in->len; k++) {
      Value *v = input (p, nd, k);
      if (!v || v->rank != 1)
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Concat of "
            "constants that are not 1-D");
      n += v->dims[0];
      isf |= v->is_float;
    }
    if (!(o = const_new (1, &n, isf, error)))
      return FALSE;
    for (guint k = 0, e = 0; k < nd->in->len; k++) {
      Value *v = input (p, nd, k);
      for (gsize j = 0; j < v->n; j++, e++) {
        if (isf)
          o->f[e] = (float) const_get (v, j);
        else
          o->i[e] = v->i[j];
      }
    }
  } else if (strcmp (op, "Add") == 0 || strcmp (op, "Sub") == 0
      || strcmp (op, "Mul") == 0 || strcmp (op, "Div") == 0) {
    Value *b = input (p, nd, 1), *big;
    if (!b || (x->n != b->n && x->n != 1 && b->n != 1))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%s of constants "
          "with broadcasting", op);
    big = x->n >= b->n ? x : b;
    if (!(o = const_new (big->rank, big->dims, x->is_float || b->is_float,
                error)))
      return FALSE;
    for (gsize e = 0; e < o->n; e++) {
      gsize ex = x->n == 1 ? 0 : e, eb = b->n == 1 ? 0 : e;
      if (o->is_float) {
        double u = const_get (x, ex), w = const_get (b, eb);
        o->f[e] = (float) (op[0] == 'A' ? u + w : op[0] == 'S' ? u - w
            : op[0] == 'M' ? u * w : u / w);
      } else if (!int_arith (op, x->i[ex], b->i[eb], &o->i[e], error)) {
        value_free (o);
        return FALSE;
      }
    }
  } else if (strcmp (op, "Floor") == 0 || strcmp (op, "Ceil") == 0) {
    o = value_copy (x);
    for (gsize e = 0; o->is_float && e < o->n; e++)
      o->f[e] = op[0] == 'F' ? floorf (o->f[e]) : ceilf (o->f[e]);
  } else if (strcmp (op, "Transpose") == 0) {
    return fold_transpose (p, nd, x, error);
  } else {
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "unsupported operator "
        "%s on constants", op);
  }
  define (p, out_name (nd), o);
  return TRUE;
}

static gboolean
op_constant (Parser * p, const Node * nd, GError ** error)
{
  const Attr *a;
  Value *v = NULL;
  gint64 one = 1;

  if ((a = attr (nd, "value")) && a->t.data) {
    if (!parse_tensor (&a->t, NULL, &v, error))
      return FALSE;
  } else if ((a = attr (nd, "value_float"))) {
    if (!(v = const_new (0, NULL, TRUE, error)))
      return FALSE;
    v->f[0] = a->f;
  } else if ((a = attr (nd, "value_int"))) {
    if (!(v = const_new (0, NULL, FALSE, error)))
      return FALSE;
    v->i[0] = a->i;
  } else if ((a = attr (nd, "value_floats")) && a->floats) {
    gint64 n = a->floats->len;
    if (!(v = const_new (1, &n, TRUE, error)))
      return FALSE;
    memcpy (v->f, a->floats->data, sizeof (float) * n);
  } else if ((a = attr (nd, "value_ints")) && a->ints) {
    gint64 n = a->ints->len;
    if (!(v = const_new (1, &n, FALSE, error)))
      return FALSE;
    memcpy (v->i, a->ints->data, sizeof (gint64) * n);
  } else {
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Constant without a "
        "supported value attribute");
  }
  (void) one;
  define (p, out_name (nd), v);
  return TRUE;
}

static gboolean
convert_node (Parser * p, const Node * nd, GError ** error)
{
  const char *op = nd->op;

  if (nd->out->len < 1 || !*out_name (nd))
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "no output");
  for (guint k = 0; k < nd->in->len; k++)
    if (*in_name (nd, k) && !input (p, nd, k))
      return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "input '%s' is not "
          "produced by an earlier node, an initializer or a graph input "
          "(the graph is unsorted or has a cycle)", in_name (nd, k));
  if (strcmp (op, "Constant") == 0)
    return op_constant (p, nd, error);
  if (nd->in->len > 0 && input (p, nd, 0) && all_const (p, nd)
      && strcmp (op, "Conv") != 0)
    return fold (p, nd, error);
  if (strcmp (op, "Shape") == 0 || strcmp (op, "Identity") == 0
      || strcmp (op, "Dropout") == 0)
    return fold (p, nd, error);
  if (strcmp (op, "Cast") == 0) {
    /* Activations are float: Cast to float (after ArgMax) changes nothing. */
    if (attr_int (nd, "to", 0) != DT_FLOAT)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "Cast of an "
          "activation to type %" G_GINT64_FORMAT " (only to float)",
          attr_int (nd, "to", 0));
    define (p, out_name (nd), value_copy (input (p, nd, 0)));
    return TRUE;
  }
  if (strcmp (op, "Conv") == 0)
    return op_conv (p, nd, error);
  if (strcmp (op, "BatchNormalization") == 0)
    return op_batchnorm (p, nd, error);
  if (strcmp (op, "Relu") == 0)
    return require_act (input (p, nd, 0), "Relu input", error)
        && clamp_value (p, nd, 0.0f, INFINITY, error);
  if (strcmp (op, "Clip") == 0)
    return op_clip (p, nd, error);
  if (strcmp (op, "Add") == 0 || strcmp (op, "Sub") == 0
      || strcmp (op, "Mul") == 0 || strcmp (op, "Div") == 0)
    return op_binary (p, nd, error);
  if (strcmp (op, "AveragePool") == 0)
    return op_pool (p, nd, DLS_OP_AVERAGE_POOL2D, FALSE, error);
  if (strcmp (op, "GlobalAveragePool") == 0)
    return op_pool (p, nd, DLS_OP_AVERAGE_POOL2D, TRUE, error);
  if (strcmp (op, "MaxPool") == 0)
    return op_pool (p, nd, DLS_OP_MAX_POOL2D, FALSE, error);
  if (strcmp (op, "GlobalMaxPool") == 0)
    return op_pool (p, nd, DLS_OP_MAX_POOL2D, TRUE, error);
  if (strcmp (op, "HardSigmoid") == 0)
    return op_unary (p, nd, DLS_OP_HARD_SIGMOID, error);
  if (strcmp (op, "HardSwish") == 0)
    return op_unary (p, nd, DLS_OP_HARD_SWISH, error);
  if (strcmp (op, "Sigmoid") == 0)
    return op_unary (p, nd, DLS_OP_SIGMOID, error);
  if (strcmp (op, "Softmax") == 0)
    return op_softmax (p, nd, error);
  if (strcmp (op, "ArgMax") == 0)
    return op_argmax (p, nd, error);
  if (strcmp (op, "Concat") == 0)
    return op_concat_act (p, nd, error);
  if (strcmp (op, "Upsample") == 0 || strcmp (op, "Resize") == 0)
    return op_resize (p, nd, error);
  if (strcmp (op, "Transpose") == 0)
    return op_transpose (p, nd, error);
  if (strcmp (op, "Reshape") == 0 || strcmp (op, "Flatten") == 0
      || strcmp (op, "Squeeze") == 0 || strcmp (op, "Unsqueeze") == 0)
    return require_act (input (p, nd, 0), "the input", error)
        && move_act (p, nd, input (p, nd, 0), error);
  return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "unsupported operator %s",
      op);
}

/* ------------------------------------------------------------------ */
/* Graph                                                               */

/* A graph input's or output's name, element type and dims (-1 for a
 * symbolic one; *@rank -1 without a shape). */
static gboolean
read_value_info (const DlsPbField * vf, char **name, gint64 * dims,
    int *rank, gint64 * elem, GError ** error)
{
  DlsPbMsg m, tm, tt, sm, dm;
  DlsPbField f, g, h, d, e;
  int r;

  *rank = -1;
  *elem = 0;
  *name = NULL;
  dls_pb_sub (vf, &m, "ValueInfoProto");
  while ((r = dls_pb_next (&m, &f, error)) > 0) {
    if (f.number == VALUE_INFO_NAME && f.wire == DLS_PB_BYTES) {
      g_free (*name);
      *name = dls_pb_string (&f);
    }
    if (f.number != VALUE_INFO_TYPE || f.wire != DLS_PB_BYTES)
      continue;
    dls_pb_sub (&f, &tm, "TypeProto");
    while ((r = dls_pb_next (&tm, &g, error)) > 0) {
      if (g.number != TYPE_TENSOR || g.wire != DLS_PB_BYTES)
        continue;
      dls_pb_sub (&g, &tt, "TypeProto.Tensor");
      while ((r = dls_pb_next (&tt, &h, error)) > 0) {
        if (h.number == TYPE_TENSOR_ELEM_TYPE && h.wire == DLS_PB_VARINT)
          *elem = (gint64) h.u;
        if (h.number != TYPE_TENSOR_SHAPE || h.wire != DLS_PB_BYTES)
          continue;
        *rank = 0;
        dls_pb_sub (&h, &sm, "TensorShapeProto");
        while ((r = dls_pb_next (&sm, &d, error)) > 0) {
          if (d.number != SHAPE_DIM || d.wire != DLS_PB_BYTES)
            continue;
          if (*rank >= MAX_RANK)
            return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "input of more "
                "than %d dimensions", MAX_RANK);
          dims[*rank] = -1;
          dls_pb_sub (&d, &dm, "Dimension");
          while ((r = dls_pb_next (&dm, &e, error)) > 0) {
            if (e.number == DIM_VALUE && e.wire == DLS_PB_VARINT)
              dims[*rank] = (gint64) e.u;
          }
          if (r < 0)
            return FALSE;
          (*rank)++;
        }
        if (r < 0)
          return FALSE;
      }
      if (r < 0)
        return FALSE;
    }
    if (r < 0)
      return FALSE;
  }
  if (r < 0)
    return FALSE;
  if (!*name)
    *name = g_strdup ("");
  return TRUE;
}

/* read_value_info() that leaves no name behind on failure. */
static gboolean
parse_value_info (const DlsPbField * vf, char **name, gint64 * dims,
    int *rank, gint64 * elem, GError ** error)
{
  if (read_value_info (vf, name, dims, rank, elem, error))
    return TRUE;
  g_clear_pointer (name, g_free);
  return FALSE;
}

static gboolean
add_graph_input (Parser * p, const DlsPbField * vf, GError ** error)
{
  gint64 dims[MAX_RANK], elem;
  int rank, hwc[4], id;
  char *name;
  Layout layout;
  gboolean ok = FALSE;

  if (!parse_value_info (vf, &name, dims, &rank, &elem, error))
    return FALSE;
  /* Initializers may be listed as inputs too (IR version < 4). */
  if (g_hash_table_contains (p->values, name)) {
    ok = TRUE;
    goto out;
  }
  if (elem != DT_FLOAT) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "graph input '%s' has element "
        "type %" G_GINT64_FORMAT ", only float is supported", name, elem);
    goto out;
  }
  if (rank < 1 || rank > 4 || (rank == 4 && dims[0] != 1)) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "graph input '%s' must be 4-D "
        "with batch 1 (NCHW or NHWC), or of rank 1..3", name);
    goto out;
  }
  for (int k = rank == 4 ? 1 : 0; k < rank; k++)
    if (dims[k] < 1 || dims[k] > 65536) {
      dls_error_set (error, DLS_ERROR_UNSUPPORTED, "graph input '%s' has a "
          "symbolic or invalid dimension %d: export the model with a fixed "
          "input size", name, k);
      goto out;
    }
  layout = rank < 4 || GPOINTER_TO_INT (g_hash_table_lookup
      (p->input_layouts, name)) == LAYOUT_NHWC + 1 ? LAYOUT_NHWC : LAYOUT_NCHW;
  hwc[0] = hwc[1] = hwc[2] = 1;
  if (rank < 4) {
    for (int k = 0; k < rank; k++)
      hwc[4 - rank + k] = (int) dims[k];
  } else {
    hwc[1] = (int) dims[layout == LAYOUT_NCHW ? 2 : 1];
    hwc[2] = (int) dims[layout == LAYOUT_NCHW ? 3 : 2];
    hwc[3] = (int) dims[layout == LAYOUT_NCHW ? 1 : 3];
  }
  id = dls_graph_add_tensor (p->g, name, DLS_TENSOR_ACTIVATION,
      DLS_DTYPE_FLOAT32, 4, hwc, NULL, 0);
  dls_graph_add_input (p->g, id);
  define_act_rank (p, name, id, layout, rank);
  ok = TRUE;
out:
  g_free (name);
  return ok;
}

/* Counts the readers of every value and finds, per graph input, whether
 * all its readers are NHWC -> NCHW transposes. */
static gboolean
scan_nodes (Parser * p, GArray * nodes)
{
  GHashTable *other = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < nodes->len; i++) {
    const Node *nd = &g_array_index (nodes, Node, i);
    gint64 perm[4];
    gboolean to_nchw = strcmp (nd->op, "Transpose") == 0
        && attr_ints (nd, "perm", perm, 4) == 4 && perm[0] == 0
        && perm[1] == 3 && perm[2] == 1 && perm[3] == 2;

    for (guint k = 0; k < nd->in->len; k++) {
      const char *n = in_name (nd, k);
      if (!*n)
        continue;
      g_hash_table_replace (p->uses, g_strdup (n), GINT_TO_POINTER (uses (p,
                  n) + 1));
      if (to_nchw && !g_hash_table_contains (other, n))
        g_hash_table_replace (p->input_layouts, g_strdup (n),
            GINT_TO_POINTER (LAYOUT_NHWC + 1));
      else {
        g_hash_table_add (other, (gpointer) n);
        g_hash_table_remove (p->input_layouts, n);
      }
    }
  }
  g_hash_table_unref (other);
  return TRUE;
}

static gboolean
parse_graph (Parser * p, const DlsPbField * gf, GError ** error)
{
  DlsPbMsg m;
  DlsPbField f;
  gboolean ok = FALSE;
  int r;
  GArray *nodes = g_array_new (FALSE, TRUE, sizeof (Node));
  GArray *inputs = g_array_new (FALSE, FALSE, sizeof (DlsPbField));
  GArray *outputs = g_array_new (FALSE, FALSE, sizeof (DlsPbField));

  /* Pass 1: initializers, nodes, inputs and outputs, in file order. */
  dls_pb_sub (gf, &m, "GraphProto");
  while ((r = dls_pb_next (&m, &f, error)) > 0) {
    switch (f.number) {
      case GRAPH_INITIALIZER:{
        Value *v;
        char *name;
        if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "initializer", error))
          goto out;
        if (!parse_tensor (&f, &name, &v, error)) {
          g_prefix_error (error, "initializer: ");
          goto out;
        }
        g_hash_table_replace (p->values, name, v);
        break;
      }
      case GRAPH_SPARSE_INITIALIZER:
        dls_error_set (error, DLS_ERROR_UNSUPPORTED, "sparse initializers are "
            "not supported");
        goto out;
      case GRAPH_NODE:{
        Node nd = { 0 };
        if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "node", error))
          goto out;
        if (nodes->len >= MAX_NODES) {
          dls_error_set (error, DLS_ERROR_UNSUPPORTED, "more than %d nodes",
              MAX_NODES);
          goto out;
        }
        if (!parse_node (&f, nodes->len, &nd, error)) {
          node_clear (&nd);
          g_prefix_error (error, "node %u: ", nodes->len);
          goto out;
        }
        g_array_append_val (nodes, nd);
        break;
      }
      case GRAPH_INPUT:
      case GRAPH_OUTPUT:
        if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "input/output", error))
          goto out;
        g_array_append_val (f.number == GRAPH_INPUT ? inputs : outputs, f);
        break;
      default:
        break;
    }
  }
  if (r < 0)
    goto out;

  scan_nodes (p, nodes);
  for (guint k = 0; k < outputs->len; k++) {
    gint64 dims[MAX_RANK], elem;
    int rank;
    char *name;
    if (!parse_value_info (&g_array_index (outputs, DlsPbField, k), &name,
            dims, &rank, &elem, error))
      goto out;
    g_hash_table_replace (p->uses, g_strdup (name),
        GINT_TO_POINTER (uses (p, name) + 1));
    g_free (name);
  }
  for (guint k = 0; k < inputs->len; k++)
    if (!add_graph_input (p, &g_array_index (inputs, DlsPbField, k), error))
      goto out;
  if (p->g->inputs->len == 0) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "the graph has no input (it "
        "computes a constant)");
    goto out;
  }

  /* Pass 2: nodes in order. */
  for (guint i = 0; i < nodes->len; i++) {
    const Node *nd = &g_array_index (nodes, Node, i);
    if (!convert_node (p, nd, error)) {
      g_prefix_error (error, "node '%s' (%s): ", nd->name, nd->op);
      goto out;
    }
  }

  for (guint k = 0; k < outputs->len; k++) {
    gint64 dims[MAX_RANK], elem;
    int rank;
    char *name;
    Value *v;
    if (!parse_value_info (&g_array_index (outputs, DlsPbField, k), &name,
            dims, &rank, &elem, error))
      goto out;
    v = g_hash_table_lookup (p->values, name);
    if (!v || v->is_const) {
      dls_error_set (error, DLS_ERROR_UNSUPPORTED, "graph output '%s' is %s",
          name, v ? "a constant" : "not produced by any node");
      g_free (name);
      goto out;
    }
    g_free (name);
    dls_graph_add_output (p->g, v->id);
  }
  if (dls_graph_n_nodes (p->g) == 0) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "the graph computes nothing "
        "but constants and layout changes");
    goto out;
  }
  ok = TRUE;

out:
  for (guint i = 0; i < nodes->len; i++)
    node_clear (&g_array_index (nodes, Node, i));
  g_array_unref (nodes);
  g_array_unref (inputs);
  g_array_unref (outputs);
  return ok;
}

static gboolean
parse_model (Parser * p, const guint8 * data, gsize size, GError ** error)
{
  DlsPbMsg m;
  DlsPbField f, graph = { 0 };
  gboolean have_graph = FALSE, have_ir = FALSE;
  int r;

  p->opset = 1;
  dls_pb_msg_init (&m, data, size, "ModelProto");
  while ((r = dls_pb_next (&m, &f, error)) > 0) {
    if (f.number == MODEL_IR_VERSION && f.wire == DLS_PB_VARINT)
      have_ir = TRUE;
    if (f.number == MODEL_GRAPH) {
      if (!dls_pb_expect (&m, &f, DLS_PB_BYTES, "graph", error))
        return FALSE;
      graph = f;
      have_graph = TRUE;
    }
    if (f.number == MODEL_OPSET_IMPORT && f.wire == DLS_PB_BYTES) {
      DlsPbMsg om;
      DlsPbField o;
      char *domain = NULL;
      gint64 version = 0;

      dls_pb_sub (&f, &om, "OperatorSetIdProto");
      while ((r = dls_pb_next (&om, &o, error)) > 0) {
        if (o.number == OPSET_DOMAIN && o.wire == DLS_PB_BYTES) {
          g_free (domain);
          domain = dls_pb_string (&o);
        }
        if (o.number == OPSET_VERSION && o.wire == DLS_PB_VARINT)
          version = (gint64) o.u;
      }
      if (r < 0) {
        g_free (domain);
        return FALSE;
      }
      if (!domain || !*domain || strcmp (domain, "ai.onnx") == 0)
        p->opset = version;
      g_free (domain);
    }
  }
  if (r < 0)
    return FALSE;
  if (!have_ir)
    return dls_error_set (error, DLS_ERROR_NOT_A_MODEL, "not an ONNX model: no "
        "ir_version");
  if (!have_graph)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "the model has no "
        "graph");
  return parse_graph (p, &graph, error);
}

/**
 * dls_onnx_parse:
 * @data: (array length=size): the whole .onnx file
 *
 * Reads the main graph of an ONNX model into a finalized graph. Constants
 * are copied, so @data may be freed afterwards.
 *
 * Returns: (transfer full) (nullable): the graph, or NULL with @error set:
 * DLS_ERROR_NOT_A_MODEL (no ir_version), DLS_ERROR_CORRUPT (anything out of
 * bounds, a tensor whose data does not match its shape),
 * DLS_ERROR_UNSUPPORTED (an operator, attribute value, type or external
 * data, named in the message) or DLS_ERROR_INVALID_GRAPH (an input that no
 * earlier node produces, a cycle; and what dls_graph_finalize() finds).
 */
DlsGraph *
dls_onnx_parse (const guint8 * data, gsize size, GError ** error)
{
  Parser p = { 0 };
  GError *err = NULL;
  gboolean ok;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!data || size == 0) {
    g_set_error_literal (error, DLS_ERROR, DLS_ERROR_NOT_A_MODEL,
        "not an ONNX model: empty");
    return NULL;
  }
  p.g = dls_graph_new ();
  p.values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      value_free);
  p.uses = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  p.input_layouts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      NULL);
  p.owner = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  ok = parse_model (&p, data, size, &err) && dls_graph_finalize (p.g, &err);
  g_hash_table_unref (p.values);
  g_hash_table_unref (p.uses);
  g_hash_table_unref (p.input_layouts);
  g_hash_table_unref (p.owner);

  if (!ok) {
    if (err->code == DLS_ERROR_CORRUPT)
      g_prefix_error (&err, "corrupt ONNX model: ");
    g_propagate_error (error, err);
    dls_graph_free (p.g);
    return NULL;
  }
  return p.g;
}
