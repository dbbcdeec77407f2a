/* deeplabseg: the TFLite reader. Owns the mapping from a TFLite FlatBuffer
 * (schema v3, tensorflow/lite/schema/schema.fbs) to the graph IR: which
 * builtin operators map to which DlsOpType, their options and defaults, the
 * fused activations, and which tensors become constants. The binary format
 * itself is flatbuf.c's business; graph consistency (shapes, arity, order)
 * is dls_graph_finalize()'s.
 *
 * Only the first subgraph is read. Tensors enter the graph when an operator,
 * a graph input or a graph output uses them, so tensors consumed by the
 * reader itself (RESIZE_BILINEAR's size vector) never reach a backend.
 */
#include "model.h"
#include "flatbuf.h"

#include <string.h>

/* Field ids of schema v3. A union occupies two ids: its type, its value. */
enum
{
  MODEL_VERSION = 0,
  MODEL_OPERATOR_CODES = 1,
  MODEL_SUBGRAPHS = 2,
  MODEL_BUFFERS = 4,
};

enum
{
  SUBGRAPH_TENSORS = 0,
  SUBGRAPH_INPUTS = 1,
  SUBGRAPH_OUTPUTS = 2,
  SUBGRAPH_OPERATORS = 3,
};

enum
{
  TENSOR_SHAPE = 0,
  TENSOR_TYPE = 1,
  TENSOR_BUFFER = 2,
  TENSOR_NAME = 3,
  TENSOR_SPARSITY = 6,
  TENSOR_EXTERNAL_BUFFER = 10,
};

enum
{
  OPERATOR_OPCODE_INDEX = 0,
  OPERATOR_INPUTS = 1,
  OPERATOR_OUTPUTS = 2,
  OPERATOR_OPTIONS_TYPE = 3,
  OPERATOR_OPTIONS = 4,
};

enum
{
  OPCODE_DEPRECATED_BUILTIN_CODE = 0,
  OPCODE_CUSTOM_CODE = 1,
  OPCODE_BUILTIN_CODE = 3,
};

enum
{
  BUFFER_DATA = 0,
  BUFFER_OFFSET = 1,
  BUFFER_SIZE = 2,
};

/* The BuiltinOptions union members we read. */
enum
{
  OPTIONS_NONE = 0,
  OPTIONS_CONV2D = 1,
  OPTIONS_DEPTHWISE_CONV2D = 2,
  OPTIONS_POOL2D = 5,
  OPTIONS_CONCATENATION = 10,
  OPTIONS_ADD = 11,
  OPTIONS_RESIZE_BILINEAR = 15,
};

enum
{
  BUILTIN_ADD = 0,
  BUILTIN_AVERAGE_POOL_2D = 1,
  BUILTIN_CONCATENATION = 2,
  BUILTIN_CONV_2D = 3,
  BUILTIN_DEPTHWISE_CONV_2D = 4,
  BUILTIN_RESIZE_BILINEAR = 23,
  BUILTIN_CUSTOM = 32,
};

enum
{
  TYPE_FLOAT32 = 0,
  TYPE_INT32 = 2,
};

#define TFLITE_SCHEMA_VERSION 3

/* Far beyond any real network; keeps allocations proportional to sense
 * rather than to what a hostile header claims. */
#define MAX_TENSORS (1 << 20)
#define MAX_OPERATORS (1 << 20)
#define MAX_CONSTANT_ELEMENTS (G_GUINT64_CONSTANT (1) << 30)
/* Tensors may share a buffer and each gets its own copy; without a bound a
 * small file could ask for terabytes. Real models share little. */
#define MAX_CONSTANT_BYTES_PER_FILE_BYTE 8

/* BuiltinOperator, in enum order (schema.fbs), so that any operator a model
 * uses can be named in an error. */
