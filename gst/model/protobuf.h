/* deeplabseg: a bounds-checked protobuf wire-format reader, written for the
 * ONNX reader (gst/model/onnx.c). It owns the binary rules of the format --
 * tags, varints, fixed32/64, length-delimited fields, packed repeated
 * scalars -- and nothing of any schema: onnx.c names the fields.
 *
 * A message is a byte range; dls_pb_next() walks its fields in order. Every
 * length is checked against the range with 64-bit arithmetic before it is
 * used, so a truncated or hostile file gives a DLS_ERROR_CORRUPT saying
 * which field of which message was cut, never a read out of bounds. This
 * file never recurses: nesting is the caller's schema walk, and a nested
 * message is always strictly inside its parent, so a walk cannot loop.
 */
#ifndef DLS_PROTOBUF_H
#define DLS_PROTOBUF_H

#include "../common.h"

G_BEGIN_DECLS

typedef enum
{
  DLS_PB_VARINT = 0,
  DLS_PB_FIXED64 = 1,
  DLS_PB_BYTES = 2,             /* length-delimited */
  DLS_PB_FIXED32 = 5,
} DlsPbWireType;

/* A message: the bytes of its fields. @what names its schema type in
 * messages ("NodeProto"); it must be a static string. */
typedef struct
{
  const guint8 *data;
  gsize size;
  gsize pos;                    /* next field */
  const char *what;
} DlsPbMsg;

/* One field. For VARINT, FIXED32 and FIXED64 the value is in @u (FIXED32
 * zero-extended); for BYTES @data/@len is the payload inside the message. */
typedef struct
{
  guint32 number;
  DlsPbWireType wire;
  guint64 u;
  const guint8 *data;
  gsize len;
} DlsPbField;

void dls_pb_msg_init (DlsPbMsg * m, const guint8 * data, gsize size,
    const char *what);

/* Reads the next field of @m into @f. Returns 1 for a field, 0 at the end
 * of the message, -1 with @error set (DLS_ERROR_CORRUPT) for a truncated
 * field, a bad tag or a group (wire types 3 and 4, unused by proto3):
 *   while ((r = dls_pb_next (&m, &f, error)) > 0) { ... }
 *   if (r < 0) fail; */
int dls_pb_next (DlsPbMsg * m, DlsPbField * f, GError ** error);

/* @n bytes at @p as a little-endian unsigned integer (n <= 8). */
guint64 dls_pb_read_le (const guint8 * p, guint n);

/* The payload of a BYTES field as a nested message. */
void dls_pb_sub (const DlsPbField * f, DlsPbMsg * sub, const char *what);

/* Expects @f to have wire type @wire; else DLS_ERROR_CORRUPT naming @field
 * of @m. */
gboolean dls_pb_expect (const DlsPbMsg * m, const DlsPbField * f,
    DlsPbWireType wire, const char *field, GError ** error);

/* Repeated scalar fields come one value per field or "packed" in one
 * BYTES field. These append the values of @f (either form) to @out, an
 * array of gint64 (varints, as two's complement) or of gfloat (fixed32
 * reinterpreted). @max bounds the array's length. */
gboolean dls_pb_append_varints (const DlsPbMsg * m, const DlsPbField * f,
    const char *field, GArray * out, guint max, GError ** error);
gboolean dls_pb_append_floats (const DlsPbMsg * m, const DlsPbField * f,
    const char *field, GArray * out, guint max, GError ** error);

/* A BYTES field as a newly allocated NUL-terminated valid UTF-8 string. */
char *dls_pb_string (const DlsPbField * f);

/* A string field @field of @m: checks the wire type, replaces *@out
 * (g_free'd) with dls_pb_string(). */
gboolean dls_pb_read_string (const DlsPbMsg * m, const DlsPbField * f,
    const char *field, char **out, GError ** error);

G_END_DECLS

#endif /* DLS_PROTOBUF_H */
