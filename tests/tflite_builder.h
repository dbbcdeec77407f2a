/* deeplabseg tests: a minimal FlatBuffer writer and a small float TFLite
 * model built with it, so tests need no model file to exercise the reader
 * and the element (tflite_builder.c).
 */
#ifndef DLS_TFLITE_BUILDER_H
#define DLS_TFLITE_BUILDER_H

#include <glib.h>

G_BEGIN_DECLS

/* * A small float TFLite model using every supported operator:
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
  gboolean rgb;                 /* input 1x8x8x3 (an image model the
                                 * element can run), conv 6x3x3x3 */
} TinySpec;

extern const TinySpec tiny_default;

/* Tensor indices of the default model. */
enum
{
  T_INPUT, T_CONV_W, T_CONV_B, T_CONV, T_DW_W, T_DW_B, T_DW, T_ADD, T_CONCAT,
  T_POOL, T_SIZE, T_OUTPUT, T_COUNT
};

/* Number of conv weights, and the value of weight @i. */
#define CONV_W_N (6 * 3 * 3 * 4)
float tiny_weight (int i);

/* The file bytes of the small model as @s says. */
GByteArray *tiny_build (const TinySpec * s);

/* The default model with operator 2 replaced by RESHAPE (code 22). */
GByteArray *dls_test_tflite_unsupported_op (void);

G_END_DECLS

#endif /* DLS_TFLITE_BUILDER_H */