static const char *const builtin_names[] = {
  "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
  "DEPTH_TO_SPACE", "DEQUANTIZE", "EMBEDDING_LOOKUP", "FLOOR",
  "FULLY_CONNECTED", "HASHTABLE_LOOKUP", "L2_NORMALIZATION", "L2_POOL_2D",
  "LOCAL_RESPONSE_NORMALIZATION", "LOGISTIC", "LSH_PROJECTION", "LSTM",
  "MAX_POOL_2D", "MUL", "RELU", "RELU_N1_TO_1", "RELU6", "RESHAPE",
  "RESIZE_BILINEAR", "RNN", "SOFTMAX", "SPACE_TO_DEPTH", "SVDF", "TANH",
  "CONCAT_EMBEDDINGS", "SKIP_GRAM", "CALL", "CUSTOM",
  "EMBEDDING_LOOKUP_SPARSE", "PAD", "UNIDIRECTIONAL_SEQUENCE_RNN", "GATHER",
  "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "TRANSPOSE", "MEAN", "SUB", "DIV",
  "SQUEEZE", "UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE",
  "BIDIRECTIONAL_SEQUENCE_RNN", "EXP", "TOPK_V2", "SPLIT", "LOG_SOFTMAX",
  "DELEGATE", "BIDIRECTIONAL_SEQUENCE_LSTM", "CAST", "PRELU", "MAXIMUM",
  "ARG_MAX", "MINIMUM", "LESS", "NEG", "PADV2", "GREATER", "GREATER_EQUAL",
  "LESS_EQUAL", "SELECT", "SLICE", "SIN", "TRANSPOSE_CONV", "SPARSE_TO_DENSE",
  "TILE", "EXPAND_DIMS", "EQUAL", "NOT_EQUAL", "LOG", "SUM", "SQRT", "RSQRT",
  "SHAPE", "POW", "ARG_MIN", "FAKE_QUANT", "REDUCE_PROD", "REDUCE_MAX", "PACK",
  "LOGICAL_OR", "ONE_HOT", "LOGICAL_AND", "LOGICAL_NOT", "UNPACK",
  "REDUCE_MIN", "FLOOR_DIV", "REDUCE_ANY", "SQUARE", "ZEROS_LIKE", "FILL",
  "FLOOR_MOD", "RANGE", "RESIZE_NEAREST_NEIGHBOR", "LEAKY_RELU",
  "SQUARED_DIFFERENCE", "MIRROR_PAD", "ABS", "SPLIT_V", "UNIQUE", "CEIL",
  "REVERSE_V2", "ADD_N", "GATHER_ND", "COS", "WHERE", "RANK", "ELU",
  "REVERSE_SEQUENCE", "MATRIX_DIAG", "QUANTIZE", "MATRIX_SET_DIAG", "ROUND",
  "HARD_SWISH", "IF", "WHILE", "NON_MAX_SUPPRESSION_V4",
  "NON_MAX_SUPPRESSION_V5", "SCATTER_ND", "SELECT_V2", "DENSIFY",
  "SEGMENT_SUM", "BATCH_MATMUL", "PLACEHOLDER_FOR_GREATER_OP_CODES", "CUMSUM",
  "CALL_ONCE", "BROADCAST_TO", "RFFT2D", "CONV_3D", "IMAG", "REAL",
  "COMPLEX_ABS", "HASHTABLE", "HASHTABLE_FIND", "HASHTABLE_IMPORT",
  "HASHTABLE_SIZE", "REDUCE_ALL", "CONV_3D_TRANSPOSE", "VAR_HANDLE",
  "READ_VARIABLE", "ASSIGN_VARIABLE", "BROADCAST_ARGS",
  "RANDOM_STANDARD_NORMAL", "BUCKETIZE", "RANDOM_UNIFORM", "MULTINOMIAL",
  "GELU", "DYNAMIC_UPDATE_SLICE", "RELU_0_TO_1", "UNSORTED_SEGMENT_PROD",
  "UNSORTED_SEGMENT_MAX", "UNSORTED_SEGMENT_SUM", "ATAN2",
  "UNSORTED_SEGMENT_MIN", "SIGN", "BITCAST", "BITWISE_XOR", "RIGHT_SHIFT",
  "STABLEHLO_LOGISTIC", "STABLEHLO_ADD", "STABLEHLO_DIVIDE",
  "STABLEHLO_MULTIPLY", "STABLEHLO_MAXIMUM", "STABLEHLO_RESHAPE",
  "STABLEHLO_CLAMP", "STABLEHLO_CONCATENATE", "STABLEHLO_BROADCAST_IN_DIM",
  "STABLEHLO_CONVOLUTION", "STABLEHLO_SLICE", "STABLEHLO_CUSTOM_CALL",
  "STABLEHLO_REDUCE", "STABLEHLO_ABS", "STABLEHLO_AND", "STABLEHLO_COSINE",
  "STABLEHLO_EXPONENTIAL", "STABLEHLO_FLOOR", "STABLEHLO_LOG",
  "STABLEHLO_MINIMUM", "STABLEHLO_NEGATE", "STABLEHLO_OR", "STABLEHLO_POWER",
  "STABLEHLO_REMAINDER", "STABLEHLO_RSQRT", "STABLEHLO_SELECT",
  "STABLEHLO_SUBTRACT", "STABLEHLO_TANH", "STABLEHLO_SCATTER",
  "STABLEHLO_COMPARE", "STABLEHLO_CONVERT", "STABLEHLO_DYNAMIC_SLICE",
  "STABLEHLO_DYNAMIC_UPDATE_SLICE", "STABLEHLO_PAD", "STABLEHLO_IOTA",
  "STABLEHLO_DOT_GENERAL", "STABLEHLO_REDUCE_WINDOW", "STABLEHLO_SORT",
  "STABLEHLO_WHILE", "STABLEHLO_GATHER", "STABLEHLO_TRANSPOSE", "DILATE",
  "STABLEHLO_RNG_BIT_GENERATOR", "REDUCE_WINDOW", "STABLEHLO_COMPOSITE",
  "STABLEHLO_SHIFT_LEFT", "STABLEHLO_CBRT", "STABLEHLO_CASE",
};

/* TensorType, in enum order. */
static const char *const type_names[] = {
  "FLOAT32", "FLOAT16", "INT32", "UINT8", "INT64", "STRING", "BOOL", "INT16",
  "COMPLEX64", "INT8", "FLOAT64", "COMPLEX128", "UINT64", "RESOURCE",
  "VARIANT", "UINT32", "UINT16", "INT4", "BFLOAT16", "INT2", "UINT4",
  "FLOAT8_E4M3FN", "FLOAT8_E5M2",
};

/* ActivationFunctionType, in enum order. */
static const char *const activation_names[] = {
  "NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT",
};

typedef struct
{
  char *name;                   /* valid UTF-8, never NULL */
  int type;                     /* TensorType */
  guint32 rank;
  int dims[DLS_MAX_DIMS];       /* the first MIN (rank, 4) entries */
  const guint8 *bytes;          /* constant data inside the file, or NULL */
  guint64 n_bytes;
  int id;                       /* graph tensor id once used, else -1 */
} TflTensor;

typedef struct
{
  int code;                     /* effective builtin code */
  char *custom;                 /* custom_code of a CUSTOM operator */
} TflOpcode;

typedef struct
{
  const guint8 *data;
  gsize size;
  DlsFbVector buffers;
  TflOpcode *opcodes;
  guint n_opcodes;
  TflTensor *tensors;
  guint n_tensors;
  guint64 constant_bytes;       /* copied so far */
  DlsGraph *g;
} Parser;

static const char *
builtin_name (int code)
{
  if (code < 0 || code >= (int) G_N_ELEMENTS (builtin_names))
    return NULL;
  return builtin_names[code];
}

static const char *
type_name (int type)
{
  if (type < 0 || type >= (int) G_N_ELEMENTS (type_names))
    return "UNKNOWN";
  return type_names[type];
}

static gboolean
is_quantized_type (int type)
{
  switch (type) {
    case 3:                    /* UINT8 */
    case 7:                    /* INT16 */
    case 9:                    /* INT8 */
    case 17:                   /* INT4 */
    case 19:                   /* INT2 */
    case 20:                   /* UINT4 */
      return TRUE;
    default:
      return FALSE;
  }
}

/* "[1,257,257,3]" for messages; g_free the result. */
static char *
shape_string (const TflTensor * t)
{
  GString *s = g_string_new ("[");

  for (guint32 k = 0; k < MIN (t->rank, DLS_MAX_DIMS); k++)
    g_string_append_printf (s, "%s%d", k ? "," : "", t->dims[k]);
  if (t->rank > DLS_MAX_DIMS)
    g_string_append_printf (s, ",... (%u dims)", t->rank);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static gboolean
parse_opcodes (Parser * p, const DlsFbTable * model, GError ** error)
{
  DlsFbVector codes;

  if (!dls_fb_read_vector (model, MODEL_OPERATOR_CODES,
          "Model.operator_codes", 4, &codes, error))
    return FALSE;
  if (codes.len > MAX_OPERATORS)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
        "%u operator codes is more than the %d supported", codes.len,
        MAX_OPERATORS);
  p->opcodes = g_new0 (TflOpcode, MAX (codes.len, 1));
  p->n_opcodes = codes.len;

  for (guint32 i = 0; i < codes.len; i++) {
    DlsFbTable oc;
    gint8 deprecated;
    gint32 builtin;

    if (!dls_fb_vector_table (&codes, i, "OperatorCode", &oc, error)
        || !dls_fb_read_i8 (&oc, OPCODE_DEPRECATED_BUILTIN_CODE,
            "OperatorCode.deprecated_builtin_code", 0, &deprecated, error)
        || !dls_fb_read_i32 (&oc, OPCODE_BUILTIN_CODE,
            "OperatorCode.builtin_code", 0, &builtin, error))
      return FALSE;
    /* Files from before builtin_code existed only set the int8 field;
     * newer ones put 127 there for codes that do not fit. */
    p->opcodes[i].code = MAX ((gint32) deprecated, builtin);
    if (p->opcodes[i].code == BUILTIN_CUSTOM
        && !dls_fb_read_string (&oc, OPCODE_CUSTOM_CODE,
            "OperatorCode.custom_code", &p->opcodes[i].custom, error))
      return FALSE;
  }
  return TRUE;
}

/* Resolves buffer @index into constant bytes (none for an empty buffer).
 * Data lives in the buffer's own vector or, for files over 2 GB, after the
 * FlatBuffer at Buffer.offset (relative to the file's start; 0 and 1 mean
 * "not used"). */
static gboolean
resolve_buffer (Parser * p, guint32 index, TflTensor * t, GError ** error)
{
  DlsFbTable buf;
  DlsFbVector data;
  guint64 offset, size;

  t->bytes = NULL;
  t->n_bytes = 0;
  if (index == 0 && p->buffers.len == 0)
    return TRUE;
  if (index >= p->buffers.len)
    return dls_error_set (error, DLS_ERROR_CORRUPT, "tensor '%s' refers to "
        "buffer %u, the model has %u", t->name, index, p->buffers.len);
  if (!dls_fb_vector_table (&p->buffers, index, "Buffer", &buf, error)
      || !dls_fb_read_vector (&buf, BUFFER_DATA, "Buffer.data", 1, &data, error)
      || !dls_fb_read_u64 (&buf, BUFFER_OFFSET, "Buffer.offset", 0, &offset,
          error)
      || !dls_fb_read_u64 (&buf, BUFFER_SIZE, "Buffer.size", 0, &size, error))
    return FALSE;

  if (data.len > 0) {
    t->bytes = dls_fb_vector_bytes (&data);
    t->n_bytes = data.len;
  } else if (offset > 1 && size > 0) {
    if (offset > p->size || size > p->size - offset)
      return dls_error_set (error, DLS_ERROR_CORRUPT,
          "buffer %u: external data "
          "at byte %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes) lies "
          "outside the %" G_GSIZE_FORMAT "-byte file", index, offset, size,
          p->size);
    t->bytes = p->data + offset;
    t->n_bytes = size;
  }
  return TRUE;
}

static gboolean
parse_tensor (Parser * p, const DlsFbTable * tt, guint32 i, TflTensor * t,
    GError ** error)
{
  DlsFbVector shape;
  char *name;
  gint8 type;
  guint32 buffer, external;

  t->id = -1;
  if (!dls_fb_read_string (tt, TENSOR_NAME, "Tensor.name", &name, error))
    return FALSE;
  if (name) {
    t->name = g_utf8_make_valid (name, -1);
    g_free (name);
  } else {
    t->name = g_strdup_printf ("#%u", i);
  }

  if (!dls_fb_read_i8 (tt, TENSOR_TYPE, "Tensor.type", TYPE_FLOAT32, &type,
          error)
      || !dls_fb_read_u32 (tt, TENSOR_BUFFER, "Tensor.buffer", 0, &buffer,
          error)
      || !dls_fb_read_u32 (tt, TENSOR_EXTERNAL_BUFFER,
          "Tensor.external_buffer", 0, &external, error)
      || !dls_fb_read_vector (tt, TENSOR_SHAPE, "Tensor.shape", 4, &shape,
          error))
    return FALSE;
  t->type = type;
  t->rank = shape.len;
  for (guint32 k = 0; k < MIN (shape.len, DLS_MAX_DIMS); k++)
    t->dims[k] = dls_fb_vector_i32 (&shape, k);

  if (external != 0)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "tensor '%s' keeps its "
        "data in an external buffer group, which is not supported", t->name);
  if (dls_fb_field_present (tt, TENSOR_SPARSITY))
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
        "tensor '%s' is sparse, "
        "which is not supported", t->name);
  return resolve_buffer (p, buffer, t, error);
}

static gboolean
parse_tensors (Parser * p, const DlsFbTable * subgraph, GError ** error)
{
  DlsFbVector tensors;

  if (!dls_fb_read_vector (subgraph, SUBGRAPH_TENSORS, "SubGraph.tensors", 4,
          &tensors, error))
    return FALSE;
  if (tensors.len > MAX_TENSORS)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
        "%u tensors is more than the %d supported", tensors.len, MAX_TENSORS);
  p->tensors = g_new0 (TflTensor, MAX (tensors.len, 1));

  for (guint32 i = 0; i < tensors.len; i++) {
    DlsFbTable tt;

    /* Counted before parsing so that a half-parsed tensor is freed. */
    p->n_tensors = i + 1;
    if (!dls_fb_vector_table (&tensors, i, "Tensor", &tt, error)
        || !parse_tensor (p, &tt, i, &p->tensors[i], error)) {
      g_prefix_error (error, "tensor %u: ", i);
      return FALSE;
    }
  }

  /* Checked up front so that a quantized model gets this message rather
   * than one about whichever quantize operator it happens to start with. */
  for (guint i = 0; i < p->n_tensors; i++)
    if (is_quantized_type (p->tensors[i].type))
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "tensor '%s' has type "
          "%s: quantized models are not supported", p->tensors[i].name,
          type_name (p->tensors[i].type));
  return TRUE;
}

/* The graph id of TFLite tensor @index, adding it to the graph on first use:
 * a constant (with a copy of its data) if it has a buffer, else an
 * activation with its declared shape. */
static gboolean
use_tensor (Parser * p, gint32 index, int *id, GError ** error)
{
  TflTensor *t;
  char *shape;

  if (index < 0 || (guint32) index >= p->n_tensors)
    return dls_error_set (error, DLS_ERROR_CORRUPT, "tensor index %d out of "
        "range (the subgraph has %u tensors)", index, p->n_tensors);
  t = &p->tensors[index];
  if (t->id >= 0) {
    *id = t->id;
    return TRUE;
  }
  if (t->type != TYPE_FLOAT32)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "tensor '%s' has type "
        "%s, only FLOAT32 is supported here", t->name, type_name (t->type));
  if (t->rank > DLS_MAX_DIMS)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "tensor '%s' has %u "
        "dimensions, at most %d are supported", t->name, t->rank, DLS_MAX_DIMS);

  if (t->bytes) {
    guint64 n = 1;
    gpointer copy;

    for (guint32 k = 0; k < t->rank; k++) {
      if (t->dims[k] < 1)
        goto bad_shape;
      n *= (guint64) t->dims[k];
      if (n > MAX_CONSTANT_ELEMENTS)
        goto bad_shape;
    }
    if (n * 4 != t->n_bytes) {
      shape = shape_string (t);
      dls_error_set (error, DLS_ERROR_CORRUPT, "constant tensor '%s' holds %"
          G_GUINT64_FORMAT " bytes, its shape %s needs %" G_GUINT64_FORMAT,
          t->name, t->n_bytes, shape, n * 4);
      g_free (shape);
      return FALSE;
    }
    p->constant_bytes += t->n_bytes;
    if (p->constant_bytes >
        (guint64) p->size * MAX_CONSTANT_BYTES_PER_FILE_BYTE)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "constant tensor '%s': "
          "tensors sharing buffers would need more than %d times the file "
          "size", t->name, MAX_CONSTANT_BYTES_PER_FILE_BYTE);
    copy = g_try_malloc (t->n_bytes);
    if (!copy)
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "constant tensor '%s': "
          "cannot allocate %" G_GUINT64_FORMAT " bytes", t->name, t->n_bytes);
    memcpy (copy, t->bytes, t->n_bytes);
    t->id = dls_graph_add_tensor (p->g, t->name, DLS_TENSOR_CONSTANT,
        DLS_DTYPE_FLOAT32, (int) t->rank, t->dims, copy, t->n_bytes);
  } else {
    if (t->rank != 4 || t->dims[0] != 1 || t->dims[1] < 1 || t->dims[2] < 1
        || t->dims[3] < 1) {
      shape = shape_string (t);
      dls_error_set (error, DLS_ERROR_UNSUPPORTED, "activation tensor '%s' has "
          "shape %s, only 1xHxWxC is supported", t->name, shape);
      g_free (shape);
      return FALSE;
    }
    t->id = dls_graph_add_tensor (p->g, t->name, DLS_TENSOR_ACTIVATION,
        DLS_DTYPE_FLOAT32, 4, t->dims, NULL, 0);
  }
  *id = t->id;
  return TRUE;

bad_shape:
  shape = shape_string (t);
  dls_error_set (error, DLS_ERROR_UNSUPPORTED, "constant tensor '%s' has shape "
      "%s, which is empty or too large", t->name, shape);
  g_free (shape);
  return FALSE;
}

static gboolean
set_activation (guint8 act, DlsNode * node, GError ** error)
{
  switch (act) {
    case 0:                    /* NONE */
      node->act_min = -INFINITY;
      node->act_max = INFINITY;
      return TRUE;
    case 1:                    /* RELU */
      node->act_min = 0.0f;
      node->act_max = INFINITY;
      return TRUE;
    case 2:                    /* RELU_N1_TO_1 */
      node->act_min = -1.0f;
      node->act_max = 1.0f;
      return TRUE;
    case 3:                    /* RELU6 */
      node->act_min = 0.0f;
      node->act_max = 6.0f;
      return TRUE;
    default:
      if (act < G_N_ELEMENTS (activation_names))
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "unsupported fused "
            "activation %s", activation_names[act]);
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "unknown fused "
          "activation %u", act);
  }
}

static gboolean
set_padding (guint8 padding, DlsWindowParams * win, GError ** error)
{
  switch (padding) {
    case 0:
      win->padding = DLS_PADDING_SAME;
      return TRUE;
    case 1:
      win->padding = DLS_PADDING_VALID;
      return TRUE;
    default:
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "unknown padding %u",
          padding);
  }
}

/* Conv2DOptions, DepthwiseConv2DOptions and Pool2DOptions share padding,
 * stride_w, stride_h at ids 0..2; @act_id is where each keeps its fused
 * activation. Strides have no schema default (0); finalize rejects 0. */
static gboolean
read_window (const DlsFbTable * o, guint act_id, DlsNode * node,
    GError ** error)
{
  guint8 padding, act;

  if (!dls_fb_read_u8 (o, 0, "padding", 0, &padding, error)
      || !dls_fb_read_i32 (o, 1, "stride_w", 0, &node->p.win.stride_w, error)
      || !dls_fb_read_i32 (o, 2, "stride_h", 0, &node->p.win.stride_h, error)
      || !dls_fb_read_u8 (o, act_id, "fused_activation_function", 0, &act,
          error))
    return FALSE;
  return set_padding (padding, &node->p.win, error)
      && set_activation (act, node, error);
}

/* Reads RESIZE_BILINEAR's size input: a constant INT32 {new_h, new_w}. */
static gboolean
read_resize_size (Parser * p, gint32 index, DlsNode * node, GError ** error)
{
  const TflTensor *t;
  gint32 hw[2];

  if (index < 0 || (guint32) index >= p->n_tensors)
    return dls_error_set (error, DLS_ERROR_CORRUPT, "size tensor index %d out "
        "of range (the subgraph has %u tensors)", index, p->n_tensors);
  t = &p->tensors[index];
  if (t->type != TYPE_INT32 || !t->bytes || t->n_bytes != 8 || t->rank != 1
      || t->dims[0] != 2)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "size input '%s' must "
        "be a constant INT32 tensor of 2 values (it is %s, %" G_GUINT64_FORMAT
        " bytes%s)", t->name, type_name (t->type), t->n_bytes,
        t->bytes ? "" : ", computed at run time");
  memcpy (hw, t->bytes, sizeof (hw));
  node->p.resize.out_h = GINT32_FROM_LE (hw[0]);
  node->p.resize.out_w = GINT32_FROM_LE (hw[1]);
  if (node->p.resize.out_h < 1 || node->p.resize.out_w < 1)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "resize to %dx%d",
        node->p.resize.out_h, node->p.resize.out_w);
  return TRUE;
}

/* Fills @node's parameters from the operator's options table @o. */
static gboolean
read_options (Parser * p, int code, const DlsFbTable * o,
    const DlsFbVector * ins, DlsNode * node, GError ** error)
{
  switch (code) {
    case BUILTIN_CONV_2D:
      return dls_fb_read_i32 (o, 4, "dilation_w_factor", 1,
          &node->p.win.dilation_w, error)
          && dls_fb_read_i32 (o, 5, "dilation_h_factor", 1,
          &node->p.win.dilation_h, error)
          && read_window (o, 3, node, error);
    case BUILTIN_DEPTHWISE_CONV_2D:{
      gint32 mult;
      const TflTensor *in, *w;

      if (!dls_fb_read_i32 (o, 3, "depth_multiplier", 0, &mult, error)
          || !dls_fb_read_i32 (o, 5, "dilation_w_factor", 1,
              &node->p.win.dilation_w, error)
          || !dls_fb_read_i32 (o, 6, "dilation_h_factor", 1,
              &node->p.win.dilation_h, error)
          || !read_window (o, 4, node, error))
        return FALSE;
      /* TFLite derives the multiplier from the shapes and converters do
       * not always fill the option in; do the same when the shapes allow. */
      node->p.win.depth_multiplier = mult;
      /* Both indices were range-checked by use_tensor(). */
      in = &p->tensors[dls_fb_vector_i32 (ins, 0)];
      w = &p->tensors[dls_fb_vector_i32 (ins, 1)];
      if (in->rank == 4 && w->rank == 4 && in->dims[3] > 0 && w->dims[3] > 0
          && w->dims[3] % in->dims[3] == 0)
        node->p.win.depth_multiplier = w->dims[3] / in->dims[3];
      return TRUE;
    }
    case BUILTIN_AVERAGE_POOL_2D:
      return dls_fb_read_i32 (o, 3, "filter_width", 0, &node->p.win.kernel_w,
          error)
          && dls_fb_read_i32 (o, 4, "filter_height", 0,
          &node->p.win.kernel_h, error)
          && read_window (o, 5, node, error);
    case BUILTIN_ADD:{
      guint8 act;
      return dls_fb_read_u8 (o, 0, "fused_activation_function", 0, &act,
          error) && set_activation (act, node, error);
    }
    case BUILTIN_CONCATENATION:{
      gint32 axis;
      guint8 act;

      if (!dls_fb_read_i32 (o, 0, "axis", 0, &axis, error)
          || !dls_fb_read_u8 (o, 1, "fused_activation_function", 0, &act,
              error) || !set_activation (act, node, error))
        return FALSE;
      if (axis < -DLS_MAX_DIMS || axis >= DLS_MAX_DIMS)
        return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "axis %d out of "
            "range for 4-D tensors", axis);
      node->p.concat.axis = axis < 0 ? axis + DLS_MAX_DIMS : axis;
      return TRUE;
    }
    case BUILTIN_RESIZE_BILINEAR:{
      gboolean align_corners, half_pixel;

      if (!dls_fb_read_bool (o, 2, "align_corners", FALSE, &align_corners,
              error)
          || !dls_fb_read_bool (o, 3, "half_pixel_centers", FALSE,
              &half_pixel, error))
        return FALSE;
      /* TFLite rejects the pair too: the two conventions contradict. */
      if (align_corners && half_pixel)
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "align_corners and "
            "half_pixel_centers are both set");
      node->p.resize.coord = align_corners ? DLS_RESIZE_ALIGN_CORNERS
          : half_pixel ? DLS_RESIZE_HALF_PIXEL : DLS_RESIZE_ASYMMETRIC;
      return read_resize_size (p, dls_fb_vector_i32 (ins, 1), node, error);
    }
    default:
      g_return_val_if_reached (FALSE);
  }
}

static gboolean
parse_operator (Parser * p, const DlsFbTable * ot, guint32 index,
    GError ** error)
{
  const TflOpcode *oc;
  const char *name;
  DlsFbVector ins, outs;
  DlsFbTable opts;
  guint32 opcode_index;
  guint8 opts_type;
  guint n_act;
  int expect_opts, min_in, max_in, id;
  DlsOpType op;
  DlsNode node;

  if (!dls_fb_read_u32 (ot, OPERATOR_OPCODE_INDEX, "Operator.opcode_index", 0,
          &opcode_index, error))
    return FALSE;
  if (opcode_index >= p->n_opcodes)
    return dls_error_set (error, DLS_ERROR_CORRUPT, "opcode index %u out of "
        "range (the model has %u operator codes)", opcode_index, p->n_opcodes);
  oc = &p->opcodes[opcode_index];
  name = builtin_name (oc->code);

  switch (oc->code) {
    case BUILTIN_CONV_2D:
      op = DLS_OP_CONV2D;
      expect_opts = OPTIONS_CONV2D;
      break;
    case BUILTIN_DEPTHWISE_CONV_2D:
      op = DLS_OP_DEPTHWISE_CONV2D;
      expect_opts = OPTIONS_DEPTHWISE_CONV2D;
      break;
    case BUILTIN_ADD:
      op = DLS_OP_ADD;
      expect_opts = OPTIONS_ADD;
      break;
    case BUILTIN_AVERAGE_POOL_2D:
      op = DLS_OP_AVERAGE_POOL2D;
      expect_opts = OPTIONS_POOL2D;
      break;
    case BUILTIN_CONCATENATION:
      op = DLS_OP_CONCAT;
      expect_opts = OPTIONS_CONCATENATION;
      break;
    case BUILTIN_RESIZE_BILINEAR:
      op = DLS_OP_RESIZE_BILINEAR;
      expect_opts = OPTIONS_RESIZE_BILINEAR;
      break;
    case BUILTIN_CUSTOM:{
      char *custom = g_utf8_make_valid (oc->custom ? oc->custom : "", -1);
      dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "unsupported custom operator "
          "'%s' at operator %u", custom, index);
      g_free (custom);
      return FALSE;
    }
    default:
      if (name)
        return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "unsupported "
            "operator %s (builtin code %d) at operator %u", name, oc->code,
            index);
      return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
          "unsupported operator "
          "with unknown builtin code %d at operator %u", oc->code, index);
  }

  if (!dls_fb_read_vector (ot, OPERATOR_INPUTS, "Operator.inputs", 4, &ins,
          error)
      || !dls_fb_read_vector (ot, OPERATOR_OUTPUTS, "Operator.outputs", 4,
          &outs, error)
      || !dls_fb_read_u8 (ot, OPERATOR_OPTIONS_TYPE,
          "Operator.builtin_options_type", OPTIONS_NONE, &opts_type, error))
    goto context;
  if (opts_type == OPTIONS_NONE)
    dls_fb_table_empty (p->data, p->size, "options", &opts);
  else if (opts_type != expect_opts) {
    dls_error_set (error, DLS_ERROR_CORRUPT, "options of union type %u, "
        "expected %d", opts_type, expect_opts);
    goto context;
  } else if (!dls_fb_read_table (ot, OPERATOR_OPTIONS,
          "Operator.builtin_options", "options", &opts, NULL, error))
    goto context;

  /* TFLite inputs, of which RESIZE_BILINEAR's last (the size) is read
   * here and does not become a graph input. */
  min_in = dls_op_info (op)->min_inputs;
  max_in = dls_op_info (op)->max_inputs;
  n_act = ins.len;
  if (op == DLS_OP_RESIZE_BILINEAR) {
    min_in = max_in = 2;
    n_act = 1;
  }
  if (op == DLS_OP_CONCAT && ins.len > (guint32) max_in) {
    dls_error_set (error, DLS_ERROR_UNSUPPORTED, "%u inputs, at most %d are "
        "supported", ins.len, max_in);
    goto context;
  }
  if (ins.len < (guint32) min_in || ins.len > (guint32) max_in) {
    dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "%u inputs, expected %d..%d",
        ins.len, min_in, max_in);
    goto context;
  }
  if (outs.len != 1) {
    dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "%u outputs, expected 1",
        outs.len);
    goto context;
  }

  dls_node_init (&node, op);
  node.n_inputs = (int) n_act;
  for (guint k = 0; k < n_act; k++) {
    gint32 t = dls_fb_vector_i32 (&ins, k);

    /* -1 marks an omitted optional input (a convolution without bias). */
    if (t == -1 && (int) k >= dls_op_info (op)->min_inputs) {
      node.inputs[k] = -1;
      continue;
    }
    if (!use_tensor (p, t, &node.inputs[k], error))
      goto context;
  }
  if (!use_tensor (p, dls_fb_vector_i32 (&outs, 0), &id, error))
    goto context;
  node.output = id;
  if (!read_options (p, oc->code, &opts, &ins, &node, error))
    goto context;
  dls_graph_add_node (p->g, &node);
  return TRUE;

context:
  g_prefix_error (error, "operator %u (%s): ", index, name);
  return FALSE;
}

static gboolean
parse_io (Parser * p, const DlsFbTable * subgraph, guint id,
    const char *field, gboolean output, GError ** error)
{
  DlsFbVector v;

  if (!dls_fb_read_vector (subgraph, id, field, 4, &v, error))
    return FALSE;
  for (guint32 k = 0; k < v.len; k++) {
    int t;

    if (!use_tensor (p, dls_fb_vector_i32 (&v, k), &t, error)) {
      g_prefix_error (error, "graph %s %u: ", output ? "output" : "input", k);
      return FALSE;
    }
    if (output)
      dls_graph_add_output (p->g, t);
    else
      dls_graph_add_input (p->g, t);
  }
  return TRUE;
}

static gboolean
parse_model (Parser * p, GError ** error)
{
  DlsFbTable model, subgraph;
  DlsFbVector subgraphs, operators;
  guint32 version;

  if (!dls_fb_root (p->data, p->size, "Model", &model, error)
      || !dls_fb_read_u32 (&model, MODEL_VERSION, "Model.version", 0,
          &version, error))
    return FALSE;
  if (version != TFLITE_SCHEMA_VERSION)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED, "TFLite schema version "
        "%u is not supported (expected %d)", version, TFLITE_SCHEMA_VERSION);
  if (!parse_opcodes (p, &model, error)
      || !dls_fb_read_vector (&model, MODEL_BUFFERS, "Model.buffers", 4,
          &p->buffers, error)
      || !dls_fb_read_vector (&model, MODEL_SUBGRAPHS, "Model.subgraphs", 4,
          &subgraphs, error))
    return FALSE;
  if (subgraphs.len == 0)
    return dls_error_set (error, DLS_ERROR_INVALID_GRAPH, "the model has no "
        "subgraph");
  if (!dls_fb_vector_table (&subgraphs, 0, "SubGraph", &subgraph, error)
      || !parse_tensors (p, &subgraph, error)
      || !parse_io (p, &subgraph, SUBGRAPH_INPUTS, "SubGraph.inputs", FALSE,
          error)
      || !dls_fb_read_vector (&subgraph, SUBGRAPH_OPERATORS,
          "SubGraph.operators", 4, &operators, error))
    return FALSE;
  if (operators.len > MAX_OPERATORS)
    return dls_error_set (error, DLS_ERROR_UNSUPPORTED,
        "%u operators is more than the %d supported", operators.len,
        MAX_OPERATORS);

  for (guint32 i = 0; i < operators.len; i++) {
    DlsFbTable ot;

    if (!dls_fb_vector_table (&operators, i, "Operator", &ot, error))
      return FALSE;
    if (!parse_operator (p, &ot, i, error))
      return FALSE;
  }
  return parse_io (p, &subgraph, SUBGRAPH_OUTPUTS, "SubGraph.outputs", TRUE,
      error);
}

/**
 * dls_tflite_parse:
 * @data: (array length=size): the whole .tflite file
 *
 * Reads the first subgraph of a TFLite model into a finalized graph.
 * Constants are copied, so @data may be freed afterwards.
 *
 * Returns: (transfer full) (nullable): the graph, or NULL with @error set:
 * DLS_ERROR_NOT_A_MODEL (too small, no "TFL3" identifier),
 * DLS_ERROR_CORRUPT (anything out of bounds), DLS_ERROR_UNSUPPORTED (an
 * operator, type or option the IR cannot run, named in the message) or
 * DLS_ERROR_INVALID_GRAPH (from dls_graph_finalize()).
 */
DlsGraph *
dls_tflite_parse (const guint8 * data, gsize size, GError ** error)
{
  Parser p = { 0 };
  GError *err = NULL;
  gboolean ok;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!data || size < 8) {
    g_set_error (error, DLS_ERROR, DLS_ERROR_NOT_A_MODEL, "not a TFLite "
        "model: %" G_GSIZE_FORMAT " bytes is too small", data ? size : 0);
    return NULL;
  }
  if (!dls_fb_has_identifier (data, size, "TFL3")) {
    g_set_error_literal (error, DLS_ERROR, DLS_ERROR_NOT_A_MODEL, "not a "
        "TFLite model: no \"TFL3\" identifier at byte 4");
    return NULL;
  }

  p.data = data;
  p.size = size;
  p.g = dls_graph_new ();
  ok = parse_model (&p, &err) && dls_graph_finalize (p.g, &err);

  for (guint i = 0; i < p.n_opcodes; i++)
    g_free (p.opcodes[i].custom);
  g_free (p.opcodes);
  for (guint i = 0; i < p.n_tensors; i++)
    g_free (p.tensors[i].name);
  g_free (p.tensors);

  if (!ok) {
    if (err->code == DLS_ERROR_CORRUPT)
      g_prefix_error (&err, "corrupt TFLite model: ");
    g_propagate_error (error, err);
    dls_graph_free (p.g);
    return NULL;
  }
  return p.g;
}
